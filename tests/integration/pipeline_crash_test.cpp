// The daemon killed mid-stream, and the broker gone for 30 s: nothing lost,
// duplicates within the in-flight window, memory bounded meanwhile.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

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
