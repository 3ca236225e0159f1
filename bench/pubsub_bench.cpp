// How fast sfemu serves pre-generated platform events over its Pub/Sub API
// (gRPC over TLS, Avro payloads) to one subscriber on several topics at
// once: one Subscribe stream per topic on one channel, each asking for 100
// events at a time (the most Salesforce allows outstanding) as soon as its
// credit runs out, until it has every event.
//
//   pubsub_bench [--events N] [--topics K] [--bytes B] [--passes P]
//
// Prints events/s and MB/s per stream and in total, per pass and the best.
// The first pass also pays for the one-time Avro encoding of the events.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pubsub_read.h"
#include "sfemu_process.h"
#include "sfemu_test_client.h"

namespace v1 = eventbus::v1;
namespace ps = sfk::test::pubsub;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
    size_t events = 0;
    size_t bytes = 0;
    double seconds = 0;
    std::string error;
};

Result drain(v1::PubSub::Stub &stub, const ps::Auth &auth, const std::string &topic, size_t want)
{
    Result r;
    auto t0 = Clock::now();
    std::string why;
    r.events = sfk::bench::readEarliest(
        stub, auth, topic, want,
        [&](const v1::FetchResponse &resp) {
            for (auto &e : resp.events())
                r.bytes += e.event().payload().size();
        },
        &why);
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r.events < want)
        r.error = "stream ended after " + std::to_string(r.events) + " events: " + why;
    return r;
}

} // namespace

int main(int argc, char **argv)
{
    size_t events = 50000, topics = 4, bytes = 1024, passes = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        size_t v = std::strtoull(argv[i + 1], nullptr, 10);
        if (a == "--events") events = v;
        else if (a == "--topics") topics = v;
        else if (a == "--bytes") bytes = v;
        else if (a == "--passes") passes = v;
        else {
            std::fprintf(stderr, "usage: pubsub_bench [--events N] [--topics K] [--bytes B] [--passes P]\n");
            return 2;
        }
    }
    std::string yaml = "orgs:\n  - name: default\n    org_id: 00D000000000001AAA\n    users:\n"
                       "      - {username: user@example.com, password: password, user_id: 005000000000001AAA}\n"
                       "    apps:\n      - {client_id: sfemu-client, client_secret: sfemu-secret}\n    channels: [";
    for (size_t t = 0; t < topics; ++t)
        yaml += (t ? ", " : "") + std::string("/event/Bench") + std::to_string(t) + "__e";
    yaml += "]\n";
    try {
        auto emu = sfk::test::SfemuProcess::start(yaml);
        for (size_t t = 0; t < topics; ++t)
            emu.generate("default", "/event/Bench" + std::to_string(t) + "__e", static_cast<int>(events),
                         static_cast<int>(bytes));
        ps::Auth auth{sfk::test::emu::passwordToken(emu.url()), emu.url(), "00D000000000001AAA"};
        auto channel = ps::tlsChannel(emu.pubsubAddress(), emu.pubsubCa());
        auto stub = v1::PubSub::NewStub(channel);
        std::printf("pubsub_bench: %zu topics x %zu events of ~%zu bytes, TLS, one channel\n", topics, events,
                    bytes);
        double best = 0;
        for (size_t p = 0; p < passes; ++p) {
            std::vector<Result> results(topics);
            std::vector<std::thread> threads;
            auto t0 = Clock::now();
            for (size_t t = 0; t < topics; ++t)
                threads.emplace_back([&, t] {
                    results[t] = drain(*stub, auth, "/event/Bench" + std::to_string(t) + "__e", events);
                });
            for (auto &th : threads)
                th.join();
            double wall = std::chrono::duration<double>(Clock::now() - t0).count();
            size_t total = 0, total_bytes = 0;
            for (size_t t = 0; t < topics; ++t) {
                if (!results[t].error.empty()) {
                    std::fprintf(stderr, "pubsub_bench: %s\n", results[t].error.c_str());
                    return 1;
                }
                total += results[t].events;
                total_bytes += results[t].bytes;
                std::printf("  pass %zu stream %zu: %.0f events/s\n", p + 1, t,
                            static_cast<double>(results[t].events) / results[t].seconds);
            }
            double rate = static_cast<double>(total) / wall;
            best = std::max(best, rate);
            std::printf("pass %zu: %.0f events/s total, %.1f MB/s of Avro payload, %.2f s\n", p + 1, rate,
                        static_cast<double>(total_bytes) / wall / 1e6, wall);
        }
        std::printf("best: %.0f events/s total over %zu streams\n", best, topics);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "pubsub_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
