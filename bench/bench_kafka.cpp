// bench_kafka: the Kafka side of ./scripts/bench (bench/run_bench.py).
//
//   bench_kafka create  --brokers B --topics a,b [--partitions 1]
//   bench_kafka delete  --brokers B --topics a,b
//   bench_kafka wait    --brokers B --topics a,b --count N [--timeout S]
//       polls the topics' high watermarks; when their sum reaches N prints
//       {"done_unix_ms": T, "records": M} (exit 1 on timeout)
//   bench_kafka consume --brokers B --topics a,b --count N [--timeout S]
//                       [--dump FILE] [--skip-latency] [--latencies FILE]
//       reads every record from the beginning; latency of each record =
//       receive time (wall clock) - record timestamp (the event's creation
//       time); prints {"records", "p50_ms", "p99_ms", "max_ms"}; --dump writes
//       the records (key, value, headers) as samples for `produce`
//   bench_kafka produce --brokers B --topics a,b --samples FILE --count N [--props k=v,...]
//                       [--rate R]
//       the machine's limit: a plain librdkafka producer with sfkafkad's
//       producer settings, sending the sample records round-robin over the
//       topics; --rate paces at R records/s and stamps each record with the
//       time it was created. Prints {"records", "failed", "seconds"} and then
//       stays alive until SIGTERM so the harness reads its /proc figures.

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "kafka/event_sink.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
double nowUsWall()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() /
           1000.0;
}

[[noreturn]] void die(const std::string &m)
{
    std::fprintf(stderr, "bench_kafka: %s\n", m.c_str());
    std::exit(1);
}

std::vector<std::string> split(const std::string &s)
{
    std::vector<std::string> out;
    size_t p = 0;
    while (p <= s.size()) {
        size_t q = s.find(',', p);
        if (q == std::string::npos)
            q = s.size();
        if (q > p)
            out.push_back(s.substr(p, q - p));
        p = q + 1;
    }
    return out;
}

struct Args {
    std::map<std::string, std::string> kv;
    std::string get(const std::string &k, const std::string &def = "") const
    {
        auto it = kv.find(k);
        return it == kv.end() ? def : it->second;
    }
    std::string need(const std::string &k) const
    {
        auto it = kv.find(k);
        if (it == kv.end())
            die("missing --" + k);
        return it->second;
    }
};

rd_kafka_conf_t *baseConf(const std::string &brokers)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512];
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        die(err);
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof err);
    return c;
}

void set(rd_kafka_conf_t *c, const std::string &k, const std::string &v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        die(k + ": " + err);
}

rd_kafka_t *newClient(rd_kafka_type_t type, rd_kafka_conf_t *c)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk)
        die(err);
    return rk;
}

// ---- create / delete ------------------------------------------------------

int adminOp(const Args &a, bool create)
{
    auto topics = split(a.need("topics"));
    rd_kafka_t *rk = newClient(RD_KAFKA_PRODUCER, baseConf(a.need("brokers")));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int partitions = std::stoi(a.get("partitions", "1"));
    char err[512];
    int failures = 0;
    // In chunks: one request per 100 topics.
    for (size_t off = 0; off < topics.size(); off += 100) {
        size_t n = std::min<size_t>(100, topics.size() - off);
        if (create) {
            std::vector<rd_kafka_NewTopic_t *> nt;
            for (size_t i = 0; i < n; ++i)
                nt.push_back(rd_kafka_NewTopic_new(topics[off + i].c_str(), partitions, 1, err, sizeof err));
            rd_kafka_CreateTopics(rk, nt.data(), n, nullptr, q);
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
            const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : nullptr;
            if (!res)
                die("CreateTopics: no result");
            size_t cnt;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
            for (size_t i = 0; i < cnt; ++i) {
                auto e = rd_kafka_topic_result_error(tr[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                    std::fprintf(stderr, "create %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                                 rd_kafka_topic_result_error_string(tr[i]));
                    ++failures;
                }
            }
            rd_kafka_event_destroy(ev);
            rd_kafka_NewTopic_destroy_array(nt.data(), n);
        } else {
            std::vector<rd_kafka_DeleteTopic_t *> dt;
            for (size_t i = 0; i < n; ++i)
                dt.push_back(rd_kafka_DeleteTopic_new(topics[off + i].c_str()));
            rd_kafka_DeleteTopics(rk, dt.data(), n, nullptr, q);
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
            if (ev)
                rd_kafka_event_destroy(ev);
            rd_kafka_DeleteTopic_destroy_array(dt.data(), n);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return failures ? 1 : 0;
}

// ---- wait -------------------------------------------------------------------

int waitOp(const Args &a)
{
    auto topics = split(a.need("topics"));
    int64_t count = std::stoll(a.need("count"));
    double timeout = std::stod(a.get("timeout", "600"));
    rd_kafka_t *rk = newClient(RD_KAFKA_PRODUCER, baseConf(a.need("brokers")));
    int partitions = std::stoi(a.get("partitions", "1"));
    auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
    int64_t total = 0;
    auto lastRefresh = Clock::now() - std::chrono::seconds(1);
    while (Clock::now() < deadline) {
        // One ListOffsets request (per leader) for every partition: timestamp
        // -1 asks for the end offset. A query per partition took seconds a
        // round with 200 topics.
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()) * partitions);
        for (auto &t : topics)
            for (int p = 0; p < partitions; ++p)
                rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = -1;
        total = 0;
        bool stale = rd_kafka_offsets_for_times(rk, list, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; i < list->cnt; ++i) {
            if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset > 0)
                total += list->elems[i].offset;
            stale = stale || list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        rd_kafka_topic_partition_list_destroy(list);
        if (stale && total < count && Clock::now() - lastRefresh >= std::chrono::milliseconds(500)) {
            lastRefresh = Clock::now();
            // Topics created just before this started may be cached as
            // unknown: refresh the metadata of every topic.
            const rd_kafka_metadata_t *md = nullptr;
            if (rd_kafka_metadata(rk, 1, nullptr, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_metadata_destroy(md);
        }
        if (total >= count) {
            std::printf("{\"done_unix_ms\": %.3f, \"records\": %lld}\n", nowUsWall(),
                        static_cast<long long>(total));
            std::fflush(stdout);
            rd_kafka_destroy(rk);
            return 0;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(topics.size() > 20 ? 20 : 5));
    }
    std::printf("{\"timeout\": true, \"records\": %lld}\n", static_cast<long long>(total));
    rd_kafka_destroy(rk);
    return 1;
}

// ---- samples ----------------------------------------------------------------

struct Sample {
    std::string key;
    bool has_key = false;
    std::string value;
    std::vector<std::pair<std::string, std::string>> headers;
};

void putStr(std::ofstream &o, const void *p, uint32_t n)
{
    o.write(reinterpret_cast<const char *>(&n), 4);
    o.write(static_cast<const char *>(p), n);
}
bool getStr(std::ifstream &in, std::string &s)
{
    uint32_t n;
    if (!in.read(reinterpret_cast<char *>(&n), 4))
        return false;
    s.resize(n);
    return static_cast<bool>(in.read(s.data(), n));
}

std::vector<Sample> readSamples(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        die("cannot read " + path);
    std::vector<Sample> out;
    for (;;) {
        Sample s;
        std::string flag, count;
        if (!getStr(in, flag))
            break;
        s.has_key = flag == "1";
        getStr(in, s.key);
        getStr(in, s.value);
        getStr(in, count);
        for (int i = 0, n = std::stoi(count); i < n; ++i) {
            std::string k, v;
            getStr(in, k);
            getStr(in, v);
            s.headers.emplace_back(k, v);
        }
        out.push_back(std::move(s));
    }
    if (out.empty())
        die("no samples in " + path);
    return out;
}

// ---- consume ----------------------------------------------------------------

int consumeOp(const Args &a)
{
    auto topics = split(a.need("topics"));
    int64_t count = std::stoll(a.need("count"));
    double timeout = std::stod(a.get("timeout", "120"));
    std::string dump = a.get("dump");
    // One line per record, "receive_ms latency_ms", to see when the slow ones came.
    std::string latencies = a.get("latencies");
    rd_kafka_conf_t *c = baseConf(a.need("brokers"));
    set(c, "group.id", "bench-" + std::to_string(getpid()));
    set(c, "enable.auto.commit", "false");
    set(c, "fetch.wait.max.ms", "1");
    set(c, "fetch.error.backoff.ms", "10");
    set(c, "auto.offset.reset", "earliest");
    set(c, "enable.partition.eof", "false");
    rd_kafka_t *rk = newClient(RD_KAFKA_CONSUMER, c);
    rd_kafka_poll_set_consumer(rk);
    int partitions = std::stoi(a.get("partitions", "1"));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
    for (auto &t : topics)
        for (int p = 0; p < partitions; ++p)
            rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, list))
        die("assign failed");
    rd_kafka_topic_partition_list_destroy(list);

    std::ofstream out;
    if (!dump.empty())
        out.open(dump, std::ios::binary);
    std::vector<double> lat;
    lat.reserve(static_cast<size_t>(count));
    std::vector<std::pair<double, double>> timeline;
    auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
    int64_t n = 0;
    while (n < count && Clock::now() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        double recv = nowUsWall();
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        if (ts > 0) {
            lat.push_back(recv - static_cast<double>(ts));
            if (!latencies.empty())
                timeline.emplace_back(recv, lat.back());
        }
        if (out.is_open()) {
            putStr(out, m->key ? "1" : "0", 1);
            putStr(out, m->key, static_cast<uint32_t>(m->key_len));
            putStr(out, m->payload, static_cast<uint32_t>(m->len));
            rd_kafka_headers_t *hdrs = nullptr;
            std::vector<std::pair<std::string, std::string>> hs;
            if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t size;
                for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; ++i)
                    hs.emplace_back(name, std::string(static_cast<const char *>(val), size));
            }
            std::string hc = std::to_string(hs.size());
            putStr(out, hc.data(), static_cast<uint32_t>(hc.size()));
            for (auto &[k, v] : hs) {
                putStr(out, k.data(), static_cast<uint32_t>(k.size()));
                putStr(out, v.data(), static_cast<uint32_t>(v.size()));
            }
        }
        rd_kafka_message_destroy(m);
        ++n;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (!latencies.empty()) {
        std::ofstream lf(latencies);
        for (auto &[at, ms] : timeline)
            lf << std::fixed << at << ' ' << ms << '\n';
    }
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) {
        if (lat.empty())
            return -1.0;
        size_t i = static_cast<size_t>(q * static_cast<double>(lat.size() - 1) + 0.5);
        return lat[std::min(i, lat.size() - 1)];
    };
    std::printf("{\"records\": %lld, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
                static_cast<long long>(n), pct(0.5), pct(0.99), lat.empty() ? -1.0 : lat.back());
    return n >= count ? 0 : 1;
}

// ---- produce ----------------------------------------------------------------

std::atomic<int64_t> g_delivered{0}, g_failed{0};
volatile std::sig_atomic_t g_term = 0;

int produceOp(const Args &a)
{
    auto topics = split(a.need("topics"));
    auto samples = readSamples(a.need("samples"));
    int64_t count = std::stoll(a.need("count"));
    double rate = std::stod(a.get("rate", "0"));
    rd_kafka_conf_t *c = baseConf(a.need("brokers"));
    for (const auto &[k, v] : sfk::kafka::EventSink::defaultProperties())
        set(c, k, v);
    // --props k=v,k=v: the same overrides a run gives sfkafkad's kafka.librdkafka.
    for (const auto &kv : split(a.get("props"))) {
        auto eq = kv.find('=');
        if (eq == std::string::npos)
            die("--props wants k=v,k=v");
        set(c, kv.substr(0, eq), kv.substr(eq + 1));
    }
    rd_kafka_conf_set_dr_msg_cb(c, [](rd_kafka_t *, const rd_kafka_message_t *m, void *) {
        (m->err ? g_failed : g_delivered).fetch_add(1, std::memory_order_relaxed);
    });
    rd_kafka_t *rk = newClient(RD_KAFKA_PRODUCER, c);
    // Delivery reports on their own thread, as sfkafkad serves them.
    std::atomic<bool> stop{false};
    std::thread poller([&] {
        while (!stop.load())
            rd_kafka_poll(rk, 100);
    });
    std::vector<rd_kafka_topic_t *> handles;
    for (auto &t : topics)
        handles.push_back(rd_kafka_topic_new(rk, t.c_str(), nullptr));

    auto start = Clock::now();
    for (int64_t i = 0; i < count; ++i) {
        if (rate > 0) {
            auto due = start + std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(i) * 1e6 / rate));
            if (due > Clock::now())
                std::this_thread::sleep_until(due);
        }
        const Sample &s = samples[static_cast<size_t>(i) % samples.size()];
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(s.headers.size());
        for (auto &[k, v] : s.headers)
            rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                                static_cast<ssize_t>(v.size()));
        int64_t ts = nowMs();
        for (;;) {
            auto err = rd_kafka_producev(
                rk, RD_KAFKA_V_RKT(handles[static_cast<size_t>(i) % handles.size()]),
                RD_KAFKA_V_KEY(s.has_key ? s.key.data() : nullptr, s.has_key ? s.key.size() : 0),
                RD_KAFKA_V_VALUE(const_cast<char *>(s.value.data()), s.value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
            if (!err)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die(std::string("produce: ") + rd_kafka_err2str(err));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    while (g_delivered.load() + g_failed.load() < count)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("{\"records\": %lld, \"failed\": %lld, \"seconds\": %.3f}\n",
                static_cast<long long>(g_delivered.load()), static_cast<long long>(g_failed.load()), secs);
    std::fflush(stdout);
    std::signal(SIGTERM, [](int) { g_term = 1; });
    if (a.get("exit") != "1")
        while (!g_term)
            pause();
    stop.store(true);
    poller.join();
    for (auto *h : handles)
        rd_kafka_topic_destroy(h);
    rd_kafka_destroy(rk);
    return g_failed.load() ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: bench_kafka create|delete|wait|consume|produce --option value ...");
    std::string op = argv[1];
    Args a;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0)
            die("unexpected argument " + k);
        k = k.substr(2);
        if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0)
            a.kv[k] = argv[++i];
        else
            a.kv[k] = "1";
    }
    if (op == "create")
        return adminOp(a, true);
    if (op == "delete")
        return adminOp(a, false);
    if (op == "wait")
        return waitOp(a);
    if (op == "consume")
        return consumeOp(a);
    if (op == "produce")
        return produceOp(a);
    die("unknown operation " + op);
}
