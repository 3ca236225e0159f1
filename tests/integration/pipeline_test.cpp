// sfkafkad end to end: sfemu over HTTP on loopback, a real Kafka broker.
#include <doctest/doctest.h>
#include <httplib.h>
#include <simdjson.h>

#include <thread>

#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// Reads the raw Bayeux events of a channel from sfemu the way any client
// would (token, handshake with cookies, subscribe from -2, connect), and
// returns each event's `data` object, minified, by replay id.
std::map<int64_t, std::string> rawEventData(const std::string &url, const std::string &channel,
                                            size_t expected)
{
    httplib::Client http(url);
    http.set_tcp_nodelay(true);
    auto tok = http.Post("/services/oauth2/token",
                         "grant_type=password&client_id=sfemu-client&client_secret=sfemu-secret"
                         "&username=user%40example.com&password=password",
                         "application/x-www-form-urlencoded");
    REQUIRE(tok);
    REQUIRE(tok->status == 200);
    simdjson::dom::parser parser;
    std::string_view token = parser.parse(tok->body)["access_token"].get_string().value();
    httplib::Headers headers{{"Authorization", "Bearer " + std::string(token)}};
    auto post = [&](const std::string &body) {
        auto r = http.Post("/cometd/62.0", headers, body, "application/json");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        std::string cookies;
        for (auto it = r->headers.lower_bound("Set-Cookie"); it != r->headers.upper_bound("Set-Cookie"); ++it)
            cookies += (cookies.empty() ? "" : "; ") + it->second.substr(0, it->second.find(';'));
        if (!cookies.empty()) {
            headers.erase("Cookie");
            headers.emplace("Cookie", cookies);
        }
        return r->body;
    };
    std::string hs = post(R"([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}])");
    std::string clientId(parser.parse(hs).at(0)["clientId"].get_string().value());
    post(R"([{"channel":"/meta/subscribe","clientId":")" + clientId + R"(","subscription":")" + channel +
         R"(","id":"2","ext":{"replay":{")" + channel + R"(":-2}}}])");
    std::map<int64_t, std::string> out;
    for (int i = 0; i < 10 && out.size() < expected; ++i) {
        std::string body = post(R"([{"channel":"/meta/connect","clientId":")" + clientId +
                                R"(","connectionType":"long-polling","id":")" + std::to_string(3 + i) + "\"}]");
        simdjson::dom::array msgs = parser.parse(body).get_array().value();
        for (simdjson::dom::element m : msgs) {
            std::string_view ch = m["channel"].get_string().value();
            if (ch != channel)
                continue;
            int64_t id = m["data"]["event"]["replayId"].get_int64().value();
            out[id] = simdjson::minify(m["data"]);
        }
    }
    return out;
}

} // namespace

TEST_CASE("all four channel families land with topic, key, headers, timestamp and the exact value")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string tag = uniqueTopic("fam");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/topic/Demo", tag + ".topic"},
                    {"/u/Demo", tag + ".u"},
                    {"/event/Demo__e", tag + ".event", "earliest", "fail", "/payload/Order_Number__c"},
                    {"/data/AccountChangeEvent", tag + ".data"}};
    spec.orgs = {org};

    auto topicIds = emu.publish("default", "/topic/Demo",
        R"([{"type":"created","Id":"a00D0000008o6y8IAA","Name":"INV-0001","Status__c":"Open"},
            {"type":"updated","Id":"a00D0000008o6y9IAA","Name":"INV-0002 \"quoted\" é","Status__c":"Closed"}])");
    auto uIds = emu.publish("default", "/u/Demo", R"(["Build 42 finished", "Build 43 \n started"])");
    auto eventIds = emu.publish("default", "/event/Demo__e",
        R"([{"Order_Number__c":"A-1","Amount__c":42.5},{"Order_Number__c":"A-2","Amount__c":7}])");
    auto dataIds = emu.publish("default", "/data/AccountChangeEvent",
        R"([{"ChangeEventHeader":{"entityName":"Account","recordIds":["0015g00000AbCdEAAZ","0015g00000AbCdFAAZ"],"changeType":"UPDATE","changedFields":["Name"]},"Name":"Acme Corp"},
            {"ChangeEventHeader":{"entityName":"Account","recordIds":["0015g00000AbCdGAAZ"],"changeType":"GAP_UPDATE"}}])");
    REQUIRE(topicIds.size() == 2);
    REQUIRE(dataIds.size() == 2);

    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    struct Expect { std::string channel, topic; std::vector<int64_t> ids; };
    std::vector<Expect> expects = {{"/topic/Demo", tag + ".topic", topicIds},
                                   {"/u/Demo", tag + ".u", uIds},
                                   {"/event/Demo__e", tag + ".event", eventIds},
                                   {"/data/AccountChangeEvent", tag + ".data", dataIds}};
    for (const auto &ex : expects) {
        CAPTURE(ex.channel);
        auto records = consumeAll(broker.bootstrap(), ex.topic, 2, 60s);
        REQUIRE(records.size() == 2);
        auto raw = rawEventData(emu.url(), ex.channel, 2);
        auto published = emu.published("default", ex.channel);
        REQUIRE(published.size() == 2);
        for (size_t i = 0; i < 2; ++i) {
            const Record &r = records[i];
            CHECK(replayIdOf(r) == ex.ids[i]);
            CHECK(r.header("sf.org_id") == std::optional<std::string>("00D000000000001AAA"));
            CHECK(r.header("sf.channel") == std::optional<std::string>(ex.channel));
            CHECK(r.value == raw[ex.ids[i]]);   // byte-identical to what Salesforce sent
            CHECK(r.timestamp_ms == published[i].time_ms);
        }
        if (ex.channel == "/topic/Demo") {
            CHECK(records[0].key == std::optional<std::string>("a00D0000008o6y8IAA"));
            CHECK(records[0].header("sf.event_type") == std::optional<std::string>("created"));
            CHECK(records[1].header("sf.event_type") == std::optional<std::string>("updated"));
            CHECK(records[0].header("sf.created_date").has_value());
        } else if (ex.channel == "/u/Demo") {
            CHECK_FALSE(records[0].key.has_value());
            CHECK(records[0].header("sf.created_date").has_value());
        } else if (ex.channel == "/event/Demo__e") {
            CHECK(records[0].key == std::optional<std::string>("A-1"));   // JSON pointer key
            CHECK(records[1].key == std::optional<std::string>("A-2"));
            CHECK(records[0].header("sf.event_uuid").has_value());
            CHECK(records[0].header("sf.schema").has_value());
            CHECK(records[0].header("sf.event_uuid") == std::optional<std::string>(published[0].event_uuid));
        } else {
            CHECK(records[0].key == std::optional<std::string>("0015g00000AbCdEAAZ"));
            CHECK(records[0].header("sf.change_type") == std::optional<std::string>("UPDATE"));
            CHECK(records[0].header("sf.entity") == std::optional<std::string>("Account"));
            CHECK(records[1].header("sf.change_type") == std::optional<std::string>("GAP_UPDATE"));
            CHECK(records[1].key == std::optional<std::string>("0015g00000AbCdGAAZ"));
        }
    }
    CHECK(daemon.stop() == 0);
}

TEST_CASE("three orgs with several channels each stream in one process, in order")
{
    const auto &broker = KafkaBroker::shared();
    std::vector<EmuOrg> orgs = {
        {"alpha", "00D00000000000AAAA", {"/topic/A", "/event/A__e", "/data/AccountChangeEvent"}},
        {"beta", "00D00000000000BAAA", {"/topic/B", "/u/B"}},
        {"gamma", "00D00000000000CAAA", {"/event/G__e", "/data/ContactChangeEvent", "/u/G"}},
    };
    SfemuProcess emu = SfemuProcess::start(emulatorConfig(orgs, 500, 300));
    TempDir dir;
    const std::string tag = uniqueTopic("multi");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    for (const auto &o : orgs) {
        OrgSpec os = orgFor(o);
        for (const auto &c : o.channels)
            os.channels.push_back({c, tag + "." + o.name + "." + std::to_string(os.channels.size())});
        spec.orgs.push_back(os);
    }
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    // Publish while the daemon streams, in several rounds.
    for (int round = 0; round < 4; ++round)
        for (const auto &o : orgs)
            for (const auto &c : o.channels)
                emu.generate(o.name, c, 250, 300, round + 1);
    for (const auto &os : spec.orgs) {
        for (const auto &c : os.channels) {
            CAPTURE(os.name);
            CAPTURE(c.name);
            Landing l = awaitLanding(emu, os.name, c.name, broker.bootstrap(), c.topic);
            INFO(describe(l));
            CHECK(l.published == 1000);
            CHECK(l.missing == 0);
            CHECK(l.duplicates == 0);
            CHECK(l.order_errors == 0);
        }
    }
    // Each org's records carry its own org id.
    auto alpha = consumeAll(broker.bootstrap(), spec.orgs[0].channels[0].topic);
    REQUIRE_FALSE(alpha.empty());
    CHECK(alpha[0].header("sf.org_id") == std::optional<std::string>("00D00000000000AAAA"));
    CHECK(daemon.stop() == 0);
}

TEST_CASE("a clean restart resumes from the committed replay ids: no loss, no duplicates")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string topic = uniqueTopic("restart");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};

    emu.generate("default", "/event/Demo__e", 2000, 500, 1);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
        CHECK(l.missing == 0);
        CHECK(daemon.stop() == 0);
        CHECK(daemon.log().find("stopped cleanly") != std::string::npos);
    }
    emu.generate("default", "/event/Demo__e", 1500, 500, 2);   // while it is down
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        emu.generate("default", "/event/Demo__e", 500, 500, 3);
        Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
        INFO(describe(l));
        CHECK(l.published == 4000);
        CHECK(l.missing == 0);
        CHECK(l.duplicates == 0);
        CHECK(l.order_errors == 0);
        CHECK(daemon.stop() == 0);
    }
}

TEST_CASE("an invalid replay id follows each channel's policy and is never silent")
{
    const auto &broker = KafkaBroker::shared();
    std::vector<EmuOrg> orgs = {{"default", "00D000000000001AAA", {"/topic/Fail", "/topic/Earliest", "/topic/Latest", "/topic/Healthy"}}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig(orgs, 500));
    TempDir dir;
    const std::string tag = uniqueTopic("gap");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org = orgFor(orgs[0]);
    org.channels = {{"/topic/Fail", tag + ".fail", "earliest", "fail"},
                    {"/topic/Earliest", tag + ".earliest", "earliest", "earliest"},
                    {"/topic/Latest", tag + ".latest", "earliest", "latest"},
                    {"/topic/Healthy", tag + ".healthy", "earliest", "fail"}};
    spec.orgs = {org};
    for (const auto &c : org.channels)
        emu.generate("default", c.name, 10, 200, 1);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        for (const auto &c : org.channels)
            CHECK(awaitLanding(emu, "default", c.name, broker.bootstrap(), c.topic).missing == 0);
        CHECK(daemon.stop() == 0);
    }
    // While the daemon is down, more events arrive and retention drops
    // everything up to (and including) the committed ids of three channels.
    std::map<std::string, std::vector<int64_t>> lost;
    for (const auto &c : org.channels) {
        auto ids = emu.generate("default", c.name, 10, 200, 2);
        if (c.name != "/topic/Healthy") {
            emu.arm("default", R"({"fault":"purge","channel":")" + c.name + R"(","replay_id":)" +
                                   std::to_string(ids[4]) + "}");
            lost[c.name] = {ids.begin(), ids.begin() + 5};
        }
    }
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    // healthy keeps streaming
    Landing healthy = awaitLanding(emu, "default", "/topic/Healthy", broker.bootstrap(), tag + ".healthy");
    CHECK(healthy.missing == 0);
    CHECK(healthy.duplicates == 0);
    // earliest: resumes with the oldest retained event (ids[5..9] of round 2)
    auto earliest = emu.published("default", "/topic/Earliest");
    REQUIRE(earliest.size() == 20);
    CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), tag + ".earliest") >= 15; }, 60s));
    auto er = consumeAll(broker.bootstrap(), tag + ".earliest");
    CHECK(er.size() == 15);
    CHECK(replayIdOf(er.back()) == earliest.back().replay_id);
    // latest: nothing retained is replayed; new events flow
    CHECK(waitUntil([&] { return daemon.log().find("channel=/topic/Latest") != std::string::npos &&
                                 daemon.log().find("resuming from new events only") != std::string::npos; }, 60s));
    std::this_thread::sleep_for(1s);
    auto fresh = emu.generate("default", "/topic/Latest", 3, 200, 3);
    CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), tag + ".latest") >= 13; }, 60s));
    auto lr = consumeAll(broker.bootstrap(), tag + ".latest");
    REQUIRE(lr.size() == 13);
    CHECK(replayIdOf(lr.back()) == fresh.back());
    // fail: stopped loudly, nothing more from it
    std::string log = daemon.log();
    CHECK(log.find("GAP: replay id rejected") != std::string::npos);
    CHECK(log.find("channel stopped (on_invalid_replay: fail)") != std::string::npos);
    CHECK(topicSize(broker.bootstrap(), tag + ".fail") == 10);
    // the healthy channel still streams after the failure
    emu.generate("default", "/topic/Healthy", 5, 200, 4);
    CHECK(awaitLanding(emu, "default", "/topic/Healthy", broker.bootstrap(), tag + ".healthy").missing == 0);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("a configuration with several mistakes is refused with every one positioned")
{
    TempDir dir;
    std::string bad =
        "version: 1\n"                        // 1
        "kafka:\n"                            // 2
        "  brokers: 127.0.0.1:9092\n"         // 3
        "  librdkafka:\n"                     // 4
        "    linger.ms: lots\n"               // 5
        "state:\n"                            // 6
        "  commit_interval_ms: -5\n"          // 7
        "orgs:\n"                             // 8
        "  acme:\n"                           // 9
        "    login_url: ftp://acme\n"         // 10
        "    auth:\n"                         // 11
        "      flow: password\n"              // 12
        "      client_id: x\n"                // 13
        "    channels:\n"                     // 14
        "      /nope/Thing:\n"                // 15
        "        topic: t\n"                  // 16
        "        colour: blue\n";             // 17
    writeFile(dir.file("bad.yaml"), bad);
    std::string out;
    int rc = runDaemon({"--check-config", "--config", dir.file("bad.yaml")}, out);
    CHECK(rc == 1);
    INFO(out);
    const std::string f = dir.file("bad.yaml") + ":";
    CHECK(out.find(f + "5:") != std::string::npos);   // librdkafka's own complaint
    CHECK(out.find(f + "7:") != std::string::npos);   // negative interval
    CHECK(out.find(f + "10:") != std::string::npos);  // bad URL
    CHECK(out.find(f + "11:") != std::string::npos);  // missing credentials of the flow
    CHECK(out.find(f + "15:") != std::string::npos);  // bad channel name
    CHECK(out.find(f + "17:") != std::string::npos);  // unknown key
    // And the daemon refuses to start on it.
    rc = runDaemon({"--config", dir.file("bad.yaml")}, out);
    CHECK(rc == 1);
    CHECK(out.find("started") == std::string::npos);
}

TEST_CASE("configured topics are looked up at start, before any event; a missing one is named")
{
    // Without the lookup librdkafka learns a topic's leader at its next
    // topic scan, so the first events after a start waited up to a second.
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string present = uniqueTopic("lookup-present");
    const std::string missing = uniqueTopic("lookup-missing");
    createTopic(broker.bootstrap(), present, 2);
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", present}, {"/topic/Demo", missing}};
    spec.orgs = {org};

    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec), {"--log-level", "info,kafka=debug"});
    CHECK(waitUntil([&] { return daemon.log().find("topic ready topic=" + present + " partitions=2") != std::string::npos; },
                    10s));
    CHECK(waitUntil([&] {
        return daemon.log().find("topic not found on the brokers: created on first use if they auto-create topics") !=
               std::string::npos;
    }, 10s));
    CHECK(daemon.log().find("topic=" + missing) != std::string::npos);

    // The missing one is auto-created by this broker on first use: nothing is lost.
    emu.generate("default", "/event/Demo__e", 50, 300, 1);
    emu.generate("default", "/topic/Demo", 50, 300, 2);
    Landing a = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), present);
    Landing b = awaitLanding(emu, "default", "/topic/Demo", broker.bootstrap(), missing);
    CHECK(a.missing == 0);
    CHECK(b.missing == 0);
    CHECK(daemon.stop() == 0);
}
