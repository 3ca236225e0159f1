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
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "auth/token_provider.h"
#include "cometd/bayeux_client.h"
#include "config/config.h"
#include "decode/poison_guard.h"
#include "kafka/control_topic.h"
#include "kafka/event_sink.h"
#include "metrics/lag_histogram.h"
#include "replay/ack_tracker.h"
#include "replay/replay_store.h"
#include "session/backoff.h"
#include "session/dead_letters.h"

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
    std::atomic<uint64_t> replay_backwards{0};  // a replay id below the previous one, produced
    std::atomic<int64_t> last_event_ms{0};  // wall clock of the last event received (0: none)
    // Dead letters written, by reason (index: DeadLetterReason).
    std::atomic<uint64_t> dead_letters[3] = {0, 0, 0};
};

// Why events were knowingly not delivered (or, for ReplayIdBackwards, may
// have been reordered): the `reason` of a gap record.
enum class GapReason { InvalidReplayId, SubscribeRefused, ReplayIdBackwards, ChannelStopped, DeadLetter };
const char *gapReasonName(GapReason r);

struct Gap {
    size_t channel = 0;
    GapReason reason = GapReason::InvalidReplayId;
    std::string policy;                      // fail | earliest | latest | stop | produced | ...
    std::optional<int64_t> stored_replay_id;
    std::optional<int64_t> resumed_from;     // none: the channel stopped
    std::optional<int64_t> replay_id;
    std::string detail;
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
    std::atomic<uint64_t> subscribe_retries{0};   // transient subscribe failures
    std::atomic<uint64_t> retry_waits{0};         // backoff sleeps before a new handshake
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
    // Kafka refused this event with a permanent error (any thread): when it
    // comes back after the resubscribe it is produced alone, and
    // dead-lettered if refused again (dead_letter_path.cpp).
    void noteRefused(uint32_t channel, int64_t replay_id);

    // A gap: the GAP error line and a record on the control topic (which
    // counts it for sfkafka_gaps_total).
    void reportGap(const Gap &gap);

private:
    struct ChannelState {
        const config::Channel *cfg = nullptr;
        bool stopped = false;          // `fail` policy or a channel that does not exist
        bool seen_events = false;      // received events since start
        std::optional<int64_t> last_seen;
        // The id the current subscription started after: only ids at or
        // below it are duplicates (none: it started from -1 or -2).
        std::optional<int64_t> start_from;
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
    // How a subscribe refusal for channel i ends: nullopt for this channel only.
    std::optional<Next> handleSubscribeRefusal(size_t i, int64_t from, const decode::MetaMessage &m,
                                               std::vector<std::optional<int64_t>> &override,
                                               std::vector<size_t> &retry);
    // Durable marker -2 for channels that subscribed from -1/-2 (or resumed
    // there after a gap): later subscribes replay what is retained instead
    // of skipping what came since (duplicates, never loss).
    void storeResumeMarkers(const std::vector<size_t> &which);
    // Waits before a new handshake (backoff, reset only after progress).
    bool waitBeforeRetry(Next why);
    bool madeProgress() const;
    void abandonClient();
    void produceEvents(const decode::Batch &batch);
    // An event of channel i at or below the last id seen: false for a
    // duplicate (at or below where the subscription started), true (logged,
    // counted, a gap record) when it must be produced.
    bool noteBackwards(size_t i, int64_t replay_id);
    // The dead-letter path (dead_letter_path.cpp).
    // False (logged, counted): the reply carries an undecodable message not
    // yet seen kThreshold times; discard it whole and resubscribe.
    bool admitReply(const cometd::Exchange &ex);
    bool isSuspect(size_t channel, int64_t replay_id);
    void forgetSuspect(size_t channel, int64_t replay_id);
    void produceAlone(const decode::Event &e, size_t channel, const kafka::OutRecord &rec);
    void deadLetterEvent(const decode::Event &e, size_t channel, const replay::AckTracker::Ticket &ticket,
                         const std::string &error, DeadLetterReason reason);
    void deadLetterUndecodable(const decode::Undecodable &u);
    void reportDeadLetter(std::optional<size_t> channel, const DeadLetter &letter, bool body_dropped);
    void publishDeadLetterGap(const DeadLetter &letter);
    bool waitForCapacity();
    bool drainInFlight();
    int64_t subscribeReplayId(size_t channel) const;
    bool sleepFor(std::chrono::milliseconds d);
    void setState(State s);
    void touch();

    const config::Org org_;
    kafka::EventSink &sink_;
    replay::ReplayStore &store_;
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
    // Committed ids when the last handshake began: progress is their moving.
    std::vector<std::optional<int64_t>> committedAtHandshake_;
    std::chrono::steady_clock::time_point streamingSince_{};
    SessionCounters counters_;
    metrics::LagHistogram lag_;
    std::atomic<uint64_t> pendingRetired_{0};
    std::atomic<uint64_t> durableRetired_{0};
    std::function<void()> requestCommit_;
    std::mutex suspectsMutex_;
    std::set<std::pair<uint32_t, int64_t>> suspects_;   // (channel, replay id)
    std::atomic<size_t> suspectCount_{0};
    decode::PoisonGuard poison_;
    // While the shared producer queue is full, the session is paused (and
    // alive, for the watchdog), not stuck; a stop ends the wait.
    std::function<bool()> waitingForQueue_ = [this] {
        setState(State::Paused);
        touch();
        return !stop_.load();
    };
    std::atomic<State> state_{State::Starting};
    std::atomic<int64_t> stateSinceMs_{0};
    std::atomic<int64_t> tokenObtainedMs_{0};
    std::atomic<int64_t> progressNs_{0};
    std::atomic<bool> stop_{false};
    std::atomic<bool> finished_{false};
    std::mutex sleepMutex_;
    std::condition_variable sleepCv_;
    std::thread thread_;
};

} // namespace sfk::session
