// OrgSession: the long poll and what its replies say, and the waits
// between attempts.
#include "log/log.h"
#include "session/org_session.h"
#include "session/session_text.h"

namespace sfk::session {

namespace {

constexpr std::string_view kModule = kSessionModule;

} // namespace

bool OrgSession::madeProgress() const
{
    // Only committed ids moving count: a poll that succeeds, or events that
    // are produced again and again behind one Kafka refuses, are not progress.
    for (size_t i = 0; i < channels_.size() && i < committedAtHandshake_.size(); ++i)
        if (tracker_.committed(static_cast<uint32_t>(i)) != committedAtHandshake_[i])
            return true;
    // A long quiet stream is healthy too (an idle org must not keep the
    // backoff of an outage hours ago).
    return streamingSince_ != std::chrono::steady_clock::time_point{} &&
           std::chrono::steady_clock::now() - streamingSince_ >= options_.backoff_cap;
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

void OrgSession::abandonClient()
{
    // A client we stop using still counts against the org's concurrent
    // client limit until Salesforce times it out: say goodbye.
    // Only this thread replaces client_: no lock (requestStop may stop it).
    if (client_ && !client_->clientId().empty() && !stop_.load())
        client_->disconnect();
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
        if (!admitReply(ex))
            return Next::Rehandshake;
        if (streamingSince_ == std::chrono::steady_clock::time_point{})
            streamingSince_ = std::chrono::steady_clock::now();
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
                log::info(kModule, "the server disconnected the client; handshaking again", {{"org", org_.name}});
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

} // namespace sfk::session
