// sfemu's pieces without the network: channel logs and configuration.
#include <doctest/doctest.h>

#include <random>

#include "channel_log.h"
#include "emulator_config.h"

using namespace sfk::emu;

namespace {
simdjson::dom::element parse(simdjson::dom::parser &p, const std::string &json)
{
    return p.parse(json).value();
}
} // namespace

TEST_CASE("replay ids increase, are not contiguous, and retention drops old events")
{
    ChannelLog log("/topic/X", Family::Topic, 1000, 3, 42);
    simdjson::dom::parser p;
    std::vector<int64_t> ids;
    for (int i = 0; i < 10; ++i)
        ids.push_back(log.append(parse(p, R"({"Name":"n"})"), 10000 + i));
    bool gap = false;
    for (size_t i = 1; i < ids.size(); ++i) {
        CHECK(ids[i] > ids[i - 1]);
        CHECK(ids[i] - ids[i - 1] <= 3);
        gap = gap || ids[i] - ids[i - 1] > 1;
    }
    CHECK(gap);
    CHECK(log.retainedCount() == 3); // count limit
    CHECK(log.retains(ids[9]));
    CHECK_FALSE(log.retains(ids[6]));
    CHECK(log.published().size() == 10);
    std::vector<EventPtr> out;
    CHECK(log.collectAfter(ids[7], 10, out) == 2);
    CHECK(out[0]->replay_id == ids[8]);
    log.expire(10000 + 9 + 1001); // age limit
    CHECK(log.retainedCount() == 0);
    CHECK(log.lastReplayId() == ids[9]);
}

TEST_CASE("payloads of the wrong shape are refused and consume no replay id")
{
    ChannelLog log("/u/X", Family::Generic, 1000, 0, 1);
    simdjson::dom::parser p;
    CHECK_THROWS_AS(log.append(parse(p, R"({"a":1})"), 1), PayloadError);
    CHECK(log.lastReplayId() == 0);
    CHECK(log.append(parse(p, R"("text")"), 1) > 0);
    ChannelLog data("/data/Foo__ChangeEvent", Family::Data, 1000, 0, 1);
    CHECK_THROWS_AS(data.append(parse(p, R"("text")"), 1), PayloadError);
    data.append(parse(p, R"({"Name":"x"})"), 1);
    std::vector<EventPtr> out;
    data.collectAfter(0, 1, out);
    CHECK(out[0]->json.find(R"("entityName":"Foo__c")") != std::string::npos);
}

TEST_CASE("generated events are about the asked size")
{
    for (auto [channel, family] : {std::pair{"/topic/T", Family::Topic}, {"/u/U", Family::Generic},
                                   {"/event/E__e", Family::Event}, {"/data/AccountChangeEvent", Family::Data}}) {
        ChannelLog log(channel, family, 100000, 0, 1);
        std::mt19937_64 rng(3);
        for (uint64_t i = 0; i < 5; ++i)
            log.appendGenerated(i, 1024, rng, 1);
        std::vector<EventPtr> out;
        log.collectAfter(0, 10, out);
        REQUIRE(out.size() == 5);
        for (auto &e : out) {
            CHECK(e->json.size() > 950);
            CHECK(e->json.size() < 1100);
            simdjson::dom::parser p;
            CHECK(p.parse(e->json).error() == simdjson::SUCCESS);
        }
    }
}

namespace {

// The errors a config must be refused with, one per line.
std::string configErrors(const std::string &yaml, const std::string &file)
{
    try {
        parseConfig(yaml, file);
    } catch (const ConfigError &e) {
        return e.what();
    }
    FAIL("no error");
    return {};
}

} // namespace

TEST_CASE("configuration: defaults, overrides, every error with its position")
{
    auto def = parseConfig("", "x.yaml");
    REQUIRE(def.orgs.size() == 1);
    CHECK(def.orgs[0].org_id == "00D000000000001AAA");
    CHECK(def.orgs[0].channels.size() == 4);

    auto knobs = parseConfig("connect_hold_ms: 500\n", "x.yaml");
    CHECK(knobs.orgs[0].knobs.connect_hold_ms == 500);
    CHECK(knobs.orgs[0].name == "default");

    std::string m = configErrors(
        "orgs:\n  - name: a\n    colour: red\n    channels: [/nope/X]\n    connect_hold_ms: -1\n", "c.yaml");
    CHECK(m.find("c.yaml:3:5: unknown key 'colour'") != std::string::npos);
    CHECK(m.find("c.yaml:4:15: channels: '/nope/X'") != std::string::npos);
    CHECK(m.find("c.yaml:5:22: connect_hold_ms: must be at least 0") != std::string::npos);
}

TEST_CASE("configuration: managed subscriptions, checked against the org's channels")
{
    auto ok = parseConfig("orgs:\n  - channels: [/event/A__e]\n    managed_subscriptions:\n"
                          "      - {developer_name: Sub_A, topic_name: /event/A__e, default_replay: EARLIEST}\n",
                          "m.yaml");
    REQUIRE(ok.orgs[0].managed_subscriptions.size() == 1);
    const auto &m = ok.orgs[0].managed_subscriptions[0];
    CHECK(m.developer_name == "Sub_A");
    CHECK(m.default_replay == "EARLIEST");
    CHECK(m.error_recovery_replay == "LATEST");
    CHECK(m.state == "RUN");
    std::string msg =
        configErrors("orgs:\n  - channels: [/event/A__e, /topic/T]\n    managed_subscriptions:\n"
                     "      - {developer_name: 9bad, topic_name: /event/A__e}\n"
                     "      - {developer_name: B, topic_name: /event/Nope__e}\n"
                     "      - {developer_name: C, topic_name: /topic/T, state: PAUSE}\n"
                     "      - {developer_name: D, topic_name: /event/A__e, default_replay: CUSTOM}\n"
                     "      - {developer_name: D, topic_name: /event/A__e, colour: red}\n",
                     "m.yaml");
    CHECK(msg.find("m.yaml:4:9: managed_subscriptions: developer_name '9bad'") != std::string::npos);
    CHECK(msg.find("m.yaml:5:9: managed_subscriptions: topic_name '/event/Nope__e'") != std::string::npos);
    CHECK(msg.find("m.yaml:6:9: managed_subscriptions: topic_name '/topic/T'") != std::string::npos);
    CHECK(msg.find("m.yaml:6:9: managed_subscriptions: state is RUN or STOP") != std::string::npos);
    CHECK(msg.find("m.yaml:7:9: managed_subscriptions: replay presets") != std::string::npos);
    CHECK(msg.find("m.yaml:8:9: managed_subscriptions: duplicate developer_name D") != std::string::npos);
    CHECK(msg.find("unknown key 'colour'") != std::string::npos);
}
