// The Pub/Sub Avro decoder (core/pubsub/): schemas as sfemu shapes them
// (emulator/pubsub/schema.cpp), payloads written with avro-c here; both
// output modes, every Avro type, and every way a payload or schema fails.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <atomic>
#include <thread>

#include "avro_test_encoder.h"
#include "pubsub/avro_json.h"
#include "schema.h"

using namespace sfk::pubsub;
using sfk::test::AvroEncoder;
using sfk::test::parsed;
using sfk::test::setChangeEventHeader;
namespace emu = sfk::emu::pubsub;

namespace {

std::string decoded(const WriterSchema &s, const std::string &payload, JsonMode mode)
{
    std::string out, error;
    REQUIRE_MESSAGE(decodeToJson(s, payload, mode, out, error), error);
    return out;
}

std::string failure(const WriterSchema &s, const std::string &payload, JsonMode mode = JsonMode::Json)
{
    std::string out, error;
    CHECK_FALSE(decodeToJson(s, payload, mode, out, error));
    CHECK_FALSE(error.empty());
    return error;
}

// A platform event as sfemu defines one: CreatedDate, CreatedById, then
// nullable custom fields.
emu::Schema platformEvent()
{
    return emu::Schema("Demo__e", emu::RecordKind::PlatformEvent,
                       {{"CreatedDate", emu::FieldType::DateTime, false, {}},
                        {"CreatedById", emu::FieldType::String, false, {}},
                        {"Text__c", emu::FieldType::String, true, {}},
                        {"Count__c", emu::FieldType::Long, true, {}},
                        {"Ratio__c", emu::FieldType::Double, true, {}},
                        {"Shipped__c", emu::FieldType::DateTime, true, {}},
                        {"Tags__c", emu::FieldType::StringArray, true, {}}});
}

// A change event: ChangeEventHeader(0) Name(1, compound) Industry(2)
// BillingAddress(3, compound) LastModifiedDate(4) Phone(5).
emu::Schema changeEvent()
{
    using emu::FieldType;
    return emu::Schema(
        "AccountChangeEvent", emu::RecordKind::ChangeEvent,
        {{"ChangeEventHeader", FieldType::Record, false, {}},
         {"Name", FieldType::Record, true,
          {{"Salutation", FieldType::String, true, {}},
           {"FirstName", FieldType::String, true, {}},
           {"LastName", FieldType::String, true, {}}}},
         {"Industry", FieldType::String, true, {}},
         {"BillingAddress", FieldType::Record, true,
          {{"Street", FieldType::String, true, {}}, {"City", FieldType::String, true, {}}}},
         {"LastModifiedDate", FieldType::DateTime, true, {}},
         {"Phone", FieldType::String, true, {}}});
}

} // namespace

TEST_CASE("platform event: json keeps every field (unions unwrapped, dates as epoch ms); cometd drops nulls, ISO dates")
{
    emu::Schema shape = platformEvent();
    auto s = parsed(shape.json());
    AvroEncoder e(shape.json());
    e.setLong("CreatedDate", 1700000000123, -1);
    e.setString("CreatedById", "005000000000001AAA", -1);
    e.setString("Text__c", "h\xC3\xA9llo \"q\"\n");
    e.setDouble("Ratio__c", 12.5);
    e.setLong("Shipped__c", 1714979289000);
    avro_value_t tags = e.field("Tags__c", 1);
    AvroEncoder::append(tags, {"a", "b"});
    std::string payload = e.bytes();

    CHECK(decoded(*s, payload, JsonMode::Json) ==
          R"({"CreatedDate":1700000000123,"CreatedById":"005000000000001AAA","Text__c":"h)"
          "\xC3\xA9"
          R"(llo \"q\"\n","Count__c":null,"Ratio__c":12.5,"Shipped__c":1714979289000,"Tags__c":["a","b"]})");
    CHECK(decoded(*s, payload, JsonMode::CometdCompatible) ==
          R"({"CreatedDate":"2023-11-14T22:13:20.123Z","CreatedById":"005000000000001AAA","Text__c":"h)"
          "\xC3\xA9"
          R"(llo \"q\"\n","Ratio__c":12.5,"Shipped__c":"2024-05-06T07:08:09.000Z","Tags__c":["a","b"]})");
}

TEST_CASE("change event: json expands the bitmaps, nested ones as Parent.Child; cometd has changedFields last only")
{
    emu::Schema shape = changeEvent();
    auto s = parsed(shape.json());
    REQUIRE(s->changeEventHeader() != nullptr);
    AvroEncoder e(shape.json());
    // Phone(5) and LastModifiedDate(4) changed, Industry(2) nulled;
    // Name.LastName (1-0x04) changed and BillingAddress.City (3-0x02) nulled.
    setChangeEventHeader(e, {"0x34", "1-0x04", "3-0x02"}, {"0x04", "3-0x02"}, {});
    avro_value_t name = e.field("Name", 1);
    avro_value_t last = AvroEncoder::field(name, "LastName", 1);
    REQUIRE(avro_value_set_string(&last, "Smith") == 0);
    e.setLong("LastModifiedDate", 1714979289000);
    e.setString("Phone", "555");
    std::string payload = e.bytes();

    const std::string header_start =
        R"({"ChangeEventHeader":{"entityName":"Account","recordIds":["001000000000001AAA"],"changeType":"UPDATE",)"
        R"("changeOrigin":"com/salesforce/api/rest/62.0","transactionKey":"tk-1","sequenceNumber":1,)"
        R"("commitTimestamp":1714979289000,"commitNumber":10585193272714,"commitUser":"005000000000001AAA",)";
    CHECK(decoded(*s, payload, JsonMode::Json) ==
          header_start +
              R"("nulledFields":["Industry","BillingAddress.City"],"diffFields":[],)"
              R"("changedFields":["Industry","LastModifiedDate","Phone","Name.LastName","BillingAddress.City"]},)"
              R"("Name":{"Salutation":null,"FirstName":null,"LastName":"Smith"},"Industry":null,)"
              R"("BillingAddress":null,"LastModifiedDate":1714979289000,"Phone":"555"})");
    CHECK(decoded(*s, payload, JsonMode::CometdCompatible) ==
          header_start +
              R"("changedFields":["Industry","LastModifiedDate","Phone","Name.LastName","BillingAddress.City"]},)"
              R"("Name":{"LastName":"Smith"},"LastModifiedDate":"2024-05-06T07:08:09.000Z","Phone":"555"})");
}

TEST_CASE("every Avro type: enums, bytes and fixed as base64, maps, nested records, multi-branch unions")
{
    const std::string json = R"({"type":"record","name":"All","fields":[
        {"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"f","type":"float"},
        {"name":"d","type":"double"},{"name":"b","type":"boolean"},{"name":"n","type":"null"},
        {"name":"s","type":"string"},{"name":"by","type":"bytes"},
        {"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
        {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
        {"name":"m","type":{"type":"map","values":"long"}},
        {"name":"a","type":{"type":"array","items":{"type":"record","name":"P","fields":[{"name":"x","type":"int"}]}}},
        {"name":"u","type":["null","string","long"]},
        {"name":"again","type":"P"}]})";
    auto s = parsed(json);
    AvroEncoder e(json);
    avro_value_t v;
    v = e.field("i"); avro_value_set_int(&v, -7);
    v = e.field("l"); avro_value_set_long(&v, INT64_MIN);
    v = e.field("f"); avro_value_set_float(&v, 0.1f);
    v = e.field("d"); avro_value_set_double(&v, 100.0);
    v = e.field("b"); avro_value_set_boolean(&v, 1);
    v = e.field("n"); avro_value_set_null(&v);
    v = e.field("s"); avro_value_set_string_len(&v, "a\0b", 4);
    v = e.field("by"); avro_value_set_bytes(&v, const_cast<char *>("\x00\xff\x10"), 3);
    v = e.field("fx"); avro_value_set_fixed(&v, const_cast<char *>("abcd"), 4);
    v = e.field("e"); avro_value_set_enum(&v, 1);
    v = e.field("m");
    avro_value_t item;
    avro_value_add(&v, "k\"1", &item, nullptr, nullptr);
    avro_value_set_long(&item, 5);
    v = e.field("a");
    avro_value_append(&v, &item, nullptr);
    avro_value_t x = AvroEncoder::field(item, "x");
    avro_value_set_int(&x, 3);
    v = e.field("u", 2); avro_value_set_long(&v, 42);
    avro_value_t again = e.field("again");
    x = AvroEncoder::field(again, "x");
    avro_value_set_int(&x, 9);
    const char *expected =
        R"({"i":-7,"l":-9223372036854775808,"f":0.1,"d":100.0,"b":true,"n":null,"s":"a\u0000b","by":"AP8Q",)"
        R"("fx":"YWJjZA==","e":"GREEN","m":{"k\"1":5},"a":[{"x":3}],"u":42,"again":{"x":9}})";
    CHECK(decoded(*s, e.bytes(), JsonMode::Json) == expected);
    // Nothing here is null or a date: both modes agree.
    auto cometd = decoded(*s, e.bytes(), JsonMode::CometdCompatible);
    CHECK(cometd == std::string(expected).replace(std::string(expected).find(R"("n":null,)"), 9, ""));
}

TEST_CASE("doubles are written as simdjson's minify writes them (sfemu's CometD payloads)")
{
    const std::string json = R"({"type":"record","name":"D","fields":[{"name":"d","type":"double"}]})";
    auto s = parsed(json);
    simdjson::dom::parser p;
    for (double d : {12.5, 100.0, 0.1, 1e20, 1e-7, -0.0, 123456789.125, 5e-324, 1.7976931348623157e308, 3.0}) {
        CAPTURE(d);
        AvroEncoder e(json);
        avro_value_t v = e.field("d");
        avro_value_set_double(&v, d);
        char literal[64];
        std::snprintf(literal, sizeof literal, "%.17g", d);
        std::string text = literal;
        if (text.find_first_of(".e") == std::string::npos)
            text += ".0"; // a double, not an integer, for simdjson too
        std::string expected = simdjson::minify(p.parse("{\"d\":" + text + "}").value());
        CHECK(decoded(*s, e.bytes(), JsonMode::Json) == expected);
    }
}

TEST_CASE("ISO date-times: millisecond precision, before 1970, and the 0000-9999 limits")
{
    std::string out;
    CHECK(appendIsoTime(out, 0));
    CHECK(out == "1970-01-01T00:00:00.000Z");
    out.clear();
    CHECK(appendIsoTime(out, -1));
    CHECK(out == "1969-12-31T23:59:59.999Z");
    out.clear();
    CHECK(appendIsoTime(out, 951782400000)); // leap day
    CHECK(out == "2000-02-29T00:00:00.000Z");
    out.clear();
    CHECK(appendIsoTime(out, 253402300799999));
    CHECK(out == "9999-12-31T23:59:59.999Z");
    out.clear();
    CHECK(appendIsoTime(out, -62167219200000));
    CHECK(out == "0000-01-01T00:00:00.000Z");
    CHECK_FALSE(appendIsoTime(out, 253402300800000));
    CHECK_FALSE(appendIsoTime(out, INT64_MIN));
}

TEST_CASE("mode names")
{
    CHECK(jsonModeFromName("json") == JsonMode::Json);
    CHECK(jsonModeFromName("cometd_compatible") == JsonMode::CometdCompatible);
    CHECK_FALSE(jsonModeFromName("avro"));
}

TEST_CASE("errors: invalid UTF-8, NaN, infinities, dates out of range, truncated and trailing bytes")
{
    emu::Schema shape = platformEvent();
    auto s = parsed(shape.json());
    auto base = [&](AvroEncoder &e) {
        e.setLong("CreatedDate", 1700000000123, -1);
        e.setString("CreatedById", "005000000000001AAA", -1);
    };
    {
        AvroEncoder e(shape.json());
        base(e);
        e.setString("Text__c", "bad \xC3\x28 byte");
        CHECK(failure(*s, e.bytes()).find("invalid UTF-8") != std::string::npos);
        failure(*s, e.bytes(), JsonMode::CometdCompatible);
    }
    for (double d : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
        AvroEncoder e(shape.json());
        base(e);
        e.setDouble("Ratio__c", d);
        std::string error = failure(*s, e.bytes());
        CHECK((error.find("NaN") != std::string::npos || error.find("infinity") != std::string::npos));
    }
    {
        AvroEncoder e(shape.json());
        base(e);
        e.setLong("Shipped__c", INT64_MAX);
        std::string payload = e.bytes();
        decoded(*s, payload, JsonMode::Json); // a number is fine
        CHECK(failure(*s, payload, JsonMode::CometdCompatible).find("0000-9999") != std::string::npos);
    }
    AvroEncoder e(shape.json());
    base(e);
    e.setString("Text__c", "fine");
    std::string good = e.bytes();
    decoded(*s, good, JsonMode::Json);
    for (size_t cut = 0; cut < good.size(); ++cut) {
        CAPTURE(cut);
        CHECK(failure(*s, good.substr(0, cut)).find("truncated") != std::string::npos);
    }
    CHECK(failure(*s, good + '\0').find("1 bytes after the record") != std::string::npos);
}

TEST_CASE("errors: out-of-range union, enum and boolean bytes, lengths and counts past the payload, deep nesting")
{
    auto one = [](const std::string &type) {
        return parsed(R"({"type":"record","name":"R","fields":[{"name":"v","type":)" + type + "}]}");
    };
    CHECK(failure(*one(R"(["null","string"])"), "\x04").find("union branch 2") != std::string::npos);
    CHECK(failure(*one(R"(["null","string"])"), "\x01").find("union branch -1") != std::string::npos);
    CHECK(failure(*one(R"({"type":"enum","name":"E","symbols":["A"]})"), "\x02").find("enum index") !=
          std::string::npos);
    CHECK(failure(*one(R"("boolean")"), "\x02").find("boolean") != std::string::npos);
    // A string of 2^40 bytes announced in six bytes.
    CHECK(failure(*one(R"("string")"), std::string("\x80\x80\x80\x80\x80\x40", 6)).find("truncated") !=
          std::string::npos);
    CHECK(failure(*one(R"("string")"), "\x01").find("negative length") != std::string::npos);
    // Billions of nulls, and of strings, announced in a few bytes.
    CHECK(failure(*one(R"({"type":"array","items":"null"})"), std::string("\xfe\xff\xff\xff\x0f\x00", 6))
              .find("longer than the payload") != std::string::npos);
    CHECK(failure(*one(R"({"type":"map","values":"string"})"), std::string("\xfe\xff\xff\xff\x0f\x00", 6))
              .find("longer than the payload") != std::string::npos);
    CHECK(failure(*one(R"("long")"), std::string(11, '\xff')).find("varint") != std::string::npos);
    // Map keys: avro-c would cut one at a NUL; an empty key is fine; invalid UTF-8 is refused.
    auto map = one(R"({"type":"map","values":"null"})");
    CHECK(failure(*map, std::string("\x02\x06" "a\x00" "b\x00", 6)).find("map key with a NUL") != std::string::npos);
    CHECK(decoded(*map, std::string("\x02\x00\x00", 3), JsonMode::Json) == R"({"v":{"":null}})");
    CHECK(failure(*map, std::string("\x02\x02\xff\x00", 4)).find("invalid UTF-8 in a map key") != std::string::npos);
    CHECK(failure(*one(R"("int")"), std::string("\xff\xff\xff\xff\x7f", 5)).find("int out of range") !=
          std::string::npos);
    // A recursive record nested 100 deep.
    auto list = parsed(R"({"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]})");
    std::string deep(100, '\x02');
    deep += '\0';
    CHECK(failure(*list, deep).find("nested deeper") != std::string::npos);
    std::string shallow(10, '\x02');
    shallow += '\0';
    CHECK(decoded(*list, shallow, JsonMode::Json).find(R"({"next":{"next":)") == 0);
}

TEST_CASE("errors: a schema that is not JSON, not Avro, or not a record; a bitmap that does not fit")
{
    std::string error;
    CHECK_FALSE(WriterSchema::parse("{\"type\":", error));
    CHECK(error.find("not JSON") != std::string::npos);
    CHECK_FALSE(WriterSchema::parse(R"({"type":"record","name":"R","fields":[{"name":"x","type":"nope"}]})", error));
    CHECK(error.find("not an Avro schema") != std::string::npos);
    CHECK_FALSE(WriterSchema::parse(R"("string")", error));
    CHECK(error.find("not an Avro record") != std::string::npos);

    emu::Schema shape = changeEvent();
    auto s = parsed(shape.json());
    for (const char *bad : {"0x40", "9-0x01", "2-0x01", "1-0x08", "0xZZ", "0x0g", "x06", "-0x01", "1-0y01"}) {
        CAPTURE(bad);
        AvroEncoder e(shape.json());
        setChangeEventHeader(e, {bad}, {}, {});
        CHECK(failure(*s, e.bytes()).find("bitmap") != std::string::npos);
        // CometD mode lists changedFields too.
        failure(*s, e.bytes(), JsonMode::CometdCompatible);
    }
}

TEST_CASE("one parsed schema decodes on several threads at once")
{
    emu::Schema shape = changeEvent();
    auto s = parsed(shape.json());
    AvroEncoder e(shape.json());
    setChangeEventHeader(e, {"0x24", "1-0x04"}, {}, {});
    e.setString("Phone", "555");
    std::string payload = e.bytes();
    const std::string expected = decoded(*s, payload, JsonMode::Json);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&] {
            std::string out, error;
            for (int i = 0; i < 2000; ++i)
                if (!decodeToJson(*s, payload, JsonMode::Json, out, error) || out != expected)
                    ++mismatches;
        });
    for (auto &t : pool)
        t.join();
    CHECK(mismatches.load() == 0);
}
