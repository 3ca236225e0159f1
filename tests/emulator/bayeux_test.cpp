// sfemu over HTTP: Bayeux handshake, connect, subscribe with replay,
// unsubscribe, disconnect, cookies, holds, batching and bad input.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <filesystem>

#include "sfemu_process.h"
#include "sfemu_test_client.h"

using namespace sfk::test;
using namespace sfk::test::emu;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kFast = "connect_hold_ms: 300\nclient_timeout_ms: 5000\n";

int64_t msSince(Clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::vector<int64_t> ids(const std::vector<std::pair<std::string, int64_t>> &events)
{
    std::vector<int64_t> out;
    for (auto &e : events)
        out.push_back(e.second);
    return out;
}

std::vector<int64_t> slice(const std::vector<int64_t> &v, size_t from)
{
    return std::vector<int64_t>(v.begin() + static_cast<long>(from), v.end());
}

} // namespace

TEST_CASE("handshake: reply shape, advice, echoed id and the two cookies")
{
    auto emu = SfemuProcess::start(kFast);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    Json hs = client.handshake();
    REQUIRE(hs.size() == 1);
    auto m = hs[0];
    CHECK(str(m, "channel") == "/meta/handshake");
    CHECK(boolean(m, "successful"));
    CHECK(str(m, "id") == "1");
    CHECK(str(m, "clientId").size() >= 20);
    CHECK(str(m, "version") == "1.0");
    CHECK(boolean(m["ext"], "replay"));
    CHECK(str(m["advice"], "reconnect") == "retry");
    CHECK(integer(m["advice"], "timeout") == 300);
    CHECK(client.cookies().count("BAYEUX_BROWSER") == 1);
    CHECK(client.cookies().count("sfdc-stream") == 1);

    // Echoed ids, first connect immediate.
    auto t0 = Clock::now();
    Json c = client.connect();
    CHECK(msSince(t0) < 250);
    REQUIRE(c.size() == 1);
    CHECK(str(c[0], "id") == "2");
    CHECK(str(c[0], "clientId") == client.clientId());
    CHECK(boolean(c[0], "successful"));
    CHECK(str(c[0]["advice"], "reconnect") == "retry");
    CHECK(integer(c[0]["advice"], "interval") == 0);

    // A client that drops its cookies is unknown.
    client.dropCookies();
    c = client.connect();
    CHECK(str(c[0], "error") == "403::Unknown client");
    CHECK(str(c[0]["advice"], "reconnect") == "handshake");
}

TEST_CASE("bearer token checks on every Bayeux message")
{
    auto emu = SfemuProcess::start(kFast);
    BayeuxTestClient anon(emu.url(), "");
    Json hs = anon.handshake();
    CHECK(str(hs[0], "error") == "403::Handshake denied");
    CHECK(str(hs[0]["ext"]["sfdc"], "failureReason") == "401::Authentication invalid");

    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    REQUIRE(boolean(client.handshake()[0], "successful"));
    client.setToken("00D000000000001AAA!forged");
    CHECK(str(client.connect()[0], "error") == "401::Authentication invalid");
    CHECK(str(client.subscribe("/topic/Demo", "-1")[0], "error") == "401::Authentication invalid");
}

TEST_CASE("replay: -2 replays everything retained, -1 only new, R resumes after R, in order")
{
    auto emu = SfemuProcess::start(kFast);
    auto published = emu.generate("default", "/topic/Demo", 20, 200, 7);
    REQUIRE(published.size() == 20);
    bool gap = false;
    for (size_t i = 1; i < published.size(); ++i) {
        CHECK(published[i] > published[i - 1]);
        gap = gap || published[i] - published[i - 1] > 1;
    }
    CHECK(gap); // not contiguous

    std::string token = passwordToken(emu.url());
    BayeuxTestClient all(emu.url(), token);
    all.handshake();
    Json s = all.subscribe("/topic/Demo", "-2");
    REQUIRE(s.size() == 1);
    CHECK(boolean(s[0], "successful"));
    CHECK(str(s[0], "subscription") == "/topic/Demo");
    CHECK(ids(all.receive(20)) == published);

    BayeuxTestClient after(emu.url(), token);
    after.handshake();
    REQUIRE(boolean(after.subscribe("/topic/Demo", std::to_string(published[9]))[0], "successful"));
    CHECK(ids(after.receive(10)) == slice(published, 10));

    BayeuxTestClient fresh(emu.url(), token);
    fresh.handshake();
    REQUIRE(boolean(fresh.subscribe("/topic/Demo", "-1")[0], "successful"));
    fresh.connect(); // the first connect returns at once
    auto more = emu.generate("default", "/topic/Demo", 3, 200, 8);
    CHECK(ids(fresh.receive(3)) == more);

    // No replay extension at all: like -1.
    BayeuxTestClient plain(emu.url(), token);
    plain.handshake();
    REQUIRE(boolean(plain.subscribe("/topic/Demo", "")[0], "successful"));
    plain.connect();
    auto last = emu.publish("default", "/topic/Demo", R"([{"Name":"x"}])");
    CHECK(ids(plain.receive(1)) == last);
}

TEST_CASE("subscribe errors have Salesforce's exact texts")
{
    auto emu = SfemuProcess::start(kFast);
    auto published = emu.generate("default", "/event/Demo__e", 5, 100);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();

    Json s = client.subscribe("/event/Demo__e", "123456789");
    CHECK_FALSE(boolean(s[0], "successful"));
    CHECK(str(s[0], "error") ==
          "400::The replayId {123456789} you provided was invalid.  Please provide a valid ID, -2 "
          "to replay all events, or -1 to replay only new events.");
    CHECK(str(s[0], "subscription") == "/event/Demo__e");

    s = Json(client.post(R"([{"channel":"/meta/subscribe","clientId":")" + client.clientId() +
                         R"(","subscription":"/event/Demo__e","id":"9","ext":{"replay":{}}}])")
                 .body);
    CHECK(str(s[0], "error") ==
          "400::The replayId for channel {/event/Demo__e} wasn't found using the provided replay "
          "ID map {{}}. Ensure that the channel name you provided in the replay map is valid and "
          "matches the channel name used for subscribing.");
    CHECK(str(s[0], "id") == "9");

    s = Json(client.post(R"([{"channel":"/meta/subscribe","clientId":")" + client.clientId() +
                         R"(","subscription":"/event/Demo__e","id":"10","ext":{"replay":{"/event/Demo__e?x=1":-1}}}])")
                 .body);
    CHECK(str(s[0], "error") ==
          "400::The replayId for channel {/event/Demo__e} wasn't found using the provided replay "
          "ID map {{/event/Demo__e?x=1=-1}}. Ensure that the channel name you provided in the replay map is valid and "
          "matches the channel name used for subscribing.");

    s = client.subscribe("/topic/Nope", "-1");
    CHECK(str(s[0], "error") == "400::The channel you requested to subscribe to doesn't exist {/topic/Nope}");

    // A purged id is outside retention.
    emu.arm("default", R"({"fault":"purge","channel":"/event/Demo__e","replay_id":)" +
                           std::to_string(published[2]) + "}");
    s = client.subscribe("/event/Demo__e", std::to_string(published[1]));
    CHECK(str(s[0], "error").rfind("400::The replayId {" + std::to_string(published[1]) + "} you provided was invalid.", 0) == 0);
    s = client.subscribe("/event/Demo__e", std::to_string(published[3]));
    CHECK(boolean(s[0], "successful"));
    s = client.subscribe("/event/Demo__e", "-2");
    CHECK(boolean(s[0], "successful"));
    CHECK(ids(client.receive(2)) == slice(published, 3));
}

TEST_CASE("retention by count and by age")
{
    auto emu = SfemuProcess::start(R"(
connect_hold_ms: 300
retention: {max_events: 5, topic_seconds: 1}
)");
    auto published = emu.generate("default", "/event/Demo__e", 8, 100);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();
    CHECK_FALSE(boolean(client.subscribe("/event/Demo__e", std::to_string(published[2]))[0], "successful"));
    CHECK(boolean(client.subscribe("/event/Demo__e", std::to_string(published[3]))[0], "successful"));
    REQUIRE(boolean(client.subscribe("/event/Demo__e", "-2")[0], "successful"));
    CHECK(ids(client.receive(5)) == slice(published, 3));

    auto topic = emu.generate("default", "/topic/Demo", 2, 100);
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    Json s = client.subscribe("/topic/Demo", std::to_string(topic[1]));
    CHECK_FALSE(boolean(s[0], "successful"));
    // Every event ever appended stays in the published record.
    CHECK(emu.published("default", "/topic/Demo").size() == 2);
    CHECK(emu.published("default", "/event/Demo__e").size() == 8);
}

TEST_CASE("a connect is held until events arrive or the hold time passes")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 1500\n");
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();
    client.subscribe("/u/Demo", "-1");
    client.connect();

    auto t0 = Clock::now();
    Json c = client.connect();
    int64_t held = msSince(t0);
    CHECK(held >= 1400);
    CHECK(held < 5000);
    CHECK(c.size() == 1);

    std::thread publisher([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        emu.publish("default", "/u/Demo", R"(["hello"])");
    });
    t0 = Clock::now();
    c = client.connect();
    held = msSince(t0);
    publisher.join();
    CHECK(held < 1400);
    REQUIRE(c.size() == 2);
    // Events first, then the connect reply.
    CHECK(str(c[0], "channel") == "/u/Demo");
    CHECK(str(c[0]["data"], "payload") == "hello");
    CHECK(str(c[1], "channel") == "/meta/connect");
}

TEST_CASE("events are batched up to max_events_per_response")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 300\nmax_events_per_response: 7\n");
    auto published = emu.generate("default", "/data/AccountChangeEvent", 20, 300);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();
    client.subscribe("/data/AccountChangeEvent", "-2");
    std::vector<int64_t> got;
    std::vector<size_t> sizes;
    for (int i = 0; i < 5 && got.size() < 20; ++i) {
        Json c = client.connect();
        sizes.push_back(c.size() - 1);
        for (size_t k = 0; k + 1 < c.size(); ++k)
            got.push_back(c[k]["data"]["event"]["replayId"].get_int64().value());
    }
    CHECK(got == published);
    REQUIRE(sizes.size() >= 3);
    CHECK(sizes[0] == 7);
    CHECK(sizes[1] == 7);
    CHECK(sizes[2] == 6);
}

TEST_CASE("a client that does not connect within the client timeout is forgotten")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 200\nclient_timeout_ms: 1000\n");
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();
    CHECK(boolean(client.connect()[0], "successful"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1600));
    Json c = client.connect();
    CHECK(str(c[0], "error") == "403::Unknown client");
    CHECK(str(c[0]["advice"], "reconnect") == "handshake");
    CHECK(emu.clients("default").find("\"state\":\"expired\"") != std::string::npos);
}

TEST_CASE("unsubscribe stops delivery; disconnect ends the client")
{
    auto emu = SfemuProcess::start(kFast);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();
    client.subscribe("/topic/Demo", "-1");
    client.subscribe("/u/Demo", "-1");
    client.connect();
    Json u = Json(client.post(R"([{"channel":"/meta/unsubscribe","clientId":")" + client.clientId() +
                              R"(","subscription":"/topic/Demo","id":"u1"}])")
                      .body);
    CHECK(boolean(u[0], "successful"));
    CHECK(str(u[0], "id") == "u1");
    emu.publish("default", "/topic/Demo", R"([{"Name":"a"}])");
    auto uid = emu.publish("default", "/u/Demo", R"(["b"])");
    auto got = client.receive(1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].first == "/u/Demo");
    CHECK(got[0].second == uid[0]);

    Json d = Json(client.post(R"([{"channel":"/meta/disconnect","clientId":")" + client.clientId() + R"(","id":"d1"}])").body);
    CHECK(boolean(d[0], "successful"));
    CHECK(str(client.connect()[0], "error") == "403::Unknown client");
}

TEST_CASE("bad input gets an error, never a crash")
{
    auto emu = SfemuProcess::start(kFast);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();

    Reply r = client.post("this is not json");
    CHECK(r.status == 400);
    r = client.post("[]");
    CHECK(r.status == 400);
    r = client.post("[1,2]");
    CHECK(r.status == 400);
    r = client.post(std::string(40 * 1024, ' ') + "[]");
    CHECK(r.status == 413);

    Json j(client.post(R"([{"channel":"/meta/bogus","id":"5","clientId":")" + client.clientId() + "\"}]").body);
    CHECK(str(j[0], "error") == "400::Unknown meta channel");
    CHECK(str(j[0], "id") == "5");

    j = Json(client.post(R"([{"channel":"/meta/connect","connectionType":"long-polling","id":"6"}])").body);
    CHECK(str(j[0], "error") == "403::Unknown client");

    j = Json(client.post(R"([{"channel":"/meta/subscribe","clientId":")" + client.clientId() +
                         R"(","subscription":42,"id":"7"}])").body);
    CHECK(str(j[0], "error") == "403::subscription_invalid");
    j = Json(client.post(R"([{"channel":"/meta/subscribe","clientId":")" + client.clientId() + R"(","id":"8"}])").body);
    CHECK(str(j[0], "error") == "403::subscription_missing");
    j = Json(client.post(R"([{"id":"9"}])").body);
    CHECK(str(j[0], "error") == "400::channel_missing");
    j = Json(client.post(R"([{"channel":"/topic/Demo","data":{},"clientId":")" + client.clientId() + R"(","id":"10"}])").body);
    CHECK(str(j[0], "error") == "403::Publish denied");
    j = Json(client.post(R"([{"channel":"/meta/subscribe","clientId":")" + client.clientId() +
                         R"(","subscription":"/topic/Demo","id":"11","ext":{"replay":{"/topic/Demo":"abc"}}}])").body);
    CHECK(str(j[0], "error").rfind("400::The replayId {\"abc\"} you provided was invalid.", 0) == 0);

    // API versions before the Streaming API (23.0-36.0: compat_test.cpp) and unknown paths.
    BayeuxTestClient old(emu.url(), passwordToken(emu.url()), "22.0");
    CHECK(old.post("[]").status == 400);
    auto http = httpClient(emu.url());
    auto res = http->Get("/no/such/path");
    REQUIRE(res);
    CHECK(res->status == 404);

    // Still alive and well.
    CHECK(boolean(client.connect()[0], "successful"));
}

TEST_CASE("several messages in one request, and a single message object")
{
    auto emu = SfemuProcess::start(kFast);
    BayeuxTestClient client(emu.url(), passwordToken(emu.url()));
    client.handshake();
    emu.publish("default", "/topic/Demo", R"([{"Name":"a"}])");
    Json j(client.post(R"([{"channel":"/meta/subscribe","clientId":")" + client.clientId() +
                       R"(","subscription":"/topic/Demo","id":"a","ext":{"replay":{"/topic/Demo":-2}}},)"
                       R"({"channel":"/meta/connect","clientId":")" + client.clientId() +
                       R"(","connectionType":"long-polling","id":"b"}])").body);
    REQUIRE(j.size() == 3);
    CHECK(str(j[0], "channel") == "/topic/Demo");
    CHECK(str(j[1], "id") == "a");
    CHECK(str(j[2], "id") == "b");

    j = Json(client.post(R"({"channel":"/meta/connect","clientId":")" + client.clientId() +
                         R"(","connectionType":"long-polling","id":"c"})").body);
    REQUIRE(j.size() == 1);
    CHECK(str(j[0], "id") == "c");
}

TEST_CASE("many clients open connections and hold long polls at once")
{
    // Each held connect occupies one worker thread (default 256, the old
    // 128 were too few for the 100-org benchmark), and this test client
    // opens a new connection per request: a burst that overflowed
    // cpp-httplib's listen backlog of 5 (handshakes dropped, reads reset).
    constexpr int kClients = 180;
    auto emu = SfemuProcess::start("connect_hold_ms: 20000\nclient_timeout_ms: 60000\n");
    std::string token = passwordToken(emu.url());
    std::vector<std::unique_ptr<BayeuxTestClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<BayeuxTestClient>(emu.url(), token));
        clients.back()->handshake();
        clients.back()->subscribe("/u/Demo", "-1");
        clients.back()->connect(); // the first connect returns at once
    }
    std::vector<std::string> replies(kClients);
    std::vector<std::thread> polls;
    for (int i = 0; i < kClients; ++i)
        polls.emplace_back([&, i] { replies[i] = clients[i]->connectRaw().body; });

    // Every client's second connect reached the server and is held.
    auto held = [&] {
        std::string list = emu.clients("default");
        int n = 0;
        for (size_t at = list.find("\"connects\":2"); at != std::string::npos; at = list.find("\"connects\":2", at + 1))
            ++n;
        return n;
    };
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (held() < kClients && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(held() == kClients);

    auto t0 = Clock::now();
    emu.publish("default", "/u/Demo", R"(["to everyone"])");
    for (auto &t : polls)
        t.join();
    CHECK(msSince(t0) < 10000);
    int delivered = 0;
    for (auto &body : replies) {
        Json r(body);
        delivered += r.ok && r.size() == 2 && str(r[0], "channel") == "/u/Demo";
    }
    CHECK(delivered == kClients);
}

TEST_CASE("--threads: a bad value is a usage error")
{
    for (const char *bad : {"2", "5000", "many", ""}) {
        CAPTURE(bad);
        CHECK_THROWS(SfemuProcess::start("", {"--threads", bad}));
    }
    CHECK_NOTHROW(SfemuProcess::start("", {"--threads", "8"}));
}
