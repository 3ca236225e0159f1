// The control topic against a real broker: records land as JSON keyed
// org/channel; with no broker, drain() gives up at its deadline and stop()
// returns at once (a shutdown never waits for Kafka there).
#include <doctest/doctest.h>

#include <chrono>

#include "kafka/control_topic.h"
#include "kafka/event_sink.h"
#include "kafka_harness.h"

using namespace sfk::test;
using namespace std::chrono_literals;
using sfk::kafka::ControlTopic;
using sfk::kafka::EventSink;
using sfk::kafka::GapRecord;

namespace {

GapRecord gap(const std::string &channel, int64_t stored)
{
    GapRecord r;
    r.org = "acme";
    r.org_id = "00D000000000001AAA";
    r.channel = channel;
    r.reason = "invalid_replay_id";
    r.policy = "earliest";
    r.stored_replay_id = stored;
    r.resumed_from = -2;
    r.detail = "replay id rejected";
    return r;
}

} // namespace

TEST_CASE("gap records reach the control topic, keyed org/channel, before drain() returns")
{
    const auto &broker = KafkaBroker::shared();
    std::string topic = uniqueTopic("control");
    createTopic(broker.bootstrap(), topic, 1);
    sfk::config::Kafka cfg;
    cfg.brokers = broker.bootstrap();
    std::string error;
    auto sink = EventSink::create(cfg, error);
    REQUIRE_MESSAGE(sink, error);
    {
        ControlTopic control(*sink, topic);
        CHECK(control.publish(gap("/data/AccountChangeEvent", 41)));
        CHECK(control.publish(gap("/event/Order__e", 7)));
        CHECK(control.drain(std::chrono::steady_clock::now() + 60s));
        CHECK(control.pending() == 0);
        CHECK(control.delivered() == 2);
        auto counts = control.counts();
        CHECK(counts[{"acme", "/event/Order__e", "invalid_replay_id"}] == 1);
        control.stop();
    }
    auto records = consumeAll(broker.bootstrap(), topic, 2);
    REQUIRE(records.size() == 2);
    CHECK(records[0].key == std::optional<std::string>("acme//data/AccountChangeEvent"));
    CHECK(records[0].value.find("\"stored_replay_id\":41") != std::string::npos);
    CHECK(records[1].key == std::optional<std::string>("acme//event/Order__e"));
    sink->stop();
}

TEST_CASE("with no broker, drain() stops at its deadline and stop() does not wait for Kafka")
{
    sfk::config::Kafka cfg;
    cfg.brokers = "127.0.0.1:1";   // nothing listens there
    std::string error;
    auto sink = EventSink::create(cfg, error);
    REQUIRE_MESSAGE(sink, error);
    ControlTopic control(*sink, "sfkafka.control.unreachable");
    CHECK(control.publish(gap("/event/Order__e", 1)));
    auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(control.drain(start + 1500ms));
    CHECK(control.pending() == 1);
    control.stop();
    // Generous bounds: the point is "returns", not how fast.
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    sink->stop();
}
