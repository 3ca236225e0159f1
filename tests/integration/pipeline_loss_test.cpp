// The loss paths of issue 11: positions reached by `latest` (start or gap
// policy) survive restarts, events on any Bayeux reply are produced, replay
// ids going backwards are produced and reported, and retry paths back off.
#include <doctest/doctest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <simdjson.h>

#include <thread>

#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// A loopback address where nothing listens: a Kafka that is down.
std::string deadBroker()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0);
    ::close(fd);
    return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

std::string adminGet(SfemuProcess &emu, const std::string &path)
{
    httplib::Client http(emu.adminUrl());
    auto r = http.Get(path);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return r->body;
}

// How many uses of the armed faults are left (the first "count" listed).
long armedRemaining(SfemuProcess &emu)
{
    std::string body = adminGet(emu, "/admin/orgs/default/faults");
    auto at = body.find("\"count\":");
    return at == std::string::npos ? 0 : std::stol(body.substr(at + 8));
}

size_t countOf(const std::string &text, const std::string &what)
{
    size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

// sfemu sent the client every one of ids (its `sent` lists).
bool sentAll(SfemuProcess &emu, const std::vector<int64_t> &ids)
{
    std::string clients = emu.clients("default");
    auto listed = [&](int64_t id) {
        const std::string n = std::to_string(id);
        for (auto at = clients.find(n); at != std::string::npos; at = clients.find(n, at + 1)) {
            char before = at ? clients[at - 1] : ' ', after = clients[at + n.size()];
            if ((before == '[' || before == ',') && (after == ']' || after == ','))
                return true;
        }
        return false;
    };
    for (int64_t id : ids)
        if (!listed(id))
            return false;
    return true;
}

bool allLanded(const std::string &bootstrap, const std::string &topic, const std::vector<int64_t> &ids)
{
    std::set<int64_t> got;
    for (const auto &r : consumeAll(bootstrap, topic))
        got.insert(replayIdOf(r));
    for (int64_t id : ids)
        if (!got.count(id))
            return false;
    return true;
}

// The gap records on a control topic, parsed.
struct GapSeen {
    std::string key, org, channel, reason, policy;
    std::optional<int64_t> stored, resumed;
};

std::vector<GapSeen> gapRecords(const std::string &bootstrap, const std::string &topic)
{
    std::vector<GapSeen> out;
    simdjson::dom::parser parser;
    for (const auto &r : consumeAll(bootstrap, topic)) {
        simdjson::dom::element v = parser.parse(r.value);
        GapSeen g;
        g.key = r.key.value_or("");
        g.org = std::string(v["org"].get_string().value());
        g.channel = std::string(v["channel"].get_string().value());
        g.reason = std::string(v["reason"].get_string().value());
        g.policy = std::string(v["policy"].get_string().value());
        int64_t n;
        if (v["stored_replay_id"].get_int64().get(n) == simdjson::SUCCESS)
            g.stored = n;
        if (v["resumed_from"].get_int64().get(n) == simdjson::SUCCESS)
            g.resumed = n;
        CHECK(std::string_view(v["type"].get_string().value()) == "gap");
        out.push_back(g);
    }
    return out;
}

} // namespace

TEST_CASE("start: latest, Kafka down, SIGKILL, restart: the events received meanwhile all reach Kafka")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("latest-restart");
    DaemonSpec spec{emu.url(), deadBroker(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic, "latest"}};
    spec.orgs = {org};

    std::vector<int64_t> ids;
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        REQUIRE(waitUntil([&] { return emu.clients("default").find("\"replay_from\":\"-1\"") != std::string::npos; }, 60s));
        ids = emu.generate("default", "/event/Demo__e", 20, 300, 1);
        // Received (sfemu counts them as sent), never acknowledged.
        REQUIRE(waitUntil([&] { return sentAll(emu, ids); }, 60s));
        daemon.kill();
    }
    spec.brokers = broker.bootstrap();
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    CHECK(waitUntil([&] { return allLanded(broker.bootstrap(), topic, ids); }, 90s));
    // The stored position made the restart replay what is retained.
    CHECK(daemon.log().find("replay_from=-2") != std::string::npos);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("on_invalid_replay: latest applies once: a later resubscribe replays what came after the gap")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("gap-once");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.control_topic = topic + ".control";
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic, "earliest", "latest"}};
    spec.orgs = {org};

    auto first = emu.generate("default", "/event/Demo__e", 10, 300, 1);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        REQUIRE(awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic).missing == 0);
        CHECK(daemon.stop() == 0);
    }
    // Retention drops the committed id while the daemon is down.
    auto purged = emu.generate("default", "/event/Demo__e", 5, 300, 2);
    emu.arm("default", R"({"fault":"purge","channel":"/event/Demo__e","replay_id":)" +
                           std::to_string(purged.back()) + "}");
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    REQUIRE(waitUntil([&] { return daemon.log().find("resuming from new events only") != std::string::npos; }, 60s));
    REQUIRE(waitUntil([&] { return emu.clients("default").find("\"replay_from\":\"-1\"") != std::string::npos; }, 60s));
    // A second resubscribe before any event after the gap is committed (a
    // broken long poll): it must start from what is retained, not the stale id.
    const size_t subscribes = countOf(daemon.log(), "session: subscribed ");
    emu.arm("default", R"({"fault":"reset","match":"connect","count":1})");
    REQUIRE(waitUntil([&] { return armedRemaining(emu) == 0; }, 60s));
    REQUIRE(waitUntil([&] { return countOf(daemon.log(), "session: subscribed ") > subscribes; }, 60s));
    auto after = emu.generate("default", "/event/Demo__e", 10, 300, 3);
    CHECK(waitUntil([&] { return allLanded(broker.bootstrap(), topic, after); }, 90s));
    // One gap, reported once: the resubscribe did not blame retention again.
    CHECK(countOf(daemon.log(), "GAP: replay id rejected") == 1);
    CHECK(daemon.stop() == 0);
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), spec.control_topic) >= 1; }, 30s));
    auto gaps = gapRecords(broker.bootstrap(), spec.control_topic);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].key == "default//event/Demo__e");
    CHECK(gaps[0].org == "default");
    CHECK(gaps[0].channel == "/event/Demo__e");
    CHECK(gaps[0].reason == "invalid_replay_id");
    CHECK(gaps[0].policy == "latest");
    CHECK(gaps[0].stored == first.back());
    CHECK(gaps[0].resumed == -1);
}

TEST_CASE("a channel stopped by `fail` and a channel refused for good each publish a gap record")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("gap-records");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.control_topic = topic + ".control";
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic, "earliest", "fail"}, {"/topic/Missing", topic + ".missing", "earliest"}};
    spec.orgs = {org};

    auto first = emu.generate("default", "/event/Demo__e", 5, 300, 1);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        REQUIRE(awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic).missing == 0);
        REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), spec.control_topic) >= 1; }, 30s));
        CHECK(daemon.stop() == 0);
    }
    auto gone = emu.generate("default", "/event/Demo__e", 5, 300, 2);
    emu.arm("default", R"({"fault":"purge","channel":"/event/Demo__e","replay_id":)" +
                           std::to_string(gone.back()) + "}");
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), spec.control_topic) >= 3; }, 60s));
    CHECK(daemon.stop() == 0);
    auto gaps = gapRecords(broker.bootstrap(), spec.control_topic);
    REQUIRE(gaps.size() == 3);
    int refused = 0, failed = 0;
    for (const auto &g : gaps) {
        if (g.channel == "/topic/Missing") {
            ++refused;
            CHECK(g.reason == "subscribe_refused");
            CHECK(g.policy == "stop");
            CHECK(!g.resumed);
        } else {
            ++failed;
            CHECK(g.channel == "/event/Demo__e");
            CHECK(g.reason == "invalid_replay_id");
            CHECK(g.policy == "fail");
            CHECK(g.stored == first.back());
            CHECK(!g.resumed);
        }
    }
    CHECK(refused == 2);   // once per start: a stopped channel is tried again after a restart
    CHECK(failed == 1);
}

TEST_CASE("events carried by a /meta/subscribe reply are produced")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("subscribe-events");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic, "earliest"}};
    spec.orgs = {org};

    emu.generate("default", "/event/Demo__e", 10, 300, 1);
    emu.arm("default", R"({"fault":"events_on_reply","match":"subscribe","count":1})");
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    REQUIRE(waitUntil([&] { return armedRemaining(emu) == 0; }, 60s));
    emu.generate("default", "/event/Demo__e", 5, 300, 2);   // moves the watermark past them
    Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic, 60s);
    INFO(describe(l));
    CHECK(l.published == 15);
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("a replay id going backwards mid-stream is produced, logged and reported, never dropped")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("backwards");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic, "earliest"}};
    spec.orgs = {org};

    auto ids = emu.generate("default", "/event/Demo__e", 20, 300, 1);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    REQUIRE(awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic).missing == 0);
    // The server sends the later half again (ids 11..20 after 20).
    emu.arm("default", R"({"fault":"rewind","match":"connect","count":1})");
    CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), topic) >= 30; }, 60s));
    CHECK(waitUntil([&] { return daemon.log().find("GAP: replay id went backwards mid-stream") != std::string::npos; }, 30s));
    CHECK(daemon.log().find("reason=replay_id_backwards") != std::string::npos);
    // New events after the redelivery still flow.
    auto more = emu.generate("default", "/event/Demo__e", 5, 300, 2);
    CHECK(waitUntil([&] { return allLanded(broker.bootstrap(), topic, more); }, 60s));
    CHECK(daemon.stop() == 0);
}

TEST_CASE("retry paths back off: a 401 on every handshake and a malformed reply on every connect")
{
    // Over a window, a session at full speed makes hundreds of attempts; with
    // backoff (500 ms doubling) a handful. The bound only fails if it loops.
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", uniqueTopic("backoff"), "earliest"}};
    spec.orgs = {org};
    const long armed = 100000;

    SUBCASE("handshake denied after every fresh token") {
        emu.arm("default", R"({"fault":"auth_invalid","match":"handshake","count":100000})");
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        REQUIRE(waitUntil([&] { return armedRemaining(emu) < armed; }, 60s));
        std::this_thread::sleep_for(8s);
        long used = armed - armedRemaining(emu);
        MESSAGE("handshakes in about 8 s: " << used);
        CHECK(used <= 15);
        CHECK(daemon.stop() == 0);
    }
    SUBCASE("every connect reply malformed") {
        emu.arm("default", R"({"fault":"malformed_json","match":"connect","count":100000})");
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        REQUIRE(waitUntil([&] { return armedRemaining(emu) < armed; }, 60s));
        std::this_thread::sleep_for(8s);
        long used = armed - armedRemaining(emu);
        MESSAGE("connects in about 8 s: " << used);
        CHECK(used <= 15);
        // Abandoned clients were told goodbye: at most the current one is live.
        std::string clients = emu.clients("default");
        CHECK(countOf(clients, "\"state\":\"connected\"") <= 1);
        CHECK(countOf(clients, "\"state\":\"disconnected\"") >= 1);
        CHECK(daemon.stop() == 0);
    }
}

TEST_CASE("a transient subscribe refusal and a subscribe without a reply are retried, not final")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("subscribe-retry");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic, "earliest"}};
    spec.orgs = {org};
    std::string fault, hint;
    SUBCASE("503 in the subscribe reply") {
        fault = R"({"fault":"subscribe_error","match":"subscribe","count":2})";
        hint = "subscribe failed, will retry: 503::Service Unavailable";
    }
    SUBCASE("no reply to the subscribe") {
        fault = R"({"fault":"drop_reply","match":"subscribe","count":1})";
        hint = "no reply to a subscribe";
    }
    emu.generate("default", "/event/Demo__e", 10, 300, 1);
    emu.arm("default", fault);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic, 60s);
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    CHECK(daemon.log().find(hint) != std::string::npos);
    CHECK(daemon.stop() == 0);
}
