#pragma once
// Avro schemas of sfemu's Pub/Sub topics, shaped as Salesforce shapes them
// (record in namespace com.sforce.eventbus, custom fields as nullable unions
// with a null default, CDC events led by a ChangeEventHeader record), and the
// codec between the channel log's JSON payloads and Avro binary.
//
// sfemu has no event definitions: a record's fields are the ones its events
// have carried so far. An event with a field not yet known makes a new
// schema version (the old fields keep their positions, so bitmaps stay
// valid) with a new id; every version stays retrievable by its id.

#include <avro.h>
#include <simdjson.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sfk::emu::pubsub {

enum class FieldType { String, Long, Double, Boolean, DateTime, StringArray, Record };

struct FieldDef {
    std::string name;
    FieldType type = FieldType::String;
    bool nullable = true;
    std::vector<FieldDef> children; // Record (a compound field such as Name or an address)
};

enum class RecordKind { PlatformEvent, ChangeEvent };

// One immutable schema version.
class Schema {
public:
    Schema(std::string record_name, RecordKind kind, std::vector<FieldDef> fields);
    ~Schema();
    Schema(const Schema &) = delete;
    Schema &operator=(const Schema &) = delete;

    const std::string &id() const { return id_; }
    const std::string &json() const { return json_; }
    const std::string &recordName() const { return record_name_; }
    RecordKind kind() const { return kind_; }
    const std::vector<FieldDef> &fields() const { return fields_; }

    // Encodes a channel log payload (the "payload" object of a Bayeux event)
    // as Avro binary. CDC: changedFields/nulledFields/diffFields given as
    // field names become Salesforce's hex bitmaps; fields absent are null.
    std::string encode(const simdjson::dom::object &payload) const;
    // Decodes Avro binary written with this schema into a JSON object that
    // the channel log accepts (dates as ISO text, as CometD carries them).
    // Returns nullopt (with why) when the bytes do not fit the schema.
    std::optional<std::string> decodeToJson(const std::string &bytes, std::string &why) const;

private:
    std::string record_name_;
    RecordKind kind_;
    std::vector<FieldDef> fields_;
    std::string json_;
    std::string id_;
    avro_schema_t schema_ = nullptr;
    avro_value_iface_t *iface_ = nullptr;
};
using SchemaPtr = std::shared_ptr<const Schema>;

// The schema id Salesforce-style: 22 base64url characters (a 128-bit digest).
std::string schemaFingerprint(const std::string &schema_json);

// Field names -> Salesforce bitmap strings ("0x..." for top-level fields,
// "<index>-0x..." per compound field for its children, "Name.FirstName").
std::vector<std::string> fieldBitmaps(const std::vector<FieldDef> &fields,
                                      const std::vector<std::string> &names);
// And back (for tests and the README example).
std::vector<std::string> bitmapFieldNames(const std::vector<FieldDef> &fields,
                                          const std::vector<std::string> &bitmaps);

// The versions of every record of one org, and the lookup by id.
class SchemaStore {
public:
    // The schema an event of this record must be written with: the newest
    // version when it covers the payload's fields, else a new version.
    SchemaPtr forPayload(const std::string &record_name, RecordKind kind,
                         const simdjson::dom::object &payload);
    // The newest version of a record (the first one built when none yet).
    SchemaPtr current(const std::string &record_name, RecordKind kind);
    SchemaPtr byId(const std::string &id) const;
    // Adds a field to a record's newest version (the admin's "change a schema").
    SchemaPtr addField(const std::string &record_name, RecordKind kind, const std::string &field,
                       FieldType type);

private:
    SchemaPtr add(const std::string &record_name, RecordKind kind, std::vector<FieldDef> fields);
    std::map<std::string, std::vector<SchemaPtr>> versions_;
    std::map<std::string, SchemaPtr> by_id_;
};

} // namespace sfk::emu::pubsub
