#include "pubsub/avro_json.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "decode/base64.h"
#include "decode/json_escape.h"
#include "pubsub/bitmap.h"
#include "pubsub/encoding_check.h"

namespace sfk::pubsub {

namespace {

template <typename Int>
void appendInt(std::string &out, Int n)
{
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, res.ptr);
}

bool isBitmapField(const SchemaField &f)
{
    return (f.name == "changedFields" || f.name == "nulledFields" || f.name == "diffFields") &&
           f.node->type == AVRO_ARRAY && f.node->items->type == AVRO_STRING;
}

class JsonWriter {
public:
    JsonWriter(const WriterSchema &schema, JsonMode mode, std::string &out, std::string &error)
        : schema_(schema), cometd_(mode == JsonMode::CometdCompatible), out_(out), error_(error)
    {
    }

    bool record(avro_value_t &v, const SchemaNode &node)
    {
        out_.push_back('{');
        bool first = true;
        for (size_t i = 0; i < node.fields.size(); ++i) {
            const SchemaField &f = node.fields[i];
            avro_value_t child;
            if (!call(avro_value_get_by_index(&v, i, &child, nullptr), "record field"))
                return false;
            if (cometd_ && isNull(child, *f.node))
                continue;
            if (!first)
                out_.push_back(',');
            first = false;
            out_ += f.key;
            bool ok = &f == schema_.changeEventHeader() ? header(child, *f.node)
                                                         : value(child, *f.node, f.date_time);
            if (!ok)
                return false;
        }
        out_.push_back('}');
        return true;
    }

private:
    bool fail(std::string why)
    {
        error_ = std::move(why);
        return false;
    }
    bool call(int rc, const char *what)
    {
        return rc == 0 || fail(std::string("avro-c: ") + what + ": " + avro_strerror());
    }

    bool isNull(avro_value_t &v, const SchemaNode &node)
    {
        if (node.type == AVRO_NULL)
            return true;
        int disc = 0;
        return node.type == AVRO_UNION && avro_value_get_discriminant(&v, &disc) == 0 && disc >= 0 &&
               static_cast<size_t>(disc) < node.branches.size() && node.branches[disc]->type == AVRO_NULL;
    }

    bool text(const char *s, size_t n, const char *what)
    {
        if (!simdjson::validate_utf8(s, n))
            return fail(std::string("invalid UTF-8 in ") + what);
        decode::appendJsonString(out_, std::string_view(s, n));
        return true;
    }

    bool number(double d)
    {
        if (!std::isfinite(d))
            return fail(std::isnan(d) ? "NaN has no JSON form" : "an infinity has no JSON form");
        // The formatter simdjson's minify uses, which renders sfemu's CometD
        // payloads: the same double gives the same bytes on both transports.
        char buf[40];
        char *end = simdjson::internal::to_chars(buf, buf + sizeof buf, d);
        out_.append(buf, end);
        return true;
    }

    bool value(avro_value_t &v, const SchemaNode &node, bool date_time)
    {
        switch (node.type) {
        case AVRO_NULL: out_ += "null"; return true;
        case AVRO_BOOLEAN: {
            int b = 0;
            if (!call(avro_value_get_boolean(&v, &b), "boolean"))
                return false;
            out_ += b ? "true" : "false";
            return true;
        }
        case AVRO_INT32: {
            int32_t n = 0;
            if (!call(avro_value_get_int(&v, &n), "int"))
                return false;
            appendInt(out_, n);
            return true;
        }
        case AVRO_INT64: {
            int64_t n = 0;
            if (!call(avro_value_get_long(&v, &n), "long"))
                return false;
            if (!(cometd_ && date_time)) {
                appendInt(out_, n);
                return true;
            }
            out_.push_back('"');
            if (!appendIsoTime(out_, n))
                return fail("date-time " + std::to_string(n) + " is outside the years 0000-9999");
            out_.push_back('"');
            return true;
        }
        case AVRO_FLOAT: {
            float f = 0;
            if (!call(avro_value_get_float(&v, &f), "float"))
                return false;
            if (!std::isfinite(f))
                return number(f);
            char buf[32];
            auto res = std::to_chars(buf, buf + sizeof buf, f);
            out_.append(buf, res.ptr);
            return true;
        }
        case AVRO_DOUBLE: {
            double d = 0;
            return call(avro_value_get_double(&v, &d), "double") && number(d);
        }
        case AVRO_STRING: {
            const char *s = nullptr;
            size_t size = 0;
            if (!call(avro_value_get_string(&v, &s, &size), "string"))
                return false;
            return text(s, size ? size - 1 : 0, "a string"); // avro-c counts the trailing NUL
        }
        case AVRO_BYTES:
        case AVRO_FIXED: {
            const void *p = nullptr;
            size_t size = 0;
            int rc = node.type == AVRO_BYTES ? avro_value_get_bytes(&v, &p, &size)
                                             : avro_value_get_fixed(&v, &p, &size);
            if (!call(rc, "bytes"))
                return false;
            out_.push_back('"');
            decode::appendBase64(out_, std::string_view(static_cast<const char *>(p), size));
            out_.push_back('"');
            return true;
        }
        case AVRO_ENUM: {
            int symbol = 0;
            if (!call(avro_value_get_enum(&v, &symbol), "enum"))
                return false;
            if (symbol < 0 || static_cast<size_t>(symbol) >= node.symbols.size())
                return fail("enum symbol " + std::to_string(symbol) + " out of range");
            out_ += node.symbols[static_cast<size_t>(symbol)];
            return true;
        }
        case AVRO_UNION: {
            int disc = 0;
            avro_value_t branch;
            if (!call(avro_value_get_discriminant(&v, &disc), "union") ||
                !call(avro_value_get_current_branch(&v, &branch), "union branch"))
                return false;
            if (disc < 0 || static_cast<size_t>(disc) >= node.branches.size())
                return fail("union branch " + std::to_string(disc) + " out of range");
            return value(branch, *node.branches[static_cast<size_t>(disc)], date_time);
        }
        case AVRO_RECORD: return record(v, node);
        case AVRO_ARRAY:
        case AVRO_MAP: return container(v, node);
        default: return fail("unsupported schema type");
        }
    }

    bool container(avro_value_t &v, const SchemaNode &node)
    {
        size_t n = 0;
        if (!call(avro_value_get_size(&v, &n), "size"))
            return false;
        bool map = node.type == AVRO_MAP;
        out_.push_back(map ? '{' : '[');
        for (size_t i = 0; i < n; ++i) {
            avro_value_t item;
            const char *key = nullptr;
            if (!call(avro_value_get_by_index(&v, i, &item, map ? &key : nullptr), "item"))
                return false;
            if (i)
                out_.push_back(',');
            if (map) {
                if (!text(key, std::char_traits<char>::length(key), "a map key"))
                    return false;
                out_.push_back(':');
            }
            if (!value(item, *node.items, false))
                return false;
        }
        out_.push_back(map ? '}' : ']');
        return true;
    }

    // ChangeEventHeader: the bitmaps as field names; for CometD changedFields
    // last and the other two left out, as CometD carries the header.
    bool header(avro_value_t &v, const SchemaNode &node)
    {
        out_.push_back('{');
        bool first = true;
        auto field = [&](size_t i) {
            const SchemaField &f = node.fields[i];
            avro_value_t child;
            if (!call(avro_value_get_by_index(&v, i, &child, nullptr), "header field"))
                return false;
            if (!first)
                out_.push_back(',');
            first = false;
            out_ += f.key;
            return isBitmapField(f) ? bitmapNames(child) : value(child, *f.node, f.date_time);
        };
        std::optional<size_t> changed;
        for (size_t i = 0; i < node.fields.size(); ++i) {
            const SchemaField &f = node.fields[i];
            if (cometd_ && isBitmapField(f)) {
                if (f.name == "changedFields")
                    changed = i;
                continue;
            }
            if (cometd_) {
                avro_value_t child;
                if (!call(avro_value_get_by_index(&v, i, &child, nullptr), "header field"))
                    return false;
                if (isNull(child, *f.node))
                    continue;
            }
            if (!field(i))
                return false;
        }
        if (changed && !field(*changed))
            return false;
        out_.push_back('}');
        return true;
    }

    bool bitmapNames(avro_value_t &array)
    {
        size_t n = 0;
        if (!call(avro_value_get_size(&array, &n), "bitmap size"))
            return false;
        names_.clear();
        for (size_t i = 0; i < n; ++i) {
            avro_value_t item;
            const char *s = nullptr;
            size_t size = 0;
            if (!call(avro_value_get_by_index(&array, i, &item, nullptr), "bitmap") ||
                !call(avro_value_get_string(&item, &s, &size), "bitmap string"))
                return false;
            if (!expandBitmap(schema_.root(), std::string_view(s, size ? size - 1 : 0), names_, error_))
                return false;
        }
        out_.push_back('[');
        for (size_t i = 0; i < names_.size(); ++i) {
            if (i)
                out_.push_back(',');
            decode::appendJsonString(out_, names_[i]);
        }
        out_.push_back(']');
        return true;
    }

    const WriterSchema &schema_;
    bool cometd_;
    std::string &out_;
    std::string &error_;
    std::vector<std::string> names_;
};

// Owns one avro-c value for the duration of a decode (a new value costs
// about as much as resetting a reused one).
struct OwnedValue {
    avro_value_t value{};
    bool live = false;
    ~OwnedValue()
    {
        if (live)
            avro_value_decref(&value);
    }
};

} // namespace

std::optional<JsonMode> jsonModeFromName(std::string_view name)
{
    if (name == "json")
        return JsonMode::Json;
    if (name == "cometd_compatible")
        return JsonMode::CometdCompatible;
    return std::nullopt;
}

bool appendIsoTime(std::string &out, int64_t epoch_ms)
{
    constexpr int64_t kMin = -62167219200000;  // 0000-01-01T00:00:00.000Z
    constexpr int64_t kMax = 253402300799999;  // 9999-12-31T23:59:59.999Z
    if (epoch_ms < kMin || epoch_ms > kMax)
        return false;
    constexpr int64_t kDay = 86400000;
    int64_t days = epoch_ms >= 0 ? epoch_ms / kDay : (epoch_ms - kDay + 1) / kDay;
    int64_t in_day = epoch_ms - days * kDay;
    // Days since 1970-01-01 to a proleptic Gregorian date (era arithmetic).
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", static_cast<int>(year),
                          static_cast<int>(month), static_cast<int>(day), static_cast<int>(in_day / 3600000),
                          static_cast<int>(in_day / 60000 % 60), static_cast<int>(in_day / 1000 % 60),
                          static_cast<int>(in_day % 1000));
    out.append(buf, static_cast<size_t>(n));
    return true;
}

bool decodeToJson(const WriterSchema &schema, std::string_view payload, JsonMode mode, std::string &out,
                  std::string &error)
{
    out.clear();
    if (!checkEncoding(schema.root(), payload, error)) {
        error = "payload does not fit its schema: " + error;
        return false;
    }
    OwnedValue v;
    if (avro_generic_value_new(schema.valueClass(), &v.value) != 0) {
        error = std::string("avro-c: new value: ") + avro_strerror();
        return false;
    }
    v.live = true;
    avro_reader_t reader = avro_reader_memory(payload.empty() ? "" : payload.data(),
                                              static_cast<int64_t>(payload.size()));
    int rc = avro_value_read(reader, &v.value);
    avro_reader_free(reader);
    if (rc != 0) {
        error = std::string("avro-c: payload does not decode: ") + avro_strerror();
        return false;
    }
    return JsonWriter(schema, mode, out, error).record(v.value, schema.root());
}

} // namespace sfk::pubsub
