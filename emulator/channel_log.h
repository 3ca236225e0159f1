#pragma once
// One channel's retained event log: replay ids, pre-rendered messages,
// retention by age and count, and the record of everything ever appended.

#include <simdjson.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sfk::emu {

enum class Family { Topic, Generic, Event, Data };

// The family of a channel name (/topic/, /u/, /event/, /data/), if any.
std::optional<Family> channelFamily(std::string_view channel);

struct Event {
    int64_t replay_id = 0;
    std::string uuid;
    int64_t time_ms = 0;     // the creation time the event carries
    int64_t appended_ms = 0; // when sfemu appended it (retention clock)
    std::string json;        // the complete Bayeux message, rendered once
};
using EventPtr = std::shared_ptr<const Event>;

struct PublishedRecord {
    int64_t replay_id;
    std::string uuid;
    int64_t time_ms;
};

// A payload of the wrong shape for the channel's family.
class PayloadError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

class ChannelLog {
public:
    ChannelLog(std::string name, Family family, int64_t retention_ms, int64_t max_events,
               uint64_t seed);

    const std::string &name() const { return name_; }
    Family family() const { return family_; }

    // Wraps a family-specific payload into the full event and appends it.
    // Throws PayloadError when the payload does not fit the family.
    int64_t append(const simdjson::dom::element &payload, int64_t now_ms);
    // Appends a generated event of about payload_bytes bytes (whole message).
    int64_t appendGenerated(uint64_t index, int64_t payload_bytes, std::mt19937_64 &rng,
                            int64_t now_ms);

    // Appends a complete Bayeux message exactly as given (tests of malformed
    // events); "{replayId}" in it becomes the replay id assigned.
    int64_t appendRaw(std::string message, int64_t now_ms);

    // Drops events older than the retention age or beyond the count limit.
    void expire(int64_t now_ms);
    // Drops every retained event with a replay id <= replay_id.
    void purgeUpTo(int64_t replay_id);

    // True when an event with exactly this replay id is retained.
    bool retains(int64_t replay_id) const;
    // The replay id of the last event ever appended (0 when none).
    int64_t lastReplayId() const { return last_replay_id_; }
    bool hasAfter(int64_t after) const;
    // Adds up to max events with a replay id > after; returns how many.
    size_t collectAfter(int64_t after, size_t max, std::vector<EventPtr> &out) const;

    size_t retainedCount() const { return events_.size(); }
    const std::vector<PublishedRecord> &published() const { return published_; }

private:
    int64_t nextReplayId();
    int64_t push(std::string json, std::string uuid, int64_t replay_id, int64_t time_ms,
                 int64_t now_ms);
    std::string renderPayload(const simdjson::dom::element &payload, int64_t replay_id,
                              const std::string &uuid, int64_t now_ms, int64_t &time_ms);
    std::string generatedPayload(uint64_t index, size_t filler, std::mt19937_64 &rng) const;

    std::string name_;
    Family family_;
    int64_t retention_ms_;
    int64_t max_events_;
    std::mt19937_64 rng_;
    std::string schema_;
    std::string entity_;
    std::string quoted_name_;
    int64_t last_replay_id_ = 0;
    uint64_t record_counter_ = 0;
    int64_t commit_number_ = 10585193272713;
    std::deque<EventPtr> events_;
    std::vector<PublishedRecord> published_;
    simdjson::dom::parser parser_;
    int64_t generated_overhead_ = -1;
    int64_t generated_overhead_for_ = -1;
};

} // namespace sfk::emu
