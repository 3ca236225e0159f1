// Proves the test harness on the real broker: what an idempotent producer
// writes is read back whole, in order per partition, headers intact.
#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <string>

#include "kafka_harness.h"

using namespace sfk::test;

namespace {

std::atomic<int> g_delivered{0};
std::atomic<int> g_failed{0};

void onDelivery(rd_kafka_t *, const rd_kafka_message_t *m, void *)
{
    if (m->err)
        ++g_failed;
    else
        ++g_delivered;
}

} // namespace

TEST_CASE("100,000 records through an idempotent producer come back in order")
{
    const auto &broker = KafkaBroker::shared();
    const std::string topic = uniqueTopic("harness");
    createTopic(broker.bootstrap(), topic, 3);

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", broker.bootstrap().c_str(), err,
                              sizeof err) == RD_KAFKA_CONF_OK);
    REQUIRE(rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ==
            RD_KAFKA_CONF_OK);
    REQUIRE(rd_kafka_conf_set(conf, "acks", "all", err, sizeof err) == RD_KAFKA_CONF_OK);
    REQUIRE(rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err) == RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, onDelivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    REQUIRE(rk != nullptr);

    constexpr int kRecords = 100000;
    for (int i = 0; i < kRecords; ++i) {
        std::string key = "k" + std::to_string(i % 17);
        std::string value = "{\"seq\":" + std::to_string(i) + "}";
        std::string seq = std::to_string(i);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                RD_KAFKA_V_PARTITION(i % 3),
                RD_KAFKA_V_KEY(key.data(), key.size()),
                RD_KAFKA_V_VALUE(value.data(), value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER("sf.seq", seq.data(), static_cast<ssize_t>(seq.size())),
                RD_KAFKA_V_HEADER("sf.channel", "/topic/Harness", -1),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            REQUIRE(e == RD_KAFKA_RESP_ERR_NO_ERROR);
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    REQUIRE(rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    CHECK(g_delivered.load() == kRecords);
    CHECK(g_failed.load() == 0);

    auto records = consumeAll(broker.bootstrap(), topic, kRecords);
    REQUIRE(records.size() == static_cast<size_t>(kRecords));

    std::map<int, int> lastSeq;  // partition -> last sequence seen
    std::map<int, int64_t> lastOffset;
    std::vector<bool> seen(kRecords, false);
    int orderErrors = 0, headerErrors = 0;
    for (const auto &r : records) {
        auto seqHeader = r.header("sf.seq");
        if (!seqHeader || r.header("sf.channel") != std::optional<std::string>("/topic/Harness")) {
            ++headerErrors;
            continue;
        }
        int seq = std::stoi(*seqHeader);
        CHECK(r.value == "{\"seq\":" + *seqHeader + "}");
        CHECK(r.partition == seq % 3);
        CHECK(r.key == std::optional<std::string>("k" + std::to_string(seq % 17)));
        CHECK(r.timestamp_ms > 0);
        if (lastSeq.count(r.partition) && (seq <= lastSeq[r.partition] ||
                                           r.offset <= lastOffset[r.partition]))
            ++orderErrors;
        lastSeq[r.partition] = seq;
        lastOffset[r.partition] = r.offset;
        seen[seq] = true;
    }
    CHECK(headerErrors == 0);
    CHECK(orderErrors == 0);
    int missing = 0;
    for (bool s : seen)
        missing += s ? 0 : 1;
    CHECK(missing == 0);
}

TEST_CASE("consumeAll of an empty topic returns nothing")
{
    const auto &broker = KafkaBroker::shared();
    const std::string topic = uniqueTopic("empty");
    createTopic(broker.bootstrap(), topic, 2);
    CHECK(consumeAll(broker.bootstrap(), topic).empty());
    CHECK(topicSize(broker.bootstrap(), topic) == 0);
}
