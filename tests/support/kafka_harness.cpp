#include "kafka_harness.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "sfkafka_build_config.h"

namespace sfk::test {

namespace {

using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
    void operator()(rd_kafka_t *rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

KafkaHandle makeClient(rd_kafka_type_t type, const std::string &bootstrap,
                       std::initializer_list<std::pair<const char *, const char *>> extra = {})
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    auto set = [&](const char *k, const char *v) {
        if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::runtime_error(std::string("kafka conf ") + k + ": " + err);
        }
    };
    set("bootstrap.servers", bootstrap.c_str());
    set("log_level", "3");
    for (auto &[k, v] : extra)
        set(k, v);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("rd_kafka_new: ") + err);
    }
    return KafkaHandle(rk);
}

std::string lastLineValue(const std::string &out, const std::string &prefix)
{
    auto pos = out.rfind(prefix);
    if (pos == std::string::npos)
        return {};
    auto end = out.find('\n', pos);
    return out.substr(pos + prefix.size(),
                      end == std::string::npos ? std::string::npos : end - pos - prefix.size());
}

int partitionCount(rd_kafka_t *rk, const std::string &topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t *md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw std::runtime_error("metadata for " + topic + ": " + rd_kafka_err2str(e));
    int n = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

} // namespace

std::string sourceRoot()
{
    if (const char *env = std::getenv("SFKAFKA_SOURCE_ROOT"))
        return env;
    return SFKAFKA_SOURCE_ROOT;
}

std::string runCommand(const std::string &command)
{
    FILE *p = ::popen(command.c_str(), "r");
    if (!p)
        throw std::runtime_error("popen failed: " + command);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    int rc = ::pclose(p);
    if (rc != 0)
        throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + command +
                                 "\n" + out);
    return out;
}

KafkaBroker KafkaBroker::start()
{
    static std::atomic<int> counter{0};
    std::string name = "test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::string out = runCommand(sourceRoot() + "/scripts/kafka start --name " + name);
    std::string bootstrap = lastLineValue(out, "BOOTSTRAP=");
    if (bootstrap.empty())
        throw std::runtime_error("scripts/kafka start printed no BOOTSTRAP line:\n" + out);
    return KafkaBroker(name, bootstrap, true);
}

const KafkaBroker &KafkaBroker::shared()
{
    static KafkaBroker broker = [] {
        if (const char *env = std::getenv("SFKAFKA_TEST_BOOTSTRAP"); env && *env)
            return KafkaBroker("external", env, false);
        return start();
    }();
    return broker;
}

KafkaBroker::KafkaBroker(KafkaBroker &&other) noexcept
    : name_(std::move(other.name_)), bootstrap_(std::move(other.bootstrap_)),
      owned_(other.owned_)
{
    other.owned_ = false;
}

KafkaBroker::~KafkaBroker() { stop(); }

void KafkaBroker::stop()
{
    if (!owned_)
        return;
    owned_ = false;
    std::string cmd = sourceRoot() + "/scripts/kafka stop --name " + name_ + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
        std::fprintf(stderr, "warning: could not stop broker %s\n", name_.c_str());
}

void KafkaBroker::pause()
{
    if (!owned_)
        throw std::runtime_error("cannot pause a broker this process did not start");
    runCommand(sourceRoot() + "/scripts/kafka pause --name " + name_);
}

void KafkaBroker::restart()
{
    if (!owned_)
        throw std::runtime_error("cannot restart a broker this process did not start");
    runCommand(sourceRoot() + "/scripts/kafka resume --name " + name_);
}

std::optional<std::string> Record::header(const std::string &name) const
{
    for (const auto &h : headers)
        if (h.key == name)
            return h.value;
    return std::nullopt;
}

std::string uniqueTopic(const std::string &prefix)
{
    static std::atomic<int> counter{0};
    return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
           std::to_string(Clock::now().time_since_epoch().count() % 1000000);
}

void createTopic(const std::string &bootstrap, const std::string &topic, int partitions,
                 const std::vector<std::pair<std::string, std::string>> &configs)
{
    KafkaHandle rk = makeClient(RD_KAFKA_PRODUCER, bootstrap);
    char err[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
    if (!nt)
        throw std::runtime_error(std::string("NewTopic: ") + err);
    for (const auto &[name, value] : configs)
        if (rd_kafka_NewTopic_set_config(nt, name.c_str(), value.c_str()))
            throw std::runtime_error("NewTopic config " + name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk.get());
    rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    rd_kafka_NewTopic_destroy(nt);
    std::string problem;
    if (!ev) {
        problem = "CreateTopics timed out";
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : nullptr;
        if (rd_kafka_event_error(ev))
            problem = rd_kafka_event_error_string(ev);
        else if (cnt == 1 && rd_kafka_topic_result_error(tr[0]) &&
                 rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            problem = rd_kafka_topic_result_error_string(tr[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    if (!problem.empty())
        throw std::runtime_error("create topic " + topic + ": " + problem);
    // Metadata propagates asynchronously: wait until every partition shows.
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (partitionCount(rk.get(), topic) < partitions) {
        if (Clock::now() > deadline)
            throw std::runtime_error("topic " + topic + " did not appear in metadata");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

namespace {

std::map<int32_t, int64_t> highWatermarks(rd_kafka_t *rk, const std::string &topic)
{
    std::map<int32_t, int64_t> out;
    int n = partitionCount(rk, topic);
    for (int p = 0; p < n; ++p) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e;
        // A topic just created (or auto-created) may not have a leader yet.
        auto deadline = Clock::now() + std::chrono::seconds(20);
        for (;;) {
            e = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 10000);
            bool transient = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                             e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                             e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                             e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                             e == RD_KAFKA_RESP_ERR__TRANSPORT;
            if (!transient || Clock::now() > deadline)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            throw std::runtime_error("watermarks of " + topic + ": " + rd_kafka_err2str(e));
        out[p] = hi;
    }
    return out;
}

} // namespace

int64_t topicSize(const std::string &bootstrap, const std::string &topic)
{
    KafkaHandle rk = makeClient(RD_KAFKA_CONSUMER, bootstrap,
                                {{"group.id", "sfkafka-test-size"}});
    int64_t total = 0;
    for (auto &[p, hi] : highWatermarks(rk.get(), topic))
        total += hi;
    return total;
}

std::vector<Record> consumeAll(const std::string &bootstrap, const std::string &topic,
                               int64_t min_count, std::chrono::milliseconds timeout)
{
    KafkaHandle rk = makeClient(RD_KAFKA_CONSUMER, bootstrap,
                                {{"group.id", "sfkafka-test-reader"},
                                 {"enable.auto.commit", "false"},
                                 {"enable.partition.eof", "true"},
                                 {"fetch.max.bytes", "52428800"}});
    auto deadline = Clock::now() + timeout;
    std::map<int32_t, int64_t> hw;
    for (;;) {
        hw = highWatermarks(rk.get(), topic);
        int64_t total = 0;
        for (auto &[p, hi] : hw)
            total += hi;
        if (total >= min_count)
            break;
        if (Clock::now() > deadline)
            throw std::runtime_error("topic " + topic + " holds " + std::to_string(total) +
                                     " records, expected at least " +
                                     std::to_string(min_count));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(hw.size());
    size_t remaining = 0;
    for (auto &[p, hi] : hw) {
        if (hi > 0) {
            rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            ++remaining;
        }
    }
    std::vector<Record> out;
    if (remaining == 0) {
        rd_kafka_topic_partition_list_destroy(parts);
        return out;
    }
    rd_kafka_assign(rk.get(), parts);
    rd_kafka_topic_partition_list_destroy(parts);

    std::map<int32_t, bool> done;
    auto readDeadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(30000));
    while (remaining > 0) {
        if (Clock::now() > readDeadline)
            throw std::runtime_error("timed out reading topic " + topic);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk.get(), 500);
        if (!m)
            continue;
        std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t *)> guard(
            m, rd_kafka_message_destroy);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->offset >= hw[m->partition] && !done[m->partition]) {
                done[m->partition] = true;
                --remaining;
            }
            continue;
        }
        if (m->err)
            throw std::runtime_error(std::string("consume: ") + rd_kafka_message_errstr(m));
        if (m->offset >= hw[m->partition])
            continue; // written after we took the snapshot
        Record r;
        r.topic = topic;
        r.partition = m->partition;
        r.offset = m->offset;
        if (m->key)
            r.key = std::string(static_cast<const char *>(m->key), m->key_len);
        r.value.assign(static_cast<const char *>(m->payload), m->len);
        rd_kafka_timestamp_type_t tstype;
        r.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
        rd_kafka_headers_t *hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
            const char *name;
            const void *val;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                               RD_KAFKA_RESP_ERR_NO_ERROR;
                 ++i)
                r.headers.push_back(
                    {name, val ? std::string(static_cast<const char *>(val), size) : ""});
        }
        out.push_back(std::move(r));
        if (m->offset + 1 >= hw[m->partition] && !done[m->partition]) {
            done[m->partition] = true;
            --remaining;
        }
    }
    rd_kafka_consumer_close(rk.get());
    return out;
}

} // namespace sfk::test
