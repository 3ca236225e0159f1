#pragma once
// Exponential backoff with full jitter, capped: retry storms against
// Salesforce exhaust the org's concurrent-client allocation.

#include <algorithm>
#include <chrono>
#include <random>

namespace sfk::session {

class Backoff {
public:
    Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap)
        : base_(base), cap_(cap), rng_(std::random_device{}()) {}

    std::chrono::milliseconds next()
    {
        auto ceiling = std::min<long long>(cap_.count(), base_.count() << std::min(attempt_, 20));
        ++attempt_;
        std::uniform_int_distribution<long long> d(ceiling / 2, std::max<long long>(ceiling, 1));
        return std::chrono::milliseconds(d(rng_));
    }
    void reset() { attempt_ = 0; }
    int attempts() const { return attempt_; }

private:
    std::chrono::milliseconds base_, cap_;
    int attempt_ = 0;
    std::mt19937_64 rng_;
};

} // namespace sfk::session
