// SIGHUP reload: orgs added and removed while another keeps streaming with
// no gap and no duplicate; an invalid file keeps the running configuration.
#include <doctest/doctest.h>

#include <csignal>

#include <atomic>
#include <thread>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("reload adds one org and removes another while a third streams on; a bad reload changes nothing")
{
    const auto &broker = KafkaBroker::shared();
    std::vector<EmuOrg> emuOrgs = {{"keep", "00D000000000001AAA", {"/event/Keep__e"}},
                                   {"gone", "00D000000000002AAA", {"/event/Gone__e"}},
                                   {"added", "00D000000000003AAA", {"/event/Added__e"}}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig(emuOrgs, 500));
    TempDir dir;
    const std::string tag = uniqueTopic("ops.reload");
    auto spec = [&](std::vector<std::string> names) {
        DaemonSpec d{emu.url(), broker.bootstrap(), dir.file("state")};
        for (const auto &e : emuOrgs) {
            if (std::find(names.begin(), names.end(), e.name) == names.end())
                continue;
            OrgSpec o = orgFor(e);
            o.channels = {{e.channels[0], tag + "." + e.name}};
            d.orgs.push_back(o);
        }
        return d;
    };
    int port = freePort();
    std::string first = withListen(daemonConfig(spec({"keep", "gone"})), port);
    std::string second = withListen(daemonConfig(spec({"keep", "added"})), port);

    emu.generate("keep", "/event/Keep__e", 50, 100, 1);
    emu.generate("gone", "/event/Gone__e", 10, 100, 2);
    emu.generate("added", "/event/Added__e", 10, 100, 3);
    DaemonProcess daemon = DaemonProcess::start(dir, first);
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), tag + ".gone") >= 10; }, 60s));
    CHECK(topicSize(broker.bootstrap(), tag + ".added") <= 0);

    // Keep publishing to `keep` through both reloads.
    std::atomic<bool> publishing{true};
    std::thread publisher([&] {
        int seed = 100;
        while (publishing.load()) {
            emu.generate("keep", "/event/Keep__e", 5, 100, seed++);
            std::this_thread::sleep_for(100ms);
        }
    });

    std::this_thread::sleep_for(500ms);
    writeFile(dir.file("sfkafkad.yaml"), second);
    REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
    REQUIRE(waitUntil([&] { return daemon.log().find("configuration reloaded") != std::string::npos; }, 30s));
    CHECK(daemon.log().find("added=added") != std::string::npos);
    CHECK(daemon.log().find("removed=gone") != std::string::npos);
    CHECK(daemon.log().find("unchanged=keep") != std::string::npos);
    auto landedAdded = awaitLanding(emu, "added", "/event/Added__e", broker.bootstrap(), tag + ".added");
    CHECK_MESSAGE(landedAdded.missing == 0, describe(landedAdded));

    // Events for the removed org no longer flow.
    emu.generate("gone", "/event/Gone__e", 5, 100, 4);

    // An invalid file: every error logged, the running configuration stays.
    std::this_thread::sleep_for(500ms);
    std::string bad = second;
    bad.replace(bad.find("commit_interval_ms: 100"), 23, "commit_interval_ms: -5");
    writeFile(dir.file("sfkafkad.yaml"), bad + "bogus_key: 1\n");
    REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
    REQUIRE(waitUntil([&] { return daemon.log().find("configuration reload failed") != std::string::npos; }, 30s));
    std::string log = daemon.log();
    CHECK(log.find("bogus_key") != std::string::npos);
    CHECK(log.find("commit_interval_ms") != std::string::npos);
    CHECK(log.find("2 error(s)") != std::string::npos);
    auto metrics = httpGet(port, "/metrics").body;
    CHECK(metricValue(metrics, "sfkafka_reloads_total{result=\"failure\"}") == 1);
    CHECK(metricValue(metrics, "sfkafka_reloads_total{result=\"success\"}") == 1);
    CHECK(httpGet(port, "/readyz").status == 200);

    std::this_thread::sleep_for(1s);
    publishing = false;
    publisher.join();
    emu.generate("keep", "/event/Keep__e", 10, 100, 999);

    auto landedKeep = awaitLanding(emu, "keep", "/event/Keep__e", broker.bootstrap(), tag + ".keep");
    CHECK_MESSAGE(landedKeep.missing == 0, describe(landedKeep));
    CHECK_MESSAGE(landedKeep.duplicates == 0, describe(landedKeep));
    CHECK(landedKeep.order_errors == 0);
    CHECK(landedKeep.published > 60);
    // `keep` was never restarted: one handshake in its whole life.
    CHECK(metricValue(httpGet(port, "/metrics").body, "sfkafka_handshakes_total{org=\"keep\",transport=\"cometd\"}") == 1);
    CHECK(topicSize(broker.bootstrap(), tag + ".gone") == 10);
    CHECK(daemon.stop() == 0);
}
