// The process-wide pacer of logins and handshakes, on a fake clock.
#include <doctest/doctest.h>

#include "session/pacer.h"

using sfk::session::Pacer;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
    Pacer::Clock fn() { return [this] { return now; }; }
};

} // namespace

TEST_CASE("a burst of one second's worth passes at once, the rest is spread at the rate, with jitter")
{
    FakeClock clock;
    Pacer pacer(10, clock.fn());   // 10 per second: 100 ms apart
    for (int i = 0; i < 10; ++i)
        CHECK(pacer.reserve() == 0ms);
    // The k-th permit past the burst comes k intervals from now, give or take half of one.
    for (int k = 1; k <= 40; ++k) {
        auto wait = pacer.reserve();
        CAPTURE(k);
        CHECK(wait >= std::chrono::milliseconds(k * 100 - 50));
        CHECK(wait <= std::chrono::milliseconds(k * 100 + 50));
    }
}

TEST_CASE("the bucket refills with time, never beyond one second's worth")
{
    FakeClock clock;
    Pacer pacer(4, clock.fn());
    for (int i = 0; i < 4; ++i)
        CHECK(pacer.reserve() == 0ms);
    CHECK(pacer.reserve() > 0ms);
    clock.now += 1h;   // refilled to 4, not 14,400
    int immediate = 0;
    while (pacer.reserve() == 0ms)
        ++immediate;
    CHECK(immediate == 4);
}

TEST_CASE("a new rate applies to the next reservation")
{
    FakeClock clock;
    Pacer pacer(1000, clock.fn());
    pacer.setRate(2);   // the bucket shrinks to 2
    CHECK(pacer.reserve() == 0ms);
    CHECK(pacer.reserve() == 0ms);
    auto wait = pacer.reserve();
    CHECK(wait >= 250ms);
    CHECK(wait <= 750ms);
}
