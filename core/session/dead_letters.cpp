#include "session/dead_letters.h"

#include <librdkafka/rdkafka.h>

#include <charconv>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace sfk::session {

const char *reasonName(DeadLetterReason r)
{
    switch (r) {
    case DeadLetterReason::KafkaRejected: return "kafka_rejected";
    case DeadLetterReason::Undecodable: return "undecodable";
    case DeadLetterReason::TooLarge: return "too_large";
    }
    return "kafka_rejected";
}

namespace {

struct Refusal {
    rd_kafka_resp_err_t code;
    DeadLetterReason reason;
};

constexpr Refusal kRefusals[] = {
    {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, DeadLetterReason::TooLarge},
    {RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, DeadLetterReason::TooLarge},
    {RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, DeadLetterReason::TooLarge},
    {RD_KAFKA_RESP_ERR_INVALID_RECORD, DeadLetterReason::KafkaRejected},
    {RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP, DeadLetterReason::KafkaRejected},
    {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, DeadLetterReason::KafkaRejected},
    {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, DeadLetterReason::KafkaRejected},
    {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, DeadLetterReason::KafkaRejected},
    {RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, DeadLetterReason::KafkaRejected},
};

// Shared between the waiting session thread and the delivery handle, which
// may outlive the wait (a stop).
struct Waiter {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    bool ok = false;
    int code = 0;
    std::string text;
};

struct WaitingDelivery final : kafka::DeliveryHandle {
    std::shared_ptr<Waiter> waiter;
    explicit WaitingDelivery(std::shared_ptr<Waiter> w) : waiter(std::move(w)) {}
    void delivered(bool ok, int code, const char *text) override
    {
        {
            std::lock_guard lock(waiter->mutex);
            waiter->done = true;
            waiter->ok = ok;
            waiter->code = code;
            waiter->text = text ? text : "";
        }
        waiter->cv.notify_all();
        delete this;
    }
};

} // namespace

std::optional<DeadLetterReason> permanentRefusal(int code)
{
    for (const auto &r : kRefusals)
        if (r.code == code)
            return r.reason;
    return std::nullopt;
}

std::optional<DeadLetterReason> permanentRefusal(std::string_view error)
{
    for (const auto &r : kRefusals)
        if (error.find(rd_kafka_err2str(r.code)) != std::string_view::npos)
            return r.reason;
    return std::nullopt;
}

SyncDelivery produceAndWait(kafka::EventSink &sink, const kafka::OutRecord &record,
                            const std::function<bool()> &stopping,
                            const std::function<bool()> &whileWaiting)
{
    SyncDelivery out;
    auto waiter = std::make_shared<Waiter>();
    auto *handle = new WaitingDelivery(waiter);
    std::string error;
    if (!sink.produce(record, handle, error, whileWaiting)) {
        delete handle;
        out.done = !stopping();
        out.error = error;
        out.refusal = permanentRefusal(error);
        return out;
    }
    std::unique_lock lock(waiter->mutex);
    while (!waiter->done) {
        if (stopping())
            return out;
        waiter->cv.wait_for(lock, std::chrono::milliseconds(100));
        if (whileWaiting)
            whileWaiting();
    }
    out.done = true;
    out.ok = waiter->ok;
    if (!out.ok) {
        out.error = waiter->text;
        out.refusal = permanentRefusal(waiter->code);
    }
    return out;
}

DeadLetterResult writeDeadLetter(kafka::EventSink &sink, const DeadLetter &l,
                                 const std::function<bool()> &stopping,
                                 const std::function<bool()> &whileWaiting)
{
    const std::string replayText = l.replay_id ? replay::positionText(*l.replay_id) : std::string();
    kafka::Header headers[9];
    size_t n = 0;
    headers[n++] = {"sf.org", l.org};
    headers[n++] = {"sf.org_id", l.org_id};
    headers[n++] = {"sf.channel", l.channel};
    headers[n++] = {"sf.transport", l.transport};
    if (l.replay_id)
        headers[n++] = {"sf.replay_id", replayText};
    headers[n++] = {"sf.error", l.error};
    headers[n++] = {"sf.intended_topic", l.intended_topic};
    headers[n++] = {"sf.dead_letter_reason", reasonName(l.reason)};

    kafka::OutRecord rec;
    rec.topic = l.topic;
    rec.key = l.key;
    rec.value = l.body;
    rec.headers = headers;
    rec.header_count = n;
    rec.timestamp_ms = l.timestamp_ms;

    DeadLetterResult result;
    result.delivery = produceAndWait(sink, rec, stopping, whileWaiting);
    if (result.delivery.done && !result.delivery.ok && !l.body.empty() &&
        result.delivery.refusal == DeadLetterReason::TooLarge) {
        // Even the dead-letter topic cannot take it: keep what identifies it.
        headers[n++] = {"sf.body_dropped", "true"};
        rec.header_count = n;
        rec.value = {};
        result.body_dropped = true;
        result.delivery = produceAndWait(sink, rec, stopping, whileWaiting);
    }
    return result;
}

} // namespace sfk::session
