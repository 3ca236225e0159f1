// Kafka side of the fault soak (tests/soak/soak.py):
//
//   soak_kafka create --brokers B --topic T1,T2,... [--config k=v]...
//       creates each T (1 partition; "exists" is fine), e.g. with
//       message.timestamp.type=LogAppendTime so that the broker stamps every
//       record with its own clock and records of different topics compare.
//   soak_kafka follow --brokers B --topics T1,T2,... [--values T]...
//       reads partition 0 of every topic from the beginning, forever, and
//       prints one JSON object per record on stdout:
//       {"t":topic,"o":offset,"ts":ms,"k":key,"n":value bytes,"h":{headers},"v":value}
//       ("v" only for the topics named by --values, e.g. the control topic).
//       No consumer group: nothing depends on a group coordinator surviving
//       broker restarts. Ends on SIGTERM / SIGINT.
#include <librdkafka/rdkafka.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace {
volatile std::sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

void jsonString(std::string &out, const char *p, size_t n)
{
    out += '"';
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

std::vector<std::string> split(const std::string &s)
{
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        std::string t = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!t.empty())
            parts.push_back(t);
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return parts;
}

rd_kafka_t *makeClient(rd_kafka_type_t type, const std::string &brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    // librdkafka's assign() wants a group id even though nothing is committed.
    const std::string group = "soak-follow-" + std::to_string(getpid());
    const std::pair<const char *, const char *> props[] = {
        {"bootstrap.servers", brokers.c_str()}, {"log_level", "2"},
        {"reconnect.backoff.max.ms", "500"}, {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
    };
    if (type == RD_KAFKA_CONSUMER &&
        rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        std::fprintf(stderr, "soak_kafka: %s\n", err);
        return nullptr;
    }
    for (auto &[k, v] : props)
        if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
            std::fprintf(stderr, "soak_kafka: %s\n", err);
            return nullptr;
        }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk)
        std::fprintf(stderr, "soak_kafka: %s\n", err);
    return rk;
}

int create(const std::string &brokers, const std::vector<std::string> &topics,
           const std::vector<std::string> &configs)
{
    rd_kafka_t *rk = makeClient(RD_KAFKA_PRODUCER, brokers);
    if (!rk)
        return 2;
    char err[512];
    std::vector<rd_kafka_NewTopic_t *> nts;
    for (const auto &topic : topics) {
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic.c_str(), 1, 1, err, sizeof err);
        if (!nt) {
            std::fprintf(stderr, "soak_kafka: %s: %s\n", topic.c_str(), err);
            return 2;
        }
        for (const auto &c : configs) {
            auto eq = c.find('=');
            if (eq == std::string::npos) {
                std::fprintf(stderr, "soak_kafka: --config wants k=v, got %s\n", c.c_str());
                return 2;
            }
            rd_kafka_NewTopic_set_config(nt, c.substr(0, eq).c_str(), c.substr(eq + 1).c_str());
        }
        nts.push_back(nt);
    }
    const std::string topic = "topics";
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, err, sizeof err);
    rd_kafka_CreateTopics(rk, nts.data(), nts.size(), opts, q);
    int rc = 1;
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) {
        std::fprintf(stderr, "soak_kafka: create %s: no answer\n", topic.c_str());
    } else if (rd_kafka_event_error(ev)) {
        std::fprintf(stderr, "soak_kafka: create %s: %s\n", topic.c_str(), rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **results = rd_kafka_CreateTopics_result_topics(res, &n);
        rc = 0;
        for (size_t i = 0; i < n; ++i) {
            auto e = rd_kafka_topic_result_error(results[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                std::fprintf(stderr, "soak_kafka: create %s: %s\n", rd_kafka_topic_result_name(results[i]),
                             rd_kafka_topic_result_error_string(results[i]));
                rc = 1;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int follow(const std::string &brokers, const std::vector<std::string> &topics,
           const std::set<std::string> &withValues)
{
    rd_kafka_t *rk = makeClient(RD_KAFKA_CONSUMER, brokers);
    if (!rk)
        return 2;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
    for (const auto &t : topics)
        rd_kafka_topic_partition_list_add(parts, t.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (auto e = rd_kafka_assign(rk, parts)) {
        std::fprintf(stderr, "soak_kafka: assign: %s\n", rd_kafka_err2str(e));
        return 2;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    std::string line;
    while (!g_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                std::fprintf(stderr, "soak_kafka: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        line.clear();
        line += "{\"t\":";
        jsonString(line, topic, std::strlen(topic));
        line += ",\"o\":" + std::to_string(m->offset) + ",\"ts\":" + std::to_string(ts) + ",\"k\":";
        if (m->key)
            jsonString(line, static_cast<const char *>(m->key), m->key_len);
        else
            line += "null";
        line += ",\"n\":" + std::to_string(m->len) + ",\"h\":{";
        rd_kafka_headers_t *hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name;
            const void *val;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; ++i) {
                if (i)
                    line += ',';
                jsonString(line, name, std::strlen(name));
                line += ':';
                jsonString(line, val ? static_cast<const char *>(val) : "", val ? size : 0);
            }
        }
        line += '}';
        if (withValues.count(topic)) {
            line += ",\"v\":";
            jsonString(line, static_cast<const char *>(m->payload), m->len);
        }
        line += "}\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: soak_kafka create|follow --brokers B ...\n");
        return 2;
    }
    std::string cmd = argv[1], brokers, topic, topics;
    std::vector<std::string> configs;
    std::set<std::string> values;
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--brokers") brokers = argv[i + 1];
        else if (a == "--topic") topic = argv[i + 1];
        else if (a == "--topics") topics = argv[i + 1];
        else if (a == "--config") configs.push_back(argv[i + 1]);
        else if (a == "--values") values.insert(argv[i + 1]);
        else {
            std::fprintf(stderr, "soak_kafka: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    if (cmd == "create" && !brokers.empty() && !topic.empty())
        return create(brokers, split(topic), configs);
    if (cmd == "follow" && !brokers.empty() && !topics.empty())
        return follow(brokers, split(topics), values);
    std::fprintf(stderr, "usage: soak_kafka create|follow --brokers B ...\n");
    return 2;
}
