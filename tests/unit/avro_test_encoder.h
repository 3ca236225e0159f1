#pragma once
// Builds Avro binary payloads with avro-c for the Pub/Sub decoder tests: a
// value of a schema whose unions all start as null, fields reached by name;
// and parses the schemas they are checked against.

#include <avro.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pubsub/writer_schema.h"

namespace sfk::test {

// A writer schema the test needs to be valid.
inline sfk::pubsub::WriterSchemaPtr parsed(const std::string &json)
{
    std::string error;
    auto s = sfk::pubsub::WriterSchema::parse(json, error);
    REQUIRE_MESSAGE(s, error);
    return s;
}

class AvroEncoder {
public:
    explicit AvroEncoder(const std::string &schema_json)
    {
        REQUIRE_MESSAGE(avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema_) == 0,
                        avro_strerror());
        iface_ = avro_generic_class_from_schema(schema_);
        REQUIRE(iface_ != nullptr);
        REQUIRE(avro_generic_value_new(iface_, &root_) == 0);
        nullUnions(root_);
    }
    ~AvroEncoder()
    {
        avro_value_decref(&root_);
        avro_value_iface_decref(iface_);
        avro_schema_decref(schema_);
    }
    AvroEncoder(const AvroEncoder &) = delete;
    AvroEncoder &operator=(const AvroEncoder &) = delete;

    avro_value_t &root() { return root_; }

    // The slot of a record field; for a union, the branch `branch` selected
    // (1 = the value of a ["null", T] field).
    static avro_value_t field(avro_value_t &record, const char *name, int branch = -1)
    {
        avro_value_t slot;
        REQUIRE_MESSAGE(avro_value_get_by_name(&record, name, &slot, nullptr) == 0, name);
        if (branch < 0)
            return slot;
        avro_value_t b;
        REQUIRE(avro_value_set_branch(&slot, branch, &b) == 0);
        nullUnions(b);
        return b;
    }
    avro_value_t field(const char *name, int branch = -1) { return field(root_, name, branch); }

    void setString(const char *name, const std::string &s, int branch = 1)
    {
        avro_value_t v = field(name, branch);
        REQUIRE(avro_value_set_string_len(&v, s.c_str(), s.size() + 1) == 0);
    }
    void setLong(const char *name, int64_t n, int branch = 1)
    {
        avro_value_t v = field(name, branch);
        REQUIRE(avro_value_set_long(&v, n) == 0);
    }
    void setDouble(const char *name, double d, int branch = 1)
    {
        avro_value_t v = field(name, branch);
        REQUIRE(avro_value_set_double(&v, d) == 0);
    }
    static void append(avro_value_t &array, const std::vector<std::string> &items)
    {
        for (const auto &s : items) {
            avro_value_t e;
            REQUIRE(avro_value_append(&array, &e, nullptr) == 0);
            REQUIRE(avro_value_set_string(&e, s.c_str()) == 0);
        }
    }

    std::string bytes()
    {
        size_t size = 0;
        REQUIRE(avro_value_sizeof(&root_, &size) == 0);
        std::string out(size, '\0');
        avro_writer_t w = avro_writer_memory(out.data(), static_cast<int64_t>(size));
        int rc = avro_value_write(w, &root_);
        avro_writer_free(w);
        REQUIRE_MESSAGE(rc == 0, avro_strerror());
        return out;
    }

private:
    // Every union field of a record (recursively) set to its null branch 0,
    // so a value with only some fields set can be written.
    static void nullUnions(avro_value_t &v)
    {
        if (avro_value_get_type(&v) != AVRO_RECORD)
            return;
        size_t n = 0;
        avro_value_get_size(&v, &n);
        for (size_t i = 0; i < n; ++i) {
            avro_value_t slot, b;
            avro_value_get_by_index(&v, i, &slot, nullptr);
            if (avro_value_get_type(&slot) == AVRO_UNION) {
                avro_value_set_branch(&slot, 0, &b);
                if (avro_value_get_type(&b) == AVRO_NULL)
                    avro_value_set_null(&b);
            } else {
                nullUnions(slot);
            }
        }
    }

    avro_schema_t schema_ = nullptr;
    avro_value_iface_t *iface_ = nullptr;
    avro_value_t root_{};
};

// A change event's ChangeEventHeader as sfemu's schemas shape it: an
// UPDATE of Account 001000000000001AAA committed at 1714979289000, with
// these bitmaps (hex, as Salesforce sends them) in changedFields,
// nulledFields and diffFields.
inline void setChangeEventHeader(AvroEncoder &e, const std::vector<std::string> &changed,
                                 const std::vector<std::string> &nulled, const std::vector<std::string> &diff)
{
    avro_value_t h = e.field("ChangeEventHeader");
    auto str = [&](const char *name, const char *value) {
        avro_value_t v = AvroEncoder::field(h, name);
        REQUIRE(avro_value_set_string(&v, value) == 0);
    };
    str("entityName", "Account");
    avro_value_t ids = AvroEncoder::field(h, "recordIds");
    AvroEncoder::append(ids, {"001000000000001AAA"});
    avro_value_t type = AvroEncoder::field(h, "changeType");
    REQUIRE(avro_value_set_enum(&type, 1) == 0); // UPDATE
    str("changeOrigin", "com/salesforce/api/rest/62.0");
    str("transactionKey", "tk-1");
    avro_value_t seq = AvroEncoder::field(h, "sequenceNumber");
    REQUIRE(avro_value_set_int(&seq, 1) == 0);
    avro_value_t ts = AvroEncoder::field(h, "commitTimestamp");
    REQUIRE(avro_value_set_long(&ts, 1714979289000) == 0);
    avro_value_t num = AvroEncoder::field(h, "commitNumber");
    REQUIRE(avro_value_set_long(&num, 10585193272714) == 0);
    str("commitUser", "005000000000001AAA");
    avro_value_t n = AvroEncoder::field(h, "nulledFields");
    AvroEncoder::append(n, nulled);
    avro_value_t d = AvroEncoder::field(h, "diffFields");
    AvroEncoder::append(d, diff);
    avro_value_t c = AvroEncoder::field(h, "changedFields");
    AvroEncoder::append(c, changed);
}

} // namespace sfk::test
