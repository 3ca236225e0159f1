#pragma once
// Runs sfemu (build/emulator/sfemu) for a test and talks to its admin API.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sfk::test {

struct PublishedEvent {
    int64_t replay_id;
    std::string event_uuid;
    int64_t time_ms;
};

class SfemuProcess {
public:
    // Starts $SFKAFKA_BUILD_ROOT/emulator/sfemu with the given YAML config
    // text (empty: the default org) on free loopback ports and waits until it
    // printed its URLs. extra_args go after the defaults (and so win).
    // Throws std::runtime_error on failure.
    static SfemuProcess start(const std::string &config_yaml = "",
                              std::vector<std::string> extra_args = {});

    SfemuProcess(SfemuProcess &&other) noexcept;
    SfemuProcess &operator=(SfemuProcess &&other) noexcept;
    SfemuProcess(const SfemuProcess &) = delete;
    SfemuProcess &operator=(const SfemuProcess &) = delete;
    // SIGTERM, then waits (SIGKILL after 10 s).
    ~SfemuProcess();

    const std::string &url() const { return url_; }
    const std::string &adminUrl() const { return admin_url_; }
    pid_t pid() const { return pid_; }
    // The Pub/Sub API listener (host:port) and the CA file that signed its
    // certificate ("" when plaintext or disabled).
    const std::string &pubsubAddress() const { return pubsub_address_; }
    const std::string &pubsubCa() const { return pubsub_ca_; }

    // POST /admin/orgs/{org}/events; returns the replay ids.
    std::vector<int64_t> publish(const std::string &org, const std::string &channel,
                                 const std::string &events_json_array);
    // Complete Bayeux messages sent as given ({replayId} replaced): a JSON
    // array of strings.
    std::vector<int64_t> publishRaw(const std::string &org, const std::string &channel,
                                    const std::string &raw_json_array);
    std::vector<int64_t> generate(const std::string &org, const std::string &channel, int count,
                                  int payload_bytes, int seed = 1);
    // POST /admin/orgs/{org}/faults; throws on a non-2xx answer.
    void arm(const std::string &org, const std::string &fault_json);
    // POST /admin/orgs/{org}/pubsub/faults; returns the answer's body.
    std::string armPubSub(const std::string &org, const std::string &fault_json);
    // GET /admin/orgs/{org}/published?channel=...
    std::vector<PublishedEvent> published(const std::string &org, const std::string &channel);
    // GET /admin/orgs/{org}/clients (raw JSON).
    std::string clients(const std::string &org);
    // GET /admin/orgs/{org}/usage (raw JSON): deliveries and open clients.
    std::string usage(const std::string &org);
    // POST /admin/orgs/{org}/limits; returns the usage JSON; throws on a non-2xx answer.
    std::string setLimits(const std::string &org, const std::string &limits_json);

    // SIGTERM and wait; returns the exit status (as from waitpid), or -1.
    int stop();
    // SIGKILL (for tests).
    void kill();

private:
    SfemuProcess() = default;
    std::string adminPost(const std::string &path, const std::string &body);
    std::string adminGet(const std::string &path);

    pid_t pid_ = -1;
    std::string url_;
    std::string admin_url_;
    std::string pubsub_address_;
    std::string pubsub_ca_;
    std::string config_path_;
};

} // namespace sfk::test
