#pragma once
// Helpers for integration tests against a real Apache Kafka broker.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sfk::test {

// A single-node KRaft broker started with scripts/kafka.
class KafkaBroker {
public:
    // Starts a broker with a name unique to this process; throws on failure.
    static KafkaBroker start();
    // The suite's broker: $SFKAFKA_TEST_BOOTSTRAP when scripts/test started
    // one for the whole suite, else one started for this process and
    // stopped when it exits.
    static const KafkaBroker &shared();

    KafkaBroker(KafkaBroker &&other) noexcept;
    KafkaBroker &operator=(KafkaBroker &&) = delete;
    ~KafkaBroker();

    const std::string &bootstrap() const { return bootstrap_; }
    // Stops the broker (no-op for an external one). Data is removed.
    void stop();
    // Stops the broker process but keeps its data, so restart() resumes it.
    void pause();
    void restart();

private:
    KafkaBroker(std::string name, std::string bootstrap, bool owned)
        : name_(std::move(name)), bootstrap_(std::move(bootstrap)), owned_(owned) {}

    std::string name_;
    std::string bootstrap_;
    bool owned_ = false;
};

struct Header {
    std::string key;
    std::string value;
};

struct Record {
    std::string topic;
    int32_t partition = -1;
    int64_t offset = -1;
    std::optional<std::string> key;
    std::string value;
    std::vector<Header> headers;
    int64_t timestamp_ms = -1;

    std::optional<std::string> header(const std::string &name) const;
};

// A topic name no other test uses.
std::string uniqueTopic(const std::string &prefix);

// Creates a topic with the admin API and waits until it is usable.
// configs: topic configs such as {"max.message.bytes", "20000"}.
void createTopic(const std::string &bootstrap, const std::string &topic,
                 int partitions,
                 const std::vector<std::pair<std::string, std::string>> &configs = {});

// Reads every record of the topic, from the beginning to the high watermark
// of each partition. With min_count, first waits (up to timeout) until the
// topic holds at least that many records.
std::vector<Record> consumeAll(const std::string &bootstrap,
                               const std::string &topic,
                               int64_t min_count = 0,
                               std::chrono::milliseconds timeout =
                                   std::chrono::seconds(60));

// Sum of high watermarks over all partitions (records in the topic).
int64_t topicSize(const std::string &bootstrap, const std::string &topic);

// The project's source root (for scripts/ and config/).
std::string sourceRoot();

// Runs a shell command, returns its stdout; throws if it exits non-zero.
std::string runCommand(const std::string &command);

} // namespace sfk::test
