#include "schema.h"

#include <openssl/evp.h>

#include <stdexcept>

#include "util.h"

namespace sfk::emu::pubsub {

namespace {

constexpr const char *kNamespace = "com.sforce.eventbus";
const char *const kChangeTypes[] = {"CREATE",     "UPDATE",     "DELETE",       "UNDELETE",
                                    "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE",   "GAP_UNDELETE",
                                    "GAP_OVERFLOW", "SNAPSHOT"};

// The header every change event starts with (as Salesforce defines it).
const char *const kChangeEventHeader =
    R"({"name":"ChangeEventHeader","type":{"type":"record","name":"ChangeEventHeader",)"
    R"("fields":[{"name":"entityName","type":"string"},)"
    R"({"name":"recordIds","type":{"type":"array","items":"string"}},)"
    R"({"name":"changeType","type":{"type":"enum","name":"ChangeType","namespace":"com.sforce.eventbus",)"
    R"("symbols":["CREATE","UPDATE","DELETE","UNDELETE","GAP_CREATE","GAP_UPDATE","GAP_DELETE",)"
    R"("GAP_UNDELETE","GAP_OVERFLOW","SNAPSHOT"]}},)"
    R"({"name":"changeOrigin","type":"string"},{"name":"transactionKey","type":"string"},)"
    R"({"name":"sequenceNumber","type":"int"},{"name":"commitTimestamp","type":"long"},)"
    R"({"name":"commitNumber","type":"long"},{"name":"commitUser","type":"string"},)"
    R"({"name":"nulledFields","type":{"type":"array","items":"string"}},)"
    R"({"name":"diffFields","type":{"type":"array","items":"string"}},)"
    R"({"name":"changedFields","type":{"type":"array","items":"string"}}]},"doc":"Data:EventHeader"})";

std::string fieldJson(const FieldDef &f);

std::string plainType(const FieldDef &f)
{
    switch (f.type) {
    case FieldType::String: return "\"string\"";
    case FieldType::Long: return "\"long\"";
    case FieldType::Double: return "\"double\"";
    case FieldType::Boolean: return "\"boolean\"";
    case FieldType::DateTime: return "\"long\"";
    case FieldType::StringArray: return R"({"type":"array","items":"string"})";
    case FieldType::Record: {
        std::string out = "{\"type\":\"record\",\"name\":" + jsonString(f.name) + ",\"fields\":[";
        for (size_t i = 0; i < f.children.size(); ++i) {
            if (i)
                out += ',';
            // Children are nullable fields like any other (a date-time child
            // carries its doc too, as the decoder reads dates by it).
            out += fieldJson(f.children[i]);
        }
        return out + "]}";
    }
    }
    return "\"string\"";
}

std::string fieldJson(const FieldDef &f)
{
    std::string out = "{\"name\":" + jsonString(f.name) + ",\"type\":";
    out += f.nullable ? "[\"null\"," + plainType(f) + "]" : plainType(f);
    if (f.type == FieldType::DateTime)
        out += ",\"doc\":\"Data:DateTime\"";
    if (f.nullable)
        out += ",\"default\":null";
    return out + "}";
}

FieldType inferType(const simdjson::dom::element &v)
{
    using simdjson::dom::element_type;
    switch (v.type()) {
    case element_type::INT64:
    case element_type::UINT64: return FieldType::Long;
    case element_type::DOUBLE: return FieldType::Double;
    case element_type::BOOL: return FieldType::Boolean;
    case element_type::ARRAY: return FieldType::StringArray;
    case element_type::OBJECT: return FieldType::Record;
    case element_type::STRING:
        return parseIsoTime(std::string_view(v.get_string().value())) ? FieldType::DateTime
                                                                       : FieldType::String;
    default: return FieldType::String;
    }
}

// Adds the payload's unknown fields (and unknown children of compound
// fields) to `fields`; true when anything was added.
bool merge(std::vector<FieldDef> &fields, const simdjson::dom::object &payload,
           const std::vector<std::string> &skip)
{
    bool changed = false;
    for (auto field : payload) {
        std::string name(field.key);
        bool skipped = false;
        for (auto &s : skip)
            skipped = skipped || s == name;
        if (skipped)
            continue;
        FieldDef *known = nullptr;
        for (auto &f : fields)
            if (f.name == name)
                known = &f;
        if (field.value.is_null() && !known) {
            fields.push_back({name, FieldType::String, true, {}});
            changed = true;
            continue;
        }
        if (!known) {
            FieldDef def{name, inferType(field.value), true, {}};
            if (def.type == FieldType::Record)
                merge(def.children, field.value.get_object().value(), {});
            fields.push_back(std::move(def));
            changed = true;
        } else if (known->type == FieldType::Record && field.value.is_object()) {
            changed = merge(known->children, field.value.get_object().value(), {}) || changed;
        }
    }
    return changed;
}

void check(int rc, const char *what)
{
    if (rc != 0)
        throw std::runtime_error(std::string("avro: ") + what + ": " + avro_strerror());
}

std::string minified(const simdjson::dom::element &v) { return simdjson::minify(v); }

void setPlain(avro_value_t &slot, const FieldDef &def, const simdjson::dom::element *v);

void setField(avro_value_t &slot, const FieldDef &def, const simdjson::dom::element *v)
{
    if (!def.nullable) {
        setPlain(slot, def, v);
        return;
    }
    avro_value_t branch;
    bool fits = v && !v->is_null();
    if (fits) {
        FieldType t = inferType(*v);
        // A value of another JSON type than the field's is written as null,
        // except numbers and text where the conversion is lossless enough.
        fits = t == def.type || def.type == FieldType::String ||
               (def.type == FieldType::Double && t == FieldType::Long) ||
               (def.type == FieldType::DateTime && t == FieldType::Long) ||
               (def.type == FieldType::Long && t == FieldType::Double);
    }
    if (!fits) {
        check(avro_value_set_branch(&slot, 0, &branch), "null branch");
        check(avro_value_set_null(&branch), "null");
        return;
    }
    check(avro_value_set_branch(&slot, 1, &branch), "value branch");
    setPlain(branch, def, v);
}

void setPlain(avro_value_t &slot, const FieldDef &def, const simdjson::dom::element *v)
{
    switch (def.type) {
    case FieldType::String: {
        std::string text;
        if (v && v->is_string())
            text = std::string(v->get_string().value());
        else if (v && !v->is_null())
            text = minified(*v);
        check(avro_value_set_string(&slot, text.c_str()), "string");
        break;
    }
    case FieldType::Long:
    case FieldType::DateTime: {
        int64_t n = 0;
        if (v) {
            if (v->is_int64())
                n = v->get_int64().value();
            else if (v->is_uint64())
                n = static_cast<int64_t>(v->get_uint64().value());
            else if (v->is_double())
                n = static_cast<int64_t>(v->get_double().value());
            else if (v->is_string())
                n = parseIsoTime(std::string_view(v->get_string().value())).value_or(0);
        }
        check(avro_value_set_long(&slot, n), "long");
        break;
    }
    case FieldType::Double: {
        double d = 0;
        if (v && v->is_double())
            d = v->get_double().value();
        else if (v && v->is_int64())
            d = static_cast<double>(v->get_int64().value());
        check(avro_value_set_double(&slot, d), "double");
        break;
    }
    case FieldType::Boolean:
        check(avro_value_set_boolean(&slot, v && v->is_bool() && v->get_bool().value()), "boolean");
        break;
    case FieldType::StringArray: {
        simdjson::dom::array arr;
        if (v && v->get_array().get(arr) == simdjson::SUCCESS)
            for (auto item : arr) {
                avro_value_t elem;
                check(avro_value_append(&slot, &elem, nullptr), "append");
                std::string text = item.is_string() ? std::string(item.get_string().value()) : minified(item);
                check(avro_value_set_string(&elem, text.c_str()), "array string");
            }
        break;
    }
    case FieldType::Record: {
        simdjson::dom::object obj;
        bool has = v && v->get_object().get(obj) == simdjson::SUCCESS;
        for (size_t i = 0; i < def.children.size(); ++i) {
            avro_value_t child;
            check(avro_value_get_by_index(&slot, i, &child, nullptr), "child");
            simdjson::dom::element cv;
            bool found = has && obj[def.children[i].name].get(cv) == simdjson::SUCCESS;
            setField(child, def.children[i], found ? &cv : nullptr);
        }
        break;
    }
    }
}

std::vector<std::string> namesOf(const simdjson::dom::object &header, const char *key)
{
    std::vector<std::string> out;
    simdjson::dom::array arr;
    if (header[key].get_array().get(arr) == simdjson::SUCCESS)
        for (auto item : arr)
            if (item.is_string())
                out.emplace_back(item.get_string().value());
    return out;
}

void appendAvroJson(std::string &out, avro_value_t &v, const FieldDef &def);

void appendValue(std::string &out, avro_value_t &v, const FieldDef &def)
{
    switch (def.type) {
    case FieldType::String: {
        const char *s = nullptr;
        size_t n = 0;
        check(avro_value_get_string(&v, &s, &n), "get string");
        appendJsonString(out, std::string_view(s, n ? n - 1 : 0));
        break;
    }
    case FieldType::Long: {
        int64_t n = 0;
        check(avro_value_get_long(&v, &n), "get long");
        out += std::to_string(n);
        break;
    }
    case FieldType::DateTime: {
        int64_t n = 0;
        check(avro_value_get_long(&v, &n), "get long");
        out += "\"" + isoTime(n) + "\"";
        break;
    }
    case FieldType::Double: {
        double d = 0;
        check(avro_value_get_double(&v, &d), "get double");
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        out += buf;
        break;
    }
    case FieldType::Boolean: {
        int b = 0;
        check(avro_value_get_boolean(&v, &b), "get boolean");
        out += b ? "true" : "false";
        break;
    }
    case FieldType::StringArray: {
        size_t n = 0;
        check(avro_value_get_size(&v, &n), "array size");
        out += '[';
        for (size_t i = 0; i < n; ++i) {
            avro_value_t elem;
            check(avro_value_get_by_index(&v, i, &elem, nullptr), "array element");
            if (i)
                out += ',';
            appendValue(out, elem, FieldDef{"", FieldType::String, false, {}});
        }
        out += ']';
        break;
    }
    case FieldType::Record: {
        out += '{';
        for (size_t i = 0; i < def.children.size(); ++i) {
            avro_value_t child;
            check(avro_value_get_by_index(&v, i, &child, nullptr), "record field");
            if (i)
                out += ',';
            appendJsonString(out, def.children[i].name);
            out += ':';
            appendAvroJson(out, child, def.children[i]);
        }
        out += '}';
        break;
    }
    }
}

void appendAvroJson(std::string &out, avro_value_t &v, const FieldDef &def)
{
    if (!def.nullable) {
        appendValue(out, v, def);
        return;
    }
    int disc = 0;
    avro_value_t branch;
    check(avro_value_get_discriminant(&v, &disc), "discriminant");
    check(avro_value_get_current_branch(&v, &branch), "branch");
    if (disc == 0)
        out += "null";
    else
        appendValue(out, branch, def);
}

} // namespace

std::string schemaFingerprint(const std::string &schema_json)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(schema_json.data(), schema_json.size(), digest, &len, EVP_md5(), nullptr);
    return base64Url(std::string(reinterpret_cast<char *>(digest), len)).substr(0, 22);
}

Schema::Schema(std::string record_name, RecordKind kind, std::vector<FieldDef> fields)
    : record_name_(std::move(record_name)), kind_(kind), fields_(std::move(fields))
{
    json_ = "{\"type\":\"record\",\"name\":" + jsonString(record_name_) + ",\"namespace\":\"" +
            kNamespace + "\",\"fields\":[";
    for (size_t i = 0; i < fields_.size(); ++i) {
        if (i)
            json_ += ',';
        if (kind_ == RecordKind::ChangeEvent && i == 0)
            json_ += kChangeEventHeader;
        else if (kind_ == RecordKind::PlatformEvent && fields_[i].name == "CreatedDate" && !fields_[i].nullable)
            json_ += R"({"name":"CreatedDate","type":"long","doc":"CreatedDate:DateTime"})";
        else if (kind_ == RecordKind::PlatformEvent && fields_[i].name == "CreatedById" && !fields_[i].nullable)
            json_ += R"({"name":"CreatedById","type":"string","doc":"CreatedBy:EntityId"})";
        else
            json_ += fieldJson(fields_[i]);
    }
    json_ += "]}";
    id_ = schemaFingerprint(json_);
    check(avro_schema_from_json_length(json_.data(), json_.size(), &schema_), "schema");
    iface_ = avro_generic_class_from_schema(schema_);
    if (!iface_)
        throw std::runtime_error(std::string("avro: value class: ") + avro_strerror());
}

Schema::~Schema()
{
    if (iface_)
        avro_value_iface_decref(iface_);
    if (schema_)
        avro_schema_decref(schema_);
}

std::string Schema::encode(const simdjson::dom::object &payload) const
{
    avro_value_t value;
    check(avro_generic_value_new(iface_, &value), "new value");
    struct Guard {
        avro_value_t &v;
        ~Guard() { avro_value_decref(&v); }
    } guard{value};
    for (size_t i = 0; i < fields_.size(); ++i) {
        avro_value_t slot;
        check(avro_value_get_by_index(&value, i, &slot, nullptr), "field");
        const FieldDef &def = fields_[i];
        simdjson::dom::element v;
        bool found = payload[def.name].get(v) == simdjson::SUCCESS;
        if (kind_ != RecordKind::ChangeEvent || i != 0) {
            setField(slot, def, found ? &v : nullptr);
            continue;
        }
        simdjson::dom::object header;
        if (!found || v.get_object().get(header) != simdjson::SUCCESS)
            throw std::runtime_error("a change event without a ChangeEventHeader object");
        auto text = [&](const char *key, const char *fallback) {
            std::string_view s;
            return header[key].get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string(fallback);
        };
        auto number = [&](const char *key) {
            int64_t n = 0;
            return header[key].get_int64().get(n) == simdjson::SUCCESS ? n : 0;
        };
        avro_value_t h;
        auto setString = [&](size_t index, const std::string &s) {
            check(avro_value_get_by_index(&slot, index, &h, nullptr), "header field");
            check(avro_value_set_string(&h, s.c_str()), "header string");
        };
        auto setArray = [&](size_t index, const std::vector<std::string> &items) {
            check(avro_value_get_by_index(&slot, index, &h, nullptr), "header field");
            for (auto &item : items) {
                avro_value_t elem;
                check(avro_value_append(&h, &elem, nullptr), "header append");
                check(avro_value_set_string(&elem, item.c_str()), "header item");
            }
        };
        setString(0, text("entityName", ""));
        setArray(1, namesOf(header, "recordIds"));
        std::string type = text("changeType", "UPDATE");
        int symbol = 1;
        for (int s = 0; s < 10; ++s)
            if (type == kChangeTypes[s])
                symbol = s;
        check(avro_value_get_by_index(&slot, 2, &h, nullptr), "changeType");
        check(avro_value_set_enum(&h, symbol), "changeType");
        setString(3, text("changeOrigin", ""));
        setString(4, text("transactionKey", ""));
        check(avro_value_get_by_index(&slot, 5, &h, nullptr), "sequenceNumber");
        check(avro_value_set_int(&h, static_cast<int32_t>(number("sequenceNumber"))), "sequenceNumber");
        check(avro_value_get_by_index(&slot, 6, &h, nullptr), "commitTimestamp");
        check(avro_value_set_long(&h, number("commitTimestamp")), "commitTimestamp");
        check(avro_value_get_by_index(&slot, 7, &h, nullptr), "commitNumber");
        check(avro_value_set_long(&h, number("commitNumber")), "commitNumber");
        setString(8, text("commitUser", ""));
        setArray(9, fieldBitmaps(fields_, namesOf(header, "nulledFields")));
        setArray(10, fieldBitmaps(fields_, namesOf(header, "diffFields")));
        setArray(11, fieldBitmaps(fields_, namesOf(header, "changedFields")));
    }
    size_t size = 0;
    check(avro_value_sizeof(&value, &size), "size");
    std::string out(size, '\0');
    avro_writer_t writer = avro_writer_memory(out.data(), static_cast<int64_t>(out.size()));
    int rc = avro_value_write(writer, &value);
    avro_writer_free(writer);
    check(rc, "write");
    return out;
}

std::optional<std::string> Schema::decodeToJson(const std::string &bytes, std::string &why) const
{
    if (kind_ == RecordKind::ChangeEvent) {
        why = "change events cannot be published";
        return std::nullopt;
    }
    avro_value_t value;
    if (avro_generic_value_new(iface_, &value) != 0) {
        why = avro_strerror();
        return std::nullopt;
    }
    avro_reader_t reader = avro_reader_memory(bytes.data(), static_cast<int64_t>(bytes.size()));
    int rc = avro_value_read(reader, &value);
    avro_reader_free(reader);
    std::optional<std::string> out;
    if (rc != 0) {
        why = std::string("the payload does not match schema ") + id_ + ": " + avro_strerror();
    } else {
        try {
            std::string json = "{";
            for (size_t i = 0; i < fields_.size(); ++i) {
                avro_value_t slot;
                check(avro_value_get_by_index(&value, i, &slot, nullptr), "field");
                if (i)
                    json += ',';
                appendJsonString(json, fields_[i].name);
                json += ':';
                appendAvroJson(json, slot, fields_[i]);
            }
            out = json + "}";
        } catch (const std::exception &e) {
            why = e.what();
        }
    }
    avro_value_decref(&value);
    return out;
}

SchemaPtr SchemaStore::add(const std::string &record_name, RecordKind kind, std::vector<FieldDef> fields)
{
    auto schema = std::make_shared<const Schema>(record_name, kind, std::move(fields));
    by_id_[schema->id()] = schema;
    versions_[record_name].push_back(schema);
    return schema;
}

SchemaPtr SchemaStore::current(const std::string &record_name, RecordKind kind)
{
    auto it = versions_.find(record_name);
    if (it != versions_.end() && !it->second.empty())
        return it->second.back();
    std::vector<FieldDef> fields;
    if (kind == RecordKind::ChangeEvent) {
        fields.push_back({"ChangeEventHeader", FieldType::Record, false, {}});
    } else {
        fields.push_back({"CreatedDate", FieldType::DateTime, false, {}});
        fields.push_back({"CreatedById", FieldType::String, false, {}});
    }
    return add(record_name, kind, std::move(fields));
}

SchemaPtr SchemaStore::forPayload(const std::string &record_name, RecordKind kind,
                                  const simdjson::dom::object &payload)
{
    SchemaPtr now = current(record_name, kind);
    std::vector<FieldDef> fields = now->fields();
    if (!merge(fields, payload, {"ChangeEventHeader", "CreatedDate", "CreatedById"}))
        return now;
    return add(record_name, kind, std::move(fields));
}

SchemaPtr SchemaStore::byId(const std::string &id) const
{
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
}

SchemaPtr SchemaStore::addField(const std::string &record_name, RecordKind kind, const std::string &field,
                                FieldType type)
{
    std::vector<FieldDef> fields = current(record_name, kind)->fields();
    fields.push_back({field, type, true, {}});
    return add(record_name, kind, std::move(fields));
}

} // namespace sfk::emu::pubsub
