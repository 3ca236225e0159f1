// The daemon killed mid-stream, and the broker gone for 30 s: nothing lost,
// duplicates within the in-flight window, memory bounded meanwhile.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "../ops/ops_support.h"
#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("SIGKILL during a 100,000-event stream, then restart: every event in Kafka")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\nmax_events_per_response: 1000\n");
    TempDir dir;
    const std::string topic = uniqueTopic("sigkill");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.commit_interval_ms = 1000;
    OrgSpec org;
    org.max_in_flight_events = 5000;
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};
    emu.generate("default", "/event/Demo__e", 100000, 300, 7);

    DaemonProcess first = DaemonProcess::start(dir, daemonConfig(spec));
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), topic) >= 30000; }, 120s));
    first.kill();
    int64_t atKill = topicSize(broker.bootstrap(), topic);
    MESSAGE("killed with " << atKill << " records in Kafka");
    CHECK(atKill < 100000);

    DaemonProcess second = DaemonProcess::start(dir, daemonConfig(spec));
    Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic, 180s);
    MESSAGE(describe(l));
    CHECK(l.published == 100000);
    CHECK(l.missing == 0);
    // The window a crash can replay: events not yet durably committed, at
    // most max_in_flight_events plus the one response being produced.
    CHECK(l.duplicates <= 5000 + 1000);
    CHECK(second.stop() == 0);
}

TEST_CASE("the broker stopped for 30 s while events flow: no loss, memory stays bounded")
{
    KafkaBroker broker = KafkaBroker::start();   // this test stops it: its own broker
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string topic = uniqueTopic("outage");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.max_in_flight_events = 10000;
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));

    emu.generate("default", "/event/Demo__e", 5000, 1000, 1);
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), topic) >= 5000; }, 60s));
    long rssBefore = daemon.rssBytes();

    broker.pause();
    auto outageStart = std::chrono::steady_clock::now();
    // 200,000 events wait in sfemu while Kafka is away.
    for (int i = 0; i < 20; ++i)
        emu.generate("default", "/event/Demo__e", 10000, 1000, 100 + i);
    long rssPeak = 0;
    while (std::chrono::steady_clock::now() - outageStart < 30s) {
        rssPeak = std::max(rssPeak, daemon.rssBytes());
        REQUIRE(daemon.running());
        std::this_thread::sleep_for(200ms);
    }
    broker.restart();
    Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic, 240s);
    MESSAGE(describe(l) << "; RSS before " << rssBefore / 1024 << " KiB, peak during outage "
                        << rssPeak / 1024 << " KiB");
    CHECK(l.published == 205000);
    CHECK(l.missing == 0);
    CHECK(l.duplicates <= 10000 + 1000);
    // 10,000 in-flight events of ~1 KB, plus librdkafka and HTTP buffers.
    CHECK(rssPeak < 120L * 1024 * 1024);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("orgs share the producer queue's bound: during an outage they pause, then nothing is lost")
{
    // Each org alone may hold max_in_flight_bytes (64 MiB): with many orgs
    // that multiplies. The producer's queue (queue.buffering.max.kbytes)
    // bounds them together: sessions pause at 3/4 of it, polling stopped and
    // their watchdog progress kept, instead of blocking on a full queue.
    KafkaBroker broker = KafkaBroker::start();   // this test stops it: its own broker
    std::vector<EmuOrg> emuOrgs = {{"a", "00D000000000061AAA", {"/event/A__e"}},
                                   {"b", "00D000000000062AAA", {"/event/B__e"}},
                                   {"c", "00D000000000063AAA", {"/event/C__e"}}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig(emuOrgs, 500, 200));
    TempDir dir;
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.librdkafka["queue.buffering.max.kbytes"] = "4096";   // pause at 3 MiB
    std::map<std::string, std::string> topics;
    for (const auto &e : emuOrgs) {
        OrgSpec org = orgFor(e);
        topics[e.name] = uniqueTopic("shared-bound-" + e.name);
        org.channels = {{e.channels[0], topics[e.name]}};
        spec.orgs.push_back(org);
    }
    const int port = freePort();
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port));
    for (const auto &e : emuOrgs)
        emu.generate(e.name, e.channels[0], 200, 1000, 1);
    for (const auto &e : emuOrgs)
        REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), topics[e.name]) >= 200; }, 60s));

    broker.pause();
    // 3 x 3,000 events of ~1 KB wait in sfemu: well above the shared bound.
    for (const auto &e : emuOrgs)
        emu.generate(e.name, e.channels[0], 3000, 1000, 2);
    auto paused = [&] {
        std::string m = httpGet(port, "/metrics").body;
        int n = 0;
        for (const auto &e : emuOrgs)
            n += metricValue(m, "sfkafka_session_state{org=\"" + e.name + "\",transport=\"cometd\",state=\"paused\"}") == 1;
        return n;
    };
    CHECK(waitUntil([&] { return paused() == 3; }, 30s));
    std::string metrics = httpGet(port, "/metrics").body;
    double inFlightBytes = 0;
    for (const auto &e : emuOrgs)
        inFlightBytes += metricValue(metrics, "sfkafka_in_flight_bytes{org=\"" + e.name + "\",transport=\"cometd\"}");
    MESSAGE("in flight during the outage: " << inFlightBytes << " bytes over 3 orgs");
    // The bound plus at most one response (200 events) per org.
    CHECK(inFlightBytes < 3 * 1024 * 1024 + 3 * 200 * 1100);
    CHECK(httpGet(port, "/healthz").status == 200);

    broker.restart();
    for (const auto &e : emuOrgs) {
        Landing l = awaitLanding(emu, e.name, e.channels[0], broker.bootstrap(), topics[e.name], 120s);
        INFO(e.name << ": " << describe(l));
        CHECK(l.published == 3200);
        CHECK(l.missing == 0);
        // A retried batch the broker wrote before the outage can come back
        // once: at most what was in flight.
        CHECK(l.duplicates <= 1000);
    }
    CHECK(daemon.stop() == 0);
}
