// sfemu over HTTP: the org's delivery allocation (a rolling window of events
// delivered per subscribing client) and concurrent-client limit, with
// Salesforce's error texts, and the admin API that shows and sets them.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "sfemu_process.h"
#include "sfemu_test_client.h"

using namespace sfk::test;
using namespace sfk::test::emu;

namespace {

const std::string kDailyError = "403::Organization total events daily limit exceeded";

// The usage entry of one client.
simdjson::dom::element clientUsage(const Json &usage, const std::string &client_id)
{
    simdjson::dom::array clients;
    REQUIRE(usage.root["clients"].get_array().get(clients) == simdjson::SUCCESS);
    for (simdjson::dom::element c : clients)
        if (str(c, "client_id") == client_id)
            return c;
    FAIL("no usage for client " << client_id);
    return usage.root;
}

} // namespace

TEST_CASE("daily allocation: every delivery to every client counts; past it connects and subscribes fail")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 300\nlimits: {daily_delivered_events: 5}\n");
    auto ids = emu.publish("default", "/topic/Demo", R"([{"Name":"a"},{"Name":"b"},{"Name":"c"}])");

    BayeuxTestClient a(emu.url(), passwordToken(emu.url()));
    a.handshake();
    REQUIRE(boolean(a.subscribe("/topic/Demo", "-2")[0], "successful"));
    CHECK(a.receive(3).size() == 3);

    // The second subscriber gets only what is left of the allocation.
    BayeuxTestClient b(emu.url(), passwordToken(emu.url()));
    b.handshake();
    REQUIRE(boolean(b.subscribe("/topic/Demo", "-2")[0], "successful"));
    auto got = b.connect();
    size_t events = 0;
    for (size_t i = 0; i < got.size(); ++i)
        events += str(got[i], "channel") == "/topic/Demo";
    CHECK(events == 2);

    Json usage(emu.usage("default"));
    REQUIRE(usage.ok);
    CHECK(integer(usage.root, "daily_delivered_events") == 5);
    CHECK(integer(usage.root, "delivered") == 5);
    CHECK(integer(usage.root, "remaining") == 0);
    CHECK(integer(usage.root, "open_clients") == 2);
    CHECK(integer(clientUsage(usage, a.clientId()), "delivered") == 3);
    CHECK(integer(clientUsage(usage, b.clientId()), "delivered") == 2);
    CHECK(str(clientUsage(usage, b.clientId()), "transport") == "cometd");

    // Over the allocation: Salesforce's text on connect and on subscribe.
    CHECK(a.connectError() == kDailyError);
    CHECK(b.connectError() == kDailyError);
    Json s = a.subscribe("/u/Demo", "-1");
    CHECK_FALSE(boolean(s[0], "successful"));
    CHECK(str(s[0], "error") == kDailyError);
    CHECK(str(s[0], "subscription") == "/u/Demo");

    // A larger allocation set through the admin API: delivery resumes where it stopped.
    Json after(emu.setLimits("default", R"({"daily_delivered_events": 100})"));
    CHECK(integer(after.root, "remaining") == 95);
    auto rest = b.receive(1);
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].second == ids[2]);

    // reset_usage forgets the count; 0 means unlimited.
    Json reset(emu.setLimits("default", R"({"daily_delivered_events": 0, "reset_usage": true})"));
    CHECK(integer(reset.root, "delivered") == 0);
    CHECK(reset.root["remaining"].is_null());
    CHECK_THROWS(emu.setLimits("default", R"({"daily_delivered_events": -1})"));
    CHECK_THROWS(emu.setLimits("default", R"({"bogus": 1})"));
    CHECK_THROWS(emu.usage("no-such-org"));
}

TEST_CASE("the window rolls: deliveries older than window_seconds stop counting")
{
    auto emu = SfemuProcess::start(
        "connect_hold_ms: 300\nlimits: {daily_delivered_events: 2, window_seconds: 2}\n");
    emu.publish("default", "/topic/Demo", R"([{"Name":"a"},{"Name":"b"},{"Name":"c"}])");
    BayeuxTestClient c(emu.url(), passwordToken(emu.url()));
    c.handshake();
    REQUIRE(boolean(c.subscribe("/topic/Demo", "-2")[0], "successful"));
    CHECK(c.receive(2).size() == 2);
    CHECK(c.connectError() == kDailyError);
    // Wait for the window to pass (a generous deadline: the machine may be loaded).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (integer(Json(emu.usage("default")).root, "remaining") == 0 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(integer(Json(emu.usage("default")).root, "remaining") == 2);
    // The client kept connecting within the client timeout, so it is still known.
    CHECK(c.receive(1).size() == 1);
}

TEST_CASE("concurrent clients: the handshake past the limit is denied; a disconnect frees a slot")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 300\nlimits: {concurrent_clients: 2}\n");
    std::string token = passwordToken(emu.url());
    BayeuxTestClient a(emu.url(), token), b(emu.url(), token), c(emu.url(), token);
    REQUIRE(boolean(a.handshake()[0], "successful"));
    REQUIRE(boolean(b.handshake()[0], "successful"));
    Json denied = c.handshake();
    CHECK_FALSE(boolean(denied[0], "successful"));
    CHECK(str(denied[0], "error") == "403::Handshake denied");
    CHECK(str(denied[0]["ext"]["sfdc"], "failureReason") ==
          "403::Organization concurrent user limit exceeded");
    CHECK(integer(Json(emu.usage("default")).root, "open_clients") == 2);

    Json bye(a.post(R"([{"channel":"/meta/disconnect","clientId":")" + a.clientId() + R"(","id":"9"}])").body);
    REQUIRE(boolean(bye[0], "successful"));
    CHECK(boolean(c.handshake()[0], "successful"));
    CHECK(integer(Json(emu.usage("default")).root, "open_clients") == 2);

    // Raised through the admin API.
    emu.setLimits("default", R"({"concurrent_clients": 3})");
    BayeuxTestClient d(emu.url(), token);
    CHECK(boolean(d.handshake()[0], "successful"));
}

TEST_CASE("limits in the config file: per org over the global default, unknown keys refused")
{
    auto emu = SfemuProcess::start("limits: {daily_delivered_events: 7, window_seconds: 60}\n");
    Json u(emu.usage("default"));
    CHECK(integer(u.root, "daily_delivered_events") == 7);
    CHECK(integer(u.root, "window_seconds") == 60);
    CHECK(integer(u.root, "concurrent_clients") == 0);
    CHECK_THROWS(SfemuProcess::start("limits: {daily_events: 7}\n"));
}
