// sfkafkad against Salesforce's streaming limits (sfemu's allocations): an
// org past its daily delivery allocation backs off for the limit backoff and
// says so at error level, while another org of the same process keeps
// streaming (README, "How sfkafkad delivers events").
#include <doctest/doctest.h>
#include <simdjson.h>

#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// Handshakes the org's clients made so far (every CometD client is one
// handshake), from sfemu's usage.
size_t clientCount(SfemuProcess &emu, const std::string &org)
{
    simdjson::dom::parser parser;
    simdjson::dom::array clients;
    std::string usage = emu.usage(org);
    if (parser.parse(usage)["clients"].get_array().get(clients) != simdjson::SUCCESS)
        return 0;
    return clients.size();
}

} // namespace

TEST_CASE("an org past its delivery allocation backs off loudly; the other org keeps streaming")
{
    const auto &broker = KafkaBroker::shared();
    std::vector<EmuOrg> orgs = {
        {"capped", "00D00000000000DAAA", {"/event/Capped__e"}},
        {"free", "00D00000000000EAAA", {"/event/Free__e"}},
    };
    SfemuProcess emu = SfemuProcess::start(emulatorConfig(orgs, 500, 1000));
    emu.setLimits("capped", R"({"daily_delivered_events": 40})");
    emu.generate("capped", "/event/Capped__e", 100, 200, 1);
    emu.generate("free", "/event/Free__e", 100, 200, 2);

    TempDir dir;
    const std::string tag = uniqueTopic("limits");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    for (const auto &o : orgs) {
        OrgSpec os = orgFor(o);
        os.channels = {{o.channels[0], tag + "." + o.name}};
        spec.orgs.push_back(os);
    }
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));

    // The capped org gets exactly its allocation, then Salesforce's error, logged at error level.
    const std::string refused = "connect refused by a limit: 403::Organization total events daily limit exceeded";
    REQUIRE(waitUntil([&] { return daemon.log().find(refused) != std::string::npos; }, 90s));
    std::string log = daemon.log();
    size_t at = log.find(refused);
    size_t line_start = log.rfind('\n', at) + 1;
    std::string line = log.substr(line_start, log.find('\n', at) - line_start);
    INFO(line);
    CHECK(line.find("error") != std::string::npos);
    CHECK(line.find("capped") != std::string::npos);
    CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), tag + ".capped") == 40; }, 60s));

    // The other org streams everything, also what is published after the refusal.
    Landing first = awaitLanding(emu, "free", "/event/Free__e", broker.bootstrap(), tag + ".free");
    INFO(describe(first));
    CHECK(first.missing == 0);
    emu.generate("free", "/event/Free__e", 50, 200, 3);
    Landing all = awaitLanding(emu, "free", "/event/Free__e", broker.bootstrap(), tag + ".free");
    INFO(describe(all));
    CHECK(all.published == 150);
    CHECK(all.missing == 0);
    CHECK(all.duplicates == 0);

    // Backing off, not retrying: one handshake, the 40 events and nothing more.
    CHECK(clientCount(emu, "capped") == 1);
    CHECK(topicSize(broker.bootstrap(), tag + ".capped") == 40);
    Landing capped = compareLanding(emu.published("capped", "/event/Capped__e"),
                                    consumeAll(broker.bootstrap(), tag + ".capped"));
    CHECK(capped.records == 40);
    CHECK(capped.duplicates == 0);
    CHECK(capped.order_errors == 0);
    CHECK(daemon.running());
    CHECK(daemon.stop() == 0);
}
