// Prints Kafka records as they land: topic, partition, offset, key, headers,
// value. Used by the demo and handy when poking at a test broker.
//
//   kafka_tail --brokers HOST:PORT --topics '^demo\..*' [--count N] [--timeout S]
//
// Topics starting with ^ are regular expressions (new matching topics are
// picked up within a second). Exits 0 after N records, 1 on timeout.
#include <librdkafka/rdkafka.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {
volatile std::sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

void printPrintable(const char *p, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        if (c >= 0x20 && c != 0x7f)
            std::fputc(c, stdout);
        else
            std::printf("\\x%02x", c);
    }
}
} // namespace

int main(int argc, char **argv)
{
    std::string brokers, topics;
    long count = -1, timeout = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--brokers") brokers = argv[i + 1];
        else if (a == "--topics") topics = argv[i + 1];
        else if (a == "--count") count = std::atol(argv[i + 1]);
        else if (a == "--timeout") timeout = std::atol(argv[i + 1]);
        else {
            std::fprintf(stderr, "kafka_tail: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (brokers.empty() || topics.empty()) {
        std::fprintf(stderr, "usage: kafka_tail --brokers B --topics T[,T...] [--count N] [--timeout S]\n");
        return 2;
    }
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    std::string group = "kafka-tail-" + std::to_string(std::time(nullptr)) + "-" +
                        std::to_string(getpid());
    const std::pair<const char *, const char *> props[] = {
        {"bootstrap.servers", brokers.c_str()}, {"group.id", group.c_str()},
        {"auto.offset.reset", "earliest"}, {"enable.auto.commit", "false"},
        {"topic.metadata.refresh.interval.ms", "1000"}, {"log_level", "3"},
    };
    for (auto &[k, v] : props)
        if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
            std::fprintf(stderr, "kafka_tail: %s\n", err);
            return 2;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        std::fprintf(stderr, "kafka_tail: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
    size_t start = 0;
    while (start <= topics.size()) {
        size_t comma = topics.find(',', start);
        std::string t = topics.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!t.empty())
            rd_kafka_topic_partition_list_add(subs, t.c_str(), RD_KAFKA_PARTITION_UA);
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);

    long seen = 0;
    time_t deadline = timeout > 0 ? std::time(nullptr) + timeout : 0;
    int rc = 0;
    while (!g_stop && (count < 0 || seen < count)) {
        if (deadline && std::time(nullptr) > deadline) {
            std::fprintf(stderr, "kafka_tail: timed out after %ld records\n", seen);
            rc = 1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                m->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                std::fprintf(stderr, "kafka_tail: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        ++seen;
        std::printf("%s [%d] @%lld key=", rd_kafka_topic_name(m->rkt), m->partition,
                    static_cast<long long>(m->offset));
        if (m->key)
            printPrintable(static_cast<const char *>(m->key), m->key_len);
        else
            std::printf("(none)");
        std::printf("\n  headers:");
        rd_kafka_headers_t *hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name;
            const void *val;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; ++i) {
                std::printf(" %s=", name);
                printPrintable(static_cast<const char *>(val), size);
            }
        }
        std::printf("\n  value: ");
        printPrintable(static_cast<const char *>(m->payload), m->len);
        std::printf("\n");
        std::fflush(stdout);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
