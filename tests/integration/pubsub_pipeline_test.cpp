// sfkafkad over the Pub/Sub API end to end: sfemu's gRPC server over
// loopback TLS, a real Kafka broker. Records, headers, stored positions,
// restarts, and parity with the same events read over CometD.
#include <doctest/doctest.h>

#include <regex>
#include <thread>

#include "pubsub/avro_json.h"
#include "pubsub_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("a Pub/Sub channel lands once each and in order; the stored id is the last event's; a restart resumes")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("ps");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    usePubsubOf(org, emu);
    ChannelSpec ch{"/event/Demo__e", topic, "earliest", "fail", "/payload/Order_Number__c"};
    ch.transport = "pubsub";
    org.channels = {ch};
    spec.orgs = {org};

    auto first = publishMany(emu, "/event/Demo__e", 0, 300);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
        CHECK(l.missing == 0);
        CHECK(l.duplicates == 0);
        CHECK(l.order_errors == 0);
        auto records = consumeAll(broker.bootstrap(), topic, 300, 30s);
        REQUIRE(records.size() == 300);
        const auto published = emu.published("default", "/event/Demo__e");
        for (size_t i = 0; i < 3; ++i) {
            const Record &r = records[i];
            CHECK(r.header("sf.transport") == std::optional<std::string>("pubsub"));
            CHECK(r.header("sf.org_id") == std::optional<std::string>("00D000000000001AAA"));
            CHECK(r.header("sf.channel") == std::optional<std::string>("/event/Demo__e"));
            CHECK(r.header("sf.event_uuid") == std::optional<std::string>(published[i].event_uuid));
            CHECK(r.header("sf.schema").has_value());
            CHECK(r.header("sf.created_date").has_value());
            CHECK(r.key == std::optional<std::string>("N-" + std::to_string(i)));
            CHECK(r.timestamp_ms == published[i].time_ms);
            // json: the record itself, every field.
            CHECK(r.value.find("\"Order_Number__c\":\"N-" + std::to_string(i) + "\"") != std::string::npos);
        }
        CHECK(daemon.stop() == 0);
        auto stored = storedPubsub(dir.file("state"), "/event/Demo__e");
        REQUIRE(stored);
        REQUIRE(stored->isOpaque());
        CHECK(pubsubReplayId(sfk::replay::positionText(*stored)) == first.back());
    }
    auto second = publishMany(emu, "/event/Demo__e", 300, 100);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
        CHECK(l.missing == 0);
        CHECK(l.duplicates == 0);   // a clean stop committed everything
        CHECK(l.order_errors == 0);
        CHECK(daemon.stop() == 0);
        auto stored = storedPubsub(dir.file("state"), "/event/Demo__e");
        REQUIRE(stored);
        CHECK(pubsubReplayId(sfk::replay::positionText(*stored)) == second.back());
    }
}

TEST_CASE("parity: the same 1,000 events over CometD and over Pub/Sub (cometd_compatible) give the same values")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string tag = uniqueTopic("parity");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    // Two orgs of sfkafkad, one sfemu org: the same events read both ways.
    OrgSpec viaCometd;
    viaCometd.name = "via_cometd";
    viaCometd.channels = {{"/event/Demo__e", tag + ".event.cometd"}, {"/data/AccountChangeEvent", tag + ".data.cometd"}};
    OrgSpec viaPubsub;
    viaPubsub.name = "via_pubsub";
    usePubsubOf(viaPubsub, emu);
    viaPubsub.channels = {{"/event/Demo__e", tag + ".event.pubsub"}, {"/data/AccountChangeEvent", tag + ".data.pubsub"}};
    for (auto &c : viaPubsub.channels) {
        c.transport = "pubsub";
        c.value_format = "cometd_compatible";
    }
    spec.orgs = {viaCometd, viaPubsub};

    publishMany(emu, "/event/Demo__e", 0, 600);
    std::string changes = "[";
    for (int i = 0; i < 400; ++i)
        changes += (i ? "," : "") + std::string(R"({"ChangeEventHeader":{"entityName":"Account","recordIds":["001A)") +
                   std::to_string(1000 + i) + R"("],"changeType":")" + (i % 3 ? "UPDATE" : "CREATE") +
                   R"(","changedFields":["Name"]},"Name":"Acme )" + std::to_string(i) + R"("})";
    emu.publish("default", "/data/AccountChangeEvent", changes + "]");

    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    // What the two transports cannot share: a Pub/Sub replay id is opaque
    // (event.replayId is CometD's only) and a writer schema id is not the
    // CometD schema id (README, "The Pub/Sub API").
    const std::regex replayId(R"(,?"replayId":[0-9]+)");
    const std::regex schemaId(R"("schema":"[^"]*")");
    auto normal = [&](const std::string &v) {
        return std::regex_replace(std::regex_replace(v, replayId, ""), schemaId, R"("schema":"")");
    };
    for (const auto &[channel, n] : std::vector<std::pair<std::string, size_t>>{{"event", 600}, {"data", 400}}) {
        CAPTURE(channel);
        auto cometd = consumeAll(broker.bootstrap(), tag + "." + channel + ".cometd", n, 90s);
        // Over Pub/Sub a change event has an event id too (sf.event_uuid);
        // over CometD it has none.
        auto pubsub = consumeAll(broker.bootstrap(), tag + "." + channel + ".pubsub", n, 90s);
        REQUIRE(cometd.size() == n);
        REQUIRE(pubsub.size() == n);
        size_t same = 0;
        for (size_t i = 0; i < n; ++i) {
            std::string expected = normal(cometd[i].value);
            if (expected == normal(pubsub[i].value) && cometd[i].key == pubsub[i].key &&
                cometd[i].timestamp_ms == pubsub[i].timestamp_ms &&
                cometd[i].header("sf.change_type") == pubsub[i].header("sf.change_type") &&
                (channel == "data" || cometd[i].header("sf.event_uuid") == pubsub[i].header("sf.event_uuid")))
                ++same;
            else if (i - same < 2)
                MESSAGE("record " << i << ": value " << (expected == normal(pubsub[i].value)) << " key "
                                  << (cometd[i].key == pubsub[i].key) << " timestamp "
                                  << (cometd[i].timestamp_ms == pubsub[i].timestamp_ms) << " change_type "
                                  << (cometd[i].header("sf.change_type") == pubsub[i].header("sf.change_type"))
                                  << " event_uuid "
                                  << (cometd[i].header("sf.event_uuid") == pubsub[i].header("sf.event_uuid")));
            CHECK(replayIdOf(cometd[i]) == replayIdOf(pubsub[i]));
        }
        CHECK(same == n);
        if (same != n)
            MESSAGE("first cometd value: " << cometd[0].value << "\nfirst pubsub value: " << pubsub[0].value);
    }
    CHECK(daemon.stop() == 0);
}

TEST_CASE("raw Avro values decode with the writer schema published once to the schemas topic")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("avro");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    usePubsubOf(org, emu);
    org.pubsub_schemas_topic = topic + ".schemas";
    ChannelSpec ch{"/event/Demo__e", topic};
    ch.transport = "pubsub";
    ch.value_format = "avro";
    org.channels = {ch};
    spec.orgs = {org};
    publishMany(emu, "/event/Demo__e", 0, 50);

    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    auto records = consumeAll(broker.bootstrap(), topic, 50, 60s);
    REQUIRE(records.size() == 50);
    auto schemas = consumeAll(broker.bootstrap(), topic + ".schemas", 1, 30s);
    REQUIRE(schemas.size() == 1);   // once, however many events use it
    REQUIRE(schemas[0].key.has_value());
    CHECK(records[0].header("sf.schema") == schemas[0].key);
    std::string error;
    auto schema = sfk::pubsub::WriterSchema::parse(schemas[0].value, error);
    REQUIRE_MESSAGE(schema, error);
    for (size_t i = 0; i < records.size(); ++i) {
        std::string json;
        REQUIRE_MESSAGE(sfk::pubsub::decodeToJson(*schema, records[i].value, sfk::pubsub::JsonMode::Json, json, error),
                        error);
        CHECK(json.find("\"Order_Number__c\":\"N-" + std::to_string(i) + "\"") != std::string::npos);
    }
    CHECK(daemon.stop() == 0);
}

TEST_CASE("switching a channel from CometD to Pub/Sub resumes by its on_transport_switch, with a gap record")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("switch");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.control_topic = topic + ".control";
    OrgSpec org;
    usePubsubOf(org, emu);
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};
    auto first = publishMany(emu, "/event/Demo__e", 0, 40);
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        Landing l = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
        CHECK(l.missing == 0);
        CHECK(daemon.stop() == 0);
    }
    // Now over Pub/Sub; the CometD position means nothing there (default: earliest).
    spec.orgs[0].channels[0].transport = "pubsub";
    publishMany(emu, "/event/Demo__e", 40, 20);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    auto records = consumeAll(broker.bootstrap(), topic, 100, 60s);
    CHECK(records.size() == 100);   // 40 over CometD, then all 60 retained again over Pub/Sub
    Landing l = compareLanding(emu.published("default", "/event/Demo__e"), records);
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 40);
    auto gaps = consumeAll(broker.bootstrap(), spec.control_topic, 1, 30s);
    REQUIRE(gaps.size() == 1);
    CAPTURE(gaps[0].value);
    CHECK(gaps[0].value.find("\"reason\":\"transport_switch\"") != std::string::npos);
    CHECK(gaps[0].value.find("\"policy\":\"earliest\"") != std::string::npos);
    CHECK(gaps[0].value.find("\"transport\":\"pubsub\"") != std::string::npos);
    CHECK(gaps[0].value.find("\"stored_replay_id\":" + std::to_string(first.back()) + ",") != std::string::npos);
    CHECK(daemon.stop() == 0);
    std::vector<sfk::replay::StoredId> ids;
    std::string error;
    REQUIRE(sfk::replay::ReplayStore::readSnapshot(dir.file("state"), ids, error));
    REQUIRE(ids.size() == 1);   // the CometD position is gone with the switch
    CHECK(ids[0].transport == sfk::replay::Transport::Pubsub);
}

TEST_CASE("a quiet channel adopts the keepalive's latest replay id, and a restart resumes right after it")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n", {"--pubsub-keepalive-ms", "300"});
    TempDir dir;
    const std::string topic = uniqueTopic("quiet");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    usePubsubOf(org, emu);
    ChannelSpec ch{"/event/Demo__e", topic, "latest"};
    ch.transport = "pubsub";
    org.channels = {ch};
    spec.orgs = {org};
    auto before = publishMany(emu, "/event/Demo__e", 0, 5);   // before the start: skipped by latest
    {
        DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
        // Nothing arrives; the keepalives move the stored position to the newest event.
        REQUIRE(waitUntil(
            [&] {
                auto stored = storedPubsub(dir.file("state"), "/event/Demo__e");
                return stored && stored->isOpaque() &&
                       pubsubReplayId(sfk::replay::positionText(*stored)) == before.back();
            },
            30s));
        CHECK(daemon.stop() == 0);
    }
    CHECK(topicSize(broker.bootstrap(), topic) <= 0);
    auto after = publishMany(emu, "/event/Demo__e", 5, 3);
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec));
    auto records = consumeAll(broker.bootstrap(), topic, 3, 30s);
    REQUIRE(records.size() == 3);
    for (size_t i = 0; i < 3; ++i)
        CHECK(replayIdOf(records[i]) == after[i]);
    std::this_thread::sleep_for(1s);
    CHECK(topicSize(broker.bootstrap(), topic) == 3);   // nothing before them
    CHECK(daemon.stop() == 0);
}

TEST_CASE("a transport switch under on_transport_switch: fail stops the channel and keeps the old position")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    const std::string topic = uniqueTopic("switchfail");
    {
        std::string error;
        auto store = sfk::replay::ReplayStore::open(dir.file("state"), error);
        REQUIRE_MESSAGE(store, error);
        store->set("default", "/event/Demo__e", sfk::replay::Transport::Cometd, 7);
        REQUIRE(store->flush(error));
    }
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.control_topic = topic + ".control";
    OrgSpec org;
    usePubsubOf(org, emu);
    ChannelSpec ch{"/event/Demo__e", topic};
    ch.transport = "pubsub";
    org.channels = {ch};
    spec.orgs = {org};
    std::string yaml = daemonConfig(spec);
    const std::string marker = "        transport: pubsub\n";
    REQUIRE(yaml.find(marker) != std::string::npos);
    yaml.insert(yaml.find(marker) + marker.size(), "        on_transport_switch: fail\n");
    publishMany(emu, "/event/Demo__e", 0, 10);
    DaemonProcess daemon = DaemonProcess::start(dir, yaml);
    auto gaps = consumeAll(broker.bootstrap(), spec.control_topic, 1, 30s);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].value.find("\"reason\":\"transport_switch\"") != std::string::npos);
    CHECK(gaps[0].value.find("\"policy\":\"fail\"") != std::string::npos);
    CHECK(gaps[0].value.find("\"resumed_from\":null") != std::string::npos);
    std::this_thread::sleep_for(2s);
    CHECK(topicSize(broker.bootstrap(), topic) <= 0);   // stopped: nothing read
    CHECK(daemon.stop() == 0);
    std::vector<sfk::replay::StoredId> ids;
    std::string error;
    REQUIRE(sfk::replay::ReplayStore::readSnapshot(dir.file("state"), ids, error));
    REQUIRE(ids.size() == 1);
    CHECK(ids[0].transport == sfk::replay::Transport::Cometd);
    CHECK(ids[0].replay_id == 7);
}
