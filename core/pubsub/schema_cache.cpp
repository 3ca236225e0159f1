#include "pubsub/schema_cache.h"

#include <exception>

namespace sfk::pubsub {

SchemaCache::SchemaCache(Fetch fetch, size_t max_entries)
    : fetch_(std::move(fetch)), max_entries_(max_entries ? max_entries : 1)
{
}

WriterSchemaPtr SchemaCache::find(const std::string &schema_id)
{
    std::lock_guard lock(mutex_);
    auto it = slots_.find(schema_id);
    if (it == slots_.end() || !it->second->done)
        return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second->lru);
    return it->second->result.schema;
}

SchemaCache::Result SchemaCache::lookup(const std::string &schema_id)
{
    std::shared_ptr<Slot> slot;
    {
        std::unique_lock lock(mutex_);
        auto it = slots_.find(schema_id);
        if (it != slots_.end()) {
            slot = it->second;
            if (slot->done) {
                lru_.splice(lru_.begin(), lru_, slot->lru);
                return slot->result;
            }
            // Another caller is fetching this id: wait for its result.
            done_.wait(lock, [&] { return slot->done; });
            return slot->result;
        }
        slot = std::make_shared<Slot>();
        slots_.emplace(schema_id, slot);
        ++fetches_;
    }

    Result result;
    std::string json;
    try {
        if (fetch_(schema_id, json, result.error))
            result.schema = WriterSchema::parse(json, result.error);
    } catch (const std::exception &e) {
        result.error = e.what();
    }
    if (!result.schema)
        result.error = "schema " + schema_id + ": " + (result.error.empty() ? "fetch failed" : result.error);
    else
        result.error.clear();

    std::lock_guard lock(mutex_);
    slot->result = result;
    slot->done = true;
    if (result.schema) {
        lru_.push_front(schema_id);
        slot->lru = lru_.begin();
        evictLocked();
    } else {
        slots_.erase(schema_id); // waiters hold the slot; the next lookup fetches again
    }
    done_.notify_all();
    return result;
}

void SchemaCache::evictLocked()
{
    while (lru_.size() > max_entries_) {
        slots_.erase(lru_.back());
        lru_.pop_back();
    }
}

size_t SchemaCache::size() const
{
    std::lock_guard lock(mutex_);
    return lru_.size();
}

size_t SchemaCache::fetches() const
{
    std::lock_guard lock(mutex_);
    return fetches_;
}

} // namespace sfk::pubsub
