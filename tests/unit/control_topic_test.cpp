#include <doctest/doctest.h>

#include <simdjson.h>

#include <string>

#include "kafka/control_topic.h"

using sfk::kafka::GapRecord;
using sfk::kafka::gapRecordJson;

TEST_CASE("a gap record is one JSON object with every field, nulls where unknown")
{
    GapRecord r;
    r.org = "acme";
    r.org_id = "00D000000000001";
    r.channel = "/data/AccountChangeEvent";
    r.reason = "invalid_replay_id";
    r.policy = "earliest";
    r.stored_replay_id = 1234;
    r.resumed_from = -2;
    r.detail = "400::The replayId {1234} you provided was invalid.\n\"quoted\"";
    r.time_ms = 1767225600000;

    simdjson::padded_string text(gapRecordJson(r));
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(text);
    CHECK(std::string(doc["type"].get_string().value()) == "gap");
    CHECK(std::string(doc["org"].get_string().value()) == "acme");
    CHECK(std::string(doc["org_id"].get_string().value()) == "00D000000000001");
    CHECK(std::string(doc["channel"].get_string().value()) == "/data/AccountChangeEvent");
    CHECK(std::string(doc["reason"].get_string().value()) == "invalid_replay_id");
    CHECK(std::string(doc["policy"].get_string().value()) == "earliest");
    CHECK(doc["stored_replay_id"].get_int64().value() == 1234);
    CHECK(doc["resumed_from"].get_int64().value() == -2);
    CHECK(doc["replay_id"].is_null());
    CHECK(std::string(doc["detail"].get_string().value()) == r.detail);
    CHECK(doc["time_ms"].get_int64().value() == 1767225600000);
}

TEST_CASE("a gap record without a time gets the current wall clock")
{
    GapRecord r;
    r.org = "o";
    r.channel = "/event/X__e";
    r.reason = "dead_letter";
    r.policy = "dead_letter";
    r.replay_id = 7;
    simdjson::padded_string text(gapRecordJson(r));
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(text);
    CHECK(doc["time_ms"].get_int64().value() > 1700000000000);
    CHECK(doc["replay_id"].get_int64().value() == 7);
    CHECK(doc["stored_replay_id"].is_null());
}
