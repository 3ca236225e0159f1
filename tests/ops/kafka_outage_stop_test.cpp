// A Kafka outage with the producer queue full: a session waits in produce.
// SIGHUP and SIGTERM must still be honoured within the shutdown timeout, and
// nothing may be committed past what Kafka acknowledged (here: nothing).
#include <doctest/doctest.h>

#include <csignal>

#include "../integration/pipeline_support.h"
#include "ops_support.h"
#include "replay/replay_store.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("with Kafka down and the producer queue full, SIGHUP and SIGTERM end the wait in time")
{
    EmuOrg emuOrg{"acme", "00D000000000001AAA", {"/event/Outage__e"}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig({emuOrg}, 500));
    emu.generate("acme", "/event/Outage__e", 200, 100, 7);
    TempDir dir;
    // Nothing listens there: every record stays queued in the producer.
    const std::string brokers = "127.0.0.1:" + std::to_string(freePort());
    DaemonSpec spec = singleChannelSpec(emu.url(), brokers, dir.file("state"), emuOrg, "outage.test");
    spec.librdkafka = {{"queue.buffering.max.messages", "20"}};
    const int port = freePort();
    const std::string yaml = withListen(daemonConfig(spec), port);
    const int shutdownTimeoutS = 3;
    DaemonProcess daemon =
        DaemonProcess::start(dir, yaml, {"--shutdown-timeout", std::to_string(shutdownTimeoutS)});

    // The queue is full and the session waits in produce for room.
    REQUIRE(waitUntil([&] { return metricValue(httpGet(port, "/metrics").body, "sfkafka_kafka_queue_depth") >= 20; },
                      60s));

    // A reload restarting the org (a changed setting) has to stop that wait.
    spec.orgs[0].max_in_flight_events = 5000;
    writeFile(dir.file("sfkafkad.yaml"), withListen(daemonConfig(spec), port));
    REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
    CHECK(waitUntil([&] { return daemon.log().find("configuration reloaded") != std::string::npos; },
                    std::chrono::seconds(shutdownTimeoutS + 30)));
    REQUIRE(waitUntil([&] { return metricValue(httpGet(port, "/metrics").body, "sfkafka_kafka_queue_depth") >= 20; },
                      60s));

    // SIGTERM: stops within the shutdown timeout (plus start-up slack on a
    // loaded machine), exit status 0, not SIGKILLed.
    auto asked = std::chrono::steady_clock::now();
    int rc = daemon.stop(std::chrono::seconds(shutdownTimeoutS + 20));
    auto took = std::chrono::steady_clock::now() - asked;
    CHECK(rc == 0);
    CHECK(took < std::chrono::seconds(shutdownTimeoutS + 20));
    MESSAGE("stopped in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(daemon.log().find("stopped; some events will be replayed on restart") != std::string::npos);

    // Kafka acknowledged nothing: no replay id may be committed.
    std::vector<sfk::replay::StoredId> ids;
    std::string error;
    REQUIRE(sfk::replay::ReplayStore::readSnapshot(dir.file("state"), ids, error));
    for (const auto &id : ids)
        CHECK_MESSAGE(id.replay_id < 0, "committed " << id.org << " " << id.channel << " " << id.replay_id);
}
