#pragma once
// The Kafka side: one idempotent producer (acks=all) shared by every org.
// Delivery reports are served on the sink's own thread and handed to each
// record's DeliveryHandle, which feeds the org's AckTracker.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "config/config.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;
struct rd_kafka_metadata_topic;

namespace sfk::kafka {

// Called exactly once per produced record, from the sink's poll thread.
class DeliveryHandle {
public:
    virtual ~DeliveryHandle() = default;
    virtual void delivered(bool ok, int error_code, const char *error_text) = 0;
};

struct Header {
    std::string_view key;
    std::string_view value;
};

struct OutRecord {
    std::string_view topic;
    std::optional<std::string_view> key;
    std::string_view value;
    const Header *headers = nullptr;
    size_t header_count = 0;
    std::optional<int64_t> timestamp_ms;
};

struct SinkStats {
    uint64_t produced = 0;
    uint64_t delivered = 0;
    uint64_t failed = 0;
    uint64_t producer_restarts = 0;
};

class EventSink {
public:
    // librdkafka properties sfkafkad sets before the user's passthrough map.
    static std::map<std::string, std::string> defaultProperties();

    static std::unique_ptr<EventSink> create(const config::Kafka &cfg, std::string &error);
    ~EventSink();

    // Queues one record (the bytes are copied). On success the handle gets
    // exactly one delivered() call later. Waits while librdkafka's queue is
    // full (a Kafka outage), calling whileWaiting (if set) every few
    // milliseconds: when it returns false (its session is stopping) the wait
    // ends. Returns false (handle untouched) on stop or a produce error.
    bool produce(const OutRecord &record, DeliveryHandle *handle, std::string &error,
                 const std::function<bool()> &whileWaiting = {});

    // Looks these topics up on the brokers now, on the sink's own thread (the
    // caller does not wait). librdkafka otherwise learns a new topic's
    // leader at its next topic scan, up to a second after the first record;
    // and a missing or forbidden topic is logged before any event needs it.
    void prepareTopics(const std::vector<std::string> &topics);
    // Creates the topic with cleanup.policy=compact unless it exists (then
    // it is used as it is); false with the broker's error, or when `stopping`
    // turns true while it waits (compacted_topic.cpp).
    bool ensureCompactedTopic(const std::string &topic, std::string &error, const std::function<bool()> &stopping);

    // Waits until every queued record has a delivery report.
    bool flush(std::chrono::milliseconds timeout);
    // Number of records queued or in flight inside librdkafka.
    int64_t queueDepth() const;
    // Value and key bytes produced and not yet reported, over every org.
    int64_t inFlightBytes() const { return inFlightBytes_.load(std::memory_order_relaxed); }
    // False once the unreported bytes pass 3/4 of librdkafka's
    // queue.buffering.max.kbytes: sessions then stop polling, so that many
    // orgs together stay within one bound (each org's own bound alone
    // allows orgs x max_in_flight_bytes) and produce() never has to wait
    // on a full queue.
    bool hasRoom() const { return inFlightBytes() < roomBytes_.load(std::memory_order_relaxed); }
    // True once a broker answered since the last all-brokers-down event.
    bool brokersUp() const { return brokersUp_.load(); }
    SinkStats stats() const;

    // Fault drills and tests: makes librdkafka raise a fatal error on the
    // current producer (rd_kafka_test_fatal_error), as a broker fencing it
    // would; the sink then replaces the producer.
    void raiseFatalError(const std::string &reason);

    // Returns once no delivery report is being served: a handle whose last
    // report was counted may be freed after this.
    void waitForReportsInProgress();

    // Stops waiting producers and the poll thread (after flush at shutdown).
    void stop();

private:
    EventSink() = default;
    bool createProducer(std::string &error);
    void pollLoop();
    void prepareLoop();
    void recreateAfterFatal();
    void destroyDrained();
    void releaseTopicHandles();
    // Topic lookups (topic_lookup.cpp). Warns when the topic cannot keep an
    // acknowledged record through one broker failure (design choice
    // documented in the README), and learns its max.message.bytes.
    bool lookUpTopic(const std::string &topic, bool first);
    // True when the topic's settings were all read.
    bool checkDurability(const std::string &topic, const ::rd_kafka_metadata_topic &md, bool first);
    struct TopicSettings {
        std::optional<int> min_insync_replicas;
        std::optional<int64_t> max_message_bytes;
    };
    TopicSettings describeTopic(const std::string &topic);
    // Waits (calling whileWaiting) while the topic's first lookup is under way.
    bool awaitFirstLookup(std::string_view topic, const std::function<bool()> &whileWaiting);

    // A topic whose max.message.bytes is below the largest batch librdkafka
    // builds: a broker refuses an oversized batch whole, neighbours and all,
    // and later batches land ahead of them once they are sent again (an
    // order error). The bytes in flight to such a topic are kept within its
    // limit, so a batch is refused only for a
    // record larger than the limit, and that record travels alone.
    struct TopicWindow {
        int64_t budget = 0;
        std::mutex mutex;
        std::condition_variable freed;
        int64_t in_flight = 0;
        int alone_waiting = 0;   // records larger than budget waiting for an empty window
    };
    void learnLimit(const std::string &topic, int64_t max_message_bytes);
    TopicWindow *windowFor(std::string_view topic) const;
    static int64_t windowBytes(const OutRecord &r);
    bool enterWindow(TopicWindow &w, int64_t bytes, const std::function<bool()> &whileWaiting, std::string &error);
    static void leaveWindow(TopicWindow &w, int64_t bytes);
    void leaveWindowOf(const rd_kafka_message_t *m);

    static void onDelivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
    static void onError(rd_kafka_t *rk, int err, const char *reason, void *opaque);

    config::Kafka cfg_;
    mutable std::shared_mutex producerMutex_;  // exclusive only to replace the producer
    rd_kafka_t *rk_ = nullptr;
    // Producers replaced after a fatal error, polled until every record
    // they held was reported (changed under an exclusive producerMutex_).
    std::vector<rd_kafka_t *> retiring_;
    std::thread poller_;
    std::thread preparer_;
    std::mutex topicsMutex_;
    std::condition_variable topicsWake_;
    std::set<std::string> knownTopics_;       // every topic asked for
    std::vector<std::string> pendingTopics_;  // not yet looked up
    std::set<std::string, std::less<>> firstLookups_;  // asked for, first lookup not finished
    std::atomic<int> firstLookupCount_{0};             // firstLookups_.size(), read without the lock
    std::condition_variable lookedUp_;
    // Lookups that failed, tried again with a growing delay.
    struct Retry {
        std::chrono::steady_clock::time_point at;
        std::chrono::seconds delay;   // the next one's, doubling up to a minute
        bool due;                     // waiting for `at` (false while looked up)
    };
    std::map<std::string, Retry> retries_;
    mutable std::shared_mutex windowsMutex_;
    std::map<std::string, std::unique_ptr<TopicWindow>, std::less<>> windows_;
    std::atomic<bool> anyWindow_{false};
    int64_t largestBatch_ = 1000000;   // min(batch.size, message.max.bytes), set by createProducer()
    // Kept open so librdkafka keeps their metadata; released with the
    // producer (exclusive producerMutex_), added under handlesMutex_.
    std::mutex handlesMutex_;
    std::vector<rd_kafka_topic_t *> topicHandles_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> fatal_{false};
    std::atomic<bool> brokersUp_{true};
    std::atomic<uint64_t> produced_{0}, delivered_{0}, failed_{0}, restarts_{0};
    std::atomic<int64_t> inFlightBytes_{0};
    std::atomic<int64_t> roomBytes_{0};   // set by createProducer()
};

} // namespace sfk::kafka
