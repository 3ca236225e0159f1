// `sfkafkad replay show|set|reset` on a state directory: round trip on a
// stopped daemon's store, refusal while a daemon holds the lock.
#include <doctest/doctest.h>

#include "../integration/pipeline_support.h"
#include "ops_support.h"
#include "replay/replay_store.h"

using namespace sfk::test;
using namespace std::chrono_literals;
constexpr auto kCometd = sfk::replay::Transport::Cometd;

TEST_CASE("replay show, set and reset round-trip; refused while a daemon runs")
{
    TempDir dir;
    const std::string state = dir.file("state");
    {
        std::string error;
        auto store = sfk::replay::ReplayStore::open(state, error);
        REQUIRE(store);
        store->set("acme", "/event/Order__e", kCometd, 4242);
        store->set("acme", "/data/AccountChangeEvent", kCometd, 17);
        REQUIRE(store->flush(error));
    }
    std::string out;
    REQUIRE(runDaemon({"replay", "show", "--state-dir", state}, out) == 0);
    CHECK(out.find("REPLAY_ID") != std::string::npos);
    CHECK(out.find("/event/Order__e") != std::string::npos);
    CHECK(out.find("4242") != std::string::npos);
    CHECK(out.find("s\n") != std::string::npos);  // an age in seconds

    // No terminal and no --yes: refused, nothing changed.
    CHECK(runDaemon({"replay", "set", "--state-dir", state, "acme", "/event/Order__e", "5000"}, out) == 1);
    CHECK(out.find("--yes") != std::string::npos);
    CHECK(runDaemon({"replay", "set", "--state-dir", state, "--yes", "acme", "/event/Order__e", "5000"}, out) == 0);
    CHECK(out.find("4242 -> 5000") != std::string::npos);
    CHECK(runDaemon({"replay", "reset", "--state-dir", state, "--yes", "acme", "/data/AccountChangeEvent"}, out) == 0);
    CHECK(runDaemon({"replay", "set", "--state-dir", state, "--yes", "acme", "/event/Order__e", "x1"}, out) == 2);

    std::vector<sfk::replay::StoredId> ids;
    std::string error;
    REQUIRE(sfk::replay::ReplayStore::readSnapshot(state, ids, error));
    REQUIRE(ids.size() == 1);
    CHECK(ids[0].channel == "/event/Order__e");
    CHECK(ids[0].replay_id == 5000);

    // The same through --config, with a daemon running on it: refused, naming its pid.
    DaemonSpec spec{"http://127.0.0.1:1", "127.0.0.1:1", state};
    OrgSpec org;
    org.name = "acme";
    org.channels = {{"/event/Order__e", "t"}};
    spec.orgs = {org};
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    REQUIRE(waitUntil([&] { return sfk::replay::ReplayStore::isLocked(state); }, 20s));
    const std::string cfg = dir.file("sfkafkad.yaml");
    CHECK(runDaemon({"replay", "show", "--config", cfg}, out) == 0);
    CHECK(out.find("5000") != std::string::npos);
    CHECK(runDaemon({"replay", "reset", "--config", cfg, "--yes", "acme", "/event/Order__e"}, out) == 1);
    CHECK(out.find("pid " + std::to_string(daemon.pid())) != std::string::npos);
    CHECK(daemon.stop() == 0);
    CHECK(runDaemon({"replay", "reset", "--config", cfg, "--yes", "acme", "/event/Order__e"}, out) == 0);
    REQUIRE(sfk::replay::ReplayStore::readSnapshot(state, ids, error));
    CHECK(ids.empty());
}

TEST_CASE("replay positions are kept per transport: Pub/Sub ids as base64, set and reset with --transport")
{
    TempDir dir;
    const std::string state = dir.file("state");
    {
        std::string error;
        auto store = sfk::replay::ReplayStore::open(state, error);
        REQUIRE(store);
        store->set("acme", "/event/Order__e", kCometd, 4242);
        store->set("acme", "/event/Order__e", sfk::replay::Transport::Pubsub,
                   sfk::replay::Position::bytes(std::string("\x00\x00\x00\x00\x00\x00\x00\x07\xab\xcd", 10)));
        REQUIRE(store->flush(error));
    }
    std::string out;
    REQUIRE(runDaemon({"replay", "show", "--state-dir", state}, out) == 0);
    CHECK(out.find("TRANSPORT") != std::string::npos);
    CHECK(out.find("cometd") != std::string::npos);
    CHECK(out.find("pubsub") != std::string::npos);
    CHECK(out.find("AAAAAAAAAAerzQ==") != std::string::npos);
    CHECK(out.find("4242") != std::string::npos);

    CHECK(runDaemon({"replay", "set", "--state-dir", state, "--yes", "--transport", "pubsub", "acme",
                     "/event/Order__e", "not base64!"},
                    out) == 2);
    CHECK(out.find("base64") != std::string::npos);
    CHECK(runDaemon({"replay", "set", "--state-dir", state, "--yes", "--transport", "grpc", "acme", "/event/Order__e",
                     "AAAA"},
                    out) == 2);
    CHECK(runDaemon({"replay", "set", "--state-dir", state, "--yes", "--transport", "pubsub", "acme",
                     "/event/Order__e", "AAAAAAAAAAiqqg=="},
                    out) == 0);
    CHECK(out.find("AAAAAAAAAAerzQ== -> AAAAAAAAAAiqqg==") != std::string::npos);
    CHECK(runDaemon({"replay", "reset", "--state-dir", state, "--yes", "--transport", "pubsub", "acme",
                     "/event/Order__e"},
                    out) == 0);
    std::vector<sfk::replay::StoredId> ids;
    std::string error;
    REQUIRE(sfk::replay::ReplayStore::readSnapshot(state, ids, error));
    REQUIRE(ids.size() == 1);   // the CometD id stays
    CHECK(ids[0].transport == kCometd);
    CHECK(ids[0].replay_id == 4242);
}
