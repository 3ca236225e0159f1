// The systemd notify protocol seen through a test NOTIFY_SOCKET, and the
// HTTP listener (/metrics checked by promtool, /healthz, /readyz).
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("notify protocol: READY, STATUS, WATCHDOG, RELOADING/READY on SIGHUP, STOPPING; metrics pass promtool")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    NotifySocket notify(dir.file("notify.sock"));
    const std::string topic = uniqueTopic("ops.notify");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};
    int port = freePort();
    std::string yaml = withListen(daemonConfig(spec), port);

    emu.generate("default", "/event/Demo__e", 20, 200);
    DaemonProcess daemon = DaemonProcess::start(
        dir, yaml, {}, {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=1000000"});

    int ready = notify.waitFor("READY=1");
    REQUIRE(ready >= 0);
    // The listener is up before READY=1.
    CHECK(httpGet(port, "/healthz").status == 200);

    auto landed = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
    CHECK(landed.missing == 0);
    // STATUS lines report the streaming orgs; watchdog pings every ~0.5 s.
    CHECK(notify.waitFor("STATUS=1/1 orgs streaming") >= 0);
    CHECK(waitUntil([&] { return notify.count("WATCHDOG=1") >= 3; }, 10s));

    {
        auto metrics = httpGet(port, "/metrics");
        REQUIRE(metrics.status == 200);
        CHECK(metrics.body.find("# TYPE sfkafka_events_delivered_total counter") != std::string::npos);
        CHECK(metricValue(metrics.body,
                          "sfkafka_events_delivered_total{org=\"default\",transport=\"cometd\",channel=\"/event/Demo__e\"}") == 20);
        CHECK(metricValue(metrics.body, "sfkafka_session_state{org=\"default\",transport=\"cometd\",state=\"streaming\"}") == 1);
        CHECK(metricValue(metrics.body, "sfkafka_delivery_lag_seconds_count{org=\"default\",transport=\"cometd\"}") == 20);
        CHECK(metricValue(metrics.body, "sfkafka_committed_replay_id{org=\"default\",transport=\"cometd\",channel=\"/event/Demo__e\"}") > 0);
        CHECK(metrics.body.find("sfkafka_build_info{version=") != std::string::npos);
        CHECK(metrics.body.find("secret") == std::string::npos);
        CHECK(metrics.body.find("password") == std::string::npos);
        std::string file = dir.file("metrics.txt");
        writeFile(file, metrics.body);
        if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
            std::string out = runCommand("promtool check metrics < " + file + " 2>&1; echo rc=$?");
            CHECK_MESSAGE(out.find("rc=0") != std::string::npos, out);
        } else {
            FAIL_CHECK("promtool not installed (Debian package prometheus; scripts/install-deps)");
        }
        auto ready = httpGet(port, "/readyz?verbose");
        CHECK(ready.status == 200);
        CHECK(ready.body.find("[+] kafka") != std::string::npos);
        CHECK(ready.body.find("[+] org default streaming") != std::string::npos);
    }

    size_t before = notify.messages().size();
    REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
    int reloading = notify.waitFor("RELOADING=1", before);
    REQUIRE(reloading >= 0);
    CHECK(notify.messages()[reloading].find("MONOTONIC_USEC=") != std::string::npos);
    CHECK(notify.waitFor("READY=1", reloading + 1) > reloading);
    CHECK(waitUntil([&] { return daemon.log().find("configuration reloaded") != std::string::npos; }, 10s));
    CHECK(metricValue(httpGet(port, "/metrics").body, "sfkafka_reloads_total{result=\"success\"}") == 1);

    before = notify.messages().size();
    CHECK(daemon.stop() == 0);
    CHECK(notify.find("STOPPING=1", before) >= 0);
}

TEST_CASE("watchdog pings go on while a reload drains a restarted org for seconds")
{
    // Kafka down (nothing listens there): the restarted org's events stay
    // unacknowledged, so its drain lasts the whole shutdown timeout.
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    NotifySocket notify(dir.file("notify.sock"));
    DaemonSpec spec{emu.url(), "127.0.0.1:" + std::to_string(freePort()), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", "ops.notify.drain"}};
    spec.orgs = {org};
    int port = freePort();
    emu.generate("default", "/event/Demo__e", 20, 200);
    const int drainS = 4;
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port),
                                                {"--shutdown-timeout", std::to_string(drainS)},
                                                {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=1000000"});
    REQUIRE(notify.waitFor("READY=1") >= 0);
    REQUIRE(waitUntil([&] { return metricValue(httpGet(port, "/metrics").body, "sfkafka_in_flight_events{org=\"default\",transport=\"cometd\"}") >= 20; },
                      60s));

    spec.orgs[0].max_in_flight_events = 5000;
    writeFile(dir.file("sfkafkad.yaml"), withListen(daemonConfig(spec), port));
    REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
    int reloading = notify.waitFor("RELOADING=1");
    REQUIRE(reloading >= 0);
    int ready = notify.waitFor("READY=1", static_cast<size_t>(reloading), std::chrono::seconds(drainS + 60));
    REQUIRE(ready > reloading);
    auto messages = notify.messages();
    int pings = 0;
    for (int i = reloading; i < ready; ++i)
        pings += messages[static_cast<size_t>(i)].find("WATCHDOG=1") != std::string::npos;
    // Every 0.5 s over a drain of drainS seconds; at least half of them on a
    // loaded machine.
    CHECK(pings >= drainS);
    MESSAGE("watchdog pings during the reload: " << pings);
    CHECK(daemon.log().find("unacknowledged events; they will be replayed") != std::string::npos);
    CHECK(daemon.stop() == 0);
}
