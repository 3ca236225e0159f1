// sfkafkad's Pub/Sub decoder (core/pubsub/) against a real sfemu: events
// published once are read over Pub/Sub (Subscribe, schemas through the
// schema cache with GetSchema as its fetch) and over CometD; the
// cometd_compatible output must be the CometD payload's exact bytes, and
// json mode must expand the change event bitmaps to the right names.
#include <doctest/doctest.h>

#include <map>

#include "pubsub/avro_json.h"
#include "pubsub/schema_cache.h"
#include "pubsub_fixture.h"

using namespace sfk::test;
using namespace sfk::test::emu;
using namespace sfk::test::pubsub;

namespace {

// The fixture's org without its 2 s retention (a loaded machine may take
// longer than that between publishing and reading).
std::string orgYaml()
{
    std::string yaml = kChannelsOrg;
    const std::string retention = "retention:\n  event_seconds: 2\n";
    REQUIRE(yaml.find(retention) != std::string::npos);
    return yaml.erase(yaml.find(retention), retention.size());
}

int64_t replayNumber(const std::string &bytes)
{
    int64_t n = 0;
    for (size_t i = 0; i < 8 && i < bytes.size(); ++i)
        n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    return n;
}

// Replay ids are per channel: events are named "channel replay-id".
std::string eventName(std::string_view channel, int64_t replay_id)
{
    return std::string(channel) + " " + std::to_string(replay_id);
}

// Connects until `n` events arrived: event name -> the raw "payload" object.
std::map<std::string, std::string> cometdPayloads(BayeuxTestClient &client, size_t n)
{
    std::map<std::string, std::string> out;
    simdjson::ondemand::parser parser;
    for (int i = 0; i < 20 && out.size() < n; ++i) {
        simdjson::padded_string body(client.connectRaw().body);
        simdjson::ondemand::document doc = parser.iterate(body);
        for (auto message : doc.get_array()) {
            simdjson::ondemand::object m = message.get_object();
            std::string_view channel = m["channel"].get_string().value();
            if (channel.rfind("/meta/", 0) == 0)
                continue;
            simdjson::ondemand::object data = m["data"].get_object();
            simdjson::ondemand::object payload = data["payload"].get_object();
            std::string raw(payload.raw_json().value());
            int64_t id = data["event"]["replayId"].get_int64().value();
            out[eventName(channel, id)] = raw;
        }
    }
    return out;
}

} // namespace

TEST_CASE("decoded Pub/Sub events equal sfemu's CometD payloads in cometd_compatible mode; json expands bitmaps")
{
    Fixture f({}, orgYaml());
    f.emu.publish("default", "/data/AccountChangeEvent",
                  R"([{"ChangeEventHeader":{"changeType":"CREATE","changedFields":["Industry","Phone","Name.FirstName","Name.LastName"]},)"
                  R"("Name":{"FirstName":"Ann","LastName":"Lee"},"Industry":"Energy","Phone":"555",)"
                  R"("LastModifiedDate":"2024-05-06T07:08:09.000Z","AnnualRevenue":1250000.5},)"
                  R"({"ChangeEventHeader":{"changeType":"UPDATE","changedFields":["LastModifiedDate","BillingAddress.City"]},)"
                  R"("LastModifiedDate":"2024-05-06T07:08:10.000Z","BillingAddress":{"City":"Paris"}}])");
    // With nulledFields in the header: sfemu's CometD side echoes header
    // fields it does not know, Salesforce's CometD carries no nulledFields,
    // so only json mode is checked for this one.
    f.emu.publish("default", "/data/AccountChangeEvent",
                  R"([{"ChangeEventHeader":{"changeType":"UPDATE","changedFields":["Industry","Phone","BillingAddress.City"],)"
                  R"("nulledFields":["Industry","BillingAddress.City"]},"Phone":"556"}])");
    f.emu.publish("default", "/event/Demo__e",
                  R"([{"CreatedDate":"2024-05-06T07:08:09.123Z","CreatedById":"005000000000001AAA",)"
                  R"("Text__c":"h\u00e9llo \"q\"","Count__c":7,"Ratio__c":0.1,"When__c":"2024-01-02T03:04:05.678Z"},)"
                  R"({"Count__c":8}])");

    BayeuxTestClient cometd(f.emu.url(), f.auth.token);
    cometd.handshake();
    cometd.subscribe("/data/AccountChangeEvent", "-2");
    cometd.subscribe("/event/Demo__e", "-2");
    auto payloads = cometdPayloads(cometd, 5);
    REQUIRE(payloads.size() == 5);

    int fetches = 0;
    sfk::pubsub::SchemaCache cache(
        [&](const std::string &id, std::string &json, std::string &) {
            ++fetches;
            json = f.schema(id);
            return true;
        },
        16);
    std::map<std::string, std::pair<std::string, std::string>> decoded; // name -> (cometd mode, json mode)
    for (const char *topic : {"/data/AccountChangeEvent", "/event/Demo__e"}) {
        Stream s(f, f.auth);
        s.request(topic, v1::EARLIEST, 10);
        auto events = s.receive(std::string(topic).find("/data/") == 0 ? 3 : 2);
        for (const auto &e : events) {
            auto schema = cache.lookup(e.event().schema_id());
            REQUIRE_MESSAGE(schema.schema, schema.error);
            std::string compat, json, error;
            REQUIRE_MESSAGE(sfk::pubsub::decodeToJson(*schema.schema, e.event().payload(),
                                                      sfk::pubsub::JsonMode::CometdCompatible, compat, error),
                            error);
            REQUIRE_MESSAGE(sfk::pubsub::decodeToJson(*schema.schema, e.event().payload(),
                                                      sfk::pubsub::JsonMode::Json, json, error),
                            error);
            decoded[eventName(topic, replayNumber(e.replay_id()))] = {compat, json};
        }
        s.finish();
    }
    REQUIRE(decoded.size() == 5);
    // Three schema versions (the CDC record grew, then the event's), each fetched once.
    CHECK(fetches == 3);

    auto cdc = f.emu.published("default", "/data/AccountChangeEvent");
    REQUIRE(cdc.size() == 3);
    auto cdcName = [&](size_t i) { return eventName("/data/AccountChangeEvent", cdc[i].replay_id); };
    for (auto &[name, pair] : decoded) {
        CAPTURE(name);
        REQUIRE(payloads.count(name));
        if (name == cdcName(2)) // the one with nulledFields
            continue;
        CHECK(pair.first == payloads[name]);
    }
    const std::string &third = decoded[cdcName(2)].second;
    CHECK(third.find(R"("nulledFields":["Industry","BillingAddress.City"],"diffFields":[],)"
                     R"("changedFields":["Industry","Phone","BillingAddress.City"]})") != std::string::npos);
    CHECK(decoded[cdcName(0)].second.find(
              R"("changedFields":["Industry","Phone","Name.FirstName","Name.LastName"]})") != std::string::npos);
    CHECK(decoded[cdcName(1)].second.find(R"("changedFields":["LastModifiedDate","BillingAddress.City"]})") !=
          std::string::npos);
    // json mode keeps the epoch milliseconds and every field.
    CHECK(decoded[cdcName(1)].second.find(R"("LastModifiedDate":1714979290000,)") != std::string::npos);
    CHECK(decoded[cdcName(1)].second.find(R"("Name":null,)") != std::string::npos);
}
