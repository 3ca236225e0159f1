// sfkafkad's Pub/Sub error map, back-pressure and many topics, against a
// real sfemu and real Kafka brokers: a refused token, an unavailable
// service, a corrupted stored replay id, an unknown topic, Kafka
// unreachable (credit held back, streams closed for lack of credit) and 150
// topics over more than one HTTP/2 connection.
#include <doctest/doctest.h>
#include <httplib.h>
#include <simdjson.h>

#include "pubsub_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kDemo = "/event/Demo__e";
const std::string kAccount = "/data/AccountChangeEvent";

// sfemu's flow-control oracle (GET .../pubsub/streams) for the default org.
struct StreamStats {
    int64_t open_streams = -1;
    int64_t peak_outstanding = -1;
    int64_t fetch_requests = -1;
};

StreamStats streamStats(const SfemuProcess &emu)
{
    httplib::Client http(emu.adminUrl());
    http.set_tcp_nodelay(true);
    auto r = http.Get("/admin/orgs/default/pubsub/streams");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element root = parser.parse(r->body);
    return {root["open_streams"].get_int64().value(), root["peak_outstanding"].get_int64().value(),
            root["fetch_requests"].get_int64().value()};
}

// The gap records on a control topic for one channel.
std::vector<std::string> gapsOf(const std::string &bootstrap, const std::string &control, const std::string &channel,
                                size_t at_least)
{
    std::vector<std::string> out;
    waitUntil([&] {
        out.clear();
        for (const auto &r : consumeAll(bootstrap, control))
            if (r.key == std::optional<std::string>("default/" + channel))
                out.push_back(r.value);
        return out.size() >= at_least;
    }, 30s);
    return out;
}

bool has(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("an auth error on subscribe: a new token and a resubscribe at once")
{
    DemoRun run("psauth");
    run.emu.armPubSub("default", R"({"fault":"fail_subscribe","status":"UNAUTHENTICATED",)"
                                 R"("error_code":"sfdc.platform.eventbus.grpc.service.auth.error","message":"bad token"})");
    publishMany(run.emu, kDemo, 0, 50);
    const auto started = Clock::now();
    DaemonProcess daemon = run.start();
    Landing l = run.landing();
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    // The first backoff step (at most 500 ms), not the long waits of a failing service.
    CHECK(Clock::now() - started < 5s);
    CHECK(reconnects(run.port, "auth") == 1);
    CHECK(sessionMetric(run.port, "sfkafka_token_requests_total") == 2);
    CHECK(has(daemon.log(), "Pub/Sub stream refused the token"));
    CHECK(daemon.stop() == 0);
}

TEST_CASE("an unavailable service: growing backoffs between resubscribes, then everything lands")
{
    DemoRun run("psunavail");
    run.emu.armPubSub("default", R"({"fault":"fail_subscribe","status":"UNAVAILABLE","count":3})");
    publishMany(run.emu, kDemo, 0, 50);
    const auto started = Clock::now();
    DaemonProcess daemon = run.start();
    Landing l = run.landing();
    const auto took = Clock::now() - started;
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    // Backoffs of 250-500, 500-1000 and 1000-2000 ms (full jitter from half).
    CHECK(took >= 1750ms);
    CHECK(reconnects(run.port, "network") == 3);
    CHECK(sessionMetric(run.port, "sfkafka_token_requests_total") == 1);
    CHECK(countOf(daemon.log(), "resubscribing from committed replay ids after a backoff") == 3);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("a corrupted stored replay id: each channel's on_invalid_replay and a gap record")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string tag = uniqueTopic("psbadid");
    const std::string control = tag + ".control";
    DaemonSpec spec = pubsubSpec(emu, broker.bootstrap(), dir.file("state"),
                                 {{kDemo, tag + ".demo"}, {kAccount, tag + ".account"}});
    spec.orgs[0].channels[0].on_invalid_replay = "earliest";
    spec.control_topic = control;
    // Ten bytes sfemu never issued for these topics.
    for (const auto &channel : {kDemo, kAccount}) {
        std::string out;
        REQUIRE(runDaemon({"replay", "set", "--state-dir", dir.file("state"), "--yes", "--transport", "pubsub",
                           "default", channel, "AAAAAAAAACoAAA=="},
                          out) == 0);
    }
    auto ids = publishMany(emu, kDemo, 0, 30);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    Landing l = awaitLanding(emu, "default", kDemo, broker.bootstrap(), tag + ".demo", 30s);
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);

    auto demo = gapsOf(broker.bootstrap(), control, kDemo, 1);
    REQUIRE(demo.size() == 1);
    CHECK(has(demo[0], R"("reason":"invalid_replay_id")"));
    CHECK(has(demo[0], R"("policy":"earliest")"));
    CHECK(has(demo[0], R"("transport":"pubsub")"));
    CHECK(has(demo[0], R"("stored_replay_id":"AAAAAAAAACoAAA==")"));
    auto account = gapsOf(broker.bootstrap(), control, kAccount, 1);
    REQUIRE(account.size() == 1);
    CHECK(has(account[0], R"("reason":"invalid_replay_id")"));
    CHECK(has(account[0], R"("policy":"fail")"));
    CHECK(has(account[0], "channel stopped"));
    // The stopped channel gets nothing; the other streams on.
    emu.publish("default", kAccount, R"([{"ChangeEventHeader":{"entityName":"Account","recordIds":["001A1"],)"
                                     R"("changeType":"CREATE","changedFields":[]},"Name":"Acme"}])");
    auto more = publishMany(emu, kDemo, 30, 10);
    CHECK(awaitLanding(emu, "default", kDemo, broker.bootstrap(), tag + ".demo", 30s).missing == 0);
    CHECK(topicSize(broker.bootstrap(), tag + ".account") == 0);
    CHECK(daemon.stop() == 0);
    CHECK(storedPubsubId(dir.file("state"), kDemo) == more.back());
}

TEST_CASE("an unknown topic: that channel stopped with a gap record, the other keeps streaming")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string tag = uniqueTopic("psnotopic");
    const std::string control = tag + ".control";
    const std::string nope = "/event/Nope__e";
    DaemonSpec spec = pubsubSpec(emu, broker.bootstrap(), dir.file("state"),
                                 {{nope, tag + ".nope"}, {kDemo, tag + ".demo"}});
    spec.control_topic = control;
    publishMany(emu, kDemo, 0, 30);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    auto gaps = gapsOf(broker.bootstrap(), control, nope, 1);
    REQUIRE(gaps.size() == 1);
    CHECK(has(gaps[0], R"("reason":"subscribe_refused")"));
    CHECK(has(gaps[0], R"("policy":"stop")"));
    CHECK(has(gaps[0], "topic.not.found"));
    auto ids = publishMany(emu, kDemo, 30, 30);
    Landing l = awaitLanding(emu, "default", kDemo, broker.bootstrap(), tag + ".demo", 30s);
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    // Stopped once, not retried.
    CHECK(countOf(daemon.log(), "subscribe refused, channel stopped") == 1);
    CHECK(daemon.stop() == 0);
    CHECK(storedPubsubId(dir.file("state"), kDemo) == ids.back());
}

TEST_CASE("Kafka unreachable: credit held within the bounds, streams closed for lack of credit resume, nothing lost")
{
    KafkaBroker broker = KafkaBroker::start();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n", {"--pubsub-idle-ms", "1000"});
    TempDir dir;
    const std::string tag = uniqueTopic("psoutage");
    const int port = freePort();
    DaemonSpec spec = pubsubSpec(emu, broker.bootstrap(), dir.file("state"),
                                 {{kDemo, tag + ".demo"}, {kAccount, tag + ".account"}});
    const long maxInFlight = 150;
    spec.orgs[0].max_in_flight_events = maxInFlight;
    publishMany(emu, kDemo, 0, 50);
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port));
    REQUIRE(awaitLanding(emu, "default", kDemo, broker.bootstrap(), tag + ".demo", 60s).missing == 0);

    broker.pause();
    publishMany(emu, kDemo, 50, 1000);
    std::string changes = "[";
    for (int i = 0; i < 300; ++i)
        changes += (i ? "," : "") + std::string(R"({"ChangeEventHeader":{"entityName":"Account","recordIds":["001A)") +
                   std::to_string(i) + R"x("],"changeType":"UPDATE","changedFields":["Name"]},"Name":"N)x" +
                   std::to_string(i) + "\"}";
    emu.publish("default", kAccount, changes + "]");
    // While Kafka is away: the daemon's window stays full, never above its bound.
    double peakInFlight = 0;
    const auto until = Clock::now() + 4s;
    while (Clock::now() < until) {
        peakInFlight = std::max(peakInFlight, sessionMetric(port, "sfkafka_in_flight_events"));
        std::this_thread::sleep_for(100ms);
    }
    CHECK(peakInFlight > 0);
    CHECK(peakInFlight <= maxInFlight);
    const StreamStats during = streamStats(emu);
    CHECK(during.peak_outstanding > 0);
    CHECK(during.peak_outstanding <= 100);
    // A stream left without credit past sfemu's idle time was closed.
    CHECK(waitUntil([&] { return reconnects(port, "credit_idle") >= 1; }, 10s));

    broker.restart();
    for (const auto &[channel, topic] : {std::pair{kDemo, tag + ".demo"}, std::pair{kAccount, tag + ".account"}}) {
        CAPTURE(channel);
        Landing l = awaitLanding(emu, "default", channel, broker.bootstrap(), topic, 90s);
        INFO(describe(l));
        CHECK(l.missing == 0);
        CHECK(l.order_errors == 0);
        CHECK(l.duplicates <= static_cast<size_t>(maxInFlight) + 100);
    }
    CHECK(streamStats(emu).peak_outstanding <= 100);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("150 topics on one org: more than one gRPC connection, every stream gets its events")
{
    const auto &broker = KafkaBroker::shared();
    EmuOrg org{"default", "00D000000000001AAA", {}};
    for (int i = 0; i < 150; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "/event/S%03d__e", i);
        org.channels.push_back(name);
    }
    SfemuProcess emu = SfemuProcess::start(emulatorConfig({org}, 300));
    TempDir dir;
    const std::string tag = uniqueTopic("psmany");
    // Fifty channels per Kafka topic: the records say their channel.
    std::vector<std::pair<std::string, std::string>> channels;
    for (size_t i = 0; i < org.channels.size(); ++i)
        channels.emplace_back(org.channels[i], tag + "." + std::to_string(i / 50));
    DaemonSpec spec = pubsubSpec(emu, broker.bootstrap(), dir.file("state"), channels);
    OrgSpec login = orgFor(org);
    spec.orgs[0].client_id = login.client_id;
    spec.orgs[0].client_secret = login.client_secret;
    spec.orgs[0].username = login.username;
    spec.orgs[0].password = login.password;
    for (size_t i = 0; i < org.channels.size(); ++i)
        emu.generate("default", org.channels[i], 4, 100, static_cast<int>(i) + 1);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    for (int t = 0; t < 3; ++t)
        CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), tag + "." + std::to_string(t)) >= 200; }, 90s));
    // 90 streams per connection at most.
    CHECK(establishedTo(portOf(emu.pubsubAddress())) >= 2);
    size_t complete = 0;
    for (int t = 0; t < 3; ++t) {
        auto records = consumeAll(broker.bootstrap(), tag + "." + std::to_string(t));
        for (size_t i = static_cast<size_t>(t) * 50; i < static_cast<size_t>(t + 1) * 50; ++i) {
            Landing l = compareLanding(emu.published("default", org.channels[i]), records, org.channels[i]);
            if (l.published == 4 && l.missing == 0 && l.duplicates == 0 && l.order_errors == 0)
                ++complete;
            else
                MESSAGE(org.channels[i] << ": " << describe(l));
        }
    }
    CHECK(complete == 150);
    CHECK(daemon.stop() == 0);
}
