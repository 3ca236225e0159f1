#pragma once
// An org's events delivered in the rolling last 24 hours, as Salesforce
// counts them against its delivery allocation: every event delivered to our
// client, redeliveries after a resubscribe included. 288 buckets of five
// minutes: the window slides by one bucket, never more than 5 minutes behind.

#include <array>
#include <cstdint>
#include <mutex>

namespace sfk::session {

enum class AllocationState { Unwatched, Ok, Warning, Exceeded };
const char *allocationStateName(AllocationState s);

class AllocationMeter {
public:
    static constexpr int64_t kBucketMs = 5 * 60 * 1000;
    static constexpr size_t kBuckets = 288;

    void add(int64_t events, int64_t now_ms)
    {
        std::lock_guard lock(mutex_);
        Bucket &b = bucket(now_ms);
        b.count += events;
    }
    int64_t total(int64_t now_ms) const
    {
        std::lock_guard lock(mutex_);
        const int64_t slot = now_ms / kBucketMs;
        int64_t sum = 0;
        for (const Bucket &b : buckets_)
            if (b.slot > slot - static_cast<int64_t>(kBuckets) && b.slot <= slot)
                sum += b.count;
        return sum;
    }

private:
    struct Bucket {
        int64_t slot = INT64_MIN;   // now_ms / kBucketMs of its five minutes
        int64_t count = 0;
    };
    Bucket &bucket(int64_t now_ms)
    {
        const int64_t slot = now_ms / kBucketMs;
        Bucket &b = buckets_[static_cast<size_t>(slot % static_cast<int64_t>(kBuckets))];
        if (b.slot != slot)
            b = Bucket{slot, 0};
        return b;
    }

    mutable std::mutex mutex_;
    std::array<Bucket, kBuckets> buckets_{};
};

} // namespace sfk::session
