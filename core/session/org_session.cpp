#include "session/org_session.h"

#include <charconv>

#include "cometd/cometd_transport.h"
#include "decode/base64.h"
#include "log/log.h"
#include "pubsub/pubsub_transport.h"
#include "session/dead_letters.h"

namespace sfk::session {

namespace {

constexpr std::string_view kModule = "session";

int64_t wallClockMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
}

// One record's journey through librdkafka; freed by its delivery report.
struct EventDelivery final : kafka::DeliveryHandle {
    OrgSession *session;
    replay::AckTracker::Ticket ticket;
    replay::Position replay_id;
    std::optional<int64_t> event_time_ms;  // for the lag histogram
    EventDelivery(OrgSession *s, replay::AckTracker::Ticket t, replay::Position id, std::optional<int64_t> time_ms)
        : session(s), ticket(t), replay_id(std::move(id)), event_time_ms(time_ms) {}
    void delivered(bool ok, int code, const char *text) override
    {
        // Before the failure reaches the tracker: the resubscribe it causes
        // must already know the event is a dead-letter suspect.
        if (!ok && permanentRefusal(code))
            session->noteRefused(ticket.channel, replay_id);
        session->onDelivered(ticket, ok, code, text, event_time_ms);
        delete this;
    }
};

} // namespace

const char *stateName(State s)
{
    switch (s) {
    case State::Starting: return "starting";
    case State::Authenticating: return "authenticating";
    case State::Handshaking: return "handshaking";
    case State::Streaming: return "streaming";
    case State::Paused: return "paused";
    case State::Backoff: return "backoff";
    case State::Stopped: return "stopped";
    }
    return "unknown";
}

OrgSession::OrgSession(const config::Org &org, kafka::EventSink &sink,
                       replay::ReplayStore &store, kafka::ControlTopic &control, SessionOptions options)
    : org_(org), transport_kind_(org.channels.empty() ? config::Transport::Cometd : org.channels[0].transport),
      sink_(sink), store_(store), control_(control), options_(options), tracker_(org.channels.size()),
      channels_(org_.channels.size()), tokens_(org_),
      backoff_(options.backoff_base, options.backoff_cap)
{
    for (size_t i = 0; i < org_.channels.size(); ++i) {
        channels_[i].cfg = &org_.channels[i];
        channelIndex_.emplace(org_.channels[i].name, i);
        auto stored = store.get(org_.name, org_.channels[i].name, transport_kind_);
        if (!stored) {
            auto other = transport_kind_ == config::Transport::Cometd ? config::Transport::Pubsub
                                                                       : config::Transport::Cometd;
            if (auto theirs = store.get(org_.name, org_.channels[i].name, other)) {
                // The new position replaces the old one in one write of the
                // state file: a crash in between must not leave neither.
                // Under `fail` the old one stays for the operator.
                stored = switchedTransport(i, *theirs);
                if (stored) {
                    store.set(org_.name, org_.channels[i].name, transport_kind_, *stored);
                    store.erase(org_.name, org_.channels[i].name, other);
                }
            }
        }
        tracker_.setCommitted(static_cast<uint32_t>(i), stored);
        channels_[i].last_stored = stored;
    }
    if (transport_kind_ == config::Transport::Pubsub)
        transport_ = std::make_unique<pubsub::PubsubTransport>(static_cast<TransportHost &>(*this));
    else
        transport_ = std::make_unique<cometd::CometdTransport>(static_cast<TransportHost &>(*this));
    touch();
}

OrgSession::~OrgSession()
{
    requestStop();
    join();
}

void OrgSession::start()
{
    thread_ = std::thread([this] { run(); });
}

void OrgSession::requestStop()
{
    stop_.store(true);
    {
        std::lock_guard lock(sleepMutex_);
    }
    sleepCv_.notify_all();
    tokens_.stop();
    transport_->stop();
}

void OrgSession::join()
{
    if (!thread_.joinable())
        return;
    // A long poll that started after requestStop() aborted the request in
    // progress is aborted by the next round of this loop.
    while (stop_.load() && !finished_.load()) {
        transport_->stop();
        std::unique_lock lock(sleepMutex_);
        sleepCv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return finished_.load(); });
    }
    thread_.join();
}

void OrgSession::disconnect() { transport_->disconnect(); }

std::chrono::steady_clock::time_point OrgSession::lastProgress() const
{
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(progressNs_.load()));
}

void OrgSession::touch()
{
    progressNs_.store(std::chrono::steady_clock::now().time_since_epoch().count());
}

void OrgSession::setState(State s)
{
    touch();
    if (state_.exchange(s) != s || stateSinceMs_.load() == 0)
        stateSinceMs_.store(wallClockMs());
}

bool OrgSession::sleepFor(std::chrono::milliseconds d)
{
    auto deadline = std::chrono::steady_clock::now() + d;
    std::unique_lock lock(sleepMutex_);
    while (!stop_.load()) {
        touch();
        auto step = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
        if (sleepCv_.wait_until(lock, step, [this] { return stop_.load(); }))
            break;
        if (std::chrono::steady_clock::now() >= deadline)
            break;
    }
    return !stop_.load();
}

size_t OrgSession::commitTo(replay::ReplayStore &store)
{
    // Read before the committed ids: everything retired so far is covered.
    pendingRetired_.store(tracker_.retired());
    size_t changed = 0;
    for (size_t i = 0; i < channels_.size(); ++i) {
        auto c = tracker_.committed(static_cast<uint32_t>(i));
        if (c && c != channels_[i].last_stored) {
            store.set(org_.name, channels_[i].cfg->name, transport_kind_, *c);
            channels_[i].last_stored = c;
            ++changed;
        }
    }
    return changed;
}

void OrgSession::onDelivered(const replay::AckTracker::Ticket &ticket, bool ok, int,
                             const char *text, std::optional<int64_t> event_time_ms)
{
    tracker_.complete(ticket, ok);
    auto &ch = channels_[ticket.channel];
    if (ok) {
        ch.counters->delivered.fetch_add(1, std::memory_order_relaxed);
        if (event_time_ms) {
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
            lag_.observe(now - *event_time_ms);
        }
        return;
    }
    ch.counters->failed.fetch_add(1, std::memory_order_relaxed);
    if (!ch.failure_logged.exchange(true))
        log::error(kModule, std::string("delivery to Kafka failed; channel frozen at its committed replay id, will resubscribe: ") + text,
                   {{"org", org_.name}, {"channel", ch.cfg->name}, {"topic", ch.cfg->topic}});
    sleepCv_.notify_all();
}

void OrgSession::run()
{
    log::info(kModule, "session starting",
              {{"org", org_.name}, {"channels", std::to_string(channels_.size())}});
    std::vector<std::string> topics;
    for (const auto &ch : org_.channels)
        topics.push_back(ch.topic);
    sink_.prepareTopics(topics);
    Next next = Next::Reopen;
    bool first = true;
    while (!stop_.load() && next != Next::Stop) {
        if (next == Next::Stream) {
            next = transport_->stream();
            continue;
        }
        // Every way back to a handshake waits first (a 401 after a fresh
        // token or a poison response must not loop at full speed), and the
        // wait grows until committed ids move again.
        if (!first && !waitBeforeRetry(next))
            break;
        first = false;
        if (next == Next::NewToken)
            token_.reset();
        else
            transport_->abandon();
        if (!ensureToken()) {
            next = Next::Backoff;
            continue;
        }
        if (!drainInFlight() || !pace(options_.handshakes, counters_.paced_handshakes))
            break;
        committedAtOpen_.resize(channels_.size());
        for (size_t i = 0; i < channels_.size(); ++i)
            committedAtOpen_[i] = tracker_.committed(static_cast<uint32_t>(i));
        streamingSince_ = {};
        next = transport_->open();
    }
    setState(State::Stopped);
    log::info(kModule, "session stopped", {{"org", org_.name}});
    {
        std::lock_guard lock(sleepMutex_);
        finished_.store(true);
    }
    sleepCv_.notify_all();
}

bool OrgSession::ensureToken()
{
    if (token_)
        return true;
    setState(State::Authenticating);
    for (;;) {
        if (stop_.load())
            return false;
        if (!pace(options_.logins, counters_.paced_logins))
            return false;
        counters_.token_requests.fetch_add(1);
        auth::Token t;
        auth::TokenError err;
        if (tokens_.fetch(t, err)) {
            token_ = std::move(t);
            tokenObtainedMs_.store(wallClockMs());
            if (orgId_.empty())
                orgId_ = token_->org_id;
            log::info(kModule, "access token obtained",
                      {{"org", org_.name}, {"instance", token_->instance_url}});
            return true;
        }
        counters_.token_failures.fetch_add(1);
        if (stop_.load())
            return false;
        auto d = err.transient ? backoff_.next() : std::max(backoff_.next(), std::chrono::milliseconds(5000));
        log::error(kModule, "token request failed: " + err.str(),
                   {{"org", org_.name}, {"retry_ms", std::to_string(d.count())}});
        setState(State::Backoff);
        if (!sleepFor(d))
            return false;
        setState(State::Authenticating);
    }
}

bool OrgSession::madeProgress() const
{
    // Only committed ids moving count: a poll that succeeds, or events that
    // are produced again and again behind one Kafka refuses, are not progress.
    for (size_t i = 0; i < channels_.size() && i < committedAtOpen_.size(); ++i)
        if (tracker_.committed(static_cast<uint32_t>(i)) != committedAtOpen_[i])
            return true;
    // A long quiet stream is healthy too (an idle org must not keep the
    // backoff of an outage hours ago).
    return streamingSince_ != std::chrono::steady_clock::time_point{} &&
           std::chrono::steady_clock::now() - streamingSince_ >= options_.backoff_cap;
}

void OrgSession::markStreaming()
{
    if (streamingSince_ == std::chrono::steady_clock::time_point{})
        streamingSince_ = std::chrono::steady_clock::now();
}

bool OrgSession::waitBeforeRetry(Next why)
{
    if (madeProgress())
        backoff_.reset();
    auto d = why == Next::LimitBackoff ? options_.limit_backoff : backoff_.next();
    counters_.retry_waits.fetch_add(1);
    setState(State::Backoff);
    log::debug(kModule, "backing off before a new handshake",
               {{"org", org_.name}, {"ms", std::to_string(d.count())}});
    return sleepFor(d);
}

bool OrgSession::pace(Pacer *pacer, std::atomic<uint64_t> &waits)
{
    auto d = pacer ? pacer->reserve() : std::chrono::milliseconds(0);
    if (d.count() == 0)
        return !stop_.load();
    waits.fetch_add(1);
    counters_.paced_wait_ms.fetch_add(static_cast<uint64_t>(d.count()));
    log::debug(kModule, "paced: waiting for a turn (pacing.*)", {{"org", org_.name}, {"ms", std::to_string(d.count())}});
    return sleepFor(d);
}

bool OrgSession::deliveryFailed() const
{
    for (size_t i = 0; i < channels_.size(); ++i)
        if (tracker_.failed(static_cast<uint32_t>(i)))
            return true;
    return false;
}

bool OrgSession::drainInFlight()
{
    // Nothing in flight is replayed twice.
    bool logged = false;
    while (tracker_.inFlightEvents() > 0) {
        if (stop_.load())
            return false;
        if (!logged) {
            log::debug(kModule, "waiting for in-flight events before resubscribing",
                       {{"org", org_.name}, {"in_flight", std::to_string(tracker_.inFlightEvents())}});
            logged = true;
        }
        touch();
        tracker_.waitInFlightBelow(1, INT64_MAX, std::chrono::milliseconds(200));
    }
    for (size_t i = 0; i < channels_.size(); ++i) {
        if (tracker_.failed(static_cast<uint32_t>(i))) {
            tracker_.resetChannel(static_cast<uint32_t>(i));
            channels_[i].failure_logged.store(false);
        }
    }
    return true;
}

bool OrgSession::waitForCapacity()
{
    // The three bounds of eventRoom() (positions.cpp): this org's
    // unacknowledged bytes (memory), its events not yet durably committed
    // (what a crash could replay, so duplicates stay within
    // max_in_flight_events plus one response), and the producer's queue
    // shared by every org.
    const int64_t maxEvents = org_.max_in_flight_events;
    bool paused = false;
    for (;;) {
        int64_t window = uncommittedEvents();
        if (window >= maxEvents / 2 && requestCommit_)
            requestCommit_();
        if (eventRoom() > 0)
            return true;
        if (stop_.load())
            return false;
        if (!paused) {
            setState(State::Paused);
            log::debug(kModule, "in-flight bound reached, pausing /meta/connect",
                       {{"org", org_.name}, {"in_flight", std::to_string(tracker_.inFlightEvents())},
                        {"uncommitted", std::to_string(window)},
                        {"producer_bytes", std::to_string(sink_.inFlightBytes())}});
            paused = true;
        }
        touch();
        if (tracker_.inFlightEvents() >= maxEvents || tracker_.inFlightBytes() >= org_.max_in_flight_bytes)
            tracker_.waitInFlightBelow(maxEvents, org_.max_in_flight_bytes, std::chrono::milliseconds(100));
        else if (!sink_.hasRoom())
            sleepFor(std::chrono::milliseconds(10));   // many orgs may wait here: poll gently
        else
            sleepFor(std::chrono::milliseconds(2));
    }
}

const char *allocationStateName(AllocationState s)
{
    switch (s) {
    case AllocationState::Unwatched: return "unwatched";
    case AllocationState::Ok: return "ok";
    case AllocationState::Warning: return "warning";
    case AllocationState::Exceeded: return "exceeded";
    }
    return "unknown";
}

int64_t OrgSession::deliveredLast24h() const { return allocation_.total(wallClockMs()); }

AllocationState OrgSession::allocationState() const
{
    const int64_t allocation = org_.daily_event_allocation;
    if (allocation <= 0)
        return AllocationState::Unwatched;
    const int64_t used = deliveredLast24h();
    if (used >= allocation)
        return AllocationState::Exceeded;
    // 128-bit: allocations up to 10^12 times a percentage.
    if (static_cast<__int128>(used) * 100 >= static_cast<__int128>(allocation) * org_.allocation_warning_percent)
        return AllocationState::Warning;
    return AllocationState::Ok;
}

void OrgSession::countDeliveries(size_t events)
{
    if (events == 0)
        return;
    allocation_.add(static_cast<int64_t>(events), wallClockMs());
    const AllocationState now = allocationState();
    if (now == allocationLogged_ || now == AllocationState::Unwatched)
        return;
    allocationLogged_ = now;
    log::Level level = log::Level::Info;
    std::string message = "the org is back under its delivery allocation's warning level";
    if (now == AllocationState::Exceeded) {
        level = log::Level::Error;
        message = "the org's daily delivery allocation is used up: Salesforce refuses new subscribes and "
                  "connects until the rolling 24 hours free some (raise it at Salesforce, or expect a limit backoff)";
    } else if (now == AllocationState::Warning) {
        level = log::Level::Warn;
        message = "the org has used " + std::to_string(org_.allocation_warning_percent) +
                  "% of its daily delivery allocation";
    }
    log::write(level, kModule, message,
               {{"org", org_.name},
                {"delivered_24h", std::to_string(deliveredLast24h())},
                {"allocation", std::to_string(org_.daily_event_allocation)}});
}

void OrgSession::produceEvents(const decode::Batch &batch)
{
    countDeliveries(batch.events.size() + batch.undecodable.size());
    const int64_t arrivedMs = batch.events.empty() ? 0 : wallClockMs();
    size_t next = 0;   // the next undecodable message, in response order
    for (size_t k = 0; k < batch.events.size(); ++k) {
        for (; next < batch.undecodable.size() && batch.undecodable[next].position <= k; ++next)
            deadLetterUndecodable(batch.undecodable[next]);
        const auto &e = batch.events[k];
        auto it = channelIndex_.find(e.channel);
        if (it == channelIndex_.end()) {
            log::warn(kModule, "event for a channel not subscribed; ignored",
                      {{"org", org_.name}, {"channel", std::string(e.channel)}});
            continue;
        }
        size_t i = it->second;
        auto &ch = channels_[i];
        ch.counters->received.fetch_add(1, std::memory_order_relaxed);
        ch.counters->last_event_ms.store(arrivedMs, std::memory_order_relaxed);
        ch.seen_events = true;
        if (ch.stopped)
            continue;
        // Pub/Sub replay ids are opaque: no order to check.
        const bool opaque = !e.opaque_replay_id.empty();
        if (!opaque) {
            if (ch.last_seen && e.replay_id <= *ch.last_seen && !noteBackwards(i, e.replay_id))
                continue;
            ch.last_seen = e.replay_id;
        }

        char replayText[24];
        std::string_view replayView;
        if (opaque) {
            replayBase64_.clear();
            decode::appendBase64(replayBase64_, e.opaque_replay_id);
            replayView = replayBase64_;
        } else {
            auto [end, ec] = std::to_chars(replayText, replayText + sizeof replayText, e.replay_id);
            (void)ec;
            replayView = std::string_view(replayText, end - replayText);
        }
        kafka::Header headers[11];
        size_t n = 0;
        headers[n++] = {"sf.org_id", orgId_};
        headers[n++] = {"sf.channel", e.channel};
        headers[n++] = {"sf.replay_id", replayView};
        headers[n++] = {"sf.transport", config::transportName(transport_kind_)};
        auto add = [&](std::string_view k, std::string_view v) {
            if (!v.empty())
                headers[n++] = {k, v};
        };
        add("sf.event_uuid", e.event_uuid);
        add("sf.schema", e.schema);
        add("sf.change_type", e.change_type);
        add("sf.entity", e.entity);
        add("sf.event_type", e.event_type);
        add("sf.created_date", e.created_date);

        kafka::OutRecord rec;
        rec.topic = ch.cfg->topic;
        rec.key = e.key;
        rec.value = e.data;
        rec.headers = headers;
        rec.header_count = n;
        rec.timestamp_ms = e.timestamp_ms;

        replay::Position position = positionOf(e);
        if (isSuspect(i, position)) {
            produceAlone(e, i, rec);   // dead_letter_path.cpp
            continue;
        }
        auto ticket = tracker_.track(static_cast<uint32_t>(i), position, e.data.size());
        auto *handle = new EventDelivery(this, ticket, position, e.timestamp_ms);
        std::string error;
        if (!sink_.produce(rec, handle, error, waitingForQueue_)) {
            delete handle;
            // Too large for the producer: no retry can help. A refused topic
            // gets a second chance alone after the resubscribe.
            if (auto refusal = permanentRefusal(error); refusal && !stop_.load()) {
                if (*refusal == DeadLetterReason::TooLarge) {
                    deadLetterEvent(e, i, ticket, error, *refusal);
                    continue;
                }
                noteRefused(static_cast<uint32_t>(i), position);
            }
            // Never queued: fail its ticket so the watermark stops before it.
            tracker_.complete(ticket, false);
            ch.counters->failed.fetch_add(1, std::memory_order_relaxed);
            if (!stop_.load())
                log::error(kModule, "produce failed: " + error,
                           {{"org", org_.name}, {"channel", ch.cfg->name}});
            continue;
        }
        ch.counters->produced.fetch_add(1, std::memory_order_relaxed);
    }
    for (; next < batch.undecodable.size(); ++next)
        deadLetterUndecodable(batch.undecodable[next]);
}

} // namespace sfk::session
