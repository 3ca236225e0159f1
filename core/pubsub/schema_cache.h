#pragma once
// Parsed writer schemas by schema id, fetched on a miss by an injected
// function (the daemon's calls GetSchema). Thread-safe and single-flight:
// concurrent misses for one id wait for one fetch. A fetch that fails (or
// returns text that does not parse) is reported to every caller waiting for
// it and is not remembered, so the next lookup fetches again. At most
// `max_entries` schemas stay cached (least recently used dropped first); a
// dropped schema lives on while a caller still holds it.
//
// lookup() blocks for the fetch: call it on a worker thread, never on a gRPC
// callback thread; find() never blocks on a fetch.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pubsub/writer_schema.h"

namespace sfk::pubsub {

class SchemaCache {
public:
    // Returns true with the schema's JSON text, or false with an error.
    using Fetch = std::function<bool(const std::string &schema_id, std::string &schema_json, std::string &error)>;

    struct Result {
        WriterSchemaPtr schema;   // nullptr on failure
        std::string error;
    };

    SchemaCache(Fetch fetch, size_t max_entries);

    // The cached schema, or the result of one fetch shared with every
    // concurrent lookup of the same id.
    Result lookup(const std::string &schema_id);
    // The cached schema, or nullptr (no fetch).
    WriterSchemaPtr find(const std::string &schema_id);

    size_t size() const;
    // How many fetches ran (hits and joined waits do not count).
    size_t fetches() const;

private:
    struct Slot {
        bool done = false;
        Result result;
        std::list<std::string>::iterator lru; // valid once done and cached
    };

    void evictLocked();

    Fetch fetch_;
    size_t max_entries_;
    mutable std::mutex mutex_;
    std::condition_variable done_;
    std::map<std::string, std::shared_ptr<Slot>> slots_;
    std::list<std::string> lru_; // most recently used first; cached ids only
    size_t fetches_ = 0;
};

} // namespace sfk::pubsub
