// acks=all is durable only with replication >= 3 and min.insync.replicas >=
// 2: sfkafkad looks its topics up at start and warns when they are weaker.
// The test broker is a single node (replication 1), so the warning must come.
#include <doctest/doctest.h>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("a topic with replication 1 is named in a durability warning at start")
{
    const auto &broker = KafkaBroker::shared();
    EmuOrg emuOrg{"acme", "00D000000000001AAA", {"/event/Durable__e"}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig({emuOrg}, 300));
    TempDir dir;
    const std::string topic = uniqueTopic("ops.durability");
    createTopic(broker.bootstrap(), topic, 2);
    DaemonSpec spec = singleChannelSpec(emu.url(), broker.bootstrap(), dir.file("state"), emuOrg, topic);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    const std::string warning = "topic is weaker than acks=all needs to be durable";
    CHECK(waitUntil([&] { return daemon.log().find(warning) != std::string::npos; }, 60s));
    std::string log = daemon.log();
    auto at = log.find(warning);
    REQUIRE(at != std::string::npos);
    std::string line = log.substr(at, log.find('\n', at) - at);
    INFO(line);
    CHECK(line.find("topic=" + topic + " ") != std::string::npos);
    CHECK(line.find("replication_factor=1 ") != std::string::npos);
    // The single-node broker's default.
    CHECK(line.find("min_insync_replicas=1") != std::string::npos);
    CHECK(daemon.stop() == 0);
}
