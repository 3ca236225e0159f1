// EventSink::ensureCompactedTopic: a topic that keeps the last record per
// key (the Pub/Sub schemas topic: one record per schema id).
#include <librdkafka/rdkafka.h>

#include "kafka/event_sink.h"

namespace sfk::kafka {

bool EventSink::ensureCompactedTopic(const std::string &topic, std::string &error,
                                     const std::function<bool()> &stopping)
{
    constexpr int kTimeoutMs = 10000;
    std::shared_lock producerLock(producerMutex_);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic.c_str(), -1, -1, err, sizeof err);
    if (!nt) {
        error = err;
        return false;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, kTimeoutMs, err, sizeof err);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk_);
    rd_kafka_CreateTopics(rk_, &nt, 1, options, queue);
    // In slices: a stop does not wait out the request timeout.
    rd_kafka_event_t *ev = nullptr;
    for (int waited = 0; !ev && waited < kTimeoutMs + 1000 && !stopping(); waited += 200)
        ev = rd_kafka_queue_poll(queue, 200);
    bool ok = false;
    if (!ev) {
        error = stopping() ? "stopping" : "no answer to CreateTopics within " + std::to_string(kTimeoutMs) + " ms";
    } else if (rd_kafka_event_error(ev)) {
        error = rd_kafka_event_error_string(ev);
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **results =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t code = n > 0 ? rd_kafka_topic_result_error(results[0]) : RD_KAFKA_RESP_ERR_UNKNOWN;
        // An existing topic is the operator's: used as it is.
        ok = code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
        if (!ok)
            error = n > 0 && rd_kafka_topic_result_error_string(results[0]) ? rd_kafka_topic_result_error_string(results[0])
                                                                           : rd_kafka_err2str(code);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewTopic_destroy(nt);
    return ok;
}

} // namespace sfk::kafka
