// The dead-letter path against a real broker and sfemu: events Kafka refuses
// for good, and an event sfkafkad cannot decode, go to the dead-letter
// topic with headers naming why; everything else is produced, the watermark
// moves on, and each dead letter has a gap record on the control topic.
#include <doctest/doctest.h>

#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// Text that lz4 cannot shrink much (the broker checks the compressed batch).
std::string filler(size_t n, unsigned seed)
{
    std::string out(n, 'a');
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ seed;
    for (auto &c : out) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[x % 62];
    }
    return out;
}

// A /topic/ payload of about `bytes` bytes.
std::string pushTopicEvent(int i, size_t bytes)
{
    return R"({"Name":"E-)" + std::to_string(i) + R"(","Description__c":")" + filler(bytes, static_cast<unsigned>(i)) + "\"}";
}

std::vector<PublishedEvent> without(const std::vector<PublishedEvent> &all, const std::set<int64_t> &ids)
{
    std::vector<PublishedEvent> out;
    for (const auto &p : all)
        if (!ids.count(p.replay_id))
            out.push_back(p);
    return out;
}

// The gap records of the control topic for this channel (JSON text).
std::vector<std::string> gapRecords(const std::string &bootstrap, const std::string &topic,
                                    const std::string &key, size_t at_least)
{
    std::vector<std::string> out;
    waitUntil([&] {
        out.clear();
        for (const auto &r : consumeAll(bootstrap, topic))
            if (r.key == key && r.value.find("\"reason\":\"dead_letter\"") != std::string::npos)
                out.push_back(r.value);
        return out.size() >= at_least;
    }, 60s);
    return out;
}

bool hasReplayId(const std::vector<std::string> &records, int64_t id)
{
    for (const auto &r : records)
        if (r.find("\"replay_id\":" + std::to_string(id) + ",") != std::string::npos ||
            r.find("\"replay_id\":" + std::to_string(id) + "}") != std::string::npos)
            return true;
    return false;
}

// Waits until every expected event of /topic/Demo is in the topic.
Landing awaitExpected(const std::vector<PublishedEvent> &expected, const std::string &bootstrap,
                      const std::string &topic)
{
    Landing l;
    waitUntil([&] {
        l = compareLanding(expected, consumeAll(bootstrap, topic), "/topic/Demo");
        return l.missing == 0;
    }, 120s);
    return l;
}

// sfkafkad streaming /topic/Demo of sfemu's default org.
DaemonSpec demoSpec(const SfemuProcess &emu, const TempDir &dir, const std::string &tag)
{
    DaemonSpec spec{emu.url(), KafkaBroker::shared().bootstrap(), dir.file("state")};
    spec.control_topic = tag + ".control";
    OrgSpec org;
    ChannelSpec ch{"/topic/Demo", tag + ".main"};
    ch.dead_letter_topic = tag + ".dead";
    org.channels = {ch};
    spec.orgs = {org};
    return spec;
}

} // namespace

TEST_CASE("events the topic refuses as too large are dead-lettered; the rest lands in order and the watermark moves on")
{
    const auto &broker = KafkaBroker::shared();
    const std::string tag = uniqueTopic("dlq");
    const std::string topic = tag + ".main", dlq = tag + ".dead", control = tag + ".control";
    // The main topic takes 20 kB records, the dead-letter topic 45 kB;
    // batches stay below both (batch.size), as with the defaults of a real
    // cluster (1 MB batches, 1 MB topics).
    createTopic(broker.bootstrap(), topic, 1, {{"max.message.bytes", "20000"}});
    createTopic(broker.bootstrap(), dlq, 1, {{"max.message.bytes", "45000"}});
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\nmax_events_per_response: 50\n");

    std::vector<int64_t> big, huge;
    for (int round = 0; round < 2; ++round) {
        std::string events = "[";
        for (int i = 0; i < 30; ++i)
            events += (i ? "," : "") + pushTopicEvent(i, 300);
        events += "]";
        emu.publish("default", "/topic/Demo", events);
        big.push_back(emu.publish("default", "/topic/Demo", "[" + pushTopicEvent(1, 30000) + "]").at(0));
        emu.publish("default", "/topic/Demo", events);
        huge.push_back(emu.publish("default", "/topic/Demo", "[" + pushTopicEvent(2, 60000) + "]").at(0));
    }

    TempDir dir;
    DaemonSpec spec = demoSpec(emu, dir, tag);
    spec.librdkafka = {{"batch.size", "16000"}};
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec), {"--log-level", "debug"});

    std::set<int64_t> refused(big.begin(), big.end());
    refused.insert(huge.begin(), huge.end());
    auto published = emu.published("default", "/topic/Demo");
    auto expected = without(published, refused);
    Landing l = awaitExpected(expected, broker.bootstrap(), topic);
    INFO(describe(l));
    INFO(daemon.log().substr(0, 6000));
    CHECK(l.missing == 0);
    CHECK(l.order_errors == 0);

    auto dead = consumeAll(broker.bootstrap(), dlq, static_cast<int64_t>(refused.size()), 60s);
    REQUIRE(dead.size() == refused.size());
    std::map<int64_t, Record> byId;
    for (const auto &r : dead)
        byId[replayIdOf(r)] = r;
    for (int64_t id : refused) {
        CAPTURE(id);
        REQUIRE(byId.count(id));
        const Record &r = byId[id];
        CHECK(r.header("sf.org") == std::optional<std::string>("default"));
        CHECK(r.header("sf.org_id").value_or("").size() >= 15);
        CHECK(r.header("sf.channel") == std::optional<std::string>("/topic/Demo"));
        CHECK(r.header("sf.intended_topic") == std::optional<std::string>(topic));
        CHECK(r.header("sf.dead_letter_reason") == std::optional<std::string>("too_large"));
        CHECK(r.header("sf.error").value_or("").find("too large") != std::string::npos);
        const bool isHuge = std::find(huge.begin(), huge.end(), id) != huge.end();
        if (isHuge) {
            // Too large for the dead-letter topic too: metadata and error only.
            CHECK(r.header("sf.body_dropped") == std::optional<std::string>("true"));
            CHECK(r.value.empty());
        } else {
            CHECK_FALSE(r.header("sf.body_dropped"));
            CHECK(r.value.size() > 30000);
            CHECK(r.value.find("\"replayId\":" + std::to_string(id)) != std::string::npos);
            CHECK(r.key.has_value());   // the event's key (its sobject Id)
        }
    }
    auto gaps = gapRecords(broker.bootstrap(), control, "default//topic/Demo", refused.size());
    CHECK(gaps.size() == refused.size());
    for (int64_t id : refused) {
        CAPTURE(id);
        CHECK(hasReplayId(gaps, id));
    }
    for (const auto &g : gaps)
        CHECK(g.find("\"policy\":\"dead_letter\"") != std::string::npos);
    std::string log = daemon.log();
    CHECK(log.find("DEAD LETTER") != std::string::npos);

    // The watermark passed the dead letters: after a restart on the same
    // state nothing is dead-lettered again, and new events still land.
    CHECK(daemon.stop() == 0);
    auto more = emu.generate("default", "/topic/Demo", 20, 300, 7);
    DaemonProcess again = DaemonProcess::start(dir, daemonConfig(spec), {"--log-level", "debug"});
    expected = without(emu.published("default", "/topic/Demo"), refused);
    l = awaitExpected(expected, broker.bootstrap(), topic);
    CHECK(l.missing == 0);
    CHECK(topicSize(broker.bootstrap(), dlq) == static_cast<int64_t>(refused.size()));
    CHECK(again.stop() == 0);
}

TEST_CASE("an event that cannot be decoded is isolated after repeated failures, dead-lettered raw, and the rest produced")
{
    const auto &broker = KafkaBroker::shared();
    const std::string tag = uniqueTopic("poison");
    const std::string topic = tag + ".main", dlq = tag + ".dead", control = tag + ".control";
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\nmax_events_per_response: 1000\n");
    emu.generate("default", "/topic/Demo", 40, 400, 3);
    // Valid JSON, but its replay id is a string: the decoder rejects it.
    const std::string poison =
        R"({"channel":"/topic/Demo","data":{"event":{"replayId":"{replayId}","type":"created"},"sobject":{"Id":"a00POISON"}}})";
    int64_t poisonId = emu.publishRaw("default", "/topic/Demo", "[" + [&] {
        std::string q = "\"";
        for (char c : poison)
            q += c == '"' ? std::string("\\\"") : std::string(1, c);
        return q + "\"";
    }() + "]").at(0);
    emu.generate("default", "/topic/Demo", 40, 400, 4);

    TempDir dir;
    DaemonSpec spec = demoSpec(emu, dir, tag);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec), {"--log-level", "debug"});

    auto expected = without(emu.published("default", "/topic/Demo"), {poisonId});
    REQUIRE(expected.size() == 80);
    Landing l = awaitExpected(expected, broker.bootstrap(), topic);
    INFO(describe(l));
    INFO(daemon.log().substr(0, 6000));
    CHECK(l.missing == 0);
    CHECK(l.order_errors == 0);

    auto dead = consumeAll(broker.bootstrap(), dlq, 1, 60s);
    REQUIRE(dead.size() == 1);
    const Record &r = dead[0];
    std::string sent = poison;
    sent.replace(sent.find("{replayId}"), 10, std::to_string(poisonId));
    CHECK(r.value == sent);   // the raw message, byte for byte
    CHECK(r.header("sf.dead_letter_reason") == std::optional<std::string>("undecodable"));
    CHECK(r.header("sf.channel") == std::optional<std::string>("/topic/Demo"));
    CHECK(r.header("sf.intended_topic") == std::optional<std::string>(topic));
    CHECK(r.header("sf.org") == std::optional<std::string>("default"));
    CHECK(r.header("sf.error").value_or("").find("replayId is not an integer") != std::string::npos);

    // Discarded whole twice before it was isolated (bounded, not forever).
    std::string log = daemon.log();
    CHECK(log.find("discarded whole (2 of 3") != std::string::npos);
    CHECK(log.find("discarded whole (3 of 3") == std::string::npos);
    CHECK(log.find("DEAD LETTER") != std::string::npos);
    auto gaps = gapRecords(broker.bootstrap(), control, "default//topic/Demo", 1);
    CHECK(gaps.size() == 1);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("a topic whose max.message.bytes is below the producer's batch size: no batch of small events is refused, "
          "an oversized event goes alone, and the rest lands in order")
{
    // With librdkafka's default 1 MB batches and a 20 kB topic, a batch of
    // small events can exceed the topic's limit, and the broker refuses it
    // with every neighbour while later batches land: once sent again, those
    // neighbours would sit behind later events. sfkafkad keeps the bytes in
    // flight to such a topic within its limit instead.
    const auto &broker = KafkaBroker::shared();
    const std::string tag = uniqueTopic("dlqwin");
    const std::string topic = tag + ".main", dlq = tag + ".dead";
    createTopic(broker.bootstrap(), topic, 1, {{"max.message.bytes", "20000"}});
    createTopic(broker.bootstrap(), dlq, 1, {{"max.message.bytes", "45000"}});
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\nmax_events_per_response: 500\n");

    std::set<int64_t> big;
    for (int round = 0; round < 4; ++round) {
        std::string events = "[";
        for (int i = 0; i < 30; ++i)
            events += (i ? "," : "") + pushTopicEvent(round * 1000 + i, 300);
        events += "]";
        emu.publish("default", "/topic/Demo", events);
        big.insert(emu.publish("default", "/topic/Demo", "[" + pushTopicEvent(round, 30000) + "]").at(0));
        emu.publish("default", "/topic/Demo", events);
    }

    TempDir dir;
    DaemonSpec spec = demoSpec(emu, dir, tag);
    // librdkafka's default batch.size; batches of at most 31 records, so an
    // oversized event and the 30 before it share one batch while the next
    // batch, in flight beside it, fits the topic.
    spec.librdkafka = {{"batch.num.messages", "31"}};
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec), {"--log-level", "debug"});
    auto expected = without(emu.published("default", "/topic/Demo"), big);
    Landing l = awaitExpected(expected, broker.bootstrap(), topic);
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.order_errors == 0);
    auto dead = consumeAll(broker.bootstrap(), dlq, static_cast<int64_t>(big.size()), 60s);
    REQUIRE(dead.size() == big.size());
    for (const auto &r : dead) {
        CHECK(big.count(replayIdOf(r)) == 1);
        CHECK(r.header("sf.dead_letter_reason") == std::optional<std::string>("too_large"));
    }
    std::string log = daemon.log();
    CHECK(log.find("records in flight to it are kept within its limit") != std::string::npos);
    CHECK(daemon.stop() == 0);
}
