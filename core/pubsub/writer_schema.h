#pragma once
// A Pub/Sub writer schema (the JSON text GetSchema returns) parsed once:
// avro-c's schema and value class for the binary decoding, plus a tree of
// what the JSON writer needs and avro-c does not keep (field docs: Salesforce
// marks date-time fields "...:DateTime"; field names pre-quoted; where a
// change event's ChangeEventHeader is). Immutable once built, so one parsed
// schema is shared by every thread that decodes with it.

#include <avro.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sfk::pubsub {

struct SchemaNode;

struct SchemaField {
    std::string name;
    std::string key;              // "name": (quoted JSON and the colon)
    const SchemaNode *node = nullptr;
    bool date_time = false;       // doc ends with ":DateTime": epoch milliseconds
};

struct SchemaNode {
    avro_type_t type = AVRO_NULL;
    std::vector<SchemaField> fields;           // record
    std::vector<std::string> symbols;          // enum, each a quoted JSON string
    std::vector<const SchemaNode *> branches;  // union
    const SchemaNode *items = nullptr;         // array items, map values
    int64_t fixed_size = 0;                    // fixed
    // The fewest bytes one value takes (0: null, an empty record, or a
    // recursive record seen again while it was being built).
    size_t min_bytes = 0;
};

class WriterSchema {
public:
    // Nullptr with `error` when the text is not JSON, not an Avro schema
    // avro-c accepts, or not a record.
    static std::shared_ptr<const WriterSchema> parse(std::string_view json, std::string &error);

    WriterSchema(const WriterSchema &) = delete;
    WriterSchema &operator=(const WriterSchema &) = delete;
    ~WriterSchema();

    const SchemaNode &root() const { return *root_; }
    avro_value_iface_t *valueClass() const { return iface_; }
    // The ChangeEventHeader record field of a change event, or nullptr.
    const SchemaField *changeEventHeader() const { return header_; }

private:
    WriterSchema() = default;

    avro_schema_t schema_ = nullptr;
    avro_value_iface_t *iface_ = nullptr;
    std::deque<SchemaNode> nodes_;
    const SchemaNode *root_ = nullptr;
    const SchemaField *header_ = nullptr;
};
using WriterSchemaPtr = std::shared_ptr<const WriterSchema>;

// The record a field holds: its node, or the record branch of a
// ["null", record] union; nullptr for anything else.
const SchemaNode *recordOf(const SchemaNode &node);

} // namespace sfk::pubsub
