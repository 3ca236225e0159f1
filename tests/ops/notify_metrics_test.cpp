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
                          "sfkafka_events_delivered_total{org=\"default\",channel=\"/event/Demo__e\"}") == 20);
        CHECK(metricValue(metrics.body, "sfkafka_session_state{org=\"default\",state=\"streaming\"}") == 1);
        CHECK(metricValue(metrics.body, "sfkafka_delivery_lag_seconds_count{org=\"default\"}") == 20);
        CHECK(metricValue(metrics.body, "sfkafka_committed_replay_id{org=\"default\",channel=\"/event/Demo__e\"}") > 0);
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
