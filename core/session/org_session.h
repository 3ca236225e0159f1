#pragma once
// One org's streaming session on its own thread: token, one Bayeux client
// for all the org's channels, events to Kafka, replay ids committed only over
// acknowledged events.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "auth/token_provider.h"
#include "cometd/bayeux_client.h"
#include "config/config.h"
#include "kafka/control_topic.h"
#include "kafka/event_sink.h"
#include "metrics/lag_histogram.h"
#include "replay/ack_tracker.h"
#include "replay/replay_store.h"
#include "session/backoff.h"

namespace sfk::session {

enum class State { Starting, Authenticating, Handshaking, Streaming, Paused, Backoff, Stopped };
const char *stateName(State s);

struct ChannelCounters {
    std::atomic<uint64_t> received{0};   // events decoded for this channel
    std::atomic<uint64_t> produced{0};   // handed to Kafka
    std::atomic<uint64_t> delivered{0};  // acknowledged by Kafka
    std::atomic<uint64_t> failed{0};     // failed delivery reports
    std::atomic<uint64_t> duplicates_skipped{0};
    std::atomic<uint64_t> gaps{0};       // invalid replay ids met
    std::atomic<int64_t> last_event_ms{0};  // wall clock of the last event received (0: none)
};

struct SessionCounters {
    std::atomic<uint64_t> token_requests{0};
    std::atomic<uint64_t> token_failures{0};
    std::atomic<uint64_t> handshakes{0};
    std::atomic<uint64_t> malformed_responses{0};
    std::atomic<uint64_t> reconnects_auth{0};
    std::atomic<uint64_t> reconnects_unknown_client{0};
    std::atomic<uint64_t> reconnects_network{0};
    std::atomic<uint64_t> reconnects_server_error{0};
    std::atomic<uint64_t> reconnects_malformed{0};
    std::atomic<uint64_t> reconnects_delivery_failure{0};
};

struct SessionOptions {
    // Backoff between retries after network/5xx/auth failures.
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{60000};
    // Backoff after a limit error (concurrent clients, daily events).
    std::chrono::milliseconds limit_backoff{300000};
};

class OrgSession {
public:
    OrgSession(const config::Org &org, kafka::EventSink &sink, replay::ReplayStore &store,
               kafka::ControlTopic &control, SessionOptions options = {});
    ~OrgSession();

    void start();
    // Stops polling: aborts the long poll and any wait. Safe from any thread.
    void requestStop();
    void join();
    // After join(): tells Salesforce the client is gone (best effort).
    void disconnect();

    // Writes every channel's committed replay id that moved into the store
    // (in memory; the caller flushes). Returns how many changed.
    size_t commitTo(replay::ReplayStore &store);
    // The store was flushed after the last commitTo(): what it covered is durable.
    void markDurable() { durableRetired_.store(pendingRetired_.load()); }
    // Events a crash now could deliver twice: tracked but not durably committed.
    int64_t uncommittedEvents() const
    {
        return static_cast<int64_t>(tracker_.tracked() - durableRetired_.load());
    }
    // Asks the supervisor for a commit soon (the window is filling up).
    void setCommitRequester(std::function<void()> fn) { requestCommit_ = std::move(fn); }

    const config::Org &org() const { return org_; }
    State state() const { return state_.load(); }
    // Wall clock (epoch ms) of the last state change, and of the current token (0: none yet).
    int64_t stateSinceMs() const { return stateSinceMs_.load(); }
    int64_t tokenObtainedMs() const { return tokenObtainedMs_.load(); }
    bool streaming() const { return state_.load() == State::Streaming; }
    const std::string &orgId() const { return orgId_; }
    int64_t inFlightEvents() const { return tracker_.inFlightEvents(); }
    int64_t inFlightBytes() const { return tracker_.inFlightBytes(); }
    std::optional<int64_t> committed(size_t channel) const { return tracker_.committed(channel); }
    bool channelStopped(size_t channel) const;
    const ChannelCounters &channelCounters(size_t channel) const { return *channels_[channel].counters; }
    const SessionCounters &counters() const { return counters_; }
    // Last time the session thread showed it is alive (for the watchdog).
    std::chrono::steady_clock::time_point lastProgress() const;

    size_t channelCount() const { return channels_.size(); }
    // Event creation -> Kafka acknowledgement, over this session's events.
    const metrics::LagHistogram &lag() const { return lag_; }

    // Called from the sink's delivery thread. event_time_ms: the event's
    // creation time (epoch ms) when known, for the lag histogram.
    void onDelivered(const replay::AckTracker::Ticket &ticket, bool ok, int code,
                     const char *text, std::optional<int64_t> event_time_ms = std::nullopt);

private:
    struct ChannelState {
        const config::Channel *cfg = nullptr;
        bool stopped = false;          // `fail` policy or a channel that does not exist
        bool seen_events = false;      // received events since start
        std::optional<int64_t> last_seen;
        std::atomic<bool> failure_logged{false};
        std::unique_ptr<ChannelCounters> counters = std::make_unique<ChannelCounters>();
        std::optional<int64_t> last_stored;  // what commitTo last wrote
    };
    // What the session does next; Connect: subscribed, start long polling.
    enum class Next { Connect, Rehandshake, NewToken, Backoff, LimitBackoff, Stop };

    void run();
    bool ensureToken();
    Next handshakeAndSubscribe();
    Next subscribeChannels(std::vector<size_t> which);
    Next connectLoop();
    std::optional<Next> handleConnectReply(const decode::MetaMessage &m);
    void produceEvents(const decode::Batch &batch);
    bool waitForCapacity();
    bool drainInFlight();
    int64_t subscribeReplayId(size_t channel) const;
    bool sleepFor(std::chrono::milliseconds d);
    void setState(State s);
    void touch();

    const config::Org org_;
    kafka::EventSink &sink_;
    kafka::ControlTopic &control_;
    SessionOptions options_;
    replay::AckTracker tracker_;
    std::vector<ChannelState> channels_;
    std::unordered_map<std::string_view, size_t> channelIndex_;
    auth::TokenProvider tokens_;
    std::optional<auth::Token> token_;
    std::string orgId_;

    std::mutex clientMutex_;  // guards client_ against requestStop()
    std::unique_ptr<cometd::BayeuxClient> client_;
    std::string clientInstance_;

    Backoff backoff_;
    SessionCounters counters_;
    metrics::LagHistogram lag_;
    std::atomic<uint64_t> pendingRetired_{0};
    std::atomic<uint64_t> durableRetired_{0};
    std::function<void()> requestCommit_;
    // While the shared producer queue is full, the session is paused (and
    // alive, for the watchdog), not stuck.
    std::function<void()> waitingForQueue_ = [this] {
        setState(State::Paused);
        touch();
    };
    std::atomic<State> state_{State::Starting};
    std::atomic<int64_t> stateSinceMs_{0};
    std::atomic<int64_t> tokenObtainedMs_{0};
    std::atomic<int64_t> progressNs_{0};
    std::atomic<bool> stop_{false};
    std::mutex sleepMutex_;
    std::condition_variable sleepCv_;
    std::thread thread_;
};

} // namespace sfk::session
