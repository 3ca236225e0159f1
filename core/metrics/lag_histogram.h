#pragma once
// End-to-end lag (event creation time at Salesforce -> Kafka acknowledgement)
// as a fixed-bucket histogram of relaxed atomics: cheap enough for every
// delivery report.

#include <array>
#include <atomic>
#include <cstdint>

namespace sfk::metrics {

class LagHistogram {
public:
    // Upper bounds in milliseconds; a +Inf bucket follows.
    static constexpr std::array<int64_t, 14> kBoundsMs = {
        5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000};

    void observe(int64_t lag_ms)
    {
        if (lag_ms < 0)
            lag_ms = 0;  // clock skew between Salesforce and us
        size_t i = 0;
        while (i < kBoundsMs.size() && lag_ms > kBoundsMs[i])
            ++i;
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        sumMs_.fetch_add(static_cast<uint64_t>(lag_ms), std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
    }

    // Non-cumulative count of bucket i (i == kBoundsMs.size(): +Inf).
    uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
    uint64_t count() const { return count_.load(std::memory_order_relaxed); }
    uint64_t sumMs() const { return sumMs_.load(std::memory_order_relaxed); }

private:
    std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets_{};
    std::atomic<uint64_t> sumMs_{0};
    std::atomic<uint64_t> count_{0};
};

} // namespace sfk::metrics
