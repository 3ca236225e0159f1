// An org's delivery allocation watched by sfkafkad: the events Salesforce
// delivered in the rolling 24 hours in /metrics and /status, a warning at
// the configured share, and /readyz degraded (still 200 while it streams)
// once the allocation is used up.
#include <doctest/doctest.h>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("the rolling 24-hour delivery count, its warning and the degraded readiness past the allocation")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("ops.allocation");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic}};
    org.daily_event_allocation = 30;
    org.allocation_warn_percent = 50;
    spec.orgs = {org};
    int port = freePort();
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port));
    REQUIRE(waitUntil([&] { return httpGet(port, "/readyz").status == 200; }, 60s));

    auto used = [&] {
        return metricValue(httpGet(port, "/metrics").body, "sfkafka_delivered_events_24h{org=\"default\",transport=\"cometd\"}");
    };
    CHECK(used() == 0);
    CHECK(metricValue(httpGet(port, "/metrics").body, "sfkafka_delivery_allocation{org=\"default\",transport=\"cometd\"}") == 30);

    emu.generate("default", "/event/Demo__e", 20, 100);
    REQUIRE(waitUntil([&] { return used() >= 20; }, 60s));
    auto status = httpGet(port, "/status").body;
    CHECK(status.find("\"delivered_24h\":20") != std::string::npos);
    CHECK(status.find("\"delivery_allocation\":30") != std::string::npos);
    CHECK(status.find("\"allocation_state\":\"warning\"") != std::string::npos);
    CHECK(daemon.log().find("has used 50% of its daily delivery allocation") != std::string::npos);
    CHECK(httpGet(port, "/readyz?verbose").body.find("ready\n") != std::string::npos);

    emu.generate("default", "/event/Demo__e", 15, 100, 2);
    REQUIRE(waitUntil([&] { return used() >= 35; }, 60s));
    CHECK(daemon.log().find("daily delivery allocation is used up") != std::string::npos);
    auto ready = httpGet(port, "/readyz?verbose");
    CHECK(ready.status == 200);   // it still streams: degraded, not down
    CHECK(ready.body.find("[!] org default over its delivery allocation: 35 of 30 events in 24 h") != std::string::npos);
    CHECK(ready.body.find("ready (degraded)") != std::string::npos);
    CHECK(httpGet(port, "/status").body.find("\"allocation_state\":\"exceeded\"") != std::string::npos);
    auto landed = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
    CHECK_MESSAGE(landed.missing == 0, describe(landed));
    CHECK(daemon.stop() == 0);
}
