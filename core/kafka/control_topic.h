#pragma once
// The control topic: one machine-readable record per gap, that is per event
// sfkafkad knowingly did not deliver to its topic (a replay id Salesforce
// rejected, a channel stopped by its policy, a dead-lettered event).
// Operators alert on it; the fault soak reads it as the list of what was
// declared lost. Records are keyed "<org>/<channel>" so a compacted or
// partitioned topic keeps one channel's records in order.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "replay/position.h"

namespace sfk::kafka {

class EventSink;

struct GapRecord {
    std::string org;                          // config name of the org
    std::string org_id;                       // Salesforce org id ("" before the first token)
    std::string channel;                      // e.g. /data/AccountChangeEvent
    std::string reason;                       // invalid_replay_id, channel_stopped, dead_letter, ...
    std::string policy;                       // fail, earliest, latest, dead_letter, ...
    // Positions: CometD ids as numbers, Pub/Sub ids as base64 text.
    std::optional<replay::Position> stored_replay_id;  // the committed id when it happened
    std::optional<replay::Position> resumed_from;      // -2 (earliest), -1 (latest), an id; none = stopped
    std::optional<replay::Position> replay_id;         // the event concerned (dead letters)
    std::string transport = "cometd";
    std::string detail;                       // error text (never a secret)
    int64_t time_ms = 0;                      // wall clock, epoch ms (0: now)
};

// The record's JSON value: {"type":"gap","org":...,"time_ms":...}.
std::string gapRecordJson(const GapRecord &record);

class ControlTopic {
public:
    // topic "": disabled (publish() still counts and returns true).
    ControlTopic(EventSink &sink, std::string topic);
    ~ControlTopic();
    ControlTopic(const ControlTopic &) = delete;
    ControlTopic &operator=(const ControlTopic &) = delete;

    const std::string &topic() const { return topic_; }

    // Counts the gap and queues its record. A record Kafka fails to take is
    // retried with backoff until delivered or stop(); one still undelivered
    // then is logged at error level with its content. Thread-safe; never
    // blocks on Kafka.
    bool publish(const GapRecord &record);

    // Stops retrying (before the sink is destroyed). Records already handed
    // to the sink still report; those that fail from now on are logged.
    void stop();

    // Records handed to Kafka and not yet acknowledged, plus those waiting
    // for a retry.
    int64_t pending() const;
    // Sends what waits for a retry now and waits (at most until deadline)
    // until Kafka has acknowledged every record; true when none is left.
    bool drain(std::chrono::steady_clock::time_point deadline);
    uint64_t delivered() const;

    // Gaps counted so far, by (org, channel, reason).
    using CountKey = std::tuple<std::string, std::string, std::string>;
    std::map<CountKey, uint64_t> counts() const;

    // Internal: a record's delivery report (the sink's poll thread).
    struct Pending;
    void onReport(std::unique_ptr<Pending> record, bool ok, const char *error);

private:
    void send(std::unique_ptr<Pending> record);
    void retryLoop();

    EventSink &sink_;
    const std::string topic_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Pending>> retries_;
    std::map<CountKey, uint64_t> counts_;
    int64_t inSink_ = 0;
    uint64_t delivered_ = 0;
    bool stopping_ = false;
    std::thread retrier_;
};

} // namespace sfk::kafka
