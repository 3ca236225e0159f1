// sfkafkad against Salesforce's streaming limits (sfemu's allocations): an
// org past its daily delivery allocation backs off for the limit backoff and
// says so at error level, while another org of the same process keeps
// streaming (README, "How sfkafkad delivers events").
#include <doctest/doctest.h>
#include <httplib.h>
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

// Takes one of the org's client slots the way any CometD client would: a
// password token, then a handshake. Returns the handshake reply.
std::string occupySlot(const std::string &url, const EmuOrg &org)
{
    httplib::Client http(url);
    http.set_tcp_nodelay(true);
    auto tok = http.Post("/services/oauth2/token",
                         "grant_type=password&client_id=app-" + org.name + "&client_secret=secret-" +
                             org.name + "&username=user%40" + org.name + ".example&password=pw-" + org.name,
                         "application/x-www-form-urlencoded");
    REQUIRE(tok);
    REQUIRE(tok->status == 200);
    simdjson::dom::parser parser;
    std::string token(parser.parse(tok->body)["access_token"].get_string().value());
    auto hs = http.Post("/cometd/62.0", {{"Authorization", "Bearer " + token}},
                        R"([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}])",
                        "application/json");
    REQUIRE(hs);
    return hs->body;
}

// sfkafkad streaming the first channel of each org into topic <tag>.<org>.
DaemonProcess startDaemon(const SfemuProcess &emu, const std::vector<EmuOrg> &orgs,
                          const std::string &bootstrap, const TempDir &dir, const std::string &tag)
{
    DaemonSpec spec{emu.url(), bootstrap, dir.file("state")};
    for (const auto &o : orgs) {
        OrgSpec os = orgFor(o);
        os.channels = {{o.channels[0], tag + "." + o.name}};
        spec.orgs.push_back(os);
    }
    return DaemonProcess::start(dir, daemonConfig(spec));
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
    DaemonProcess daemon = startDaemon(emu, orgs, broker.bootstrap(), dir, tag);

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

TEST_CASE("an org at its concurrent-client limit backs off after the denied handshake; the other org streams")
{
    const auto &broker = KafkaBroker::shared();
    std::vector<EmuOrg> orgs = {
        {"crowded", "00D00000000000FAAA", {"/event/Crowded__e"}},
        {"free", "00D00000000000EAAA", {"/event/Free__e"}},
    };
    SfemuProcess emu = SfemuProcess::start(emulatorConfig(orgs, 500, 1000));
    emu.setLimits("crowded", R"({"concurrent_clients": 1})");
    // Another tool of the same org holds the only slot (for client_timeout_ms, 40 s by default).
    REQUIRE(occupySlot(emu.url(), orgs[0]).find("\"successful\":true") != std::string::npos);
    emu.generate("crowded", "/event/Crowded__e", 20, 200, 1);
    emu.generate("free", "/event/Free__e", 100, 200, 2);

    TempDir dir;
    const std::string tag = uniqueTopic("crowd");
    DaemonProcess daemon = startDaemon(emu, orgs, broker.bootstrap(), dir, tag);
    const std::string refused = "handshake refused: 403::Handshake denied (403::Organization concurrent user limit exceeded)";
    REQUIRE(waitUntil([&] { return daemon.log().find(refused) != std::string::npos; }, 90s));
    Landing l = awaitLanding(emu, "free", "/event/Free__e", broker.bootstrap(), tag + ".free");
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    // One denied handshake, then the limit backoff: no storm of handshakes.
    CHECK(daemon.log().find(refused) == daemon.log().rfind(refused));
    CHECK(clientCount(emu, "crowded") == 1); // only the slot holder
    CHECK(topicSize(broker.bootstrap(), tag + ".crowded") == 0);
    CHECK(daemon.stop() == 0);
}
