#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>
#include <string>

#include "decode/batch_decoder.h"
#include "decode/json_escape.h"

using sfk::config::KeyPolicy;
using sfk::decode::Batch;
using sfk::decode::BatchDecoder;
using sfk::decode::Event;
using sfk::decode::KeyLookup;
using sfk::decode::parseIsoDateMs;

namespace {

// Owns a padded copy of a body and decodes it.
struct Decoded {
    std::string body;
    Batch batch;
    std::string error;
    bool ok = false;
};

bool decodeInto(Decoded &d, BatchDecoder &decoder, const std::string &json, const KeyLookup &keys = {})
{
    d.body = json;
    BatchDecoder::reservePadding(d.body);
    d.ok = decoder.decode(d.body, d.batch, d.error, keys);
    return d.ok;
}

Decoded decode(const std::string &json, const KeyLookup &keys = {})
{
    BatchDecoder decoder;
    Decoded d;
    decodeInto(d, decoder, json, keys);
    return d;
}

KeyLookup policies(const std::map<std::string, KeyPolicy, std::less<>> &m)
{
    return [m](std::string_view channel) -> const KeyPolicy * {
        auto it = m.find(channel);
        return it == m.end() ? nullptr : &it->second;
    };
}

KeyPolicy pointer(std::string p)
{
    KeyPolicy k;
    k.kind = KeyPolicy::Kind::Pointer;
    k.pointer = std::move(p);
    return k;
}

KeyPolicy kind(KeyPolicy::Kind kind)
{
    KeyPolicy k;
    k.kind = kind;
    return k;
}

const std::string kPushTopic =
    R"({"channel":"/topic/InvoiceUpdates","data":{"event":{"createdDate":"2026-03-29T16:40:08.208Z","replayId":13,"type":"created"},)"
    R"("sobject":{"Id":"a00D0000008o6y8IAA","Name":"INV-0001","Status__c":"Open"}}})";
const std::string kGeneric =
    R"({"channel":"/u/Notifications","data":{"event":{"createdDate":"2026-03-29T19:05:28.334Z","replayId":55},"payload":"Build 42 finished"}})";
const std::string kPlatform =
    R"({"channel":"/event/Order_Placed__e","data":{"schema":"dffQ2QLzDNHqwB8_sHMxdA",)"
    R"("payload":{"CreatedDate":"2026-04-09T18:31:40.517Z","CreatedById":"005D0000001cSZs","Order_Number__c":"A-1","Amount__c":42.5},)"
    R"("event":{"EventUuid":"2ec0e371-1395-457f-9275-be1b527a72f7","replayId":2}}})";
const std::string kChange =
    R"({"channel":"/data/AccountChangeEvent","data":{"schema":"IeRuaY6cbI_HsV8Rv1Mc5g",)"
    R"("payload":{"ChangeEventHeader":{"entityName":"Account","recordIds":["0015g00000AbCdEAAZ","0015g00000AbCdFAAZ"],"changeType":"UPDATE",)"
    R"("changeOrigin":"com/salesforce/api/rest/62.0","transactionKey":"0002343d-9d90-e395-ed20-cf416ba652ad",)"
    R"("sequenceNumber":1,"commitTimestamp":1743355200000,"commitNumber":10585193272713,"commitUser":"0055g00000Axxxx",)"
    R"("changedFields":["Name","LastModifiedDate"]},"Name":"Acme Corp","CreatedDate":"2001-01-01T00:00:00.000Z","LastModifiedDate":"2026-03-30T17:20:00.000Z"},)"
    R"("event":{"replayId":6}}})";
const std::string kConnect =
    R"({"channel":"/meta/connect","clientId":"4wx1","id":"2","successful":true,"advice":{"reconnect":"retry","interval":0,"timeout":110000}})";

// The raw "data" text of a message literal above.
std::string dataOf(const std::string &message)
{
    const size_t start = message.find("\"data\":") + 7;
    return message.substr(start, message.size() - 1 - start);
}

} // namespace

TEST_CASE("ISO 8601 dates become epoch milliseconds")
{
    using sfk::decode::parseIsoDateMs;
    CHECK(parseIsoDateMs("1970-01-01T00:00:00Z") == 0);
    CHECK(parseIsoDateMs("1970-01-01T00:00:00.001Z") == 1);
    CHECK(parseIsoDateMs("2026-03-29T16:40:08.208Z") == 1774802408208);
    CHECK(parseIsoDateMs("2026-03-29T16:40:08.2Z") == 1774802408200);
    CHECK(parseIsoDateMs("2026-03-29T16:40:08.208999Z") == 1774802408208);
    CHECK(parseIsoDateMs("2026-03-29T18:40:08.208+02:00") == 1774802408208);
    CHECK(parseIsoDateMs("2026-03-29T14:40:08.208-0200") == 1774802408208);
    CHECK(parseIsoDateMs("2026-03-29T16:40:08") == 1774802408000);
    CHECK(parseIsoDateMs("2024-02-29T00:00:00Z") == 1709164800000);
    CHECK(parseIsoDateMs("1969-12-31T23:59:59Z") == -1000);
    CHECK_FALSE(parseIsoDateMs("2023-02-29T00:00:00Z"));
    CHECK_FALSE(parseIsoDateMs("2026-13-01T00:00:00Z"));
    CHECK_FALSE(parseIsoDateMs("2026-03-29"));
    CHECK_FALSE(parseIsoDateMs("2026-03-29T16:40:08.Z"));
    CHECK_FALSE(parseIsoDateMs("2026-03-29T16:40:08Zjunk"));
    CHECK_FALSE(parseIsoDateMs(""));
}

TEST_CASE("PushTopic event: replay id, raw data, sobject Id key, createdDate")
{
    Decoded d = decode("[" + kPushTopic + "]");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 1);
    CHECK(d.batch.meta.empty());
    const Event &e = d.batch.events[0];
    CHECK(e.channel == "/topic/InvoiceUpdates");
    CHECK(e.replay_id == 13);
    CHECK(e.data == dataOf(kPushTopic));
    CHECK(e.key == std::optional<std::string_view>("a00D0000008o6y8IAA"));
    CHECK(e.timestamp_ms == 1774802408208);
    CHECK(e.created_date == "2026-03-29T16:40:08.208Z");
    CHECK(e.event_type == "created");
    CHECK(e.schema.empty());
    CHECK(e.event_uuid.empty());
    CHECK(e.change_type.empty());
    CHECK(e.entity.empty());
}

TEST_CASE("generic event: no key by default, createdDate timestamp")
{
    Decoded d = decode("[" + kGeneric + "]");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 1);
    const Event &e = d.batch.events[0];
    CHECK(e.replay_id == 55);
    CHECK(e.data == dataOf(kGeneric));
    CHECK_FALSE(e.key);
    CHECK(e.timestamp_ms == parseIsoDateMs("2026-03-29T19:05:28.334Z"));
}

TEST_CASE("platform event: schema, EventUuid, payload.CreatedDate")
{
    Decoded d = decode("[" + kPlatform + "]");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 1);
    const Event &e = d.batch.events[0];
    CHECK(e.channel == "/event/Order_Placed__e");
    CHECK(e.replay_id == 2);
    CHECK(e.data == dataOf(kPlatform));
    CHECK_FALSE(e.key);
    CHECK(e.schema == "dffQ2QLzDNHqwB8_sHMxdA");
    CHECK(e.event_uuid == "2ec0e371-1395-457f-9275-be1b527a72f7");
    CHECK(e.created_date == "2026-04-09T18:31:40.517Z");
    CHECK(e.timestamp_ms == parseIsoDateMs("2026-04-09T18:31:40.517Z"));
}

TEST_CASE("change event: first record id key, commitTimestamp, header values")
{
    Decoded d = decode("[" + kChange + "]");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 1);
    const Event &e = d.batch.events[0];
    CHECK(e.replay_id == 6);
    CHECK(e.data == dataOf(kChange));
    CHECK(e.key == std::optional<std::string_view>("0015g00000AbCdEAAZ"));
    CHECK(e.timestamp_ms == 1743355200000);
    // The record's own CreatedDate field is not the event's creation time.
    CHECK(e.created_date == "1743355200000");
    CHECK(e.change_type == "UPDATE");
    CHECK(e.entity == "Account");
    CHECK(e.schema == "IeRuaY6cbI_HsV8Rv1Mc5g");
}

TEST_CASE("meta messages: connect, refused handshake, subscribe failure")
{
    const std::string body =
        "[" + kConnect + "," +
        R"({"channel":"/meta/handshake","id":"1","successful":false,"error":"403::Handshake denied",)"
        R"("ext":{"sfdc":{"failureReason":"401::Authentication invalid"}},"advice":{"reconnect":"none"}},)"
        R"({"clientId":"c","channel":"/meta/subscribe","subscription":"/topic/X","id":"3","successful":false,)"
        R"("error":"400::The replayId {1234} you provided was invalid.  Please provide a valid ID"}])";
    Decoded d = decode(body);
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.events.empty());
    REQUIRE(d.batch.meta.size() == 3);

    const auto &c = d.batch.meta[0];
    CHECK(c.channel == "/meta/connect");
    CHECK(c.client_id == "4wx1");
    CHECK(c.id == "2");
    CHECK(c.successful == true);
    CHECK(c.advice.reconnect == "retry");
    CHECK(c.advice.interval_ms == 0);
    CHECK(c.advice.timeout_ms == 110000);
    CHECK(c.error.empty());

    const auto &h = d.batch.meta[1];
    CHECK(h.channel == "/meta/handshake");
    CHECK(h.successful == false);
    CHECK(h.error == "403::Handshake denied");
    CHECK(h.failure_reason == "401::Authentication invalid");
    CHECK(h.advice.reconnect == "none");
    CHECK_FALSE(h.advice.interval_ms);
    CHECK(h.client_id.empty());

    const auto &s = d.batch.meta[2];
    CHECK(s.channel == "/meta/subscribe");
    CHECK(s.subscription == "/topic/X");
    CHECK(s.error == "400::The replayId {1234} you provided was invalid.  Please provide a valid ID");
    CHECK(s.client_id == "c");
}

TEST_CASE("a server-pushed disconnect without successful")
{
    Decoded d = decode(R"([{"channel":"/meta/disconnect"}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.meta.size() == 1);
    CHECK(d.batch.meta[0].channel == "/meta/disconnect");
    CHECK_FALSE(d.batch.meta[0].successful);
}

TEST_CASE("events and connect reply together, in order; empty array")
{
    Decoded d = decode("[" + kPushTopic + "," + kChange + "," + kPlatform + "," + kGeneric + "," +
                       kConnect + "]");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 4);
    CHECK(d.batch.events[0].replay_id == 13);
    CHECK(d.batch.events[1].replay_id == 6);
    CHECK(d.batch.events[2].replay_id == 2);
    CHECK(d.batch.events[3].replay_id == 55);
    CHECK(d.batch.meta.size() == 1);

    Decoded empty = decode(" [ ] \n");
    CHECK_MESSAGE(empty.ok, empty.error);
    CHECK(empty.batch.events.empty());
    CHECK(empty.batch.meta.empty());
}

TEST_CASE("field order does not matter; extra fields are ignored; whitespace is trimmed")
{
    const std::string body = R"( [ { "data" : { "sobject" : {"Name":"x","Id":"ID1"} ,)"
                             "\n  \"event\":{\"type\":\"updated\",\"replayId\":99,\"extra\":[1,2,{\"a\":null}]} }\t\n ,"
                             R"( "clientId":"abc", "channel" : "/topic/T", "id":"7" } ] )";
    Decoded d = decode(body);
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 1);
    const Event &e = d.batch.events[0];
    CHECK(e.channel == "/topic/T");
    CHECK(e.replay_id == 99);
    CHECK(e.key == std::optional<std::string_view>("ID1"));
    CHECK(e.event_type == "updated");
    CHECK(e.data.front() == '{');
    CHECK(e.data.back() == '}');
    CHECK(e.data == R"({ "sobject" : {"Name":"x","Id":"ID1"} ,)"
                    "\n  \"event\":{\"type\":\"updated\",\"replayId\":99,\"extra\":[1,2,{\"a\":null}]} }");
    // The views point into the body buffer itself: no copy.
    CHECK(e.data.data() >= d.body.data());
    CHECK(e.data.data() + e.data.size() <= d.body.data() + d.body.size());
    CHECK(e.channel.data() >= d.body.data());
}

TEST_CASE("data as the last field of the last message")
{
    Decoded d = decode(R"([{"channel":"/u/N","data":{"event":{"replayId":1},"payload":"p"}}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.events[0].data == R"({"event":{"replayId":1},"payload":"p"})");
}

TEST_CASE("escaped strings are unescaped into the batch's storage")
{
    const std::string body =
        R"([{"channel":"\/topic\/Esc","data":{"event":{"replayId":5,"createdDate":"2026-03-29T16:40:08.208Z","type":"crea\u0074ed"},)"
        R"("sobject":{"Id":"a\"b\\c\u00e9"}}}])";
    Decoded d = decode(body);
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 1);
    const Event &e = d.batch.events[0];
    CHECK(e.channel == "/topic/Esc");
    CHECK(e.event_type == "created");
    CHECK(e.key == std::optional<std::string_view>("a\"b\\c\xc3\xa9"));
    CHECK(e.timestamp_ms == 1774802408208);
    // The raw value is untouched.
    CHECK(e.data.find(R"("Id":"a\"b\\c\u00e9")") != std::string_view::npos);

    // Escaped keys match too.
    Decoded k = decode(R"([{"ch\u0061nnel":"/u/X","d\u0061ta":{"event":{"replay\u0049d":8}}}])");
    REQUIRE_MESSAGE(k.ok, k.error);
    REQUIRE(k.batch.events.size() == 1);
    CHECK(k.batch.events[0].replay_id == 8);
    CHECK(k.batch.events[0].channel == "/u/X");
}

TEST_CASE("a numeric message id and a fractional interval")
{
    Decoded d = decode(R"([{"channel":"/meta/connect","id":7 ,"advice":{"interval":2.5,"timeout":110000},"successful":true}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.meta[0].id == "7");
    CHECK(d.batch.meta[0].advice.interval_ms == 2);
    CHECK(d.batch.meta[0].advice.timeout_ms == 110000);
}

TEST_CASE("advice durations outside 0 .. one day are left absent (fuzz_bayeux_meta)")
{
    for (const char *v : { "1e300", "-1e300", "9223372036854775807", "18446744073709551615", "86400001",
                           "-1", "-0.5" }) {
        Decoded d = decode(std::string(R"([{"channel":"/meta/connect","advice":{"interval":)") + v +
                           R"(,"timeout":)" + v + "}}]");
        REQUIRE_MESSAGE(d.ok, d.error);
        INFO(v);
        CHECK_FALSE(d.batch.meta[0].advice.interval_ms);
        CHECK_FALSE(d.batch.meta[0].advice.timeout_ms);
    }
    Decoded d = decode(R"([{"channel":"/meta/connect","advice":{"interval":86400000,"timeout":8.64e7}}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.meta[0].advice.interval_ms == 86400000);
    CHECK(d.batch.meta[0].advice.timeout_ms == 86400000);
}

TEST_CASE("escaped meta strings")
{
    Decoded d = decode(R"([{"channel":"/meta/subscribe","error":"400::bad \"x\"\n","successful":false}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.meta[0].error == "400::bad \"x\"\n");
}

TEST_CASE("key policies: channel, none, pointer")
{
    std::map<std::string, KeyPolicy, std::less<>> m;
    m["/topic/InvoiceUpdates"] = kind(KeyPolicy::Kind::None);
    m["/data/AccountChangeEvent"] = kind(KeyPolicy::Kind::Channel);
    m["/event/Order_Placed__e"] = pointer("/payload/Order_Number__c");
    Decoded d = decode("[" + kPushTopic + "," + kChange + "," + kPlatform + "," + kGeneric + "]", policies(m));
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 4);
    CHECK_FALSE(d.batch.events[0].key);
    CHECK(d.batch.events[1].key == std::optional<std::string_view>("/data/AccountChangeEvent"));
    CHECK(d.batch.events[2].key == std::optional<std::string_view>("A-1"));
    CHECK_FALSE(d.batch.events[3].key);   // no policy: record id; generic has none
}

TEST_CASE("pointer keys: numbers, booleans, arrays, escapes, missing")
{
    auto keyOf = [](const std::string &ptr, const std::string &data) -> std::optional<std::string> {
        std::map<std::string, KeyPolicy, std::less<>> m;
        m["/event/E__e"] = pointer(ptr);
        Decoded d = decode(R"([{"channel":"/event/E__e","data":)" + data + "}]", policies(m));
        REQUIRE_MESSAGE(d.ok, d.error);
        REQUIRE(d.batch.events.size() == 1);
        if (!d.batch.events[0].key)
            return std::nullopt;
        return std::string(*d.batch.events[0].key);
    };
    const std::string data =
        R"({"event":{"replayId":1},"payload":{"Amount__c":42.5,"Flag__c":true,"N":-7 ,"Items":["a","b"],)"
        R"("a/b":"slash","m~n":"tilde","Esc":"x\ty","Null":null,"Obj":{"k":"v"}}})";
    CHECK(keyOf("/payload/Amount__c", data) == "42.5");
    CHECK(keyOf("/payload/Flag__c", data) == "true");
    CHECK(keyOf("/payload/N", data) == "-7");
    CHECK(keyOf("/payload/Items/1", data) == "b");
    CHECK(keyOf("/payload/a~1b", data) == "slash");
    CHECK(keyOf("/payload/m~0n", data) == "tilde");
    CHECK(keyOf("/payload/Esc", data) == "x\ty");
    CHECK(keyOf("/payload/Obj/k", data) == "v");
    CHECK_FALSE(keyOf("/payload/Missing", data));
    CHECK_FALSE(keyOf("/payload/Items/5", data));
    CHECK_FALSE(keyOf("/payload/Null", data));
    CHECK_FALSE(keyOf("/payload/Obj", data));
}

TEST_CASE("a pointer key works when data precedes channel")
{
    std::map<std::string, KeyPolicy, std::less<>> m;
    m["/event/E__e"] = pointer("/payload/K");
    Decoded d = decode(R"([{"data":{"payload":{"K":"k1"},"event":{"replayId":3}},"channel":"/event/E__e"}])", policies(m));
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.events[0].key == std::optional<std::string_view>("k1"));
}

TEST_CASE("a CDC gap event carries header and record ids only")
{
    Decoded d = decode(
        R"([{"channel":"/data/ChangeEvents","data":{"payload":{"ChangeEventHeader":{"changeType":"GAP_UPDATE","recordIds":["001A"],)"
        R"("entityName":"Account","commitTimestamp":1743355200001}},"event":{"replayId":77}}}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.events[0].change_type == "GAP_UPDATE");
    CHECK(d.batch.events[0].key == std::optional<std::string_view>("001A"));
    CHECK(d.batch.events[0].timestamp_ms == 1743355200001);
}

TEST_CASE("an unparsable date leaves the timestamp absent, not the batch rejected")
{
    Decoded d = decode(R"([{"channel":"/topic/T","data":{"event":{"replayId":1,"createdDate":"yesterday"}}}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK_FALSE(d.batch.events[0].timestamp_ms);
    CHECK(d.batch.events[0].created_date == "yesterday");
}

TEST_CASE("large and negative replay ids")
{
    Decoded d = decode(R"([{"channel":"/u/A","data":{"event":{"replayId":9223372036854775807}}},)"
                       R"({"channel":"/u/A","data":{"event":{"replayId":-1}}}])");
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.events[0].replay_id == INT64_MAX);
    CHECK(d.batch.events[1].replay_id == -1);
}

TEST_CASE("malformed bodies are rejected whole with a clear error")
{
    struct Case {
        const char *name;
        std::string body;
        const char *error;   // a substring of the expected error
    };
    const std::string ok = kPushTopic;
    const Case cases[] = {
        { "empty body", "", "invalid JSON" },
        { "object root", "{\"channel\":\"/meta/connect\"}", "not a JSON array" },
        { "string root", "\"x\"", "not a JSON array" },
        { "trailing content", "[" + ok + "] x", "" },
        { "second array", "[" + ok + "] []", "" },
        { "trailing comma", "[" + ok + ",]", "message 1" },
        { "unterminated", "[" + ok, "" },
        { "bad literal deep in data", "[" + ok + ",{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2},\"x\":{\"y\":[tru]}}}]", "message 1: invalid JSON" },
        { "bad null deep in data", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2},\"x\":nul}}]", "message 0: invalid JSON" },
        { "bad number deep in data", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2},\"x\":[1,-]}}]", "message 0: invalid JSON" },
        { "bad escape deep in data", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2},\"x\":\"a\\qb\"}}]", "message 0: invalid JSON" },
        { "bad escape in a key", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2},\"\\q\":1}}]", "message 0: invalid JSON" },
        { "bad value in an extra field", "[{\"channel\":\"/topic/X\",\"extra\":[1,,2],\"data\":{\"event\":{\"replayId\":2}}}]", "message 0: invalid JSON" },
        { "bad value in a meta message", "[{\"channel\":\"/meta/connect\",\"advice\":{\"interval\":01}}]", "message 0: invalid JSON" },
        { "missing colon", "[{\"channel\":\"/topic/X\",\"data\" {\"event\":{\"replayId\":2}}}]", "message 0" },
        { "invalid UTF-8", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2},\"s\":\"\xff\"}}]", "invalid JSON" },
        { "unclosed data object", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":2}}]", "" },
    };
    for (const Case &c : cases) {
        CAPTURE(c.name);
        Decoded d = decode(c.body);
        CHECK_FALSE(d.ok);
        CHECK(d.batch.events.empty());
        CHECK(d.batch.meta.empty());
        CHECK_FALSE(d.error.empty());
        CHECK_MESSAGE(d.error.find(c.error) != std::string::npos, d.error);
        // No payload contents in the error text.
        CHECK(d.error.find("a00D0000008o6y8IAA") == std::string::npos);
        CHECK(d.error.find("INV-0001") == std::string::npos);
    }
}

TEST_CASE("a valid message that cannot be decoded is set aside with its raw bytes; the rest decodes")
{
    struct Case {
        const char *name;
        std::string body;
        const char *error;   // a substring of the expected error
    };
    const std::string ok = kPushTopic;
    const Case cases[] = {
        { "message not an object", "[" + ok + ",42]", "message 1: not an object" },
        { "no channel", "[" + ok + ",{\"data\":{\"event\":{\"replayId\":1}}}]", "message 1: message without channel" },
        { "channel not a string", "[{\"channel\":5}]", "message 0: channel is not a string" },
        { "no data", "[{\"channel\":\"/topic/X\"}]", "message 0: event without data object" },
        { "data not an object", "[{\"channel\":\"/topic/X\",\"data\":\"s\"}]", "message 0: event data is not an object" },
        { "no replay id", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{}}}]", "message 0: event without data.event.replayId" },
        { "no event", "[{\"channel\":\"/topic/X\",\"data\":{}}]", "event without data.event.replayId" },
        { "float replay id", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":1.5}}}]", "not an integer" },
        { "string replay id", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":\"1\"}}}]", "not an integer" },
        { "huge replay id", "[{\"channel\":\"/topic/X\",\"data\":{\"event\":{\"replayId\":18446744073709551615}}}]", "not an integer" },
    };
    for (const Case &c : cases) {
        CAPTURE(c.name);
        Decoded d = decode(c.body);
        REQUIRE_MESSAGE(d.ok, d.error);
        REQUIRE(d.batch.undecodable.size() == 1);
        const auto &u = d.batch.undecodable[0];
        CHECK_MESSAGE(u.error.find(c.error) != std::string::npos, u.error);
        // The raw bytes are exactly the message: a JSON value of its own.
        CHECK(c.body.find(std::string(u.raw)) != std::string::npos);
        CHECK((u.raw.front() == '{' || u.raw == "42"));
        CHECK((u.raw.back() == '}' || u.raw == "42"));
        CHECK(d.batch.events.size() == (c.body.starts_with("[" + ok) ? 1u : 0u));
        CHECK(u.position == d.batch.events.size());
        CHECK(u.error.find("a00D0000008o6y8IAA") == std::string::npos);
    }
}

TEST_CASE("an undecodable event among good ones keeps its place, channel and raw bytes")
{
    const std::string bad = R"({"channel":"/topic/X","data":{"event":{"replayId":"seven"},"sobject":{"Id":"z"}}})";
    Decoded d = decode("[" + kPushTopic + "," + bad + " ,\n" + kChange + "," + kConnect + "]");
    REQUIRE_MESSAGE(d.ok, d.error);
    REQUIRE(d.batch.events.size() == 2);
    CHECK(d.batch.meta.size() == 1);
    REQUIRE(d.batch.undecodable.size() == 1);
    const auto &u = d.batch.undecodable[0];
    CHECK(u.position == 1);
    CHECK(u.message == 1);
    CHECK(u.raw == bad);
    CHECK(u.channel == "/topic/X");
    CHECK_FALSE(u.replay_id);
    CHECK(u.error == "message 1: event data.event.replayId is not an integer");

    // Known replay id, no data object: both recorded for the dead letter.
    const std::string noData = R"({"data":"text","channel":"/u/N"})";
    d = decode("[" + noData + "]");
    REQUIRE(d.ok);
    REQUIRE(d.batch.undecodable.size() == 1);
    CHECK(d.batch.undecodable[0].channel == "/u/N");
    CHECK(d.batch.undecodable[0].raw == noData);
}

TEST_CASE("invalid JSON anywhere still fails the whole body, even inside an undecodable message")
{
    // Without a replay id the message is undecodable; its later fields must
    // still be valid JSON or nothing of the response is used.
    Decoded d = decode("[" + kPushTopic + R"(,{"channel":"/topic/X","data":{"event":{}},"x":[1,,2]}])");
    CHECK_FALSE(d.ok);
    CHECK(d.batch.events.empty());
    CHECK(d.batch.undecodable.empty());
    d = decode(R"([{"channel":"/topic/X","data":"s","y":{"a":tru}}])");
    CHECK_FALSE(d.ok);
    d = decode(R"([{"no_channel":1,"z":nul}])");
    CHECK_FALSE(d.ok);
    CHECK(d.batch.undecodable.empty());
}

TEST_CASE("a failed decode leaves nothing usable, and the decoder recovers")
{
    BatchDecoder decoder;
    Decoded d;
    REQUIRE(decodeInto(d, decoder, "[" + kPushTopic + "," + kConnect + "]"));
    CHECK(d.batch.events.size() == 1);
    CHECK_FALSE(decodeInto(d, decoder, "[" + kPushTopic + "," + kConnect + ",{\"channel\":\"/u/X\",\"data\":[tru]}]"));
    CHECK(d.batch.events.empty());
    CHECK(d.batch.meta.empty());
    CHECK(d.batch.undecodable.empty());
    CHECK(d.error.starts_with("message 2: invalid JSON"));
    REQUIRE_MESSAGE(decodeInto(d, decoder, "[" + kChange + "]"), d.error);
    CHECK(d.batch.events.size() == 1);
    CHECK(d.batch.events[0].replay_id == 6);
}

TEST_CASE("a reused batch keeps escaped strings valid for its own decode")
{
    BatchDecoder decoder;
    Decoded d;
    std::string body = "[";
    for (int i = 0; i < 3000; ++i) {
        if (i)
            body += ",";
        body += R"({"channel":"/topic/T","data":{"event":{"replayId":)" + std::to_string(i) +
                R"(},"sobject":{"Id":"id\u0041)" + std::to_string(i) + R"("}}})";
    }
    body += "]";
    for (int round = 0; round < 2; ++round) {
        REQUIRE_MESSAGE(decodeInto(d, decoder, body), d.error);
        REQUIRE(d.batch.events.size() == 3000);
        for (int i = 0; i < 3000; ++i)
            REQUIRE(*d.batch.events[i].key == "idA" + std::to_string(i));
    }
}

TEST_CASE("the key lookup is consulted per channel")
{
    int calls = 0;
    KeyPolicy channelKey = kind(KeyPolicy::Kind::Channel);
    KeyLookup keys = [&](std::string_view) {
        ++calls;
        return &channelKey;
    };
    Decoded d = decode("[" + kGeneric + "," + kGeneric + "," + kGeneric + "]", keys);
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(calls == 1);
    CHECK(d.batch.events[2].key == std::optional<std::string_view>("/u/Notifications"));
}

TEST_CASE("appendJsonString escapes what JSON requires")
{
    using sfk::decode::appendJsonString;
    std::string out = "x=";
    appendJsonString(out, "plain");
    CHECK(out == "x=\"plain\"");
    out.clear();
    appendJsonString(out, std::string("q\"b\\n\nt\tc\x01\x1f\b\f\r/\xc3\xa9"));
    CHECK(out == "\"q\\\"b\\\\n\\nt\\tc\\u0001\\u001f\\b\\f\\r/\xc3\xa9\"");
    out.clear();
    appendJsonString(out, "");
    CHECK(out == "\"\"");
    out.clear();
    appendJsonString(out, std::string_view("a\0b", 3));
    CHECK(out == "\"a\\u0000b\"");

    // What we escape decodes back to the same text.
    const std::string tricky = "ch\"an\\nel\n\x02/\xe2\x82\xac";
    std::string body = R"([{"channel":"/meta/subscribe","error":)";
    appendJsonString(body, tricky);
    body += "}]";
    Decoded d = decode(body);
    REQUIRE_MESSAGE(d.ok, d.error);
    CHECK(d.batch.meta[0].error == tricky);
}

TEST_CASE("many decoders on many threads share the parser pool: every batch is right")
{
    // Parsers are borrowed per decode from a pool bounded by the cores, so
    // 16 decoders (sessions) on 16 threads must queue for them, not collide.
    std::string body = "[";
    for (int i = 0; i < 50; ++i)
        body += (i ? "," : "") + kPushTopic;
    body += "]";
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&] {
            BatchDecoder decoder;
            for (int round = 0; round < 40; ++round) {
                Decoded d;
                if (decodeInto(d, decoder, body) && d.batch.events.size() == 50 &&
                    d.batch.events[49].replay_id == 13 && d.batch.events[49].data == dataOf(kPushTopic))
                    good.fetch_add(1);
            }
        });
    for (auto &t : threads)
        t.join();
    CHECK(good.load() == 16 * 40);
}

TEST_CASE("trim gives back what a large batch left behind, and keeps a busy batch's capacity")
{
    std::string big = "[";
    for (int i = 0; i < 3000; ++i)
        big += (i ? "," : "") + kPushTopic;
    big += "]";
    BatchDecoder decoder;
    Decoded d;
    REQUIRE(decodeInto(d, decoder, big));
    size_t grown = d.batch.events.capacity();
    CHECK(grown >= 3000);
    d.batch.trim();   // it used all of it
    CHECK(d.batch.events.capacity() == grown);
    REQUIRE(decodeInto(d, decoder, "[" + kPushTopic + "]"));
    d.batch.trim();   // one event in room for thousands
    CHECK(d.batch.events.capacity() < grown);
}
