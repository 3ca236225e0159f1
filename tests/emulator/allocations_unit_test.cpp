// DeliveryAllocations without the network: the accounting API both
// transports call (CometD today, Pub/Sub through the same calls).
#include <doctest/doctest.h>

#include "allocations.h"

using sfk::emu::AllocationLimits;
using sfk::emu::DeliveryAllocations;
using sfk::emu::Transport;

TEST_CASE("allocation: rolling window over both transports")
{
    AllocationLimits limits;
    limits.daily_delivered_events = 10;
    limits.window_seconds = 240; // buckets of one second
    DeliveryAllocations a(limits);
    const int64_t t0 = 1'000'000'000;
    CHECK(a.remaining(t0) == 10);
    a.recordDelivered("cometd-1", Transport::CometD, 4, t0);
    a.recordDelivered("stream-1", Transport::PubSub, 6, t0 + 60'000);
    CHECK(a.exhausted(t0 + 60'000));
    // The first four age out after the window; the later six do not yet.
    CHECK(a.remaining(t0 + 240'000 + 1'000) == 4);
    CHECK(a.remaining(t0 + 300'000 + 1'000) == 10);
    std::string json = a.usageJson(t0 + 60'000);
    CHECK(json.find("\"transport\":\"pubsub\"") != std::string::npos);
}

TEST_CASE("allocation: unlimited by default, reset forgets usage")
{
    DeliveryAllocations a;
    a.recordDelivered("c", Transport::CometD, 1'000'000, 0);
    CHECK(a.remaining(1) == DeliveryAllocations::kUnlimited);
    AllocationLimits l;
    l.daily_delivered_events = 5;
    a.setLimits(l);
    CHECK(a.exhausted(1));
    a.resetUsage();
    CHECK(a.remaining(1) == 5);
}

TEST_CASE("concurrent clients: shared by both transports, closing frees a slot")
{
    AllocationLimits l;
    l.concurrent_clients = 2;
    DeliveryAllocations a(l);
    CHECK(a.openClient("x", Transport::CometD, 0));
    CHECK(a.openClient("y", Transport::PubSub, 0));
    CHECK(a.openClient("x", Transport::CometD, 0)); // already open: not counted twice
    CHECK_FALSE(a.openClient("z", Transport::PubSub, 0));
    CHECK(a.openClients() == 2);
    a.closeClient("x", 1);
    a.closeClient("x", 1); // idempotent
    CHECK(a.openClients() == 1);
    CHECK(a.openClient("z", Transport::PubSub, 2));
}

TEST_CASE("claim: grants what is left and counts it at once")
{
    AllocationLimits l;
    l.daily_delivered_events = 5;
    DeliveryAllocations a(l);
    CHECK(a.claim("s1", Transport::PubSub, 3, 0) == 3);
    CHECK(a.claim("s2", Transport::PubSub, 3, 0) == 2);
    CHECK(a.claim("s1", Transport::PubSub, 1, 0) == 0);
    CHECK(a.exhausted(0));
    std::string json = a.usageJson(0);
    CHECK(json.find(R"({"client_id":"s1","transport":"pubsub","open":false,"delivered":3,)") != std::string::npos);
    CHECK(json.find(R"({"client_id":"s2","transport":"pubsub","open":false,"delivered":2,)") != std::string::npos);
    DeliveryAllocations unlimited;
    CHECK(unlimited.claim("s", Transport::PubSub, 100, 0) == 100);
    CHECK(unlimited.claim("s", Transport::PubSub, 0, 0) == 0);
}
