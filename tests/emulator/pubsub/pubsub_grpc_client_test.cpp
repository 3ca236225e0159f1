// sfkafkad's Pub/Sub client (core/pubsub/grpc_client.h) against a real sfemu
// over loopback TLS: credit, replay presets, refused streams and their
// error-code trailers, GetSchema/GetTopic, and streams spread over several
// HTTP/2 connections.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "core.h"
#include "pubsub/grpc_client.h"
#include "pubsub_fixture.h"
#include "silent_listener.h"
#include "tcp_connections.h"

using namespace sfk::test;
using namespace sfk::test::pubsub;
using sfk::pubsub::CallIdentity;
using sfk::pubsub::Client;
using sfk::pubsub::ClientOptions;
using sfk::pubsub::Endpoint;
using sfk::pubsub::StreamItem;
namespace code = sfk::emu::pubsub::code;
using namespace std::chrono_literals;

namespace {

// The fixture's org without its 2 s retention (a loaded machine may take
// longer between publishing and reading), with /event/Demo__e and `topics`
// more platform event topics.
std::string orgYaml(int topics)
{
    std::string yaml = kChannelsOrg;
    const std::string retention = "retention:\n  event_seconds: 2\n";
    const std::string channels = "    channels: [";
    REQUIRE(yaml.find(retention) != std::string::npos);
    yaml.erase(yaml.find(retention), retention.size());
    REQUIRE(yaml.find(channels) != std::string::npos);
    yaml.erase(yaml.find(channels));
    yaml += channels + "/event/Demo__e";
    for (int i = 0; i < topics; ++i)
        yaml += ", /event/T" + std::to_string(i) + "__e";
    return yaml + "]\n";
}

Endpoint endpointOf(const SfemuProcess &emu)
{
    const std::string &address = emu.pubsubAddress();
    Endpoint e;
    e.host = "localhost"; // a name the certificate carries
    e.port = std::stoi(address.substr(address.rfind(':') + 1));
    e.ca_file = emu.pubsubCa();
    return e;
}

struct ClientFixture {
    explicit ClientFixture(int topics = 0, std::vector<std::string> args = {}, ClientOptions options = {})
        : f(std::move(args), orgYaml(topics)),
          client(endpointOf(f.emu), [this] { return identity(); }, options)
    {
    }
    CallIdentity identity() const { return {f.auth.token, f.auth.instance_url, f.auth.tenant_id}; }

    Fixture f;
    Client client;
};

// Events of stream `id` until `n` arrived (or 20 s); fails on an end.
std::vector<eventbus::v1::ConsumerEvent> events(Client &client, size_t id, size_t n)
{
    std::vector<eventbus::v1::ConsumerEvent> out;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        auto item = client.next(500ms);
        if (!item)
            continue;
        REQUIRE(item->stream == id);
        REQUIRE_MESSAGE(!item->ended, item->message);
        for (auto &e : item->response.events())
            out.push_back(e);
    }
    REQUIRE(out.size() == n);
    return out;
}

// The stream's `ended` item (20 s at most).
StreamItem ending(Client &client, size_t id)
{
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto item = client.next(500ms);
        if (item && item->ended) {
            CHECK(item->stream == id);
            return *item;
        }
    }
    FAIL("no ended item");
    return {};
}

int64_t replayNumber(const std::string &bytes)
{
    int64_t n = 0;
    for (size_t i = 0; i < 8 && i < bytes.size(); ++i)
        n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    return n;
}

} // namespace

TEST_CASE("credit: EARLIEST with credit 5 gives 5 events until request() adds more; CUSTOM resumes after an id")
{
    ClientFixture c;
    auto ids = c.f.emu.generate("default", "/event/Demo__e", 12, 100);
    uint64_t g1 = c.client.subscribe(7, "/event/Demo__e", eventbus::v1::EARLIEST, "", 5);
    auto first = events(c.client, 7, 5);
    CHECK(replayNumber(first.front().replay_id()) == ids.front());
    // Nothing more without credit.
    auto idle = c.client.next(700ms);
    CHECK_FALSE(idle.has_value());
    CHECK(c.client.openStreams() == 1);

    c.client.request(7, 3);
    auto more = events(c.client, 7, 3);
    CHECK(replayNumber(more.front().replay_id()) == ids[5]);
    CHECK(replayNumber(more.back().replay_id()) == ids[7]);

    // Replacing the stream: CUSTOM from the third event resumes with the fourth.
    uint64_t g2 = c.client.subscribe(7, "/event/Demo__e", eventbus::v1::CUSTOM, first[2].replay_id(), 2);
    CHECK(g2 > g1);
    std::vector<eventbus::v1::ConsumerEvent> resumed;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (resumed.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        auto item = c.client.next(500ms);
        if (!item)
            continue;
        REQUIRE(item->generation == g2); // nothing of the replaced stream, not even its end
        REQUIRE_FALSE(item->ended);
        for (auto &e : item->response.events())
            resumed.push_back(e);
    }
    REQUIRE(resumed.size() == 2);
    CHECK(resumed[0].event().id() == first[3].event().id());
    CHECK(replayNumber(resumed[1].replay_id()) == ids[4]);
    CHECK(c.client.openStreams() == 1);
    CHECK(c.client.connections() == 1);

    // A cancelled stream frees its slot and says nothing more.
    c.client.cancel(7);
    CHECK(c.client.openStreams() == 0);
    CHECK_FALSE(c.client.next(500ms).has_value());
}

TEST_CASE("GetSchema returns the schema of a received event; GetTopic; unknown ids fail with NOT_FOUND")
{
    ClientFixture c;
    c.f.emu.publish("default", "/event/Demo__e", R"([{"Text__c":"hello"}])");
    c.client.subscribe(0, "/event/Demo__e", eventbus::v1::EARLIEST, "", 1);
    auto got = events(c.client, 0, 1);
    std::string schema, error;
    REQUIRE_MESSAGE(c.client.getSchema(got[0].event().schema_id(), schema, error), error);
    CHECK(schema == c.f.schema(got[0].event().schema_id()));
    CHECK(schema.find("\"Demo__e\"") != std::string::npos);
    CHECK(avroJson(schema, got[0].event().payload()).find("hello") != std::string::npos);

    eventbus::v1::TopicInfo info;
    REQUIRE_MESSAGE(c.client.getTopic("/event/Demo__e", info, error), error);
    CHECK(info.topic_name() == "/event/Demo__e");
    CHECK(info.schema_id() == got[0].event().schema_id());

    grpc::StatusCode status = grpc::StatusCode::OK;
    CHECK_FALSE(c.client.getSchema("AAAAAAAAAAAAAAAAAAAAAA", schema, error, &status));
    CHECK(status == grpc::StatusCode::NOT_FOUND);
    CHECK(error.find("GetSchema: NOT_FOUND") == 0);
    CHECK(error.find(code::kSchemaNotFound) != std::string::npos);
    CHECK_FALSE(c.client.getTopic("/event/Nope__e", info, error, &status));
    CHECK(status == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("a refused token ends the stream with one UNAUTHENTICATED item; the token is in no message")
{
    Fixture f({}, orgYaml(0));
    const std::string bogus = "00D000000000001AAA!AQbogus-token-text";
    Client client(endpointOf(f.emu), [&] { return CallIdentity{bogus, f.auth.instance_url, kOrgId}; });
    client.subscribe(3, "/event/Demo__e", eventbus::v1::EARLIEST, "", 5);
    StreamItem end = ending(client, 3);
    CHECK(end.code == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(end.error_code == code::kAuth);
    CHECK(end.message.find(bogus) == std::string::npos);
    CHECK(end.message.find("bogus") == std::string::npos);
    CHECK_FALSE(client.next(500ms).has_value()); // exactly one end
    CHECK(client.openStreams() == 0);

    std::string schema, error;
    grpc::StatusCode status = grpc::StatusCode::OK;
    CHECK_FALSE(client.getSchema("AAAAAAAAAAAAAAAAAAAAAA", schema, error, &status));
    CHECK(status == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(error.find("bogus") == std::string::npos);
}

TEST_CASE("a corrupted replay id ends the stream with INVALID_ARGUMENT and the replayid.corrupted error code")
{
    ClientFixture c;
    c.f.emu.generate("default", "/event/Demo__e", 1, 100);
    c.client.subscribe(1, "/event/Demo__e", eventbus::v1::CUSTOM, std::string("\x01\x02\x03", 3), 5);
    StreamItem end = ending(c.client, 1);
    CHECK(end.code == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(end.error_code == code::kReplayCorrupted);
}

TEST_CASE("150 topics on one client: two connections (at most 90 streams each), every stream receives")
{
    constexpr int kTopics = 150;
    ClientFixture c(kTopics);
    for (int i = 0; i < kTopics; ++i)
        c.f.emu.generate("default", "/event/T" + std::to_string(i) + "__e", 1, 50);
    for (int i = 0; i < kTopics; ++i)
        c.client.subscribe(i, "/event/T" + std::to_string(i) + "__e", eventbus::v1::EARLIEST, "", 1);
    CHECK(c.client.connections() == 2);
    CHECK(c.client.openStreams() == kTopics);

    std::set<size_t> received;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (received.size() < kTopics && std::chrono::steady_clock::now() < deadline) {
        auto item = c.client.next(500ms);
        if (!item)
            continue;
        REQUIRE_MESSAGE(!item->ended, item->message);
        if (item->response.events_size() > 0)
            received.insert(item->stream);
    }
    CHECK(received.size() == kTopics);
    // Really two HTTP/2 connections, not one shared by both channels.
    CHECK(establishedTo(endpointOf(c.f.emu).port) == 2);

    // Slots freed by cancelled streams are used again before a new connection.
    for (int i = 0; i < 100; ++i)
        c.client.cancel(i);
    CHECK(c.client.openStreams() == kTopics - 100);
    for (int i = 0; i < 100; ++i)
        c.client.subscribe(i, "/event/T" + std::to_string(i) + "__e", eventbus::v1::LATEST, "", 1);
    CHECK(c.client.connections() == 2);
    CHECK(c.client.openStreams() == kTopics);
}

TEST_CASE("plaintext to a loopback sfemu sends the identity; wake() ends a waiting next()")
{
    Fixture f({"--pubsub-plaintext"}, orgYaml(0));
    REQUIRE(f.emu.pubsubCa().empty());
    const std::string &address = f.emu.pubsubAddress();
    Endpoint e{"127.0.0.1", std::stoi(address.substr(address.rfind(':') + 1)), true, ""};
    Client client(e, [&] { return CallIdentity{f.auth.token, f.auth.instance_url, kOrgId}; });
    eventbus::v1::TopicInfo info;
    std::string error;
    CHECK_MESSAGE(client.getTopic("/event/Demo__e", info, error), error);

    std::thread waker([&] {
        std::this_thread::sleep_for(200ms);
        client.wake();
    });
    auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(client.next(10s).has_value());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    waker.join();
}

TEST_CASE("stopCalls() cancels a GetSchema waiting on a server that never answers; later calls fail at once")
{
    SilentListener silent;
    Endpoint e{"127.0.0.1", silent.port(), true, ""};
    ClientOptions options;
    options.unary_deadline = 30s;
    Client client(e, [] { return CallIdentity{"token", "https://x.my.salesforce.com", "00D000000000001AAA"}; },
                  options);
    std::thread stopper([&] {
        std::this_thread::sleep_for(300ms);
        client.stopCalls();
    });
    auto started = std::chrono::steady_clock::now();
    std::string json, error;
    grpc::StatusCode code = grpc::StatusCode::OK;
    CHECK_FALSE(client.getSchema("any", json, error, &code));
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - started < 10s);
    CHECK(code == grpc::StatusCode::CANCELLED);
    started = std::chrono::steady_clock::now();
    eventbus::v1::TopicInfo info;
    CHECK_FALSE(client.getTopic("/event/Demo__e", info, error, &code));
    CHECK(code == grpc::StatusCode::CANCELLED);
    CHECK(std::chrono::steady_clock::now() - started < 1s);
}
