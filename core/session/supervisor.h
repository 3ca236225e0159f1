#pragma once
// Owns what the sessions share: the Kafka sink, the replay store and the
// commit timer; starts one OrgSession per configured org and stops them in
// the order that loses nothing (stop polling, flush Kafka, commit, disconnect).

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "kafka/event_sink.h"
#include "replay/replay_store.h"
#include "session/org_session.h"

namespace sfk::session {

class Supervisor {
public:
    static std::unique_ptr<Supervisor> create(const config::Config &cfg, std::string &error,
                                              SessionOptions options = {});
    ~Supervisor();

    void start();
    // Graceful stop; returns false if Kafka could not be flushed in time
    // (what was acknowledged is committed either way).
    bool stop(std::chrono::milliseconds flush_timeout);

    // Writes acknowledged replay ids to the store durably.
    bool commit(std::string &error);

    const config::Config &config() const { return cfg_; }
    const std::vector<std::unique_ptr<OrgSession>> &sessions() const { return sessions_; }
    kafka::EventSink &sink() { return *sink_; }
    // "2/3 orgs streaming, 12 in flight"
    std::string statusLine() const;

private:
    Supervisor() = default;
    void commitLoop();

    config::Config cfg_;
    std::unique_ptr<replay::ReplayStore> store_;
    std::unique_ptr<kafka::EventSink> sink_;
    std::vector<std::unique_ptr<OrgSession>> sessions_;
    std::mutex commitMutex_;
    std::thread committer_;
    std::mutex wakeMutex_;
    std::condition_variable wake_;
    std::atomic<bool> stopping_{false};
    bool commitRequested_ = false;  // guarded by wakeMutex_
    bool stopped_ = false;
};

} // namespace sfk::session
