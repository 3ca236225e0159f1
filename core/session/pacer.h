#pragma once
// Spreads the sessions' logins (or handshakes) over time, process-wide: a
// token bucket holding one second's worth, refilled at `per_second`, with
// each wait jittered within one interval. A start or a mass failure of many
// orgs then reaches Salesforce as a steady stream instead of a herd
// (Salesforce rate-limits logins per user and per connected app).

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>

namespace sfk::session {

class Pacer {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    explicit Pacer(int64_t per_second, Clock clock = &std::chrono::steady_clock::now);

    // Reload: the new rate applies to the next reservation.
    void setRate(int64_t per_second);
    // Takes the next permit; returns how long the caller waits before using
    // it (zero while the bucket has permits). Thread-safe.
    std::chrono::milliseconds reserve();

private:
    std::mutex mutex_;
    Clock clock_;
    double rate_;     // permits per second (also the bucket's size)
    double tokens_;   // negative: permits promised ahead of time
    std::chrono::steady_clock::time_point last_;
    std::mt19937_64 rng_;
};

} // namespace sfk::session
