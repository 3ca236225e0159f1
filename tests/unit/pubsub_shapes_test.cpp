// The decoder against sfemu's own pieces, without the network: events
// rendered by sfemu's channel log (what its CometD side delivers) and encoded
// by sfemu's Pub/Sub schemas (what its Subscribe sends) must decode in
// cometd_compatible mode to the CometD payload's exact bytes; sfemu's bitmap
// encoder and our expansion agree.
#include <doctest/doctest.h>

#include "channel_log.h"
#include "pubsub/avro_json.h"
#include "pubsub/bitmap.h"
#include "schema.h"

using namespace sfk::pubsub;
namespace emu = sfk::emu;

namespace {

// The "payload" object of a rendered Bayeux event, byte for byte.
std::string cometdPayload(const std::string &event_json)
{
    simdjson::ondemand::parser parser;
    simdjson::padded_string padded(event_json);
    auto doc = parser.iterate(padded);
    simdjson::ondemand::object payload = doc["data"]["payload"].get_object().value();
    std::string_view raw = payload.raw_json().value();
    return std::string(raw);
}

struct Rendered {
    std::string payload;      // CometD
    std::string schema_json;  // Pub/Sub
    std::string avro;         // Pub/Sub
};

// Appends each payload to a channel log and encodes the rendered event as
// sfemu's Pub/Sub side does (emulator/pubsub/core.cpp).
std::vector<Rendered> render(const std::string &channel, const std::string &record, emu::pubsub::RecordKind kind,
                             const std::vector<std::string> &payloads)
{
    auto family = emu::channelFamily(channel);
    REQUIRE(family);
    emu::ChannelLog log(channel, *family, 3600000, 1000, 7);
    emu::pubsub::SchemaStore store;
    simdjson::dom::parser p;
    for (const auto &text : payloads)
        log.append(p.parse(text).value(), 1714979289000);
    std::vector<emu::EventPtr> events;
    log.collectAfter(0, 100, events);
    std::vector<Rendered> out;
    for (const auto &ev : events) {
        simdjson::dom::parser q;
        simdjson::dom::object payload = q.parse(ev->json)["data"]["payload"].get_object().value();
        auto schema = store.forPayload(record, kind, payload);
        out.push_back({cometdPayload(ev->json), schema->json(), schema->encode(payload)});
    }
    return out;
}

std::string decode(const Rendered &r, JsonMode mode)
{
    std::string error, out;
    auto schema = WriterSchema::parse(r.schema_json, error);
    REQUIRE_MESSAGE(schema, error);
    REQUIRE_MESSAGE(decodeToJson(*schema, r.avro, mode, out, error), error);
    return out;
}

} // namespace

TEST_CASE("platform events: cometd_compatible output is the CometD payload, byte for byte")
{
    auto events = render("/event/Order__e", "Order__e", emu::pubsub::RecordKind::PlatformEvent,
                         {R"({"CreatedDate":"2024-05-06T07:08:09.123Z","CreatedById":"005000000000002AAA",)"
                          R"("Text__c":"h\u00e9 \"x\" \\ \u0001\t\u007f/","Count__c":7,"Ratio__c":12.5,"Big__c":1e+20,)"
                          R"("When__c":"2024-01-02T03:04:05.678Z","Tags__c":["a","b"],"Flag__c":true})",
                          // sfemu adds CreatedDate and CreatedById; absent fields are null over Pub/Sub.
                          R"({"Count__c":8})",
                          R"({"CreatedDate":"2024-05-06T07:08:10.000Z","CreatedById":"005000000000002AAA",)"
                          R"("Text__c":"","Ratio__c":0.1,"Flag__c":false,"New__c":"added"})"});
    REQUIRE(events.size() == 3);
    for (const auto &e : events) {
        CAPTURE(e.payload);
        CHECK(decode(e, JsonMode::CometdCompatible) == e.payload);
    }
    // json mode: every field, dates as epoch ms.
    CHECK(decode(events[1], JsonMode::Json).find(R"("Text__c":null,"Count__c":8,)") != std::string::npos);
    CHECK(decode(events[0], JsonMode::Json).find(R"("When__c":1704164645678)") != std::string::npos);
}

TEST_CASE("change events: cometd_compatible output is the CometD payload; json expands bitmaps to names")
{
    auto events = render(
        "/data/AccountChangeEvent", "AccountChangeEvent", emu::pubsub::RecordKind::ChangeEvent,
        {R"({"ChangeEventHeader":{"changeType":"CREATE","changedFields":["Industry","Phone","Name.FirstName","Name.LastName"]},)"
         R"("Name":{"FirstName":"Ann","LastName":"Lee"},"Industry":"Energy","Phone":"555",)"
         R"("LastModifiedDate":"2024-05-06T07:08:09.000Z"})",
         R"({"ChangeEventHeader":{"entityName":"Account","recordIds":["001000000000009AAA"],"changeType":"UPDATE",)"
         R"("changeOrigin":"com/salesforce/api/soap/62.0","transactionKey":"tk","sequenceNumber":2,)"
         R"("commitTimestamp":1714979290000,"commitNumber":42,"commitUser":"005000000000003AAA",)"
         R"("changedFields":["LastModifiedDate","BillingAddress.City"]},)"
         R"("LastModifiedDate":"2024-05-06T07:08:10.000Z","BillingAddress":{"City":"Paris"}})",
         // A date-time inside a compound field (its doc marks it as at top level).
         R"({"ChangeEventHeader":{"changeType":"UPDATE","changedFields":["BillingAddress.Since"]},)"
         R"("BillingAddress":{"Since":"2020-02-29T12:00:00.000Z"}})"});
    REQUIRE(events.size() == 3);
    for (const auto &e : events) {
        CAPTURE(e.payload);
        CHECK(decode(e, JsonMode::CometdCompatible) == e.payload);
    }
    std::string json = decode(events[1], JsonMode::Json);
    CHECK(json.find(R"("nulledFields":[],"diffFields":[],"changedFields":["LastModifiedDate","BillingAddress.City"]})") !=
          std::string::npos);
    CHECK(json.find(R"("Name":null,"Industry":null,"Phone":null,"LastModifiedDate":1714979290000,)"
                    R"("BillingAddress":{"City":"Paris"}})") != std::string::npos);
}

TEST_CASE("bitmaps: sfemu's encoder and our expansion agree, top-level and nested, past one byte")
{
    std::vector<emu::pubsub::FieldDef> fields{{"ChangeEventHeader", emu::pubsub::FieldType::Record, false, {}}};
    for (int i = 1; i < 20; ++i)
        fields.push_back({"F" + std::to_string(i), emu::pubsub::FieldType::String, true, {}});
    fields[3] = {"Name", emu::pubsub::FieldType::Record, true,
                 {{"FirstName", emu::pubsub::FieldType::String, true, {}},
                  {"LastName", emu::pubsub::FieldType::String, true, {}}}};
    emu::pubsub::Schema shape("XChangeEvent", emu::pubsub::RecordKind::ChangeEvent, fields);
    std::string error;
    auto schema = WriterSchema::parse(shape.json(), error);
    REQUIRE_MESSAGE(schema, error);
    for (std::vector<std::string> names : std::vector<std::vector<std::string>>{
             {"F1", "F2"}, {"F19"}, {"F8", "F9", "F16"}, {"Name.FirstName"}, {"F1", "Name.LastName"}, {}}) {
        auto bitmaps = emu::pubsub::fieldBitmaps(fields, names);
        CAPTURE(bitmaps.empty() ? "" : bitmaps[0]);
        std::vector<std::string> back;
        for (const auto &b : bitmaps)
            REQUIRE_MESSAGE(expandBitmap(schema->root(), b, back, error), error);
        CHECK(back == names);
        CHECK(back == emu::pubsub::bitmapFieldNames(fields, bitmaps));
    }
    std::vector<std::string> names;
    REQUIRE(expandBitmap(schema->root(), "0x06", names, error));
    CHECK(names == std::vector<std::string>{"F1", "F2"});
    names.clear();
    REQUIRE(expandBitmap(schema->root(), "3-0x01", names, error));
    CHECK(names == std::vector<std::string>{"Name.FirstName"});
    names.clear();
    REQUIRE(expandBitmap(schema->root(), "0x0100", names, error)); // bit 8, upper and lower case alike
    REQUIRE(expandBitmap(schema->root(), "0x0a", names, error));
    CHECK(names == std::vector<std::string>{"F8", "F1", "Name"});
    // An empty top-level element (only nested fields listed) names nothing.
    names.clear();
    REQUIRE(expandBitmap(schema->root(), "", names, error));
    REQUIRE(expandBitmap(schema->root(), "0x", names, error));
    REQUIRE(expandBitmap(schema->root(), "0x00", names, error));
    REQUIRE(expandBitmap(schema->root(), "3-0x02", names, error));
    CHECK(names == std::vector<std::string>{"Name.LastName"});
}
