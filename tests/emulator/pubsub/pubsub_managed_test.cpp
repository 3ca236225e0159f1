// ManagedSubscribe against sfemu: managed subscriptions created and read
// through the admin API, streams named by id or developer name, server-side
// commits (validated, answered in commit_response) that a new stream resumes
// after, the default replay presets, the errors, flow control, and the
// allocations counting managed streams like Subscribe ones.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "pubsub_fixture.h"

using namespace sfk::test;
using namespace sfk::test::emu;
using namespace sfk::test::pubsub;

namespace {

const std::string kNotFoundCode = "sfdc.platform.eventbus.grpc.managed.subscription.not.found";

struct Answer {
    int status = 0;
    std::string body;
};

Answer admin(Fixture &f, const std::string &method, const std::string &path, const std::string &body = "")
{
    auto c = emu::httpClient(f.emu.adminUrl());
    auto res = method == "GET" ? c->Get(path) : c->Post(path, body, "application/json");
    REQUIRE(res);
    return {res->status, res->body};
}

// Creates (or updates) a managed subscription; returns its JSON.
std::string createManaged(Fixture &f, const std::string &body)
{
    Answer a = admin(f, "POST", "/admin/orgs/default/pubsub/managed", body);
    REQUIRE_MESSAGE((a.status == 201 || a.status == 200), a.body);
    return a.body;
}

// n events on /event/Demo__e and a managed subscription on it starting at
// EARLIEST; returns the events' replay ids.
std::vector<int64_t> eventsAndEarliest(Fixture &f, const std::string &name, int n)
{
    auto ids = f.emu.generate("default", "/event/Demo__e", n, 100);
    createManaged(f, R"({"developer_name":")" + name +
                         R"(","topic_name":"/event/Demo__e","default_replay":"EARLIEST"})");
    return ids;
}

std::string managedJson(Fixture &f, const std::string &key)
{
    Answer a = admin(f, "GET", "/admin/orgs/default/pubsub/managed/" + key);
    REQUIRE_MESSAGE(a.status == 200, a.body);
    return a.body;
}

// The replay id integer inside 10 opaque bytes.
int64_t replayInt(const std::string &bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < bytes.size(); ++i)
        v = (v << 8) | static_cast<unsigned char>(bytes[i]);
    return static_cast<int64_t>(v);
}

std::string replay8(int64_t id)
{
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[static_cast<size_t>(i)] = static_cast<char>((static_cast<uint64_t>(id) >> (56 - 8 * i)) & 0xff);
    return out;
}

// A ManagedSubscribe stream driven synchronously by the test.
struct Managed : FetchStream<v1::ManagedFetchRequest, v1::ManagedFetchResponse> {
    Managed(Fixture &f, const Auth &auth)
    {
        auth.apply(ctx, 60);
        rw = f.stub->ManagedSubscribe(&ctx);
    }
    bool open(const std::string &id, const std::string &name, int n)
    {
        v1::ManagedFetchRequest req;
        req.set_subscription_id(id);
        req.set_developer_name(name);
        req.set_num_requested(n);
        return rw->Write(req);
    }
    // Opens the stream on a developer name and reads its first n events.
    std::vector<v1::ConsumerEvent> start(const std::string &name, int n)
    {
        open("", name, n);
        auto got = receive(static_cast<size_t>(n));
        REQUIRE(got.size() == static_cast<size_t>(n));
        return got;
    }
    bool commit(const std::string &key, const std::string &replay_id, int n = 0)
    {
        v1::ManagedFetchRequest req;
        req.set_num_requested(n);
        req.mutable_commit_replay_id_request()->set_commit_request_id(key);
        req.mutable_commit_replay_id_request()->set_replay_id(replay_id);
        return rw->Write(req);
    }
    // Commits and checks the answer carries no error.
    void commitOk(const std::string &key, const std::string &replay_id)
    {
        REQUIRE(commit(key, replay_id));
        CHECK_FALSE(commitAnswer().commit_response().has_error());
    }
    // The next response carrying a commit answer; its events are counted.
    v1::ManagedFetchResponse commitAnswer()
    {
        v1::ManagedFetchResponse resp;
        while (rw->Read(&resp)) {
            extra_events += static_cast<size_t>(resp.events_size());
            if (resp.has_commit_response())
                return resp;
        }
        FAIL("the stream ended without a commit answer");
        return resp;
    }
    // Closes the client's side and reads the stream to its end.
    grpc::Status close()
    {
        rw->WritesDone();
        v1::ManagedFetchResponse resp;
        while (rw->Read(&resp))
            extra_events += static_cast<size_t>(resp.events_size());
        return rw->Finish();
    }
    // The status of a stream the server ends at once.
    grpc::Status refused()
    {
        v1::ManagedFetchResponse resp;
        CHECK_FALSE(rw->Read(&resp));
        return rw->Finish();
    }
    size_t extra_events = 0;
};

std::vector<int64_t> idsOf(const std::vector<v1::ConsumerEvent> &events)
{
    std::vector<int64_t> out;
    for (auto &e : events)
        out.push_back(replayInt(e.replay_id()));
    return out;
}

} // namespace

TEST_CASE("admin API: managed subscriptions are created, updated, listed and shown by id or name")
{
    Fixture f;
    Json created(createManaged(f, R"({"developer_name":"Orders_Sub","topic_name":"/event/Demo__e",
                                      "default_replay":"EARLIEST","label":"Orders"})"));
    std::string id = str(created.root, "id");
    CHECK(id.size() == 18);
    CHECK(str(created.root, "developer_name") == "Orders_Sub");
    CHECK(str(created.root, "label") == "Orders");
    CHECK(str(created.root, "topic_name") == "/event/Demo__e");
    CHECK(str(created.root, "default_replay") == "EARLIEST");
    CHECK(str(created.root, "error_recovery_replay") == "LATEST");
    CHECK(str(created.root, "state") == "RUN");
    CHECK(created.root["committed_replay_id"].is_null());

    // Posting an existing developer name updates it (a metadata deploy).
    Answer updated = admin(f, "POST", "/admin/orgs/default/pubsub/managed",
                           R"({"developer_name":"Orders_Sub","state":"STOP"})");
    CHECK(updated.status == 200);
    Json by_name(managedJson(f, "Orders_Sub"));
    CHECK(str(by_name.root, "id") == id);
    CHECK(str(by_name.root, "state") == "STOP");
    CHECK(str(by_name.root, "default_replay") == "LATEST");
    CHECK(str(Json(managedJson(f, id)).root, "developer_name") == "Orders_Sub");

    createManaged(f, R"({"developer_name":"Second","topic_name":"/data/AccountChangeEvent"})");
    Json list(admin(f, "GET", "/admin/orgs/default/pubsub/managed").body);
    simdjson::dom::array all;
    REQUIRE(list.root["managed_subscriptions"].get_array().get(all) == simdjson::SUCCESS);
    CHECK(all.size() == 2);

    struct Bad {
        const char *body;
        int status;
        const char *what;
    } bads[] = {
        {R"({"developer_name":"X","topic_name":"/event/Nope__e"})", 404, "no Pub/Sub topic"},
        {R"({"developer_name":"X","topic_name":"/topic/Demo"})", 404, "no Pub/Sub topic"},
        {R"({"developer_name":"Bad__Name","topic_name":"/event/Demo__e"})", 400, "developer_name"},
        {R"({"developer_name":"1st","topic_name":"/event/Demo__e"})", 400, "developer_name"},
        {R"({"developer_name":"X"})", 400, "topic_name is required"},
        {R"({"developer_name":"X","topic_name":"/event/Demo__e","default_replay":"CUSTOM"})", 400, "LATEST"},
        {R"({"developer_name":"X","topic_name":"/event/Demo__e","state":"PAUSE"})", 400, "RUN or STOP"},
        {R"({"developer_name":"X","topic_name":"/event/Demo__e","colour":"red"})", 400, "unknown key"},
        {R"({"developer_name":"Second","topic_name":"/event/Demo__e"})", 400, "can't change"},
        {R"([1])", 400, "JSON object"},
    };
    for (auto &b : bads) {
        CAPTURE(b.body);
        Answer a = admin(f, "POST", "/admin/orgs/default/pubsub/managed", b.body);
        CHECK(a.status == b.status);
        CHECK(str(Json(a.body).root, "error").find(b.what) != std::string::npos);
    }
    CHECK(admin(f, "GET", "/admin/orgs/default/pubsub/managed/Nope").status == 404);
    CHECK(admin(f, "GET", "/admin/orgs/nope/pubsub/managed").status == 404);
}

TEST_CASE("managed subscriptions declared in the config file exist from the start")
{
    Fixture f({}, kChannelsOrg + "    managed_subscriptions:\n"
                                 "      - {developer_name: From_Config, topic_name: /data/Sales__chn, "
                                 "label: Sales, default_replay: EARLIEST, state: RUN}\n");
    Json shown(managedJson(f, "From_Config"));
    CHECK(str(shown.root, "topic_name") == "/data/Sales__chn");
    CHECK(str(shown.root, "label") == "Sales");
    CHECK(str(shown.root, "default_replay") == "EARLIEST");
    CHECK(str(shown.root, "id").size() == 18);
    auto ids = f.emu.publish("default", "/data/Sales__chn",
                             R"([{"ChangeEventHeader":{"entityName":"Account"},"Name":"Acme"}])");
    Managed m(f, f.auth);
    CHECK(idsOf(m.start("From_Config", 1)) == ids);
    CHECK(m.close().ok());
}

TEST_CASE("ManagedSubscribe by developer name and by id; uncommitted events are delivered again")
{
    Fixture f;
    auto ids = f.emu.generate("default", "/event/Demo__e", 3, 100);
    Json created(createManaged(f, R"({"developer_name":"Early","topic_name":"/event/Demo__e",
                                      "default_replay":"EARLIEST"})"));
    {
        Managed m(f, f.auth);
        m.open("", "Early", 10);
        v1::ManagedFetchResponse last;
        auto got = m.receive(3, &last);
        CHECK(idsOf(got) == ids);
        CHECK(last.pending_num_requested() == 7);
        CHECK_FALSE(last.rpc_id().empty());
        CHECK(m.close().ok());
    }
    // Nothing was committed: the same events again, named by id this time.
    Managed m(f, f.auth);
    m.open(str(created.root, "id"), "", 10);
    CHECK(idsOf(m.receive(3)) == ids);
    CHECK(m.close().ok());
}

TEST_CASE("a commit is answered and stored; a new stream resumes right after it, losing and repeating nothing")
{
    Fixture f;
    auto ids = eventsAndEarliest(f, "Resume", 10);
    {
        Managed m(f, f.auth);
        auto got = m.start("Resume", 6);
        // Events 5 and 6 were received but not committed.
        int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        REQUIRE(m.commit("commit-1", got[3].replay_id()));
        auto answer = m.commitAnswer();
        CHECK(answer.events_size() == 0);
        const auto &c = answer.commit_response();
        CHECK(c.commit_request_id() == "commit-1");
        CHECK(c.replay_id() == got[3].replay_id());
        CHECK_FALSE(c.has_error());
        CHECK(c.process_time() >= before);
        Json shown(managedJson(f, "Resume"));
        CHECK(integer(shown.root, "committed_replay_id") == ids[3]);
        CHECK(integer(shown.root, "commits") == 1);
        CHECK_FALSE(str(shown.root, "active_rpc_id").empty());
        CHECK(m.close().ok());
        CHECK(m.extra_events == 0);
    }
    CHECK(Json(managedJson(f, "Resume")).root["active_rpc_id"].is_null());
    Managed m(f, f.auth);
    m.open("", "Resume", 100);
    auto rest = m.receive(6);
    CHECK(idsOf(rest) == std::vector<int64_t>(ids.begin() + 4, ids.end()));
    // Committing the newest position: a later stream gets only new events.
    m.commitOk("commit-2", rest.back().replay_id());
    CHECK(m.close().ok());
    CHECK(m.extra_events == 0);
    auto fresh = f.emu.generate("default", "/event/Demo__e", 2, 100, 7);
    Managed again(f, f.auth);
    again.open("", "Resume", 100);
    CHECK(idsOf(again.receive(2)) == fresh);
    CHECK(again.close().ok());
    CHECK(again.extra_events == 0);
}

TEST_CASE("default replay LATEST skips older events, EARLIEST starts at the oldest retained")
{
    Fixture f({"--pubsub-keepalive-ms", "200"});
    auto old_ids = f.emu.generate("default", "/event/Demo__e", 3, 100);
    createManaged(f, R"({"developer_name":"Late","topic_name":"/event/Demo__e"})");
    createManaged(f, R"({"developer_name":"Early","topic_name":"/event/Demo__e","default_replay":"EARLIEST"})");
    Managed late(f, f.auth);
    late.open("", "Late", 10);
    // A keepalive (no events) shows the stream started before the new events.
    v1::ManagedFetchResponse keepalive;
    REQUIRE(late.rw->Read(&keepalive));
    CHECK(keepalive.events_size() == 0);
    CHECK(replayInt(keepalive.latest_replay_id()) == old_ids.back());
    Managed early(f, f.auth);
    early.open("", "Early", 10);
    CHECK(idsOf(early.receive(3)) == old_ids);
    // The LATEST stream saw nothing yet; new events reach both.
    auto new_ids = f.emu.generate("default", "/event/Demo__e", 2, 100, 3);
    CHECK(idsOf(late.receive(2)) == new_ids);
    CHECK(idsOf(early.receive(2)) == new_ids);
    CHECK(late.close().ok());
    CHECK(early.close().ok());
    CHECK(late.extra_events == 0);
    CHECK(early.extra_events == 0);
}

TEST_CASE("a bad replay id in a commit is answered with an error; the stream and the stored commit stay")
{
    Fixture f({}, kChannelsOrg);
    auto ids = eventsAndEarliest(f, "Strict", 3);
    Managed m(f, f.auth);
    auto got = m.start("Strict", 3);
    std::string other_topic = got[0].replay_id();
    other_topic[9] = static_cast<char>(other_topic[9] ^ 0x5a);
    struct Bad {
        std::string replay_id;
        const char *why;
    } bads[] = {
        {"xyz", "corrupted"},
        {other_topic, "corrupted"},
        {replay8(ids.back() + 1000), "never issued"},
    };
    for (auto &b : bads) {
        CAPTURE(b.why);
        REQUIRE(m.commit(std::string("bad-") + b.why, b.replay_id));
        auto c = m.commitAnswer().commit_response();
        CHECK(c.commit_request_id() == std::string("bad-") + b.why);
        CHECK(c.replay_id() == b.replay_id);
        REQUIRE(c.has_error());
        CHECK(c.error().code() == v1::COMMIT);
        CHECK(c.error().msg().find(b.why) != std::string::npos);
    }
    CHECK(Json(managedJson(f, "Strict")).root["committed_replay_id"].is_null());
    // Past retention (2 s in this config): the first event is gone.
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    f.emu.generate("default", "/event/Demo__e", 2, 100, 6); // the append applies retention
    REQUIRE(m.commit("expired", got[0].replay_id()));
    auto c = m.commitAnswer().commit_response();
    REQUIRE(c.has_error());
    CHECK(c.error().msg().find("not retained") != std::string::npos);
    CHECK(Json(managedJson(f, "Strict")).root["committed_replay_id"].is_null());
    // The stream still delivers.
    m.more(2);
    CHECK(m.receive(2).size() == 2);
    CHECK(m.close().ok());
}

TEST_CASE("a committed id past retention or from before a replay id reset resumes at the error recovery preset")
{
    Fixture f({"--pubsub-keepalive-ms", "200"}, kChannelsOrg);
    createManaged(f, R"({"developer_name":"To_Earliest","topic_name":"/event/Demo__e",
                        "default_replay":"EARLIEST","error_recovery_replay":"EARLIEST"})");
    createManaged(f, R"({"developer_name":"To_Latest","topic_name":"/event/Demo__e",
                        "default_replay":"EARLIEST","error_recovery_replay":"LATEST"})");
    f.emu.generate("default", "/event/Demo__e", 2, 100);
    for (const char *name : {"To_Earliest", "To_Latest"}) {
        Managed m(f, f.auth);
        auto got = m.start(name, 2);
        m.commitOk("c", got[0].replay_id());
        CHECK(m.close().ok());
    }
    // Retention is 2 s here: both committed events expire.
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    auto later = f.emu.generate("default", "/event/Demo__e", 2, 100, 9);
    {
        Managed m(f, f.auth);
        auto got = m.start("To_Earliest", 2);
        CHECK(idsOf(got) == later);
        m.commitOk("c2", got.back().replay_id());
        CHECK(m.close().ok());
    }
    {
        Managed m(f, f.auth);
        m.open("", "To_Latest", 10);
        v1::ManagedFetchResponse keepalive; // started: LATEST is behind us
        REQUIRE(m.rw->Read(&keepalive));
        CHECK(keepalive.events_size() == 0);
        auto newest = f.emu.generate("default", "/event/Demo__e", 1, 100, 10);
        CHECK(idsOf(m.receive(1)) == newest);
        CHECK(m.close().ok());
        CHECK(m.extra_events == 0);
    }
    // An org migration: the 10-byte id committed before it no longer
    // validates, so To_Earliest starts again at the oldest retained event.
    f.emu.armPubSub("default", R"({"fault":"reset_replay_ids","topic":"/event/Demo__e"})");
    Managed m(f, f.auth);
    auto again = m.start("To_Earliest", 3);
    CHECK(idsOf(again)[0] == later[0]);
    CHECK(m.close().ok());
}

TEST_CASE("ManagedSubscribe errors: unknown subscription, none named, STOP state, one stream at a time, auth")
{
    Fixture f;
    Json created(createManaged(f, R"({"developer_name":"Only","topic_name":"/event/Demo__e"})"));
    for (auto [id, name] : {std::pair<std::string, std::string>{"", "Nope"}, {"18x000000000099AAA", ""}}) {
        CAPTURE(name);
        Managed m(f, f.auth);
        m.open(id, name, 1);
        auto status = m.refused();
        CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
        CHECK(trailer(m.ctx, "error-code") == kNotFoundCode);
        CHECK(status.error_message().find("rpcId: ") != std::string::npos);
    }
    {
        Managed m(f, f.auth);
        m.open("", "", 1);
        CHECK(m.refused().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    {
        Managed m(f, {"", f.auth.instance_url, kOrgId});
        m.open("", "Only", 1);
        CHECK(m.refused().error_code() == grpc::StatusCode::UNAUTHENTICATED);
        CHECK(trailer(m.ctx, "error-code") == "sfdc.platform.eventbus.grpc.service.auth.error");
    }
    {
        Managed first(f, f.auth);
        first.open("", "Only", 1);
        v1::ManagedFetchResponse resp;
        first.commit("k", "", 0); // an empty id: answered at once (corrupted), the stream is open
        REQUIRE(first.rw->Read(&resp));
        Managed second(f, f.auth);
        second.open(str(created.root, "id"), "", 1);
        CHECK(second.refused().error_code() == grpc::StatusCode::FAILED_PRECONDITION);
        CHECK(trailer(second.ctx, "error-code") == "sfdc.platform.eventbus.grpc.managed.subscription.active");
        CHECK(first.close().ok());
    }
    createManaged(f, R"({"developer_name":"Only","state":"STOP"})");
    Managed stopped(f, f.auth);
    stopped.open("", "Only", 1);
    CHECK(stopped.refused().error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(trailer(stopped.ctx, "error-code") == "sfdc.platform.eventbus.grpc.managed.subscription.stopped");
}

TEST_CASE("managed flow control: never more than requested, a commit without credit answered at once")
{
    Fixture f({"--pubsub-keepalive-ms", "300"});
    f.emu.generate("default", "/event/Demo__e", 250, 200);
    createManaged(f, R"({"developer_name":"Flow","topic_name":"/event/Demo__e","default_replay":"EARLIEST"})");
    Managed m(f, f.auth);
    m.open("", "Flow", 3);
    v1::ManagedFetchResponse last;
    auto first = m.receive(3, &last);
    CHECK(first.size() == 3);
    CHECK(last.pending_num_requested() == 0);
    // No credit: the commit's answer carries no events.
    REQUIRE(m.commit("c1", first.back().replay_id()));
    auto answer = m.commitAnswer();
    CHECK(answer.events_size() == 0);
    CHECK(answer.pending_num_requested() == 0);
    CHECK(m.extra_events == 0);
    // A keepalive (still no events) before any credit.
    v1::ManagedFetchResponse keepalive;
    REQUIRE(m.rw->Read(&keepalive));
    CHECK(keepalive.events_size() == 0);
    CHECK(keepalive.latest_replay_id() == first.back().replay_id());
    m.more(5);
    CHECK(m.receive(5, &last).size() == 5);
    CHECK(last.pending_num_requested() == 0);
    // Asking 500 is clamped to 100 outstanding.
    m.more(500);
    auto big = m.receive(100, &last);
    CHECK(big.size() == 100);
    CHECK(last.pending_num_requested() == 0);
    CHECK(m.close().ok());
    CHECK(m.extra_events == 0);
}

TEST_CASE("managed streams count against the concurrent-client limit and the delivery allocation")
{
    Fixture f({}, "connect_hold_ms: 300\nclient_timeout_ms: 5000\nlimits: {concurrent_clients: 1, "
                  "daily_delivered_events: 4}\n");
    eventsAndEarliest(f, "Counted", 6);
    Managed m(f, f.auth);
    m.open("", "Counted", 3);
    v1::ManagedFetchResponse last;
    REQUIRE(m.receive(3, &last).size() == 3);
    // The one client slot is taken: a Subscribe is refused.
    std::string error_code;
    CHECK(refusedSubscribe(f, &error_code).error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(error_code == "sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded");
    Json usage(f.emu.usage("default"));
    CHECK(integer(usage.root, "delivered") == 3);
    CHECK(integer(usage.root, "open_clients") == 1);
    // One event is left in the allocation, then the stream ends.
    m.more(3);
    v1::ManagedFetchResponse resp;
    size_t more = 0;
    while (m.rw->Read(&resp))
        more += static_cast<size_t>(resp.events_size());
    CHECK(more == 1);
    auto status = m.rw->Finish();
    CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(trailer(m.ctx, "error-code") == "sfdc.platform.eventbus.grpc.subscription.limit.exceeded");
}

TEST_CASE("the Pub/Sub faults apply to ManagedSubscribe: fail_subscribe")
{
    Fixture f;
    createManaged(f, R"({"developer_name":"Faulty","topic_name":"/event/Demo__e","default_replay":"EARLIEST"})");
    f.emu.armPubSub("default", R"({"fault":"fail_subscribe","status":"INTERNAL","error_code":"x.y.z"})");
    Managed m(f, f.auth);
    m.open("", "Faulty", 1);
    CHECK(m.refused().error_code() == grpc::StatusCode::INTERNAL);
    CHECK(trailer(m.ctx, "error-code") == "x.y.z");
    // Then streams work (and the subscription is not left marked active).
    Managed ok(f, f.auth);
    ok.open("", "Faulty", 1);
    auto ids = f.emu.generate("default", "/event/Demo__e", 1, 100);
    CHECK(idsOf(ok.receive(1)) == ids);
    CHECK(ok.close().ok());
}

TEST_CASE("reset_stream cuts a managed stream mid-batch; the next stream resumes after the last commit")
{
    Fixture f;
    auto ids = eventsAndEarliest(f, "Cut", 6);
    {
        Managed m(f, f.auth);
        auto got = m.start("Cut", 2);
        m.commitOk("c", got[1].replay_id());
        // Cut after one more event, then a new stream at its first delivery.
        for (int after : {1, 0}) {
            CAPTURE(after);
            f.emu.armPubSub("default", R"({"fault":"reset_stream","after_events":)" + std::to_string(after) + "}");
            if (after == 1) {
                m.more(3);
                CHECK(idsOf(m.receive(1)) == std::vector<int64_t>{ids[2]});
                v1::ManagedFetchResponse resp;
                CHECK_FALSE(m.rw->Read(&resp));
                auto status = m.rw->Finish();
                CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
                CHECK(status.error_message().find("RST_STREAM") != std::string::npos);
            } else {
                // Cut at its first delivery, before any event (nothing committed moves).
                Managed again(f, f.auth);
                again.open("", "Cut", 3);
                CHECK(again.refused().error_code() == grpc::StatusCode::UNAVAILABLE);
            }
        }
    }
    Managed m(f, f.auth);
    CHECK(idsOf(m.start("Cut", 4)) == std::vector<int64_t>(ids.begin() + 2, ids.end()));
    CHECK(m.close().ok());
}
