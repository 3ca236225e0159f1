// The Pub/Sub faults of sfemu's admin API: a failed Subscribe with a chosen
// status and error code, a stream reset mid-batch, stalled keepalives, a
// schema change, reset replay ids and the concurrent-client limit.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "pubsub_fixture.h"

using namespace sfk::test;
using namespace sfk::test::pubsub;
using Clock = std::chrono::steady_clock;

TEST_CASE("fail_subscribe: the next Subscribe ends with the chosen status and error-code, then streams work")
{
    Fixture f;
    f.emu.armPubSub("default", R"({"fault":"fail_subscribe","status":"RESOURCE_EXHAUSTED",)"
                               R"("error_code":"sfdc.platform.eventbus.grpc.subscription.limit.exceeded",)"
                               R"("message":"limit exceeded"})");
    {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::EARLIEST, 1);
        v1::FetchResponse resp;
        CHECK_FALSE(s.rw->Read(&resp));
        auto status = s.rw->Finish();
        CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
        CHECK(status.error_message().find("limit exceeded") == 0);
        CHECK(trailer(s.ctx, "error-code") == "sfdc.platform.eventbus.grpc.subscription.limit.exceeded");
    }
    f.emu.generate("default", "/event/Demo__e", 1, 100);
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 1);
    CHECK(s.receive(1).size() == 1);
    s.finish();
    CHECK_THROWS(f.emu.armPubSub("default", R"({"fault":"fail_subscribe","status":"NOPE"})"));
    CHECK_THROWS(f.emu.armPubSub("default", R"({"fault":"nonsense"})"));
}

TEST_CASE("reset_stream: the stream ends mid-batch as UNAVAILABLE; CUSTOM from the last id resumes without loss")
{
    Fixture f;
    auto ids = f.emu.generate("default", "/event/Demo__e", 10, 100);
    f.emu.armPubSub("default", R"({"fault":"reset_stream","after_events":4})");
    std::vector<v1::ConsumerEvent> first;
    {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::EARLIEST, 10); // 10 available, 10 asked: cut after 4
        v1::FetchResponse resp;
        while (s.rw->Read(&resp))
            for (auto &e : resp.events())
                first.push_back(e);
        auto status = s.rw->Finish();
        CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
        CHECK(status.error_message().find("RST_STREAM") != std::string::npos);
    }
    REQUIRE(first.size() == 4);
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::CUSTOM, 10, first.back().replay_id());
    auto rest = s.receive(6);
    CHECK(rest.size() == 6);
    s.finish();
}

TEST_CASE("stall_keepalives: a silent stream (no keepalives) until the stall ends")
{
    Fixture f({"--pubsub-keepalive-ms", "100"});
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::LATEST, 1);
    v1::FetchResponse resp;
    REQUIRE(s.rw->Read(&resp)); // keepalives flow
    f.emu.armPubSub("default", R"({"fault":"stall_keepalives","ms":2500})");
    auto armed = Clock::now();
    // A response already in flight may still arrive shortly after arming;
    // then nothing until the stall ends, then keepalives again.
    int in_stall = 0, after = 0;
    while (after < 2 && s.rw->Read(&resp)) {
        auto at = Clock::now() - armed;
        if (at > std::chrono::milliseconds(500) && at < std::chrono::milliseconds(2300))
            ++in_stall;
        if (at >= std::chrono::milliseconds(2500))
            ++after;
    }
    CHECK(in_stall == 0);
    CHECK(after == 2);
    s.finish();
}

TEST_CASE("change_schema: a new schema id for the next events; the old id stays retrievable")
{
    Fixture f;
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"before"}])");
    std::string before = f.topic("/event/Demo__e").schema_id();
    std::string answer = f.emu.armPubSub(
        "default", R"({"fault":"change_schema","topic":"/event/Demo__e","field":"Added__c","type":"long"})");
    CHECK(answer.find(before) != std::string::npos);
    std::string after = f.topic("/event/Demo__e").schema_id();
    CHECK(after != before);
    CHECK(f.schema(after).find(R"({"name":"Added__c","type":["null","long"],"default":null})") != std::string::npos);
    f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"after"}])");
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 2);
    auto events = s.receive(2);
    REQUIRE(events.size() == 2);
    CHECK(events[0].event().schema_id() == before);
    CHECK(events[1].event().schema_id() == after);
    CHECK(f.schema(before).find("Added__c") == std::string::npos);
    s.finish();
}

TEST_CASE("reset_replay_ids: earlier ids fail validation, new ones work")
{
    Fixture f;
    f.emu.generate("default", "/event/Demo__e", 3, 100);
    std::string old;
    {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::EARLIEST, 3);
        auto events = s.receive(3);
        REQUIRE(events.size() == 3);
        old = events[1].replay_id();
        s.finish();
    }
    f.emu.armPubSub("default", R"({"fault":"reset_replay_ids","topic":"/event/Demo__e"})");
    {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::CUSTOM, 3, old);
        v1::FetchResponse resp;
        CHECK_FALSE(s.rw->Read(&resp));
        CHECK(s.rw->Finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(trailer(s.ctx, "error-code") ==
              "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed");
    }
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 3);
    auto events = s.receive(3);
    REQUIRE(events.size() == 3);
    CHECK(events[1].replay_id() != old);
    s.finish();
    Stream again(f, f.auth);
    again.request("/event/Demo__e", v1::CUSTOM, 1, events[1].replay_id());
    CHECK(again.receive(1).size() == 1);
    again.finish();
}

TEST_CASE("client_limit: streams beyond the limit get the concurrent-client error; a freed slot is reused")
{
    Fixture f;
    f.emu.armPubSub("default", R"({"fault":"client_limit","max":1})");
    f.emu.generate("default", "/event/Demo__e", 2, 100);
    auto open = std::make_unique<Stream>(f, f.auth);
    open->request("/event/Demo__e", v1::EARLIEST, 1);
    REQUIRE(open->receive(1).size() == 1);
    std::string error_code;
    CHECK(refusedSubscribe(f, &error_code).error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(error_code == "sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded");
    open->finish();
    open.reset();
    // The server frees the slot once it saw the cancel: retry until it did.
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {
        Stream s(f, f.auth);
        s.request("/event/Demo__e", v1::EARLIEST, 1);
        served = s.receive(1).size() == 1;
        if (!served) {
            s.rw->Finish();
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } else {
            s.finish();
        }
    }
    CHECK(served);
}
