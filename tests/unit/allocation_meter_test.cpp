// The rolling 24-hour count of an org's delivered events.
#include <doctest/doctest.h>

#include "session/allocation_meter.h"

using sfk::session::AllocationMeter;

TEST_CASE("events count for 24 hours, in five-minute buckets, then leave the window")
{
    AllocationMeter m;
    const int64_t t0 = int64_t(1'800'000'000'000);   // some epoch ms
    const int64_t minute = 60'000, hour = 60 * minute;
    CHECK(m.total(t0) == 0);
    m.add(10, t0);
    m.add(5, t0 + 3 * hour);
    CHECK(m.total(t0 + 3 * hour) == 15);
    CHECK(m.total(t0 + 23 * hour) == 15);
    // 24 hours (and at most one bucket) later the first ten are gone.
    CHECK(m.total(t0 + 24 * hour + AllocationMeter::kBucketMs) == 5);
    CHECK(m.total(t0 + 27 * hour + AllocationMeter::kBucketMs) == 0);
    // A bucket reused a day later starts from zero.
    m.add(7, t0 + 48 * hour);
    CHECK(m.total(t0 + 48 * hour) == 7);
}
