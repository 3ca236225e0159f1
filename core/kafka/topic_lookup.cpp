// EventSink's topic lookups and in-flight windows (README: Dead letters;
// docs/architecture.md, step 6): each topic is looked up once it is asked
// for, its durability checked and its max.message.bytes learnt; a topic
// whose limit is below librdkafka's batch size gets a window on the bytes
// in flight to it.

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kafka/event_sink.h"
#include "log/log.h"

namespace sfk::kafka {

namespace {

// What a record adds to a batch as the broker counts it, rounded up: key,
// value, header names and values, and the varints framing each.
int64_t recordBytes(size_t key, size_t value, size_t header_bytes, size_t header_count)
{
    return static_cast<int64_t>(key + value + header_bytes + 32 + 8 * header_count);
}

constexpr std::chrono::seconds kFirstRetry{5}, kLastRetry{60};

} // namespace

void EventSink::prepareTopics(const std::vector<std::string> &topics)
{
    {
        std::lock_guard lock(topicsMutex_);
        for (const auto &t : topics)
            if (knownTopics_.insert(t).second) {
                pendingTopics_.push_back(t);
                firstLookups_.insert(t);
            }
        firstLookupCount_.store(static_cast<int>(firstLookups_.size()));
    }
    topicsWake_.notify_all();
}

void EventSink::prepareLoop()
{
    std::unique_lock lock(topicsMutex_);
    while (!stopping_.load()) {
        topicsWake_.wait_for(lock, std::chrono::milliseconds(200),
                             [this] { return stopping_.load() || !pendingTopics_.empty(); });
        if (stopping_.load())
            break;
        auto now = std::chrono::steady_clock::now();
        for (auto &[topic, retry] : retries_)
            if (retry.due && retry.at <= now) {
                retry.due = false;
                pendingTopics_.push_back(topic);
            }
        if (pendingTopics_.empty())
            continue;
        std::vector<std::string> batch;
        batch.swap(pendingTopics_);
        for (const auto &topic : batch) {
            if (stopping_.load())
                break;
            const bool first = firstLookups_.count(topic) != 0;
            lock.unlock();
            const bool ok = lookUpTopic(topic, first);
            lock.lock();
            if (ok) {
                retries_.erase(topic);
            } else {
                Retry &r = retries_.try_emplace(topic, Retry{{}, kFirstRetry, false}).first->second;
                r.at = std::chrono::steady_clock::now() + r.delay;
                r.due = true;
                r.delay = std::min(r.delay * 2, kLastRetry);
            }
            if (first) {
                firstLookups_.erase(topic);
                firstLookupCount_.store(static_cast<int>(firstLookups_.size()));
                lookedUp_.notify_all();
            }
        }
    }
    // Nobody waits for a lookup that will not happen.
    firstLookups_.clear();
    firstLookupCount_.store(0);
    lookedUp_.notify_all();
}

bool EventSink::lookUpTopic(const std::string &topic, bool first)
{
    // Short: a lookup that times out only means the first records take
    // librdkafka's slower path; it must not hold up shutdown.
    constexpr int kLookupTimeoutMs = 2000;
    std::shared_lock producerLock(producerMutex_);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    if (!rkt) {
        if (first)
            log::warn("kafka", std::string("cannot open topic: ") + rd_kafka_err2str(rd_kafka_last_error()),
                      {{"topic", topic}});
        return false;
    }
    const rd_kafka_metadata_t *md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &md, kLookupTimeoutMs);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->topic_cnt == 1)
        err = md->topics[0].err;
    bool known = false;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        log::debug("kafka", "topic ready",
                   {{"topic", topic}, {"partitions", std::to_string(md->topics[0].partition_cnt)}});
        known = checkDurability(topic, md->topics[0], first);
    } else if (first && err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {   // retries stay quiet
        log::warn("kafka", "topic not found on the brokers: created on first use if they auto-create "
                           "topics, else its events wait and fail after message.timeout.ms",
                  {{"topic", topic}});
    } else if (first) {
        log::warn("kafka", std::string("topic lookup failed: ") + rd_kafka_err2str(err), {{"topic", topic}});
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    // Still under the shared lock: the handle belongs to this producer.
    std::lock_guard handlesLock(handlesMutex_);
    topicHandles_.push_back(rkt);
    return known;
}

EventSink::TopicSettings EventSink::describeTopic(const std::string &topic)
{
    // Called under the shared producer lock. The Admin API works on a
    // producer handle.
    constexpr int kTimeoutMs = 2000;
    char err[256];
    TopicSettings value;
    rd_kafka_ConfigResource_t *resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(options, kTimeoutMs, err, sizeof err);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk_);
    rd_kafka_DescribeConfigs(rk_, &resource, 1, options, queue);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, kTimeoutMs + 1000);
    if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT && !rd_kafka_event_error(ev)) {
        size_t count = 0;
        const rd_kafka_ConfigResource_t **resources =
            rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &count);
        for (size_t i = 0; i < count && !rd_kafka_ConfigResource_error(resources[i]); ++i) {
            size_t n = 0;
            const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(resources[i], &n);
            for (size_t j = 0; j < n; ++j) {
                const char *name = rd_kafka_ConfigEntry_name(entries[j]);
                const char *v = rd_kafka_ConfigEntry_value(entries[j]);
                if (!v)
                    continue;
                if (std::strcmp(name, "min.insync.replicas") == 0)
                    value.min_insync_replicas = std::atoi(v);
                else if (std::strcmp(name, "max.message.bytes") == 0 && std::atoll(v) > 0)
                    value.max_message_bytes = std::atoll(v);
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_ConfigResource_destroy(resource);
    return value;
}

bool EventSink::checkDurability(const std::string &topic, const ::rd_kafka_metadata_topic &md, bool first)
{
    // acks=all waits for the in-sync replicas only: with fewer than 3
    // replicas or min.insync.replicas below 2, an acknowledged event (and
    // so a committed replay id) can be lost with one broker's disk.
    int replicas = md.partition_cnt > 0 ? md.partitions[0].replica_cnt : 0;
    for (int i = 1; i < md.partition_cnt; ++i)
        replicas = std::min(replicas, md.partitions[i].replica_cnt);
    TopicSettings settings = describeTopic(topic);
    if (settings.max_message_bytes)
        learnLimit(topic, *settings.max_message_bytes);
    const bool complete = settings.max_message_bytes && settings.min_insync_replicas;
    std::optional<int> minIsr = settings.min_insync_replicas;
    // Judged at the first lookup, and again when a retry gets the answer
    // the first one lacked.
    if ((replicas >= 3 && minIsr && *minIsr >= 2) || (!first && !complete))
        return complete;
    log::warn("kafka",
              "topic is weaker than acks=all needs to be durable (replication factor >= 3 and "
              "min.insync.replicas >= 2): one broker failure can lose events Kafka acknowledged",
              {{"topic", topic},
               {"replication_factor", std::to_string(replicas)},
               {"min_insync_replicas", minIsr ? std::to_string(*minIsr) : std::string("unknown")}});
    return complete;
}

void EventSink::learnLimit(const std::string &topic, int64_t max_message_bytes)
{
    // A batch of several records stays within largestBatch_ (librdkafka adds
    // a record only while it fits); compression may add a little to
    // incompressible bytes, and the batch has a header.
    const int64_t slack = max_message_bytes / 128 + 512;
    if (max_message_bytes >= largestBatch_ + slack)
        return;
    std::unique_lock lock(windowsMutex_);
    if (windows_.count(topic))
        return;   // a later lookup (new producer): the window stays as it is
    auto w = std::make_unique<TopicWindow>();
    w->budget = std::max<int64_t>(1, max_message_bytes - slack);
    log::info("kafka",
              "topic's max.message.bytes is below the producer's batch size: records in flight to it are "
              "kept within its limit, so a refused batch never takes other records with it",
              {{"topic", topic}, {"max_message_bytes", std::to_string(max_message_bytes)},
               {"batch_bytes", std::to_string(largestBatch_)}});
    windows_.emplace(topic, std::move(w));
    anyWindow_.store(true);
}

EventSink::TopicWindow *EventSink::windowFor(std::string_view topic) const
{
    if (!anyWindow_.load(std::memory_order_relaxed))
        return nullptr;   // the usual case: no lock
    std::shared_lock lock(windowsMutex_);
    auto it = windows_.find(topic);
    return it == windows_.end() ? nullptr : it->second.get();
}

bool EventSink::awaitFirstLookup(std::string_view topic, const std::function<bool()> &whileWaiting)
{
    if (firstLookupCount_.load(std::memory_order_relaxed) == 0)
        return true;
    std::unique_lock lock(topicsMutex_);
    while (firstLookups_.count(topic) != 0) {
        if (stopping_.load())
            return false;
        if (whileWaiting) {
            lock.unlock();
            const bool go = whileWaiting();
            lock.lock();
            if (!go)
                return false;
        }
        lookedUp_.wait_for(lock, std::chrono::milliseconds(20));
    }
    return true;
}

int64_t EventSink::windowBytes(const OutRecord &r)
{
    size_t header_bytes = 0;
    for (size_t i = 0; i < r.header_count; ++i)
        header_bytes += r.headers[i].key.size() + r.headers[i].value.size();
    return recordBytes(r.key ? r.key->size() : 0, r.value.size(), header_bytes, r.header_count);
}

bool EventSink::enterWindow(TopicWindow &w, int64_t bytes, const std::function<bool()> &whileWaiting,
                            std::string &error)
{
    std::unique_lock lock(w.mutex);
    // A record larger than the window travels alone; while one waits for
    // the window to empty, smaller ones wait behind it, so it is not
    // overtaken forever.
    const bool alone = bytes > w.budget;
    if (alone)
        ++w.alone_waiting;
    auto fits = [&] { return alone ? w.in_flight == 0 : w.alone_waiting == 0 && w.in_flight + bytes <= w.budget; };
    while (!fits()) {
        bool go = !stopping_.load();
        if (go && whileWaiting) {
            lock.unlock();
            go = whileWaiting();
            lock.lock();
        }
        if (!go) {
            if (alone)
                --w.alone_waiting;
            w.freed.notify_all();
            error = "stopped while waiting for room in the topic's in-flight window";
            return false;
        }
        w.freed.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (alone)
        --w.alone_waiting;
    w.in_flight += bytes;
    return true;
}

void EventSink::leaveWindow(TopicWindow &w, int64_t bytes)
{
    {
        std::lock_guard lock(w.mutex);
        // Records produced before the window existed were never counted.
        w.in_flight = std::max<int64_t>(0, w.in_flight - bytes);
    }
    w.freed.notify_all();
}

void EventSink::leaveWindowOf(const rd_kafka_message_t *m)
{
    TopicWindow *w = m->rkt ? windowFor(rd_kafka_topic_name(m->rkt)) : nullptr;
    if (!w)
        return;
    rd_kafka_headers_t *headers = nullptr;
    size_t header_bytes = 0, header_count = 0;
    if (rd_kafka_message_headers(const_cast<rd_kafka_message_t *>(m), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
            header_bytes += std::strlen(name) + size;
            ++header_count;
        }
    }
    leaveWindow(*w, recordBytes(m->key_len, m->len, header_bytes, header_count));
}

} // namespace sfk::kafka
