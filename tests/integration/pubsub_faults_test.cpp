// sfkafkad over the Pub/Sub API through failures, against a real sfemu and
// a real Kafka broker: a SIGKILL mid-stream, streams reset mid-batch, a
// revoked and an expired token, stalled keepalives, a schema change and the
// delivery allocation. Every published event lands once or more, in order,
// duplicates within max_in_flight_events plus one response, and a clean
// stop stores the last acknowledged event's replay id
// (docs/architecture.md, "Invariants").
#include <doctest/doctest.h>

#include "pubsub_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

const std::string kDemo = "/event/Demo__e";

// One response of Pub/Sub carries at most this many events.
constexpr size_t kResponseEvents = 100;

void checkLanded(const Landing &l, size_t max_duplicates = 0)
{
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.order_errors == 0);
    CHECK(l.duplicates <= max_duplicates);
}

// Stops the daemon cleanly; the stored position is then the last event's.
void stopAndCheckStored(DaemonProcess &daemon, const TempDir &dir, int64_t last)
{
    CHECK(daemon.stop() == 0);
    CHECK(storedPubsubId(dir.file("state"), kDemo) == last);
}

} // namespace

TEST_CASE("SIGKILL while streaming, then a restart: nothing lost, duplicates within the in-flight bound")
{
    const auto &broker = KafkaBroker::shared();
    DemoRun run("pskill");
    run.spec.orgs[0].max_in_flight_events = 300;
    // Committed rarely: the kill finds a full window of uncommitted events.
    run.spec.commit_interval_ms = 1000;
    auto ids = run.emu.generate("default", kDemo, 20000, 200);
    {
        DaemonProcess daemon = DaemonProcess::start(run.dir, daemonConfig(run.spec));
        REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), run.topic) >= 3000; }, 60s));
        daemon.kill();
    }
    const int64_t landedAtKill = topicSize(broker.bootstrap(), run.topic);
    MESSAGE("landed when killed: " << landedAtKill << " of " << ids.size());
    auto more = run.emu.generate("default", kDemo, 500, 200, 2);
    DaemonProcess daemon = DaemonProcess::start(run.dir, daemonConfig(run.spec));
    Landing l = run.landing(90s);
    checkLanded(l, 300 + kResponseEvents);
    stopAndCheckStored(daemon, run.dir, more.back());
}

TEST_CASE("streams reset mid-batch: resubscribed from the committed id, nothing lost, no duplicates")
{
    DemoRun run("psreset");
    // Three resets, each 37 events into a response of 100.
    run.emu.armPubSub("default", R"({"fault":"reset_stream","after_events":37,"count":3})");
    auto ids = publishMany(run.emu, kDemo, 0, 600);
    DaemonProcess daemon = run.start();
    checkLanded(run.landing());
    CHECK(reconnects(run.port, "network") == 3);
    stopAndCheckStored(daemon, run.dir, ids.back());
}

TEST_CASE("a token revoked mid-stream: the resubscribe is refused, a new token, then streaming resumes")
{
    DemoRun run("psrevoke");
    DaemonProcess daemon = run.startStreaming(100);
    CHECK(sessionMetric(run.port, "sfkafka_token_requests_total") == 1);
    // sfemu checks a token when a call starts: the open stream runs on
    // until it is reset, and the resubscribe meets the revoked token.
    run.emu.arm("default", R"({"fault":"revoke_tokens"})");
    run.emu.armPubSub("default", R"({"fault":"reset_stream","after_events":20})");
    auto ids = publishMany(run.emu, kDemo, 100, 100);
    checkLanded(run.landing());
    CHECK(reconnects(run.port, "auth") == 1);
    CHECK(sessionMetric(run.port, "sfkafka_token_requests_total") == 2);
    stopAndCheckStored(daemon, run.dir, ids.back());
}

TEST_CASE("a token expired mid-stream meets a new schema: GetSchema is refused, a new token, nothing dead-lettered")
{
    const auto &broker = KafkaBroker::shared();
    DemoRun run("psexpire", "connect_hold_ms: 300\ntoken_lifetime_seconds: 2\n");
    DaemonProcess daemon = run.startStreaming(50);
    std::this_thread::sleep_for(2500ms);   // the token expires; the stream runs on
    // A field the topic's schema does not have: a new writer schema.
    auto ids = run.emu.publish("default", kDemo, R"([{"Order_Number__c":"N-50","Added__c":"new"}])");
    checkLanded(run.landing());
    auto records = consumeAll(broker.bootstrap(), run.topic);
    REQUIRE(records.size() == 51);
    CHECK(records.back().value.find("\"Added__c\":\"new\"") != std::string::npos);
    CHECK(sessionMetric(run.port, "sfkafka_token_requests_total") >= 2);
    CHECK(daemon.log().find("dead-letter") == std::string::npos);
    stopAndCheckStored(daemon, run.dir, ids.back());
}

TEST_CASE("stalled keepalives: the watchdog cancels and resubscribes (reason stalled); nothing lost")
{
    DemoRun run("psstall", "connect_hold_ms: 300\n", {"--pubsub-keepalive-ms", "200"});
    run.spec.orgs[0].pubsub_stall_timeout_ms = 1000;
    DaemonProcess daemon = run.startStreaming(100);
    CHECK(reconnects(run.port, "stalled") == 0);
    run.emu.armPubSub("default", R"({"fault":"stall_keepalives","ms":2500})");
    auto ids = publishMany(run.emu, kDemo, 100, 100);
    REQUIRE(waitUntil([&] { return reconnects(run.port, "stalled") >= 1; }, 10s));
    checkLanded(run.landing());
    CHECK(daemon.log().find("silent past pubsub.stall_timeout_ms") != std::string::npos);
    stopAndCheckStored(daemon, run.dir, ids.back());
}

TEST_CASE("a schema change between batches: the new schema is fetched once, its field lands, nothing lost")
{
    const auto &broker = KafkaBroker::shared();
    DemoRun run("psschema");
    DaemonProcess daemon = run.startStreaming(50);
    CHECK(sessionMetric(run.port, "sfkafka_pubsub_schema_fetches_total") == 1);
    run.emu.armPubSub("default", R"({"fault":"change_schema","topic":"/event/Demo__e","field":"Added__c","type":"long"})");
    std::string later = "[";
    for (int i = 50; i < 100; ++i)
        later += (i > 50 ? "," : "") + std::string(R"({"Order_Number__c":"N-)") + std::to_string(i) +
                 R"(","Added__c":)" + std::to_string(i) + "}";
    auto ids = run.emu.publish("default", kDemo, later + "]");
    checkLanded(run.landing());
    auto records = consumeAll(broker.bootstrap(), run.topic);
    REQUIRE(records.size() == 100);
    CHECK(records[49].value.find("Added__c") == std::string::npos);
    CHECK(records[50].value.find("\"Added__c\":50") != std::string::npos);
    CHECK(records[99].value.find("\"Added__c\":99") != std::string::npos);
    CHECK(records[49].header("sf.schema") != records[50].header("sf.schema"));
    CHECK(sessionMetric(run.port, "sfkafka_pubsub_schema_fetches_total") == 2);
    stopAndCheckStored(daemon, run.dir, ids.back());
}

TEST_CASE("the delivery allocation used up: the limit backoff, not ready, no resubscribe storm; a restart resumes")
{
    const auto &broker = KafkaBroker::shared();
    DemoRun run("psalloc");
    run.spec.orgs[0].daily_event_allocation = 40;
    run.emu.setLimits("default", R"({"daily_delivered_events": 40})");
    auto ids = publishMany(run.emu, kDemo, 0, 100);
    {
        DaemonProcess daemon = run.start();
        const std::string ended = "Pub/Sub stream ended by a Salesforce limit";
        REQUIRE(waitUntil([&] { return daemon.log().find(ended) != std::string::npos; }, 30s));
        CHECK(daemon.log().find("subscription.limit.exceeded") != std::string::npos);
        CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), run.topic) == 40; }, 30s));
        HttpAnswer ready;
        CHECK(waitUntil([&] { return (ready = httpGet(run.port, "/readyz?verbose")).status == 503; }, 10s));
        CHECK(ready.body.find("backoff") != std::string::npos);
        CHECK(ready.body.find("over its delivery allocation") != std::string::npos);
        // The long limit backoff (5 min): one refusal, no resubscribes.
        std::this_thread::sleep_for(1500ms);
        CHECK(countOf(daemon.log(), ended) == 1);
        CHECK(topicSize(broker.bootstrap(), run.topic) == 40);
        // Stopping during the limit backoff keeps what was acknowledged.
        CHECK(daemon.stop() == 0);
        CHECK(storedPubsubId(run.dir.file("state"), kDemo) == ids[39]);
    }
    run.emu.setLimits("default", R"({"daily_delivered_events": 0})");
    run.spec.orgs[0].daily_event_allocation = 0;
    DaemonProcess daemon = DaemonProcess::start(run.dir, daemonConfig(run.spec));
    checkLanded(run.landing());
    stopAndCheckStored(daemon, run.dir, ids.back());
}
