#pragma once
// What the Pub/Sub integration tests share: a fresh sfemu with a TLS client
// and a token, and a Subscribe stream driven step by step.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pubsub_client.h"
#include "sfemu_process.h"
#include "sfemu_test_client.h"

namespace sfk::test::pubsub {

namespace v1 = eventbus::v1;
using sfk::test::SfemuProcess;
using sfk::test::emu::passwordToken;


inline const std::string kChannelsOrg = R"(connect_hold_ms: 300
client_timeout_ms: 5000
retention:
  event_seconds: 2
orgs:
  - name: default
    org_id: 00D000000000001AAA
    users:
      - {username: user@example.com, password: password, user_id: 005000000000001AAA}
    apps:
      - {client_id: sfemu-client, client_secret: sfemu-secret}
    channels: [/event/Demo__e, /event/Short__e, /data/ChangeEvents, /data/Sales__chn, /data/AccountChangeEvent]
)";

inline const std::string kOrgId = "00D000000000001AAA";

struct Fixture {
    explicit Fixture(std::vector<std::string> args = {},
                     const std::string &yaml = "connect_hold_ms: 300\nclient_timeout_ms: 5000\n")
        : emu(SfemuProcess::start(yaml, std::move(args))),
          channel(tlsChannel(emu.pubsubAddress(), emu.pubsubCa())),
          stub(v1::PubSub::NewStub(channel)), auth{passwordToken(emu.url()), emu.url(), kOrgId}
    {
    }
    SfemuProcess emu;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::PubSub::Stub> stub;
    Auth auth;

    v1::TopicInfo topic(const std::string &name)
    {
        grpc::ClientContext ctx;
        auth.apply(ctx);
        v1::TopicRequest req;
        req.set_topic_name(name);
        v1::TopicInfo info;
        auto status = stub->GetTopic(&ctx, req, &info);
        REQUIRE_MESSAGE(status.ok(), status.error_message());
        return info;
    }
    std::string schema(const std::string &id)
    {
        grpc::ClientContext ctx;
        auth.apply(ctx);
        v1::SchemaRequest req;
        req.set_schema_id(id);
        v1::SchemaInfo info;
        auto status = stub->GetSchema(&ctx, req, &info);
        REQUIRE_MESSAGE(status.ok(), status.error_message());
        return info.schema_json();
    }
};

// What a Subscribe and a ManagedSubscribe stream driven synchronously by
// the test share.
template <class Req, class Resp>
struct FetchStream {
    bool more(int n)
    {
        Req req;
        req.set_num_requested(n);
        return rw->Write(req);
    }
    // Reads responses until `events` events arrived; keepalives are skipped.
    std::vector<v1::ConsumerEvent> receive(size_t events, Resp *last = nullptr)
    {
        std::vector<v1::ConsumerEvent> out;
        Resp resp;
        while (out.size() < events && rw->Read(&resp)) {
            for (auto &e : resp.events())
                out.push_back(e);
            if (last)
                *last = resp;
        }
        return out;
    }
    grpc::Status finish()
    {
        ctx.TryCancel();
        return rw->Finish();
    }
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<Req, Resp>> rw;
};

struct Stream : FetchStream<v1::FetchRequest, v1::FetchResponse> {
    Stream(Fixture &f, const Auth &auth)
    {
        auth.apply(ctx, 60);
        rw = f.stub->Subscribe(&ctx);
    }
    bool request(const std::string &topic, v1::ReplayPreset preset, int n, const std::string &replay = "")
    {
        v1::FetchRequest req;
        req.set_topic_name(topic);
        req.set_replay_preset(preset);
        req.set_replay_id(replay);
        req.set_num_requested(n);
        return rw->Write(req);
    }
};

// A Subscribe the server ends at once: its status (the error-code trailer
// into *error_code).
inline grpc::Status refusedSubscribe(Fixture &f, std::string *error_code)
{
    Stream s(f, f.auth);
    s.request("/event/Demo__e", v1::EARLIEST, 1);
    v1::FetchResponse resp;
    CHECK_FALSE(s.rw->Read(&resp));
    grpc::Status status = s.rw->Finish();
    *error_code = trailer(s.ctx, "error-code");
    return status;
}

} // namespace sfk::test::pubsub
