// What sfkafkad spends per Pub/Sub event between the gRPC response and the
// Kafka producer: the Avro payload decoded to JSON (pubsub/avro_json.h
// decodeToJson) and the whole per-event step the daemon runs
// (pubsub_transport.cpp handleResponse: the schema cache lookup, then
// pubsub/event_values.h EventValues::build), in json and cometd_compatible.
//
// The schemas and Avro bytes are sfemu's: realistic events are published
// once through its admin API and read back over its Pub/Sub API, so the
// payloads are the ones the daemon decodes in the pipeline benchmark.
//
//   avro_bench [--iterations N]     (SFKAFKA_BUILD_ROOT: the build with sfemu)
//
// Each figure is the fastest of five runs of N/5 passes over 100 events.
//
// Prints one line per payload and step, then one JSON line for
// bench/run_bench.py: {"avro_decode_us": {"<payload>": {"<step>": µs}}}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "pubsub/avro_json.h"
#include "pubsub/encoding_check.h"
#include "pubsub/event_values.h"
#include "pubsub/schema_cache.h"
#include "pubsub_read.h"
#include "sfemu_process.h"
#include "sfemu_test_client.h"

namespace v1 = eventbus::v1;
namespace ps = sfk::test::pubsub;
using Clock = std::chrono::steady_clock;

namespace {

const char *kOrgId = "00D000000000001AAA";

std::string text(size_t n, int seed)
{
    static const char *words[] = {"order", "shipment", "warehouse", "priority", "customer", "invoice", "délai",
                                  "region", "north", "pallet", "tracking", "confirmed"};
    std::string s;
    for (int i = seed; s.size() < n; ++i)
        s += std::string(words[i % 12]) + ' ';
    s.resize(n);
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80)
        s.pop_back();   // not inside a multi-byte character
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0)
        s.pop_back();
    return s;
}

// A platform event of about 900 bytes of JSON: the standard fields plus a
// dozen custom ones of every type Salesforce gives platform event fields.
std::string platformEvents(int count)
{
    std::string out = "[";
    for (int i = 0; i < count; ++i) {
        out += i ? "," : "";
        out += R"({"CreatedDate":"2026-04-09T18:31:40.517Z","CreatedById":"005D0000001cSZsIAM",)"
               R"("Order_Number__c":"ORD-)" + std::to_string(100000 + i) +
               R"(","Customer_Id__c":"0015g00000AbCdEAAZ","Amount__c":)" + std::to_string(i % 997) +
               R"(.25,"Quantity__c":)" + std::to_string(i % 40 + 1) +
               R"(,"Currency__c":"EUR","Status__c":"Confirmed","Express__c":)" + (i % 3 ? "false" : "true") +
               R"(,"Ship_By__c":"2026-04-12T09:00:00.000Z","Region__c":"EMEA-North","Channel__c":"Web",)"
               R"("Discount__c":0.075,"Warehouse__c":"WH-0042","Notes__c":")" + text(560, i) + "\"}";
    }
    return out + "]";
}

// An Account change event: a CREATE that sets most of the fields (and so
// makes the schema carry them: ~40 fields, two compound ones), or an UPDATE
// that changes three, the rest null, as most change events are.
std::string accountChange(bool create, int i)
{
    if (!create)
        return R"({"ChangeEventHeader":{"changeType":"UPDATE","changedFields":["Phone","Rating","LastModifiedDate"]},)"
               R"("Phone":"+33 1 23 45 67 )" + std::to_string(10 + i % 90) +
               R"(","Rating":"Hot","LastModifiedDate":"2026-04-09T18:31:41.000Z"})";
    std::string e = R"({"ChangeEventHeader":{"changeType":"CREATE","changedFields":[]},)"
                    R"("Name":"Acme Corp )" + std::to_string(i) + R"(","Type":"Customer - Direct",)"
                    R"("BillingAddress":{"Street":"1 Market St","City":"Paris","State":"IDF","PostalCode":"75001",)"
                    R"("Country":"France","Latitude":48.8566,"Longitude":2.3522},)"
                    R"("ShippingAddress":{"Street":"2 Dock Rd","City":"Le Havre","PostalCode":"76600","Country":"France"},)"
                    R"("Phone":"+33 1 23 45 67 89","Fax":"+33 1 23 45 67 80","AccountNumber":"CD451796",)"
                    R"("Website":"https://acme.example","Sic":"6576","Industry":"Energy","AnnualRevenue":1250000.5,)"
                    R"("NumberOfEmployees":420,"Ownership":"Public","TickerSymbol":"ACME","Rating":"Warm",)"
                    R"("Site":"Headquarters","OwnerId":"0055g00000Axxxx","CreatedDate":"2026-04-09T18:31:40.000Z",)"
                    R"("CreatedById":"0055g00000Axxxx","LastModifiedDate":"2026-04-09T18:31:40.000Z",)"
                    R"("LastModifiedById":"0055g00000Axxxx","AccountSource":"Web","SLA__c":"Gold",)"
                    R"("SLAExpirationDate__c":"2027-04-09T00:00:00.000Z","Active__c":"Yes","NumberofLocations__c":12,)"
                    R"("UpsellOpportunity__c":"Maybe","CustomerPriority__c":"High","Description":")";
    return e + text(300, i) + "\"}";
}

struct Payload {
    std::string name;
    std::string channel;
    std::vector<v1::ConsumerEvent> events;
};

std::vector<v1::ConsumerEvent> readAll(v1::PubSub::Stub &stub, const ps::Auth &auth, const std::string &topic,
                                       size_t want)
{
    std::vector<v1::ConsumerEvent> out;
    std::string why;
    sfk::bench::readEarliest(
        stub, auth, topic, want,
        [&](const v1::FetchResponse &resp) { out.insert(out.end(), resp.events().begin(), resp.events().end()); },
        &why);
    if (out.size() < want)
        throw std::runtime_error(topic + ": " + std::to_string(out.size()) + " of " + std::to_string(want) +
                                 " events: " + why);
    return out;
}

// µs per event of `step`: the fastest of five runs of `iterations` / 5
// passes over `events` (the machine is shared; the fastest run is the one
// least disturbed).
template <class Step>
double timed(const std::vector<v1::ConsumerEvent> &events, size_t iterations, Step step)
{
    const size_t passes = std::max<size_t>(1, iterations / 5);
    double best = 0;
    for (int run = 0; run < 5; ++run) {
        auto t0 = Clock::now();
        for (size_t it = 0; it < passes; ++it)
            for (const auto &e : events)
                step(e);
        double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() /
                    static_cast<double>(passes * events.size());
        best = run == 0 ? us : std::min(best, us);
    }
    return best;
}

} // namespace

int main(int argc, char **argv)
{
    size_t iterations = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::string(argv[i]) == "--iterations") {
            iterations = std::strtoull(argv[i + 1], nullptr, 10);
        } else {
            std::fprintf(stderr, "usage: avro_bench [--iterations N]\n");
            return 2;
        }
    }
    const int kEvents = 100;
    try {
        auto emu = sfk::test::SfemuProcess::start(
            std::string("orgs:\n  - name: default\n    org_id: ") + kOrgId +
            "\n    users:\n      - {username: user@example.com, password: password, user_id: 005000000000001AAA}\n"
            "    apps:\n      - {client_id: sfemu-client, client_secret: sfemu-secret}\n"
            "    channels: [/event/Order_Placed__e, /data/AccountChangeEvent]\n");
        emu.publish("default", "/event/Order_Placed__e", platformEvents(kEvents));
        // Every CREATE first, so the UPDATEs are written with the full schema.
        std::string creates = "[", updates = "[";
        for (int i = 0; i < kEvents; ++i) {
            creates += i ? "," : "";
            creates += accountChange(true, i);
            updates += i ? "," : "";
            updates += accountChange(false, i);
        }
        emu.publish("default", "/data/AccountChangeEvent", creates + "]");
        emu.publish("default", "/data/AccountChangeEvent", updates + "]");

        ps::Auth auth{sfk::test::emu::passwordToken(emu.url()), emu.url(), kOrgId};
        auto stub = v1::PubSub::NewStub(ps::tlsChannel(emu.pubsubAddress(), emu.pubsubCa()));
        auto cdc = readAll(*stub, auth, "/data/AccountChangeEvent", 2 * kEvents);
        std::vector<Payload> payloads = {
            {"platform_event", "/event/Order_Placed__e", readAll(*stub, auth, "/event/Order_Placed__e", kEvents)},
            {"cdc_create", "/data/AccountChangeEvent", {cdc.begin(), cdc.begin() + kEvents}},
            {"cdc_update", "/data/AccountChangeEvent", {cdc.begin() + kEvents, cdc.end()}},
        };

        sfk::pubsub::SchemaCache cache(
            [&](const std::string &id, std::string &json, std::string &error) {
                grpc::ClientContext ctx;
                auth.apply(ctx);
                v1::SchemaRequest req;
                req.set_schema_id(id);
                v1::SchemaInfo info;
                auto status = stub->GetSchema(&ctx, req, &info);
                json = info.schema_json();
                error = status.error_message();
                return status.ok();
            },
            16);

        std::map<std::string, std::map<std::string, double>> results;
        for (const auto &p : payloads) {
            size_t avro_bytes = 0, json_bytes = 0;
            for (const auto &e : p.events) {
                auto s = cache.lookup(e.event().schema_id());
                if (!s.schema)
                    throw std::runtime_error("schema " + e.event().schema_id() + ": " + s.error);
                std::string json, error;
                if (!sfk::pubsub::decodeToJson(*s.schema, e.event().payload(), sfk::pubsub::JsonMode::Json, json,
                                               error))
                    throw std::runtime_error(p.name + ": " + error);
                avro_bytes += e.event().payload().size();
                json_bytes += json.size();
            }
            const auto schema = cache.lookup(p.events.front().event().schema_id()).schema;
            // Where decodeToJson's time goes: the pre-read check, and avro-c
            // building and reading a generic value (what is left is JSON writing).
            std::string check_error;
            double check = timed(p.events, iterations, [&](const v1::ConsumerEvent &e) {
                if (!sfk::pubsub::checkEncoding(cache.find(e.event().schema_id())->root(), e.event().payload(),
                                                check_error))
                    std::abort();
            });
            double avro_read = timed(p.events, iterations, [&](const v1::ConsumerEvent &e) {
                avro_value_t v;
                if (avro_generic_value_new(cache.find(e.event().schema_id())->valueClass(), &v) != 0)
                    std::abort();
                const std::string &bytes = e.event().payload();
                avro_reader_t reader = avro_reader_memory(bytes.data(), static_cast<int64_t>(bytes.size()));
                if (avro_value_read(reader, &v) != 0)
                    std::abort();
                avro_reader_free(reader);
                avro_value_decref(&v);
            });
            results[p.name]["check_encoding"] = check;
            results[p.name]["avro_c_value_new_read"] = avro_read;
            std::printf("%s: %zu events, %zu B Avro / %zu B JSON each, schema of %zu fields\n", p.name.c_str(),
                        p.events.size(), avro_bytes / p.events.size(), json_bytes / p.events.size(),
                        schema->root().fields.size());
            std::printf("  of which: checkEncoding %.2f us/event, avro-c value new + read + free %.2f us/event\n",
                        check, avro_read);
            for (auto [mode, format, label] :
                 {std::tuple{sfk::pubsub::JsonMode::Json, sfk::config::ValueFormat::Json, "json"},
                  std::tuple{sfk::pubsub::JsonMode::CometdCompatible, sfk::config::ValueFormat::CometdCompatible,
                             "cometd_compatible"}}) {
                std::string out, error;
                double decode = timed(p.events, iterations, [&](const v1::ConsumerEvent &e) {
                    auto s = cache.find(e.event().schema_id());
                    if (!sfk::pubsub::decodeToJson(*s, e.event().payload(), mode, out, error))
                        std::abort();
                });
                sfk::config::Channel channel;
                channel.name = p.channel;
                channel.transport = sfk::config::Transport::Pubsub;
                channel.value_format = format;
                sfk::pubsub::EventValues values;
                sfk::decode::Batch batch;
                double build = timed(p.events, iterations, [&](const v1::ConsumerEvent &e) {
                    // One response's worth per batch, as the daemon clears it.
                    if (batch.events.size() == 100)
                        batch.clear();
                    auto s = cache.lookup(e.event().schema_id());
                    sfk::decode::Event ev;
                    if (!values.build(channel, *s.schema, e, batch, ev, error))
                        std::abort();
                    batch.events.push_back(ev);
                });
                std::printf("  %-17s decodeToJson %.2f us/event, per event as the daemon runs it "
                            "(lookup + EventValues::build) %.2f us/event\n",
                            label, decode, build);
                results[p.name][std::string(label) + "_decode"] = decode;
                results[p.name][std::string(label) + "_build"] = build;
            }
        }
        std::string json = "{\"avro_decode_us\":{";
        for (auto pi = results.begin(); pi != results.end(); ++pi) {
            json += (pi == results.begin() ? "\"" : ",\"") + pi->first + "\":{";
            for (auto si = pi->second.begin(); si != pi->second.end(); ++si)
                json += (si == pi->second.begin() ? "\"" : ",\"") + si->first + "\":" + std::to_string(si->second);
            json += "}";
        }
        std::printf("%s}}\n", json.c_str());
    } catch (const std::exception &e) {
        std::fprintf(stderr, "avro_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
