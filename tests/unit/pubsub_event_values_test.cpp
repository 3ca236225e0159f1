// What one Pub/Sub ConsumerEvent becomes in Kafka (core/pubsub/event_values.h):
// the value per value_format, the headers and key CometD records carry, and
// payloads that cannot be JSON refused (for the dead-letter path).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "avro_test_encoder.h"
#include "pubsub/event_values.h"
#include "schema.h"

using namespace sfk::pubsub;
using sfk::test::AvroEncoder;
using sfk::test::parsed;
using sfk::test::setChangeEventHeader;
namespace emu = sfk::emu::pubsub;

namespace {

emu::Schema order()
{
    return emu::Schema("Order__e", emu::RecordKind::PlatformEvent,
                       {{"CreatedDate", emu::FieldType::DateTime, false, {}},
                        {"CreatedById", emu::FieldType::String, false, {}},
                        {"Order_Number__c", emu::FieldType::String, true, {}},
                        {"Amount__c", emu::FieldType::Double, true, {}}});
}

eventbus::v1::ConsumerEvent consumerEvent(const std::string &payload)
{
    eventbus::v1::ConsumerEvent ev;
    ev.set_replay_id(std::string("\x00\x00\x00\x00\x00\x00\x00\x2a\x01\x02", 10));
    ev.mutable_event()->set_id("7c5b1d5e-8d4e-4a59-9d35-0f3c0e2f3a11");
    ev.mutable_event()->set_schema_id("lMLTgyyxVaWQiYWEQLqDVA");
    ev.mutable_event()->set_payload(payload);
    return ev;
}

sfk::config::Channel channel(const std::string &name, sfk::config::ValueFormat format)
{
    sfk::config::Channel c;
    c.name = name;
    c.transport = sfk::config::Transport::Pubsub;
    c.value_format = format;
    return c;
}

std::string orderPayload(const std::string &number, double amount)
{
    AvroEncoder e(order().json());
    e.setLong("CreatedDate", 1700000000123, -1);
    e.setString("CreatedById", "005000000000001AAA", -1);
    e.setString("Order_Number__c", number);
    e.setDouble("Amount__c", amount);
    return e.bytes();
}

} // namespace

TEST_CASE("json: the record as the value; headers, creation time and a /payload/ pointer key as over CometD")
{
    auto schema = parsed(order().json());
    auto ev = consumerEvent(orderPayload("A-1", 42.5));
    auto ch = channel("/event/Order__e", sfk::config::ValueFormat::Json);
    ch.key.kind = sfk::config::KeyPolicy::Kind::Pointer;
    ch.key.pointer = "/payload/Order_Number__c";
    EventValues values;
    sfk::decode::Batch batch;
    sfk::decode::Event out;
    std::string error;
    REQUIRE_MESSAGE(values.build(ch, *schema, ev, batch, out, error), error);
    CHECK(out.data ==
          R"({"CreatedDate":1700000000123,"CreatedById":"005000000000001AAA","Order_Number__c":"A-1","Amount__c":42.5})");
    CHECK(out.channel == "/event/Order__e");
    CHECK(out.opaque_replay_id == ev.replay_id());
    CHECK(out.event_uuid == "7c5b1d5e-8d4e-4a59-9d35-0f3c0e2f3a11");
    CHECK(out.schema == "lMLTgyyxVaWQiYWEQLqDVA");
    CHECK(out.timestamp_ms == 1700000000123);
    CHECK(out.created_date == "2023-11-14T22:13:20.123Z");
    CHECK(out.key == std::optional<std::string_view>("A-1"));
}

TEST_CASE("cometd_compatible: CometD's data object without event.replayId; avro: the payload unchanged")
{
    auto schema = parsed(order().json());
    const std::string payload = orderPayload("A-2", 7);
    auto ev = consumerEvent(payload);
    EventValues values;
    sfk::decode::Batch batch;
    sfk::decode::Event out;
    std::string error;
    REQUIRE_MESSAGE(values.build(channel("/event/Order__e", sfk::config::ValueFormat::CometdCompatible), *schema, ev,
                                 batch, out, error),
                    error);
    CHECK(out.data == R"({"schema":"lMLTgyyxVaWQiYWEQLqDVA","payload":{"CreatedDate":"2023-11-14T22:13:20.123Z",)"
                      R"("CreatedById":"005000000000001AAA","Order_Number__c":"A-2","Amount__c":7.0},)"
                      R"("event":{"EventUuid":"7c5b1d5e-8d4e-4a59-9d35-0f3c0e2f3a11"}})");
    CHECK(out.timestamp_ms == 1700000000123);
    CHECK(out.created_date == "2023-11-14T22:13:20.123Z");
    CHECK_FALSE(out.key.has_value());   // record_id: platform events have none

    REQUIRE(values.build(channel("/event/Order__e", sfk::config::ValueFormat::Avro), *schema, ev, batch, out, error));
    CHECK(out.data == payload);
    CHECK(out.schema == "lMLTgyyxVaWQiYWEQLqDVA");
}

TEST_CASE("a change event: change type, entity, commit time and the first record id as key")
{
    emu::Schema shape("AccountChangeEvent", emu::RecordKind::ChangeEvent,
                      {{"ChangeEventHeader", emu::FieldType::Record, false, {}},
                       {"Name", emu::FieldType::String, true, {}}});
    auto schema = parsed(shape.json());
    AvroEncoder e(shape.json());
    setChangeEventHeader(e, {"0x02"}, {}, {});   // Name changed
    e.setString("Name", "Acme");
    auto ev = consumerEvent(e.bytes());

    EventValues values;
    sfk::decode::Batch batch;
    sfk::decode::Event out;
    std::string error;
    REQUIRE_MESSAGE(values.build(channel("/data/AccountChangeEvent", sfk::config::ValueFormat::CometdCompatible),
                                 *schema, ev, batch, out, error),
                    error);
    CHECK(out.change_type == "UPDATE");
    CHECK(out.entity == "Account");
    CHECK(out.timestamp_ms == 1714979289000);
    CHECK(out.created_date == "1714979289000");
    CHECK(out.key == std::optional<std::string_view>("001000000000001AAA"));
    CHECK(out.data.ends_with(R"("Name":"Acme"},"event":{}})"));
}

TEST_CASE("invalid UTF-8, NaN and a truncated payload are refused whole, with an error for the dead letter")
{
    auto schema = parsed(order().json());
    auto ch = channel("/event/Order__e", sfk::config::ValueFormat::Json);
    EventValues values;
    sfk::decode::Batch batch;
    sfk::decode::Event out;
    std::string error;
    CHECK_FALSE(values.build(ch, *schema, consumerEvent(orderPayload("bad \xC3\x28 text", 1)), batch, out, error));
    CHECK(error.find("UTF-8") != std::string::npos);
    error.clear();
    CHECK_FALSE(values.build(ch, *schema, consumerEvent(orderPayload("A-3", std::nan(""))), batch, out, error));
    CHECK_FALSE(error.empty());
    error.clear();
    std::string truncated = orderPayload("A-4", 1);
    truncated.resize(truncated.size() - 3);
    CHECK_FALSE(values.build(ch, *schema, consumerEvent(truncated), batch, out, error));
    CHECK_FALSE(error.empty());
    // Nothing of a refused event is left for the next one.
    REQUIRE(values.build(ch, *schema, consumerEvent(orderPayload("A-5", 2)), batch, out, error));
    CHECK(out.data.find("\"A-5\"") != std::string::npos);
}
