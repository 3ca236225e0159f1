#include "session/org_session.h"

#include <charconv>

#include "log/log.h"

namespace sfk::session {

namespace {

constexpr std::string_view kModule = "session";

bool contains(std::string_view s, std::string_view part) { return s.find(part) != s.npos; }

int64_t wallClockMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
}

// One record's journey through librdkafka; freed by its delivery report.
struct EventDelivery final : kafka::DeliveryHandle {
    OrgSession *session;
    replay::AckTracker::Ticket ticket;
    std::optional<int64_t> event_time_ms;  // for the lag histogram
    EventDelivery(OrgSession *s, replay::AckTracker::Ticket t, std::optional<int64_t> time_ms)
        : session(s), ticket(t), event_time_ms(time_ms) {}
    void delivered(bool ok, int code, const char *text) override
    {
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
    : org_(org), sink_(sink), control_(control), options_(options), tracker_(org.channels.size()),
      channels_(org_.channels.size()), tokens_(org_),
      backoff_(options.backoff_base, options.backoff_cap)
{
    for (size_t i = 0; i < org_.channels.size(); ++i) {
        channels_[i].cfg = &org_.channels[i];
        channelIndex_.emplace(org_.channels[i].name, i);
        auto stored = store.get(org_.name, org_.channels[i].name);
        tracker_.setCommitted(static_cast<uint32_t>(i), stored);
        channels_[i].last_stored = stored;
    }
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
    std::lock_guard lock(clientMutex_);
    if (client_)
        client_->stop();
}

void OrgSession::join()
{
    if (thread_.joinable())
        thread_.join();
}

void OrgSession::disconnect()
{
    std::lock_guard lock(clientMutex_);
    if (client_ && !client_->clientId().empty()) {
        client_->disconnect();
        log::info(kModule, "disconnected from Salesforce", {{"org", org_.name}});
    }
}

bool OrgSession::channelStopped(size_t channel) const { return channels_[channel].stopped; }

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
            store.set(org_.name, channels_[i].cfg->name, *c);
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
    Next next = Next::Rehandshake;
    while (!stop_.load()) {
        switch (next) {
        case Next::Stop:
            break;
        case Next::Connect:
            next = connectLoop();
            continue;
        case Next::NewToken:
            token_.reset();
            [[fallthrough]];
        case Next::Rehandshake:
            if (!ensureToken()) {
                next = Next::Backoff;
                break;
            }
            next = handshakeAndSubscribe();
            if (next == Next::Connect)
                next = connectLoop();
            continue;
        case Next::Backoff: {
            setState(State::Backoff);
            auto d = backoff_.next();
            log::debug(kModule, "backing off", {{"org", org_.name}, {"ms", std::to_string(d.count())}});
            sleepFor(d);
            next = Next::Rehandshake;
            continue;
        }
        case Next::LimitBackoff:
            setState(State::Backoff);
            sleepFor(options_.limit_backoff);
            next = Next::Rehandshake;
            continue;
        }
        if (next == Next::Stop)
            break;
    }
    setState(State::Stopped);
    log::info(kModule, "session stopped", {{"org", org_.name}});
}

bool OrgSession::ensureToken()
{
    if (token_)
        return true;
    setState(State::Authenticating);
    for (;;) {
        if (stop_.load())
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

bool OrgSession::drainInFlight()
{
    // Resubscribing only once every produced event has its delivery report
    // makes the committed ids exact: nothing in flight is replayed twice.
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

int64_t OrgSession::subscribeReplayId(size_t i) const
{
    if (auto c = tracker_.committed(static_cast<uint32_t>(i)))
        return *c;
    const auto &start = channels_[i].cfg->start;
    switch (start.kind) {
    case config::StartPosition::Kind::ReplayId:
        return start.replay_id;
    case config::StartPosition::Kind::Earliest:
        return -2;
    case config::StartPosition::Kind::Latest:
        // Events came but none was acknowledged yet: -1 would skip them, so
        // replay everything retained (duplicates, never loss).
        return channels_[i].seen_events ? -2 : -1;
    }
    return -1;
}

OrgSession::Next OrgSession::handshakeAndSubscribe()
{
    if (!drainInFlight())
        return Next::Stop;
    setState(State::Handshaking);

    net::Url instance;
    std::string urlError;
    if (!net::Url::parse(token_->instance_url, instance, urlError)) {
        log::error(kModule, "invalid instance_url: " + urlError, {{"org", org_.name}});
        return Next::NewToken;
    }
    {
        std::lock_guard lock(clientMutex_);
        if (!client_ || clientInstance_ != token_->instance_url) {
            auto keys = [this](std::string_view channel) -> const config::KeyPolicy * {
                auto it = channelIndex_.find(channel);
                return it == channelIndex_.end() ? nullptr : &channels_[it->second].cfg->key;
            };
            client_ = std::make_unique<cometd::BayeuxClient>(
                instance, org_.api_version, net::TlsOptions{org_.ca_file, org_.proxy.reveal()}, keys);
            clientInstance_ = token_->instance_url;
        }
        client_->setToken(token_->access_token);
        if (stop_.load())
            return Next::Stop;
    }

    counters_.handshakes.fetch_add(1);
    cometd::Exchange ex;
    client_->handshake(ex);
    if (stop_.load())
        return Next::Stop;
    switch (ex.outcome) {
    case cometd::Exchange::Outcome::Transport:
        log::warn(kModule, "handshake failed: " + ex.error, {{"org", org_.name}});
        return Next::Backoff;
    case cometd::Exchange::Outcome::Http:
        log::warn(kModule, "handshake failed: " + ex.error, {{"org", org_.name}});
        return ex.http_status == 401 ? Next::NewToken : Next::Backoff;
    case cometd::Exchange::Outcome::Malformed:
        counters_.malformed_responses.fetch_add(1);
        log::error(kModule, "malformed handshake response discarded: " + ex.error,
                   {{"org", org_.name}});
        return Next::Backoff;
    case cometd::Exchange::Outcome::Ok:
        break;
    }
    if (client_->clientId().empty()) {
        std::string error, reason;
        for (const auto &m : ex.batch.meta)
            if (m.channel == "/meta/handshake") {
                error = m.error;
                reason = m.failure_reason;
            }
        log::error(kModule, "handshake refused: " + (error.empty() ? "no client id" : error) +
                                (reason.empty() ? "" : " (" + reason + ")"),
                   {{"org", org_.name}});
        if (contains(reason, "401") || contains(error, "401"))
            return Next::NewToken;
        if (contains(reason, "limit") || contains(error, "limit"))
            return Next::LimitBackoff;
        return Next::Backoff;
    }
    log::event(log::Level::Info, log::id::kHandshake, kModule, "handshake complete", {{"org", org_.name}});

    std::vector<size_t> all;
    for (size_t i = 0; i < channels_.size(); ++i)
        if (!channels_[i].stopped)
            all.push_back(i);
    return subscribeChannels(all);
}

OrgSession::Next OrgSession::subscribeChannels(std::vector<size_t> which)
{
    // Invalid replay ids under `earliest`/`latest` policies come back here
    // once with their new starting point.
    std::vector<std::optional<int64_t>> override(channels_.size());
    for (int round = 0; round < 3 && !which.empty(); ++round) {
        std::vector<cometd::Subscription> subs;
        for (size_t i : which) {
            int64_t from = override[i] ? *override[i] : subscribeReplayId(i);
            subs.push_back({channels_[i].cfg->name, from});
            channels_[i].last_seen = from >= 0 ? std::optional<int64_t>(from) : std::nullopt;
        }
        cometd::Exchange ex;
        client_->subscribe(subs, ex);
        if (stop_.load())
            return Next::Stop;
        if (ex.outcome == cometd::Exchange::Outcome::Http && ex.http_status == 401)
            return Next::NewToken;
        if (ex.outcome != cometd::Exchange::Outcome::Ok) {
            if (ex.outcome == cometd::Exchange::Outcome::Malformed)
                counters_.malformed_responses.fetch_add(1);
            log::warn(kModule, "subscribe failed: " + ex.error, {{"org", org_.name}});
            return Next::Backoff;
        }
        std::vector<size_t> retry;
        for (const auto &m : ex.batch.meta) {
            if (m.channel == "/meta/disconnect")
                return Next::Rehandshake;
            if (m.channel != "/meta/subscribe")
                continue;
            auto it = channelIndex_.find(m.subscription);
            if (it == channelIndex_.end())
                continue;
            size_t i = it->second;
            auto &ch = channels_[i];
            if (m.successful.value_or(false)) {
                log::info(kModule, "subscribed",
                          {{"org", org_.name}, {"channel", ch.cfg->name},
                           {"replay_from", std::to_string(override[i] ? *override[i] : subscribeReplayId(i))}});
                continue;
            }
            const std::string &err = m.error;
            if (contains(err, "401::") || m.advice.reconnect == "none")
                return Next::NewToken;
            if (contains(err, "403::Unknown client") || m.advice.reconnect == "handshake")
                return Next::Rehandshake;
            if (contains(err, "limit exceeded")) {
                log::error(kModule, "subscribe refused by a limit: " + err,
                           {{"org", org_.name}, {"channel", ch.cfg->name}});
                return Next::LimitBackoff;
            }
            if (contains(err, "replayId") && (contains(err, "invalid") || contains(err, "wasn't found"))) {
                ch.counters->gaps.fetch_add(1);
                int64_t from = override[i] ? *override[i] : subscribeReplayId(i);
                auto policy = ch.cfg->on_invalid_replay;
                std::string lost = "events after replay id " + std::to_string(from) +
                                   " that are no longer retained were not delivered";
                if (policy == config::InvalidReplayPolicy::Fail) {
                    ch.stopped = true;
                    log::event(log::Level::Error, log::id::kGap, kModule, "GAP: replay id rejected; " + lost +
                                            "; channel stopped (on_invalid_replay: fail)",
                               {{"org", org_.name}, {"channel", ch.cfg->name}, {"replay_id", std::to_string(from)}});
                } else {
                    bool earliest = policy == config::InvalidReplayPolicy::Earliest;
                    override[i] = earliest ? -2 : -1;
                    log::event(log::Level::Error, log::id::kGap, kModule, "GAP: replay id rejected; " + lost + "; resuming from " +
                                            (earliest ? "the earliest retained event" : "new events only"),
                               {{"org", org_.name}, {"channel", ch.cfg->name}, {"replay_id", std::to_string(from)}});
                    retry.push_back(i);
                }
                continue;
            }
            // Unknown channel or another permanent refusal: stop this channel
            // loudly, keep the others.
            ch.stopped = true;
            log::error(kModule, "subscribe refused, channel stopped: " + err,
                       {{"org", org_.name}, {"channel", ch.cfg->name}});
        }
        which = std::move(retry);
    }
    if (!which.empty())
        return Next::Backoff;
    return Next::Connect;
}

bool OrgSession::waitForCapacity()
{
    // Three bounds: this org's unacknowledged bytes (memory), its events not
    // yet durably committed (what a crash could replay, so duplicates stay
    // within max_in_flight_events plus one response), and the producer's
    // queue shared by every org (sink_.hasRoom()).
    const int64_t maxEvents = org_.max_in_flight_events;
    bool paused = false;
    for (;;) {
        int64_t window = uncommittedEvents();
        if (window >= maxEvents / 2 && requestCommit_)
            requestCommit_();
        if (window < maxEvents && tracker_.inFlightBytes() < org_.max_in_flight_bytes && sink_.hasRoom())
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

OrgSession::Next OrgSession::connectLoop()
{
    cometd::Exchange ex;
    while (!stop_.load()) {
        if (!waitForCapacity())
            return Next::Stop;
        for (size_t i = 0; i < channels_.size(); ++i) {
            if (tracker_.failed(static_cast<uint32_t>(i))) {
                counters_.reconnects_delivery_failure.fetch_add(1);
                return Next::Rehandshake;
            }
        }
        setState(State::Streaming);
        client_->connect(ex);
        touch();
        if (stop_.load())
            return Next::Stop;
        switch (ex.outcome) {
        // A broken or failed long poll may have carried events the server
        // now counts as delivered: resubscribe from the committed ids.
        case cometd::Exchange::Outcome::Transport:
            counters_.reconnects_network.fetch_add(1);
            log::warn(kModule, "connect failed: " + ex.error + "; resubscribing from committed replay ids",
                      {{"org", org_.name}});
            return Next::Backoff;
        case cometd::Exchange::Outcome::Http:
            if (ex.http_status == 401) {
                counters_.reconnects_auth.fetch_add(1);
                return Next::NewToken;
            }
            counters_.reconnects_server_error.fetch_add(1);
            log::warn(kModule, "connect failed: " + ex.error + "; resubscribing from committed replay ids",
                      {{"org", org_.name}});
            return Next::Backoff;
        case cometd::Exchange::Outcome::Malformed:
            counters_.malformed_responses.fetch_add(1);
            counters_.reconnects_malformed.fetch_add(1);
            log::error(kModule, "malformed response discarded whole; resuming from committed replay ids: " + ex.error,
                       {{"org", org_.name}, {"bytes", std::to_string(ex.body_bytes)}});
            return Next::Rehandshake;
        case cometd::Exchange::Outcome::Ok:
            break;
        }
        backoff_.reset();
        if (!ex.batch.events.empty() && log::enabled(log::Level::Debug, kModule))
            log::debug(kModule, "events received",
                       {{"org", org_.name}, {"events", std::to_string(ex.batch.events.size())}});
        produceEvents(ex.batch);
        if (stop_.load())
            return Next::Stop;
        std::optional<Next> next;
        int64_t interval = 0;
        for (const auto &m : ex.batch.meta) {
            if (m.channel == "/meta/disconnect") {
                counters_.reconnects_unknown_client.fetch_add(1);
                next = Next::Rehandshake;
            } else if (m.channel == "/meta/connect") {
                if (m.advice.timeout_ms && *m.advice.timeout_ms > 0)
                    client_->setConnectTimeout(std::chrono::milliseconds(*m.advice.timeout_ms));
                if (m.advice.interval_ms)
                    interval = *m.advice.interval_ms;
                if (auto n = handleConnectReply(m))
                    next = n;
            }
        }
        if (next && *next != Next::Rehandshake)
            return *next;
        if (next)
            return Next::Rehandshake;
        if (interval > 0 && !sleepFor(std::chrono::milliseconds(interval)))
            return Next::Stop;
    }
    return Next::Stop;
}

// Returns what to do when the reply ends this Bayeux session; the default
// (retry) is to connect again.
std::optional<OrgSession::Next> OrgSession::handleConnectReply(const decode::MetaMessage &m)
{
    if (m.successful.value_or(false) && m.advice.reconnect.value_or("retry") == "retry")
        return std::nullopt;
    const std::string &err = m.error;
    if (contains(err, "401::") || m.advice.reconnect == "none") {
        counters_.reconnects_auth.fetch_add(1);
        log::warn(kModule, "connect refused (" + (err.empty() ? "reconnect: none" : err) + "); getting a new token",
                  {{"org", org_.name}});
        return Next::NewToken;
    }
    if (contains(err, "403::Unknown client") || m.advice.reconnect == "handshake") {
        counters_.reconnects_unknown_client.fetch_add(1);
        log::info(kModule, "server forgot the client (" + (err.empty() ? "reconnect: handshake" : err) +
                               "); handshaking again",
                  {{"org", org_.name}});
        return Next::Rehandshake;
    }
    if (contains(err, "limit exceeded")) {
        log::error(kModule, "connect refused by a limit: " + err, {{"org", org_.name}});
        return Next::LimitBackoff;
    }
    if (!m.successful.value_or(false)) {
        counters_.reconnects_server_error.fetch_add(1);
        log::warn(kModule, "connect unsuccessful: " + err, {{"org", org_.name}});
        return Next::Backoff;
    }
    return std::nullopt;
}

void OrgSession::produceEvents(const decode::Batch &batch)
{
    const int64_t arrivedMs = batch.events.empty() ? 0 : wallClockMs();
    for (const auto &e : batch.events) {
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
        if (ch.last_seen && e.replay_id <= *ch.last_seen) {
            ch.counters->duplicates_skipped.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        ch.last_seen = e.replay_id;

        char replayText[24];
        auto [end, ec] = std::to_chars(replayText, replayText + sizeof replayText, e.replay_id);
        (void)ec;
        kafka::Header headers[9];
        size_t n = 0;
        headers[n++] = {"sf.org_id", orgId_};
        headers[n++] = {"sf.channel", e.channel};
        headers[n++] = {"sf.replay_id", std::string_view(replayText, end - replayText)};
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

        auto ticket = tracker_.track(static_cast<uint32_t>(i), e.replay_id, e.data.size());
        auto *handle = new EventDelivery(this, ticket, e.timestamp_ms);
        std::string error;
        if (!sink_.produce(rec, handle, error, waitingForQueue_)) {
            // Never queued: fail its ticket so the watermark stops before it.
            delete handle;
            tracker_.complete(ticket, false);
            ch.counters->failed.fetch_add(1, std::memory_order_relaxed);
            if (!stop_.load())
                log::error(kModule, "produce failed: " + error,
                           {{"org", org_.name}, {"channel", ch.cfg->name}});
            continue;
        }
        ch.counters->produced.fetch_add(1, std::memory_order_relaxed);
    }
}

} // namespace sfk::session
