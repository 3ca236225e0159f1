#include "session/pacer.h"

#include <algorithm>

namespace sfk::session {

Pacer::Pacer(int64_t per_second, Clock clock)
    : clock_(std::move(clock)), rate_(static_cast<double>(std::max<int64_t>(per_second, 1))), tokens_(rate_),
      last_(clock_()), rng_(std::random_device{}())
{
}

void Pacer::setRate(int64_t per_second)
{
    std::lock_guard lock(mutex_);
    rate_ = static_cast<double>(std::max<int64_t>(per_second, 1));
    tokens_ = std::min(tokens_, rate_);
}

std::chrono::milliseconds Pacer::reserve()
{
    std::lock_guard lock(mutex_);
    auto now = clock_();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(rate_, tokens_ + elapsed * rate_);
    tokens_ -= 1;
    if (tokens_ >= 0)
        return std::chrono::milliseconds(0);
    // This permit comes -tokens_ intervals from now; the jitter keeps callers
    // that were refused together from arriving in lockstep.
    const double interval = 1.0 / rate_;
    std::uniform_real_distribution<double> jitter(0, interval);
    double wait = -tokens_ * interval + jitter(rng_) - interval / 2;
    return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, wait) * 1000));
}

} // namespace sfk::session
