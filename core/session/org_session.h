#pragma once
// One org's streaming session on its own thread: token, a transport that
// brings the channels' events (session/transport.h), events to Kafka, replay
// ids committed only over acknowledged events.

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
#include "config/config.h"
#include "kafka/control_topic.h"
#include "kafka/event_sink.h"
#include "metrics/lag_histogram.h"
#include "replay/ack_tracker.h"
#include "replay/replay_store.h"
#include "session/allocation_meter.h"
#include "session/backoff.h"
#include "session/counters.h"
#include "session/dead_letters.h"
#include "session/pacer.h"
#include "session/transport.h"

namespace sfk::session {

struct SessionOptions {
    // Backoff between retries after network/5xx/auth failures.
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{60000};
    // Backoff after a limit error (concurrent clients, daily events).
    std::chrono::milliseconds limit_backoff{300000};
    // Process-wide pacing of token requests and opens (handshakes); none: unpaced.
    Pacer *logins = nullptr;
    Pacer *handshakes = nullptr;
};

class OrgSession final : private TransportHost {
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

    const config::Org &org() const override { return org_; }
    State state() const { return state_.load(); }
    // Wall clock (epoch ms) of the last state change, and of the current token (0: none yet).
    int64_t stateSinceMs() const { return stateSinceMs_.load(); }
    int64_t tokenObtainedMs() const { return tokenObtainedMs_.load(); }
    bool streaming() const { return state_.load() == State::Streaming; }
    const std::string &orgId() const { return orgId_; }
    int64_t inFlightEvents() const { return tracker_.inFlightEvents(); }
    int64_t inFlightBytes() const { return tracker_.inFlightBytes(); }
    std::optional<replay::Position> committed(size_t channel) const { return tracker_.committed(channel); }
    // The transport of every channel of this session.
    config::Transport transport() const { return transport_kind_; }
    bool channelStopped(size_t channel) const override { return channels_[channel].stopped; }
    const ChannelCounters &channelCounters(size_t channel) const { return *channels_[channel].counters; }
    const SessionCounters &counters() const { return counters_; }
    // Last time the session thread showed it is alive (for the watchdog).
    std::chrono::steady_clock::time_point lastProgress() const;

    size_t channelCount() const { return channels_.size(); }
    // Events Salesforce delivered to this org's client in the last 24 hours,
    // and where that stands against the org's allocation (config allocation.*).
    int64_t deliveredLast24h() const;
    AllocationState allocationState() const;
    // Event creation -> Kafka acknowledgement, over this session's events.
    const metrics::LagHistogram &lag() const { return lag_; }

    // Called from the sink's delivery thread. event_time_ms: the event's
    // creation time (epoch ms) when known, for the lag histogram.
    void onDelivered(const replay::AckTracker::Ticket &ticket, bool ok, int code,
                     const char *text, std::optional<int64_t> event_time_ms = std::nullopt);
    // Kafka refused this event with a permanent error (any thread): when it
    // comes back after the resubscribe it is produced alone, and
    // dead-lettered if refused again (dead_letter_path.cpp).
    void noteRefused(uint32_t channel, const replay::Position &replay_id);

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
        std::optional<replay::Position> last_stored;  // what commitTo last wrote
    };
    // TransportHost (what the transport sees of the session).
    const auth::Token &token() const override { return *token_; }
    bool stopping() const override { return stop_.load(); }
    bool sleepFor(std::chrono::milliseconds d) override;
    void setState(State s) override;
    void touch() override;
    SessionCounters &mutableCounters() override { return counters_; }
    ChannelCounters &mutableChannelCounters(size_t channel) override { return *channels_[channel].counters; }
    void stopChannel(size_t channel) override { channels_[channel].stopped = true; }
    replay::Position subscribeFrom(size_t channel) const override;
    void subscribing(size_t channel, const replay::Position &from) override;
    // Durable marker -2 for channels that subscribed from -1/-2 (or resumed
    // there after a gap): later subscribes replay what is retained instead
    // of skipping what came since (duplicates, never loss).
    void storeResumeMarkers(const std::vector<size_t> &which) override;
    bool waitForCapacity() override;
    int64_t eventRoom() const override;
    bool adoptIdlePosition(size_t channel, const replay::Position &p) override;
    bool deliveryFailed() const override;
    void deliver(const decode::Batch &batch) override { produceEvents(batch); }
    bool publishSchema(const std::string &schema_id, const std::string &schema_json) override;
    void markStreaming() override;

    void run();
    bool ensureToken();
    // Waits before a new open() (backoff, reset only after progress).
    bool waitBeforeRetry(Next why);
    bool madeProgress() const;
    // Waits for a permit of the pacer (if any); false when stopping.
    bool pace(Pacer *pacer, std::atomic<uint64_t> &waits);
    // Resubscribing only once every produced event has its delivery report
    // makes the committed ids exact.
    bool drainInFlight();
    void produceEvents(const decode::Batch &batch);
    // Counts a response's events against the allocation; logs a change of state.
    void countDeliveries(size_t events);
    // An event of channel i at or below the last id seen: false for a
    // duplicate (at or below where the subscription started), true (logged,
    // counted, a gap record) when it must be produced.
    bool noteBackwards(size_t i, int64_t replay_id);
    // The dead-letter path (dead_letter_path.cpp).
    bool isSuspect(size_t channel, const replay::Position &replay_id);
    void forgetSuspect(size_t channel, const replay::Position &replay_id);
    static replay::Position positionOf(const decode::Event &e)
    {
        return e.opaque_replay_id.empty() ? replay::Position(e.replay_id) : replay::Position::bytes(e.opaque_replay_id);
    }
    // The position a channel starts from when the store has none for this
    // transport but one for the other (its transport was switched): the
    // channel's on_transport_switch, logged and a gap record.
    std::optional<replay::Position> switchedTransport(size_t channel, const replay::Position &other);
    void produceAlone(const decode::Event &e, size_t channel, const kafka::OutRecord &rec);
    void deadLetterEvent(const decode::Event &e, size_t channel, const replay::AckTracker::Ticket &ticket,
                         const std::string &error, DeadLetterReason reason);
    void deadLetterUndecodable(const decode::Undecodable &u);
    void reportDeadLetter(std::optional<size_t> channel, const DeadLetter &letter, bool body_dropped);
    void publishDeadLetterGap(const DeadLetter &letter);

    const config::Org org_;
    const config::Transport transport_kind_;
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

    // Made once, before the thread starts; stop() may come from any thread.
    std::unique_ptr<Transport> transport_;

    Backoff backoff_;
    // Committed ids when the last open() began: progress is their moving.
    std::vector<std::optional<replay::Position>> committedAtOpen_;
    std::chrono::steady_clock::time_point streamingSince_{};
    SessionCounters counters_;
    metrics::LagHistogram lag_;
    AllocationMeter allocation_;
    AllocationState allocationLogged_ = AllocationState::Ok;   // the session thread's
    std::atomic<uint64_t> pendingRetired_{0};
    std::atomic<uint64_t> durableRetired_{0};
    std::function<void()> requestCommit_;
    std::mutex suspectsMutex_;
    std::set<std::pair<uint32_t, replay::Position>> suspects_;   // (channel, replay id)
    std::atomic<size_t> suspectCount_{0};
    // While the shared producer queue is full, the session is paused (and
    // alive, for the watchdog), not stuck; a stop ends the wait.
    std::function<bool()> waitingForQueue_ = [this] {
        setState(State::Paused);
        touch();
        return !stop_.load();
    };
    std::string replayBase64_;   // the session thread's: a Pub/Sub event's sf.replay_id header
    bool schemasTopicReady_ = false;   // the session thread's
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
