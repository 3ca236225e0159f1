#include "pubsub/writer_schema.h"

#include <simdjson.h>

#include <algorithm>
#include <map>

#include "decode/json_escape.h"

namespace sfk::pubsub {

namespace {

bool endsWith(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Walks avro-c's schema and the schema's JSON text side by side: avro-c
// gives types and resolved names, the JSON gives the field docs it drops.
// Named types are built once (a recursive record points back at itself).
class Builder {
public:
    explicit Builder(std::deque<SchemaNode> &nodes) : nodes_(nodes) {}

    SchemaNode *build(avro_schema_t schema, const simdjson::dom::element *json)
    {
        if (is_avro_link(schema))
            schema = avro_schema_link_target(schema);
        auto known = named_.find(schema);
        if (known != named_.end())
            return known->second;
        SchemaNode &node = nodes_.emplace_back();
        node.type = avro_typeof(schema);
        if (is_avro_named_type(schema))
            named_[schema] = &node;
        switch (node.type) {
        case AVRO_RECORD: buildRecord(node, schema, json); break;
        case AVRO_ENUM:
            for (int i = 0; i < avro_schema_enum_number_of_symbols(schema); ++i) {
                std::string quoted;
                decode::appendJsonString(quoted, avro_schema_enum_get(schema, i));
                node.symbols.push_back(std::move(quoted));
            }
            node.min_bytes = 1;
            break;
        case AVRO_FIXED:
            node.fixed_size = avro_schema_fixed_size(schema);
            node.min_bytes = static_cast<size_t>(std::max<int64_t>(node.fixed_size, 0));
            break;
        case AVRO_UNION: {
            simdjson::dom::array branches;
            bool has_json = json && json->get_array().get(branches) == simdjson::SUCCESS;
            for (size_t i = 0; i < avro_schema_union_size(schema); ++i) {
                simdjson::dom::element b;
                bool found = has_json && branches.at(i).get(b) == simdjson::SUCCESS;
                node.branches.push_back(build(avro_schema_union_branch(schema, static_cast<int>(i)),
                                              found ? &b : nullptr));
            }
            node.min_bytes = 1;
            break;
        }
        case AVRO_ARRAY:
        case AVRO_MAP: {
            const char *key = node.type == AVRO_ARRAY ? "items" : "values";
            simdjson::dom::element inner;
            bool found = json && (*json)[key].get(inner) == simdjson::SUCCESS;
            node.items = build(node.type == AVRO_ARRAY ? avro_schema_array_items(schema)
                                                       : avro_schema_map_values(schema),
                               found ? &inner : nullptr);
            node.min_bytes = 1;
            break;
        }
        case AVRO_FLOAT: node.min_bytes = 4; break;
        case AVRO_DOUBLE: node.min_bytes = 8; break;
        case AVRO_NULL: node.min_bytes = 0; break;
        default: node.min_bytes = 1; break; // string, bytes, int, long, boolean
        }
        return &node;
    }

private:
    void buildRecord(SchemaNode &node, avro_schema_t schema, const simdjson::dom::element *json)
    {
        simdjson::dom::array fields;
        bool has_json = json && (*json)["fields"].get_array().get(fields) == simdjson::SUCCESS;
        size_t n = avro_schema_record_size(schema);
        node.fields.resize(n);
        for (size_t i = 0; i < n; ++i) {
            SchemaField &f = node.fields[i];
            f.name = avro_schema_record_field_name(schema, static_cast<int>(i));
            decode::appendJsonString(f.key, f.name);
            f.key += ':';
            simdjson::dom::element field_json, type_json;
            const simdjson::dom::element *type_ptr = nullptr;
            if (has_json && fields.at(i).get(field_json) == simdjson::SUCCESS) {
                std::string_view doc;
                if (field_json["doc"].get_string().get(doc) == simdjson::SUCCESS)
                    f.date_time = endsWith(doc, ":DateTime");
                if (field_json["type"].get(type_json) == simdjson::SUCCESS)
                    type_ptr = &type_json;
            }
            f.node = build(avro_schema_record_field_get_by_index(schema, static_cast<int>(i)), type_ptr);
            node.min_bytes += f.node->min_bytes;
        }
    }

    std::deque<SchemaNode> &nodes_;
    std::map<avro_schema_t, SchemaNode *> named_;
};

} // namespace

const SchemaNode *recordOf(const SchemaNode &node)
{
    if (node.type == AVRO_RECORD)
        return &node;
    if (node.type == AVRO_UNION)
        for (const SchemaNode *b : node.branches)
            if (b->type == AVRO_RECORD)
                return b;
    return nullptr;
}

std::shared_ptr<const WriterSchema> WriterSchema::parse(std::string_view json, std::string &error)
{
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto rc = parser.parse(json.data(), json.size()).get(doc); rc != simdjson::SUCCESS) {
        error = std::string("schema is not JSON: ") + simdjson::error_message(rc);
        return nullptr;
    }
    std::shared_ptr<WriterSchema> out(new WriterSchema());
    if (avro_schema_from_json_length(json.data(), json.size(), &out->schema_) != 0) {
        out->schema_ = nullptr;
        error = std::string("schema is not an Avro schema: ") + avro_strerror();
        return nullptr;
    }
    if (!is_avro_record(out->schema_)) {
        error = "schema is not an Avro record";
        return nullptr;
    }
    out->iface_ = avro_generic_class_from_schema(out->schema_);
    if (!out->iface_) {
        error = std::string("schema has no avro-c value class: ") + avro_strerror();
        return nullptr;
    }
    out->root_ = Builder(out->nodes_).build(out->schema_, &doc);
    for (const SchemaField &f : out->root_->fields)
        if (f.name == "ChangeEventHeader" && f.node->type == AVRO_RECORD)
            out->header_ = &f;
    return out;
}

WriterSchema::~WriterSchema()
{
    if (iface_)
        avro_value_iface_decref(iface_);
    if (schema_)
        avro_schema_decref(schema_);
}

} // namespace sfk::pubsub
