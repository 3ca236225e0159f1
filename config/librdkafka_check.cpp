#include "config/librdkafka_check.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <mutex>

#include <librdkafka/rdkafka.h>

namespace sfk::config {

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string redact(std::string text, const std::string &secret)
{
    if (secret.empty())
        return text;
    for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
        text.replace(pos, secret.size(), "<redacted>");
        pos += 10;
    }
    return text;
}

// librdkafka's spellings of true (checked before librdkafka sees them).
bool isTrue(const std::string &lowered)
{
    return lowered == "true" || lowered == "t" || lowered == "1";
}

std::optional<long long> integer(const std::string &text)
{
    long long n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;   // librdkafka reports it
    return n;
}

// Properties sfkafkad sets itself or that would break delivery guarantees.
std::string ownedPropertyProblem(const std::string &name, const std::string &value)
{
    std::string v = lower(value);
    if (name == "bootstrap.servers" || name == "metadata.broker.list")
        return "sfkafkad sets " + name + " from kafka.brokers; write the brokers there";
    if (name == "enable.idempotence" && (v == "false" || v == "f" || v == "0"))
        return "enable.idempotence=false would break the no-loss guarantee (retries could reorder or "
               "duplicate events); sfkafkad always uses the idempotent producer";
    if ((name == "acks" || name == "request.required.acks") && v != "all" && v != "-1")
        return name + "=" + value + " would break the no-loss guarantee (a broker failure could lose "
               "acknowledged events); only all (or -1) is allowed";
    // Every success report is an acknowledgement the watermark waits for.
    if (name == "delivery.report.only.error" && isTrue(v))
        return "delivery.report.only.error=true would break the no-loss guarantee: sfkafkad commits a "
               "replay id only after a delivery report for every event up to it";
    // The idempotent producer keeps a partition's records in order only up
    // to 5 requests in flight, and only with retries.
    if (name == "max.in.flight.requests.per.connection" || name == "max.in.flight") {
        if (auto n = integer(v); n && *n > 5)
            return name + "=" + value + " would let retries reorder events (the idempotent producer "
                   "keeps order with at most 5 requests in flight)";
    }
    if (name == "retries" || name == "message.send.max.retries") {
        if (auto n = integer(v); n && *n < 1)
            return name + "=" + value + " would fail every event on the first broker hiccup; the "
                   "idempotent producer needs retries";
    }
    if (name == "queuing.strategy" && v == "lifo")
        return "queuing.strategy=lifo would write a channel's events out of order; only fifo is allowed";
    if (name == "transactional.id")
        return "sfkafkad does not use Kafka transactions; a transactional producer would refuse its "
               "produce calls";
    return {};
}

struct LogCapture {
    std::mutex mutex;
    std::vector<std::string> warnings;
};

void captureLog(const rd_kafka_t *rk, int level, const char *, const char *buf)
{
    auto *capture = static_cast<LogCapture *>(rd_kafka_opaque(rk));
    if (!capture || level > 4 /* LOG_WARNING */)
        return;
    std::string line(buf);
    // Drop librdkafka's thread tag: "[thrd:app]: ".
    if (line.starts_with("[thrd:")) {
        size_t end = line.find("]: ");
        if (end != std::string::npos)
            line.erase(0, end + 3);
    }
    // Validation runs without brokers on purpose.
    if (line.find("bootstrap.servers") != std::string::npos)
        return;
    std::lock_guard lock(capture->mutex);
    capture->warnings.push_back(line);
}

void discardLog(const rd_kafka_t *, int, const char *, const char *)
{
}

} // namespace

bool isSensitiveLibrdkafkaProperty(std::string_view name)
{
    static constexpr std::string_view sensitive[] = {
        "sasl.password",         "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config",
        "ssl.key.password",      "ssl.key.pem",                    "ssl.keystore.password",
    };
    return std::find(std::begin(sensitive), std::end(sensitive), name) != std::end(sensitive);
}

std::vector<LibrdkafkaProblem>
checkLibrdkafka(const std::vector<std::pair<std::string, std::string>> &entries)
{
    std::vector<LibrdkafkaProblem> problems;
    char errstr[512];

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, discardLog);
    // sfkafkad's own guarantees, so that conflicting settings show up below.
    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "acks", "all", errstr, sizeof(errstr));

    std::string protocol;
    size_t mechanism = LibrdkafkaProblem::kWholeMap;
    for (size_t i = 0; i < entries.size(); ++i) {
        const auto &[name, value] = entries[i];
        std::string owned = ownedPropertyProblem(name, value);
        if (!owned.empty()) {
            problems.push_back({ i, LibrdkafkaProblem::Where::Value, false,
                                 isSensitiveLibrdkafkaProperty(name) ? redact(owned, value) : owned });
            continue;
        }

        errstr[0] = '\0';
        rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr));
        if (res == RD_KAFKA_CONF_UNKNOWN) {
            problems.push_back({ i, LibrdkafkaProblem::Where::Key, false,
                                 std::string("librdkafka: ") + errstr });
        } else if (res == RD_KAFKA_CONF_INVALID) {
            std::string message = std::string("librdkafka: ") + errstr;
            if (isSensitiveLibrdkafkaProperty(name))
                message = redact(message, value);
            problems.push_back({ i, LibrdkafkaProblem::Where::Value, false, message });
        } else if (name == "security.protocol") {
            protocol = lower(value);
        } else if (name == "sasl.mechanisms" || name == "sasl.mechanism") {
            mechanism = i;
        }
    }

    // librdkafka checks the mechanism only when SASL starts, which the
    // handle below does not do.
    if (mechanism != LibrdkafkaProblem::kWholeMap) {
        static constexpr std::string_view known[] = { "GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512",
                                                      "OAUTHBEARER" };
        const std::string &value = entries[mechanism].second;
        if (std::find(std::begin(known), std::end(known), value) == std::end(known))
            problems.push_back({ mechanism, LibrdkafkaProblem::Where::Value, false,
                                 "unsupported SASL mechanism \"" + value +
                                     "\" (GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)" });
    }

    if (!problems.empty()) {
        rd_kafka_conf_destroy(conf);
        return problems;
    }

    // Combinations are checked when a handle is created. Without SASL: no
    // kinit command, no OAuth token request; without brokers: no network.
    bool downgraded = protocol == "sasl_plaintext" || protocol == "sasl_ssl";
    if (protocol == "sasl_plaintext")
        rd_kafka_conf_set(conf, "security.protocol", "plaintext", errstr, sizeof(errstr));
    else if (protocol == "sasl_ssl")
        rd_kafka_conf_set(conf, "security.protocol", "ssl", errstr, sizeof(errstr));

    LogCapture capture;
    rd_kafka_conf_set_opaque(conf, &capture);
    rd_kafka_conf_set_log_cb(conf, captureLog);
    errstr[0] = '\0';
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        std::string message = std::string("librdkafka rejects these settings: ") + errstr;
        for (const auto &[name, value] : entries)
            if (isSensitiveLibrdkafkaProperty(name))
                message = redact(message, value);
        problems.push_back({ LibrdkafkaProblem::kWholeMap, LibrdkafkaProblem::Where::Key, false, message });
        return problems;
    }
    rd_kafka_destroy(rk);

    std::lock_guard lock(capture.mutex);
    for (std::string warning : capture.warnings) {
        // Said about the SASL-less copy checked here, not about the user's settings.
        if (downgraded && warning.find("security.protocol") != std::string::npos)
            continue;
        size_t entry = LibrdkafkaProblem::kWholeMap;
        for (size_t i = 0; i < entries.size(); ++i) {
            if (isSensitiveLibrdkafkaProperty(entries[i].first))
                warning = redact(warning, entries[i].second);
            if (entry == LibrdkafkaProblem::kWholeMap &&
                (warning.find("property " + entries[i].first + " ") != std::string::npos ||
                 warning.find("`" + entries[i].first + "`") != std::string::npos))
                entry = i;
        }
        problems.push_back({ entry, LibrdkafkaProblem::Where::Key, true, "librdkafka: " + warning });
    }
    return problems;
}

} // namespace sfk::config
