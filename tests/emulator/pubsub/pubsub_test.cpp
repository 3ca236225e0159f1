// sfemu's Pub/Sub API through a grpc++ client over TLS: auth on every RPC,
// topics and schemas, Publish read back through both transports, Subscribe
// with replay presets, flow control, keepalives and the replay id errors.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "pubsub_client.h"
#include "sfemu_process.h"
#include "sfemu_test_client.h"
#include "pubsub_fixture.h"

using namespace sfk::test;
using namespace sfk::test::emu;
using namespace sfk::test::pubsub;
namespace ps = sfk::test::pubsub;

TEST_CASE("every RPC needs a token sfemu issued, with the org's tenant id; failures carry the error-code trailer")
{
    Fixture f;
    struct Case {
        ps::Auth auth;
        const char *what;
    } cases[] = {
        {{"", f.auth.instance_url, kOrgId}, "no token"},
        {{"00D000000000001AAA!AQbogus", f.auth.instance_url, kOrgId}, "unknown token"},
        {{f.auth.token, f.auth.instance_url, "00D000000000002AAA"}, "another tenant"},
        {{f.auth.token, "", kOrgId}, "no instance url"},
    };
    for (auto &c : cases) {
        CAPTURE(c.what);
        grpc::ClientContext ctx;
        c.auth.apply(ctx);
        v1::TopicRequest req;
        req.set_topic_name("/event/Demo__e");
        v1::TopicInfo info;
        auto status = f.stub->GetTopic(&ctx, req, &info);
        CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
        CHECK(ps::trailer(ctx, "error-code") == "sfdc.platform.eventbus.grpc.service.auth.error");
        CHECK(status.error_message().find("rpcId: ") != std::string::npos);
    }
    // Subscribe is refused the same way.
    Stream s(f, {"", f.auth.instance_url, kOrgId});
    s.request("/event/Demo__e", v1::LATEST, 1);
    v1::FetchResponse resp;
    CHECK_FALSE(s.rw->Read(&resp));
    auto status = s.rw->Finish();
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(ps::trailer(s.ctx, "error-code") == "sfdc.platform.eventbus.grpc.service.auth.error");
    // The 15-character org id is accepted as the tenant id.
    f.auth.tenant_id = kOrgId.substr(0, 15);
    CHECK(f.topic("/event/Demo__e").can_publish());
}

TEST_CASE("GetTopic and GetSchema: Salesforce-shaped schemas, 22-character ids, unknown topics and ids")
{
    Fixture f;
    auto info = f.topic("/event/Demo__e");
    CHECK(info.topic_name() == "/event/Demo__e");
    CHECK(info.tenant_guid() == kOrgId);
    CHECK(info.can_publish());
    CHECK(info.can_subscribe());
    CHECK(info.schema_id().size() == 22);
    CHECK(info.schema_id().find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    std::string json = f.schema(info.schema_id());
    CHECK(json.find(R"("name":"Demo__e","namespace":"com.sforce.eventbus")") != std::string::npos);
    CHECK(json.find(R"({"name":"CreatedDate","type":"long")") != std::string::npos);

    auto cdc = f.topic("/data/AccountChangeEvent");
    CHECK_FALSE(cdc.can_publish());
    CHECK(f.schema(cdc.schema_id()).find(R"("name":"ChangeEventHeader")") != std::string::npos);

    for (const char *name : {"/event/Nope__e", "/topic/Demo", "nonsense"}) {
        CAPTURE(name);
        grpc::ClientContext ctx;
        f.auth.apply(ctx);
        v1::TopicRequest req;
        req.set_topic_name(name);
        v1::TopicInfo out;
        CHECK(f.stub->GetTopic(&ctx, req, &out).error_code() == grpc::StatusCode::NOT_FOUND);
    }
    grpc::ClientContext ctx;
    f.auth.apply(ctx);
    v1::SchemaRequest req;
    req.set_schema_id("AAAAAAAAAAAAAAAAAAAAAA");
    v1::SchemaInfo out;
    CHECK(f.stub->GetSchema(&ctx, req, &out).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("an event published once is read through CometD and Pub/Sub; a new field makes a new schema id")
{
    Fixture f;
    // The admin API (the CometD side's log) defines Text__c by using it.
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"from admin"}])");
    auto info = f.topic("/event/Demo__e");
    std::string schema = f.schema(info.schema_id());
    REQUIRE(schema.find(R"({"name":"Text__c","type":["null","string"],"default":null})") != std::string::npos);

    // Publish through Pub/Sub.
    grpc::ClientContext ctx;
    f.auth.apply(ctx);
    v1::PublishRequest req;
    req.set_topic_name("/event/Demo__e");
    auto *ev = req.add_events();
    ev->set_id("corr-1");
    ev->set_schema_id(info.schema_id());
    ev->set_payload(ps::encodeEvent(schema, 1700000000123, "005000000000001AAA", "Text__c", "from pubsub"));
    auto *bad = req.add_events();
    bad->set_id("corr-2");
    bad->set_schema_id("notaschemaid");
    v1::PublishResponse resp;
    auto status = f.stub->Publish(&ctx, req, &resp);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    REQUIRE(resp.results_size() == 2);
    CHECK(resp.results(0).correlation_key() == "corr-1");
    CHECK_FALSE(resp.results(0).has_error());
    CHECK(resp.results(0).replay_id().size() == 10);
    CHECK(resp.results(1).correlation_key() == "corr-2");
    CHECK(resp.results(1).error().code() == v1::PUBLISH);

    // CometD sees it (with the date as ISO text, as CometD carries dates).
    BayeuxTestClient cometd(f.emu.url(), f.auth.token);
    cometd.handshake();
    cometd.subscribe("/event/Demo__e", "-2");
    auto got = cometd.receive(2);
    REQUIRE(got.size() == 2);
    auto published = f.emu.published("default", "/event/Demo__e");
    REQUIRE(published.size() == 2);
    CHECK(published[1].time_ms == 1700000000123);

    // Pub/Sub sees both, in order, with the same replay id the publish returned.
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 10);
    auto events = s.receive(2);
    REQUIRE(events.size() == 2);
    CHECK(events[1].replay_id() == resp.results(0).replay_id());
    std::string decoded = ps::avroJson(f.schema(events[1].event().schema_id()), events[1].event().payload());
    CHECK(decoded.find(R"("Text__c": {"string": "from pubsub"})") != std::string::npos);
    CHECK(decoded.find(R"("CreatedDate": 1700000000123)") != std::string::npos);

    // A new field mid-stream: a new schema id; the old one stays retrievable.
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"x","Count__c":7}])");
    auto third = s.receive(1);
    REQUIRE(third.size() == 1);
    CHECK(third[0].event().schema_id() != info.schema_id());
    CHECK(f.schema(third[0].event().schema_id()).find(R"("name":"Count__c","type":["null","long"])") !=
          std::string::npos);
    CHECK(f.schema(info.schema_id()) == schema);
    CHECK(f.topic("/event/Demo__e").schema_id() == third[0].event().schema_id());
    s.finish();
}

TEST_CASE("flow control: never more than requested, pending_num_requested reported, at most 100 outstanding")
{
    Fixture f;
    f.emu.generate("default", "/event/Demo__e", 250, 200);
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 3);
    v1::FetchResponse last;
    auto first = s.receive(3, &last);
    CHECK(first.size() == 3);
    CHECK(last.pending_num_requested() == 0);
    // Nothing more arrives without credit: the next response is for the
    // next request (asking 5 more gives exactly 5).
    s.more(5);
    auto second = s.receive(5, &last);
    CHECK(second.size() == 5);
    CHECK(last.pending_num_requested() == 0);
    // Asking 500 is clamped to 100 outstanding.
    s.more(500);
    size_t got = 0;
    v1::FetchResponse resp;
    while (got < 100 && s.rw->Read(&resp)) {
        got += static_cast<size_t>(resp.events_size());
        CHECK(resp.pending_num_requested() == 100 - static_cast<int>(got));
    }
    CHECK(got == 100);
    s.more(1);
    auto one = s.receive(1);
    CHECK(one.size() == 1);
    s.finish();
}

TEST_CASE("replay: LATEST, CUSTOM from a received id (10 bytes, or its first 8), corrupted and unknown ids")
{
    Fixture f;
    f.emu.generate("default", "/event/Demo__e", 5, 100);
    std::string third;
    {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::EARLIEST, 5);
        auto events = s.receive(5);
        REQUIRE(events.size() == 5);
        third = events[2].replay_id();
        s.finish();
    }
    for (std::string id : {third, third.substr(0, 8)}) {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::CUSTOM, 10, id);
        auto events = s.receive(2);
        REQUIRE(events.size() == 2); // the 4th and 5th
        s.finish();
    }
    {
        // LATEST: only what comes after the subscribe.
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::LATEST, 10);
        // The stream is set up once its first (keepalive-free) request was
        // read; publishing until something arrives keeps this timing-proof.
        std::vector<v1::ConsumerEvent> events;
        std::thread reader([&] { events = s.receive(1); });
        auto ids = f.emu.generate("default", "/event/Demo__e", 1, 100);
        for (int i = 0; i < 200 && events.empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (events.empty() && i % 20 == 19)
                ids = f.emu.generate("default", "/event/Demo__e", 1, 100);
        }
        reader.join();
        REQUIRE(events.size() == 1);
        CHECK(events[0].replay_id().size() == 10);
        s.finish();
    }
    struct Bad {
        std::string id;
        const char *code;
    } bad[] = {
        {"xyz", "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"},
        {third.substr(0, 8) + "zz", "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"},
        {std::string("\x00\x00\x00\x00\x7f\x00\x00\x00", 8),
         "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"},
    };
    for (auto &b : bad) {
        CAPTURE(b.code);
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::CUSTOM, 10, b.id);
        v1::FetchResponse resp;
        CHECK_FALSE(s.rw->Read(&resp));
        auto status = s.rw->Finish();
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(ps::trailer(s.ctx, "error-code") == b.code);
    }
}

TEST_CASE("keepalive responses carry latest_replay_id; a stream without credit is closed")
{
    Fixture f({"--pubsub-keepalive-ms", "200", "--pubsub-idle-ms", "1500"});
    auto ids = f.emu.generate("default", "/event/Demo__e", 2, 100);
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::LATEST, 5);
    v1::FetchResponse resp;
    REQUIRE(s.rw->Read(&resp));
    CHECK(resp.events_size() == 0);
    REQUIRE(resp.latest_replay_id().size() == 10);
    CHECK(resp.pending_num_requested() == 5);
    // The id names the newest event: resuming from it with CUSTOM works.
    {
        Stream again(f, f.auth);
        again.request("/event/Demo__e", v1::CUSTOM, 1, resp.latest_replay_id());
        v1::FetchResponse r;
        REQUIRE(again.rw->Read(&r));
        CHECK(r.events_size() == 0);
        again.finish();
    }
    s.finish();

    // Credit used up and none asked for: closed after idle_ms.
    Stream idle(f, f.auth);
    idle.request("/event/Demo__e", v1::EARLIEST, 2);
    auto got = idle.receive(2);
    CHECK(got.size() == 2);
    while (idle.rw->Read(&resp))
        CHECK(resp.events_size() == 0);
    auto status = idle.rw->Finish();
    CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_CASE("a keepalive while events wait for credit does not skip them; its latest_replay_id is the last sent")
{
    Fixture f({"--pubsub-keepalive-ms", "100"});
    f.emu.generate("default", "/event/Demo__e", 3, 100);
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 1);
    auto first = s.receive(1);
    REQUIRE(first.size() == 1);
    v1::FetchResponse keepalive;
    REQUIRE(s.rw->Read(&keepalive));
    CHECK(keepalive.events_size() == 0);
    CHECK(keepalive.latest_replay_id() == first[0].replay_id());
    s.more(5);
    CHECK(s.receive(2).size() == 2);
    s.finish();
}

TEST_CASE("a revoked token fails new RPCs while an open stream keeps receiving")
{
    Fixture f;
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 10);
    f.emu.generate("default", "/event/Demo__e", 1, 100);
    REQUIRE(s.receive(1).size() == 1);
    httpClient(f.emu.url())->Post("/services/oauth2/revoke", "token=" + f.auth.token,
                                  "application/x-www-form-urlencoded");
    grpc::ClientContext ctx;
    f.auth.apply(ctx);
    v1::TopicRequest req;
    req.set_topic_name("/event/Demo__e");
    v1::TopicInfo info;
    CHECK(f.stub->GetTopic(&ctx, req, &info).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    f.emu.generate("default", "/event/Demo__e", 1, 100);
    CHECK(s.receive(1).size() == 1);
    s.finish();
}

TEST_CASE("CDC over Pub/Sub: every field (absent ones null), header bitmaps, epoch-ms dates")
{
    Fixture f;
    f.emu.publish("default", "/data/AccountChangeEvent",
                  R"([{"ChangeEventHeader":{"changeType":"CREATE","changedFields":["Name","Industry"]},)"
                  R"("Name":"Acme","Industry":"Energy"},)"
                  R"({"ChangeEventHeader":{"changeType":"UPDATE","changedFields":["LastModifiedDate","Phone"],)"
                  R"("nulledFields":["Industry"]},"Phone":"555","LastModifiedDate":"2024-05-06T07:08:09.000Z"}])");
    Stream s(f, f.auth);
    s.request("/data/AccountChangeEvent", v1::EARLIEST, 10);
    auto events = s.receive(2);
    REQUIRE(events.size() == 2);
    std::string schema = f.schema(events[1].event().schema_id());
    // Fields in order: ChangeEventHeader(0) Name(1) Industry(2) Phone(3) LastModifiedDate(4).
    CHECK(schema.find(R"({"name":"Name","type":["null","string"],"default":null},)"
                      R"({"name":"Industry","type":["null","string"],"default":null},)"
                      R"({"name":"Phone","type":["null","string"],"default":null},)"
                      R"({"name":"LastModifiedDate","type":["null","long"])") != std::string::npos);
    std::string first = ps::avroJson(f.schema(events[0].event().schema_id()), events[0].event().payload());
    CHECK(first.find(R"("changedFields": ["0x06"])") != std::string::npos);
    CHECK(first.find(R"("changeType": "CREATE")") != std::string::npos);
    std::string second = ps::avroJson(schema, events[1].event().payload());
    CHECK(second.find(R"("changedFields": ["0x18"])") != std::string::npos);
    CHECK(second.find(R"("nulledFields": ["0x04"])") != std::string::npos);
    CHECK(second.find(R"("Name": null)") != std::string::npos);
    CHECK(second.find(R"("LastModifiedDate": {"long": 1714979289000})") != std::string::npos);
    s.finish();
}

TEST_CASE("plaintext is refused off loopback")
{
    CHECK_THROWS(SfemuProcess::start("", {"--pubsub-plaintext", "--pubsub-listen", "0.0.0.0:0"}));
}

TEST_CASE("PublishStream answers each request in order; the events are in the topic")
{
    Fixture f;
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"seed"}])");
    auto info = f.topic("/event/Demo__e");
    std::string schema = f.schema(info.schema_id());
    grpc::ClientContext ctx;
    f.auth.apply(ctx);
    auto stream = f.stub->PublishStream(&ctx);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        v1::PublishRequest req;
        req.set_topic_name("/event/Demo__e");
        auto *ev = req.add_events();
        ev->set_id("k" + std::to_string(i));
        ev->set_schema_id(info.schema_id());
        ev->set_payload(ps::encodeEvent(schema, 1700000000000 + i, "005000000000001AAA", "Text__c",
                                        "stream " + std::to_string(i)));
        REQUIRE(stream->Write(req));
        v1::PublishResponse resp;
        REQUIRE(stream->Read(&resp));
        REQUIRE(resp.results_size() == 1);
        CHECK(resp.results(0).correlation_key() == "k" + std::to_string(i));
        CHECK_FALSE(resp.results(0).has_error());
        ids.push_back(resp.results(0).replay_id());
    }
    stream->WritesDone();
    CHECK(stream->Finish().ok());
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 10);
    auto events = s.receive(4);
    REQUIRE(events.size() == 4);
    for (int i = 0; i < 3; ++i)
        CHECK(events[static_cast<size_t>(i) + 1].replay_id() == ids[static_cast<size_t>(i)]);
    s.finish();
}

TEST_CASE("/data/ChangeEvents and __chn channels carry several entities, each with its own schema")
{
    Fixture f({}, kChannelsOrg);
    for (const char *channel : {"/data/ChangeEvents", "/data/Sales__chn"}) {
        CAPTURE(channel);
        f.emu.publish("default", channel,
                      R"([{"ChangeEventHeader":{"entityName":"Account","changedFields":["Name"]},"Name":"A"},)"
                      R"({"ChangeEventHeader":{"entityName":"Invoice__c","changedFields":["Total__c"]},"Total__c":12.5}])");
        Stream s(f, f.auth);
        s.request(channel, v1::EARLIEST, 10);
        auto events = s.receive(2);
        REQUIRE(events.size() == 2);
        CHECK(events[0].event().schema_id() != events[1].event().schema_id());
        CHECK(f.schema(events[0].event().schema_id()).find(R"("name":"AccountChangeEvent")") != std::string::npos);
        std::string invoice = f.schema(events[1].event().schema_id());
        CHECK(invoice.find(R"("name":"Invoice__ChangeEvent")") != std::string::npos);
        CHECK(invoice.find(R"({"name":"Total__c","type":["null","double"])") != std::string::npos);
        CHECK(ps::avroJson(invoice, events[1].event().payload()).find(R"("Total__c": {"double": 12.5})") !=
              std::string::npos);
        s.finish();
    }
    // The same entity's events share one schema id across channels.
    f.emu.publish("default", "/data/AccountChangeEvent",
                  R"([{"ChangeEventHeader":{"changedFields":["Name"]},"Name":"B"}])");
    Stream s(f, f.auth);
    s.request("/data/AccountChangeEvent", v1::EARLIEST, 1);
    auto account = s.receive(1);
    REQUIRE(account.size() == 1);
    Stream all(f, f.auth);
    all.request("/data/ChangeEvents", v1::EARLIEST, 1);
    auto first = all.receive(1);
    REQUIRE(first.size() == 1);
    CHECK(account[0].event().schema_id() == first[0].event().schema_id());
    s.finish();
    all.finish();
}

TEST_CASE("replay ids past retention fail validation")
{
    Fixture f({}, kChannelsOrg);
    f.emu.generate("default", "/event/Short__e", 2, 100);
    std::string first;
    {
        Stream s(f, f.auth);
        s.request("/event/Short__e", v1::EARLIEST, 2);
        auto events = s.receive(2);
        REQUIRE(events.size() == 2);
        first = events[0].replay_id();
        s.finish();
    }
    // Retention is 2 s: wait (generously) until the id is refused.
    std::string code;
    for (int i = 0; i < 120 && code.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        f.emu.generate("default", "/event/Short__e", 1, 100); // appending applies retention
        Stream s(f, f.auth);
        s.request("/event/Short__e", v1::CUSTOM, 1, first);
        v1::FetchResponse resp;
        if (s.rw->Read(&resp)) {
            s.finish();
            continue;
        }
        auto status = s.rw->Finish();
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        code = ps::trailer(s.ctx, "error-code");
    }
    CHECK(code == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed");
}
