// Fuzzes the Pub/Sub Avro decoder (core/pubsub/avro_json.*): the first byte
// picks one of the writer schemas below (a platform and a change event built
// by sfemu's own schema code, every Avro type, a recursive record), the
// second the output mode, the rest is the payload. Beyond crashes, leaks and sanitizer reports: a
// decoded payload is one JSON object simdjson accepts (so valid UTF-8 too),
// decoding is deterministic, and a payload the encoding check passes is one
// avro-c reads (the two never disagree).
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "pubsub/avro_json.h"
#include "pubsub/schema.h" // sfemu's (emulator/pubsub/)

using namespace sfk;

namespace {

std::vector<std::string> schemaTexts()
{
    using emu::pubsub::FieldType;
    emu::pubsub::Schema platform("Demo__e", emu::pubsub::RecordKind::PlatformEvent,
                                 {{"CreatedDate", FieldType::DateTime, false, {}},
                                  {"CreatedById", FieldType::String, false, {}},
                                  {"Text__c", FieldType::String, true, {}},
                                  {"Count__c", FieldType::Long, true, {}},
                                  {"Ratio__c", FieldType::Double, true, {}},
                                  {"When__c", FieldType::DateTime, true, {}},
                                  {"Tags__c", FieldType::StringArray, true, {}}});
    emu::pubsub::Schema change("AccountChangeEvent", emu::pubsub::RecordKind::ChangeEvent,
                               {{"ChangeEventHeader", FieldType::Record, false, {}},
                                {"Name", FieldType::Record, true,
                                 {{"FirstName", FieldType::String, true, {}},
                                  {"LastName", FieldType::String, true, {}}}},
                                {"Industry", FieldType::String, true, {}},
                                {"LastModifiedDate", FieldType::DateTime, true, {}},
                                {"BillingAddress", FieldType::Record, true, {{"City", FieldType::String, true, {}}}}});
    return {
        platform.json(),
        change.json(),
        R"({"type":"record","name":"All","fields":[{"name":"i","type":"int"},{"name":"f","type":"float"},)"
        R"({"name":"b","type":"boolean"},{"name":"by","type":"bytes"},)"
        R"({"name":"fx","type":{"type":"fixed","name":"Four","size":4}},)"
        R"({"name":"m","type":{"type":"map","values":["null","double"]}},)"
        R"({"name":"a","type":{"type":"array","items":"null"}},)"
        R"({"name":"u","type":["null","string","long","Four"]}]})",
        R"({"type":"record","name":"L","fields":[{"name":"v","type":"string"},{"name":"next","type":["null","L"]}]})",
    };
}

const std::vector<pubsub::WriterSchemaPtr> &schemas()
{
    static const std::vector<pubsub::WriterSchemaPtr> parsed = [] {
        std::vector<pubsub::WriterSchemaPtr> out;
        for (const auto &text : schemaTexts()) {
            std::string error;
            out.push_back(pubsub::WriterSchema::parse(text, error));
            FUZZ_CHECK(out.back() != nullptr);
        }
        return out;
    }();
    return parsed;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const auto &all = schemas();
    const pubsub::WriterSchema &schema = *all[data[0] % all.size()];
    auto mode = data[1] & 1 ? pubsub::JsonMode::CometdCompatible : pubsub::JsonMode::Json;
    std::string_view payload(reinterpret_cast<const char *>(data) + 2, size - 2);

    std::string out, error;
    bool ok = pubsub::decodeToJson(schema, payload, mode, out, error);
    std::string again, error_again;
    FUZZ_CHECK(pubsub::decodeToJson(schema, payload, mode, again, error_again) == ok);
    if (!ok) {
        FUZZ_CHECK(!error.empty());
        FUZZ_CHECK(error == error_again);
        FUZZ_CHECK(error.rfind("avro-c: payload does not decode", 0) != 0);
        return 0;
    }
    FUZZ_CHECK(out == again);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    FUZZ_CHECK(parser.parse(out).get(root) == simdjson::SUCCESS);
    FUZZ_CHECK(root.is_object());
    return 0;
}
