#pragma once
// The dead-letter path (README: How sfkafkad delivers events): which Kafka
// errors refuse a record for good, and writing one record synchronously (the
// caller waits for its delivery report) so that a channel's watermark passes
// a dead-lettered event only once the dead letter is acknowledged.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kafka/event_sink.h"
#include "replay/position.h"

namespace sfk::session {

// Why an event went to the dead-letter topic (header sf.dead_letter_reason,
// metric label reason).
enum class DeadLetterReason { KafkaRejected, Undecodable, TooLarge };
const char *reasonName(DeadLetterReason r);

// The Kafka error codes that refuse a record for good, whatever the retry:
// too large for the producer or the topic/broker (MSG_SIZE_TOO_LARGE,
// RECORD_LIST_TOO_LARGE, INVALID_MSG_SIZE) -> TooLarge; an invalid record
// (INVALID_RECORD, INVALID_TIMESTAMP), a refused or missing topic
// (TOPIC_AUTHORIZATION_FAILED, UNKNOWN_TOPIC_OR_PART, _UNKNOWN_TOPIC,
// TOPIC_EXCEPTION) -> KafkaRejected. Anything else (timeouts, broker down,
// purges, fatal idempotence errors) is transient: the channel freezes and
// resubscribes. Because a broker refuses a whole batch, a refusal only
// names a suspect: the event is tried again alone before it is dead-lettered.
std::optional<DeadLetterReason> permanentRefusal(int librdkafka_code);
// The same for an error text from a failed produce() call (the producer
// refused the record before queueing it).
std::optional<DeadLetterReason> permanentRefusal(std::string_view produce_error);

// The outcome of one record produced and waited for.
struct SyncDelivery {
    bool done = false;   // false: stopped before the report arrived
    bool ok = false;
    std::optional<DeadLetterReason> refusal;   // when !ok and permanent
    std::string error;
};

// Produces one record and waits for its delivery report, polling
// `stopping` every 100 ms (a report that arrives after a stop is ignored);
// `whileWaiting` runs while the producer queue is full and returns false to
// give up.
SyncDelivery produceAndWait(kafka::EventSink &sink, const kafka::OutRecord &record,
                            const std::function<bool()> &stopping,
                            const std::function<bool()> &whileWaiting = {});

struct DeadLetter {
    std::string_view topic;            // the dead-letter topic
    std::string_view org, org_id, channel, intended_topic;
    std::string_view transport = "cometd";   // of the channel: sf.replay_id is base64 for pubsub
    std::optional<replay::Position> replay_id;
    std::optional<std::string_view> key;
    std::string_view body;             // the event's data (or raw message)
    std::string_view error;
    DeadLetterReason reason = DeadLetterReason::KafkaRejected;
    std::optional<int64_t> timestamp_ms;
};

struct DeadLetterResult {
    SyncDelivery delivery;
    bool body_dropped = false;
};

// Writes the dead letter; when the dead-letter topic refuses it as too
// large, writes it again without the body (sf.body_dropped: true).
DeadLetterResult writeDeadLetter(kafka::EventSink &sink, const DeadLetter &letter,
                                 const std::function<bool()> &stopping,
                                 const std::function<bool()> &whileWaiting = {});

} // namespace sfk::session
