// The schema cache (core/pubsub/schema_cache.*): one fetch for concurrent
// misses of one id, failures reported to every waiter and retried on the
// next lookup, the bound on entries, and a fetch that throws.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "pubsub/schema_cache.h"

using namespace sfk::pubsub;

namespace {

std::string schemaText(const std::string &id)
{
    return R"({"type":"record","name":"E)" + id + R"(","fields":[{"name":"x","type":"long"}]})";
}

// A fetch the test releases by hand, counting its calls.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    bool fail = false;
    std::atomic<int> calls{0};

    SchemaCache::Fetch fetch()
    {
        return [this](const std::string &id, std::string &json, std::string &error) {
            ++calls;
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return open; });
            if (fail) {
                error = "UNAVAILABLE: try later";
                return false;
            }
            json = schemaText(id);
            return true;
        };
    }
    void release(bool failing)
    {
        std::lock_guard lock(m);
        open = true;
        fail = failing;
        cv.notify_all();
    }
};

std::vector<SchemaCache::Result> lookupConcurrently(SchemaCache &cache, Gate &gate, bool failing, int threads)
{
    std::vector<SchemaCache::Result> results(static_cast<size_t>(threads));
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i)
        pool.emplace_back([&, i] { results[static_cast<size_t>(i)] = cache.lookup("id1"); });
    // Every thread has missed: one is in the fetch, the others wait on it.
    while (gate.calls.load() == 0)
        std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gate.release(failing);
    for (auto &t : pool)
        t.join();
    return results;
}

} // namespace

TEST_CASE("concurrent misses for one id fetch once and share one parsed schema")
{
    Gate gate;
    SchemaCache cache(gate.fetch(), 8);
    auto results = lookupConcurrently(cache, gate, false, 8);
    CHECK(gate.calls.load() == 1);
    CHECK(cache.fetches() == 1);
    for (auto &r : results) {
        REQUIRE(r.schema);
        CHECK(r.error.empty());
        CHECK(r.schema == results[0].schema);
    }
    CHECK(cache.lookup("id1").schema == results[0].schema); // a hit
    CHECK(cache.find("id1") == results[0].schema);
    CHECK(gate.calls.load() == 1);
}

TEST_CASE("a failed fetch is reported to every waiter and fetched again on the next lookup")
{
    Gate gate;
    SchemaCache cache(gate.fetch(), 8);
    auto results = lookupConcurrently(cache, gate, true, 5);
    CHECK(gate.calls.load() == 1);
    for (auto &r : results) {
        CHECK_FALSE(r.schema);
        CHECK(r.error == "schema id1: UNAVAILABLE: try later");
    }
    CHECK(cache.find("id1") == nullptr);
    CHECK(cache.size() == 0);
    gate.release(false);
    auto again = cache.lookup("id1");
    CHECK(again.schema);
    CHECK(gate.calls.load() == 2);
}

TEST_CASE("text that does not parse and a fetch that throws are failures, not cached")
{
    int calls = 0;
    SchemaCache cache(
        [&](const std::string &id, std::string &json, std::string &) {
            ++calls;
            if (id == "throws")
                throw std::runtime_error("channel gone");
            json = "not a schema";
            return true;
        },
        8);
    auto bad = cache.lookup("bad");
    CHECK_FALSE(bad.schema);
    CHECK(bad.error.find("schema bad: schema is not JSON") == 0);
    auto thrown = cache.lookup("throws");
    CHECK_FALSE(thrown.schema);
    CHECK(thrown.error == "schema throws: channel gone");
    cache.lookup("bad");
    CHECK(calls == 3);
}

TEST_CASE("at most max_entries schemas stay cached, least recently used dropped first; holders keep theirs")
{
    int calls = 0;
    SchemaCache cache(
        [&](const std::string &id, std::string &json, std::string &) {
            ++calls;
            json = schemaText(id);
            return true;
        },
        2);
    auto a = cache.lookup("a").schema;
    cache.lookup("b");
    CHECK(cache.find("a") == a); // a is now the most recent
    cache.lookup("c");           // drops b
    CHECK(cache.size() == 2);
    CHECK(cache.find("b") == nullptr);
    CHECK(cache.find("a") == a);
    CHECK(calls == 3);
    cache.lookup("b"); // fetched again, drops c
    CHECK(calls == 4);
    CHECK(cache.find("c") == nullptr);
    cache.lookup("d"); // drops a, which this test still holds
    CHECK(cache.find("a") == nullptr);
    REQUIRE(a);
    CHECK(a->root().fields.at(0).name == "x");
}
