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
    // One warning per topic (the control topic has its own): find ours.
    auto lineFor = [&](const std::string &name) {
        std::string log = daemon.log();
        for (size_t at = log.find(warning); at != std::string::npos; at = log.find(warning, at + 1)) {
            std::string line = log.substr(at, log.find('\n', at) - at);
            if (line.find("topic=" + name + " ") != std::string::npos)
                return line;
        }
        return std::string();
    };
    CHECK(waitUntil([&] { return !lineFor(topic).empty(); }, 60s));
    std::string line = lineFor(topic);
    INFO(line);
    REQUIRE(!line.empty());
    CHECK(line.find("replication_factor=1 ") != std::string::npos);
    // The single-node broker's default.
    CHECK(line.find("min_insync_replicas=1") != std::string::npos);
    CHECK(daemon.stop() == 0);
}
