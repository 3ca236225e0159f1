#pragma once
// Validation of the kafka.librdkafka passthrough map by librdkafka itself:
// every property is set on a real rd_kafka_conf_t and librdkafka's own error
// text is reported; properties that sfkafkad owns or that would break the
// no-loss guarantee are refused; finally a producer handle is created (no
// broker, no network) so that combinations librdkafka rejects are reported
// too.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sfk::config {

struct LibrdkafkaProblem {
    static constexpr size_t kWholeMap = static_cast<size_t>(-1);
    enum class Where { Key, Value };

    size_t entry = kWholeMap;  // index into the entries, or kWholeMap
    Where where = Where::Key;
    bool warning = false;
    std::string message;       // secret values are replaced by <redacted>
};

// Properties whose values are secrets (never shown, never inline).
bool isSensitiveLibrdkafkaProperty(std::string_view name);

std::vector<LibrdkafkaProblem>
checkLibrdkafka(const std::vector<std::pair<std::string, std::string>> &entries);

} // namespace sfk::config
