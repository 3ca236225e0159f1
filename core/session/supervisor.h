#pragma once
// Owns what the sessions share: the Kafka sink, the replay store and the
// commit timer; starts one OrgSession per configured org and stops them in
// the order that loses nothing (stop polling, flush Kafka, commit, disconnect).
// reload() applies a new configuration per org while the others stream on.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "kafka/control_topic.h"
#include "kafka/event_sink.h"
#include "replay/replay_store.h"
#include "session/org_session.h"

namespace sfk::session {

// One session per org and transport: an org with channels on both CometD
// and the Pub/Sub API becomes two (same name, its channels split), in order.
std::vector<config::Org> splitByTransport(const std::vector<config::Org> &orgs);
// "acme" for an org's CometD session, "acme (pubsub)" for its Pub/Sub one:
// what reload summaries and the supervisor's bookkeeping call a session.
std::string sessionName(const config::Org &org);

// Whether two orgs' configurations are identical (channels included).
bool sameOrg(const config::Org &a, const config::Org &b);

struct ReloadSummary {
    std::vector<std::string> added, removed, restarted, unchanged;
    // Keys whose new value needs a restart (the old value stays in force).
    std::vector<std::string> needs_restart;
};

// Why create() failed; sfkafkad exits with a code per kind (README, "Exit
// status"), so that systemd's RestartPreventExitStatus= can tell the ones a
// restart may heal from the ones that need the operator.
enum class StartFailure {
    None,
    StateDirectoryLocked,    // another instance holds <dir>/lock
    ReplayFileCorrupt,       // <dir>/replay-ids.json cannot be parsed
    StateDirectoryUnusable,  // cannot be created, locked or written
    KafkaProducer,           // rd_kafka_new refused the settings
};

class Supervisor {
public:
    // On failure returns null, *error is one line naming the cause (the
    // directory and holder pid, the corrupt file and what is wrong, ...).
    static std::unique_ptr<Supervisor> create(const config::Config &cfg, std::string &error,
                                              SessionOptions options = {},
                                              StartFailure *failure = nullptr);
    ~Supervisor();

    void start();
    // Graceful stop; returns false if Kafka could not be flushed in time
    // (what was acknowledged is committed either way).
    bool stop(std::chrono::milliseconds flush_timeout);

    // Writes acknowledged replay ids to the store durably.
    bool commit(std::string &error);

    // Applies a validated configuration: starts added orgs, drains and stops
    // removed ones (committing what was acknowledged), restarts changed ones
    // from their committed ids; unchanged orgs are not touched. Keys that
    // need a restart keep their old values and are listed in the summary.
    ReloadSummary reload(const config::Config &cfg,
                         std::chrono::milliseconds drain_timeout = std::chrono::seconds(30));
    // Counts a reload refused because the new file was invalid.
    void noteReloadFailure() { reloadFailures_.fetch_add(1); }
    uint64_t reloadSuccesses() const { return reloadSuccesses_.load(); }
    uint64_t reloadFailures() const { return reloadFailures_.load(); }

    // A copy of the configuration in force.
    config::Config config() const;
    // Calls fn for each running session with the sessions lock held (the
    // sessions may not be kept beyond the call).
    void forEachSession(const std::function<void(const OrgSession &)> &fn) const;
    kafka::EventSink &sink() { return *sink_; }
    const kafka::EventSink &sink() const { return *sink_; }
    // Sessions a reload stopped whose last delivery reports are still due;
    // freed once every report arrived.
    size_t retiredSessions() const;
    const kafka::ControlTopic &control() const { return *control_; }
    // "2/3 orgs streaming, 12 in flight"
    std::string statusLine() const;

    // The watchdog predicate: the commit thread and every running session
    // thread showed progress within max_stall. *why names what is stuck.
    bool healthy(std::chrono::milliseconds max_stall, std::string *why = nullptr) const;
    // Kafka reachable and every org streaming; *report lists each check.
    bool ready(std::string *report = nullptr) const;

private:
    Supervisor() = default;
    void commitLoop();
    std::unique_ptr<OrgSession> makeSession(const config::Org &org);
    // Stops sessions (already out of sessions_), waits for their in-flight
    // events and commits what was acknowledged.
    void retire(std::vector<std::unique_ptr<OrgSession>> sessions,
                std::chrono::milliseconds drain_timeout);
    void touch();
    // Frees the retired sessions that have no delivery report due.
    void reapRetired();
    bool retiredEmpty() const { return retiredSessions() == 0; }

    config::Config cfg_;               // guarded by sessionsMutex_
    SessionOptions options_;
    // Shared by every session (config pacing.*); rates follow reloads.
    std::unique_ptr<Pacer> loginPacer_, handshakePacer_;
    std::unique_ptr<replay::ReplayStore> store_;
    std::unique_ptr<kafka::EventSink> sink_;
    std::unique_ptr<kafka::ControlTopic> control_;   // stopped before sink_ goes
    mutable std::mutex sessionsMutex_;  // sessions_, cfg_
    std::vector<std::unique_ptr<OrgSession>> sessions_;
    // Stopped sessions kept alive while a delivery report may still reach
    // them (reapRetired()).
    mutable std::mutex retiredMutex_;
    std::vector<std::unique_ptr<OrgSession>> retired_;
    std::mutex reloadMutex_;
    std::mutex commitMutex_;
    std::thread committer_;
    std::mutex wakeMutex_;
    std::condition_variable wake_;
    std::atomic<bool> stopping_{false};
    std::atomic<int64_t> commitIntervalMs_{1000};
    std::atomic<int64_t> progressNs_{0};  // commit thread
    std::atomic<uint64_t> reloadSuccesses_{0}, reloadFailures_{0};
    bool commitRequested_ = false;  // guarded by wakeMutex_
    bool started_ = false;
    std::atomic<bool> stopAsked_{false};  // stop() called: reloads end their waits
    bool stopped_ = false;                // guarded by reloadMutex_ (after create())
};

} // namespace sfk::session
