// The org's delivery allocation and concurrent-client limit shared by both
// transports: Pub/Sub streams counted beside CometD clients, the limit
// reached from either side refusing both, an open stream ended once the
// allocation is used, and the admin usage JSON listing Pub/Sub clients.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "pubsub_fixture.h"

using namespace sfk::test;
using namespace sfk::test::pubsub;
using sfk::test::emu::BayeuxTestClient;
using sfk::test::emu::Json;
using sfk::test::emu::boolean;
using sfk::test::emu::integer;
using sfk::test::emu::str;

namespace {

const std::string kDailyError = "403::Organization total events daily limit exceeded";
const std::string kLimitCode = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded";
const std::string kClientLimitCode = "sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded";

std::string yaml(const std::string &limits)
{
    return "connect_hold_ms: 300\nclient_timeout_ms: 5000\nlimits: " + limits + "\n";
}

// The usage entry of one client; false when it has none.
bool findClient(const Json &usage, const std::string &client_id, simdjson::dom::element &out)
{
    simdjson::dom::array clients;
    REQUIRE(usage.root["clients"].get_array().get(clients) == simdjson::SUCCESS);
    for (simdjson::dom::element c : clients)
        if (str(c, "client_id") == client_id) {
            out = c;
            return true;
        }
    return false;
}

// Reads a stream to its end; returns the events it carried.
std::vector<v1::ConsumerEvent> drain(Stream &s, std::string *rpc_id = nullptr)
{
    std::vector<v1::ConsumerEvent> out;
    v1::FetchResponse resp;
    while (s.rw->Read(&resp)) {
        if (rpc_id)
            *rpc_id = resp.rpc_id();
        for (auto &e : resp.events())
            out.push_back(e);
    }
    return out;
}

void checkLimitStatus(const grpc::Status &status, const grpc::ClientContext &ctx)
{
    CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(status.error_message().find("You have exceeded the event delivery limit for your org.") == 0);
    CHECK(trailer(ctx, "error-code") == kLimitCode);
    CHECK_FALSE(trailer(ctx, "rpc-id").empty());
}

// A new Subscribe refused at once for the used allocation.
void checkSubscribeRefused(Fixture &f)
{
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 1);
    v1::FetchResponse resp;
    CHECK_FALSE(s.rw->Read(&resp));
    checkLimitStatus(s.rw->Finish(), s.ctx);
}

} // namespace

TEST_CASE("one allocation for both transports: CometD's and Pub/Sub's deliveries add up, both are refused past it")
{
    Fixture f({}, yaml("{daily_delivered_events: 5}"));
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"a"},{"Text__c":"b"},{"Text__c":"c"}])");

    BayeuxTestClient cometd(f.emu.url(), f.auth.token);
    cometd.handshake();
    REQUIRE(boolean(cometd.subscribe("/event/Demo__e", "-2")[0], "successful"));
    REQUIRE(cometd.receive(3).size() == 3);

    // The stream gets what is left (2 of 3), then is disconnected.
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 10);
    std::string rpc_id;
    auto got = drain(s, &rpc_id);
    REQUIRE(got.size() == 2);
    checkLimitStatus(s.rw->Finish(), s.ctx);

    Json usage(f.emu.usage("default"));
    REQUIRE(usage.ok);
    CHECK(integer(usage.root, "delivered") == 5);
    CHECK(integer(usage.root, "remaining") == 0);
    simdjson::dom::element c;
    REQUIRE(findClient(usage, cometd.clientId(), c));
    CHECK(str(c, "transport") == "cometd");
    CHECK(integer(c, "delivered") == 3);
    REQUIRE(findClient(usage, rpc_id, c));
    CHECK(str(c, "transport") == "pubsub");
    CHECK(integer(c, "delivered") == 2);
    CHECK(integer(c, "delivered_total") == 2);

    // Both transports refused now.
    CHECK(cometd.connectError() == kDailyError);
    checkSubscribeRefused(f);

    // A larger allocation: the stream resumes after its last event.
    f.emu.setLimits("default", R"({"daily_delivered_events": 100})");
    Stream again(f, f.auth);
    again.request("/event/Demo__e", v1::CUSTOM, 10, got.back().replay_id());
    auto rest = again.receive(1);
    REQUIRE(rest.size() == 1);
    again.finish();
}

TEST_CASE("the allocation used by a Pub/Sub stream refuses CometD connects and subscribes too")
{
    Fixture f({}, yaml("{daily_delivered_events: 3}"));
    f.emu.generate("default", "/event/Demo__e", 3, 100);
    BayeuxTestClient cometd(f.emu.url(), f.auth.token);
    cometd.handshake();
    REQUIRE(boolean(cometd.subscribe("/topic/Demo", "-1")[0], "successful"));

    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 3);
    CHECK(drain(s).size() == 3);
    checkLimitStatus(s.rw->Finish(), s.ctx);

    CHECK(cometd.connectError() == kDailyError);
    Json sub = cometd.subscribe("/u/Demo", "-1");
    CHECK_FALSE(boolean(sub[0], "successful"));
    CHECK(str(sub[0], "error") == kDailyError);
    checkSubscribeRefused(f);
}

TEST_CASE("an open stream is ended when CometD deliveries use the allocation")
{
    Fixture f({"--pubsub-keepalive-ms", "100"}, yaml("{daily_delivered_events: 4}"));
    f.emu.generate("default", "/event/Demo__e", 2, 100);
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 50); // credit left after its 2 events
    REQUIRE(s.receive(2).size() == 2);

    BayeuxTestClient cometd(f.emu.url(), f.auth.token);
    cometd.handshake();
    REQUIRE(boolean(cometd.subscribe("/topic/Demo", "-1")[0], "successful"));
    cometd.connect(); // the first connect returns at once
    f.emu.publish("default", "/topic/Demo", R"([{"Name":"x"},{"Name":"y"}])");
    CHECK(cometd.receive(2).size() == 2);

    // Keepalives until then; the stream ends with the limit error without a new event.
    drain(s);
    checkLimitStatus(s.rw->Finish(), s.ctx);
    Json usage(f.emu.usage("default"));
    CHECK(integer(usage.root, "delivered") == 4);
}

TEST_CASE("concurrent clients: CometD clients, Subscribe and PublishStream streams share the limit")
{
    Fixture f({}, yaml("{concurrent_clients: 2}"));
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"a"}])");
    BayeuxTestClient cometd(f.emu.url(), f.auth.token);
    REQUIRE(boolean(cometd.handshake()[0], "successful"));

    auto sub = std::make_unique<Stream>(f, f.auth);
    sub->request("/event/Demo__e", v1::EARLIEST, 1);
    v1::FetchResponse first;
    REQUIRE(sub->receive(1, &first).size() == 1); // open and counted

    // A third client of either transport is refused.
    {
        grpc::ClientContext ctx;
        f.auth.apply(ctx);
        auto pub = f.stub->PublishStream(&ctx);
        v1::PublishResponse resp;
        CHECK_FALSE(pub->Read(&resp));
        auto status = pub->Finish();
        CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
        CHECK(trailer(ctx, "error-code") == kClientLimitCode);
    }
    {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::EARLIEST, 1);
        v1::FetchResponse resp;
        CHECK_FALSE(s.rw->Read(&resp));
        CHECK(s.rw->Finish().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
        CHECK(trailer(s.ctx, "error-code") == kClientLimitCode);
    }
    BayeuxTestClient denied(f.emu.url(), f.auth.token);
    Json hs = denied.handshake();
    CHECK_FALSE(boolean(hs[0], "successful"));
    CHECK(str(hs[0]["ext"]["sfdc"], "failureReason") == "403::Organization concurrent user limit exceeded");

    Json usage(f.emu.usage("default"));
    CHECK(integer(usage.root, "open_clients") == 2);
    simdjson::dom::element c;
    REQUIRE(findClient(usage, first.rpc_id(), c));
    CHECK(str(c, "transport") == "pubsub");
    CHECK(boolean(c, "open"));
    CHECK(integer(c, "delivered") == 1);

    // The stream's end frees its slot (once the server saw the cancel); a
    // PublishStream takes it and counts as well.
    sub->finish();
    sub.reset();
    grpc::ClientContext pctx;
    f.auth.apply(pctx);
    std::unique_ptr<grpc::ClientReaderWriter<v1::PublishRequest, v1::PublishResponse>> pub;
    bool open = false;
    for (int i = 0; i < 100 && !open; ++i) {
        open = integer(Json(f.emu.usage("default")).root, "open_clients") == 1;
        if (!open)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(open);
    REQUIRE(findClient(Json(f.emu.usage("default")), first.rpc_id(), c));
    CHECK_FALSE(boolean(c, "open"));
    pub = f.stub->PublishStream(&pctx);
    std::string schema = f.schema(f.topic("/event/Demo__e").schema_id());
    v1::PublishRequest req;
    req.set_topic_name("/event/Demo__e");
    auto *ev = req.add_events();
    ev->set_id("k1");
    ev->set_schema_id(f.topic("/event/Demo__e").schema_id());
    ev->set_payload(encodeEvent(schema, 1700000000000, "005000000000001AAA", "Text__c", "hi"));
    REQUIRE(pub->Write(req));
    v1::PublishResponse presp;
    REQUIRE(pub->Read(&presp));
    CHECK(integer(Json(f.emu.usage("default")).root, "open_clients") == 2);
    CHECK_FALSE(boolean(BayeuxTestClient(f.emu.url(), f.auth.token).handshake()[0], "successful"));
    pub->WritesDone();
    CHECK(pub->Finish().ok());
}
