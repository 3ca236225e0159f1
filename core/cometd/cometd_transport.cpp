// CometdTransport: the handshake, the long poll and what their replies say.
// Subscribes are in cometd_subscribe.cpp.
#include "cometd/cometd_transport.h"

#include "log/log.h"
#include "session/session_text.h"

namespace sfk::cometd {

namespace {

constexpr std::string_view kModule = session::kSessionModule;
using session::contains;
using session::Next;
using session::State;

} // namespace

CometdTransport::CometdTransport(session::TransportHost &host) : host_(host)
{
    const auto &channels = host_.org().channels;
    for (size_t i = 0; i < channels.size(); ++i)
        channelIndex_.emplace(channels[i].name, i);
}

void CometdTransport::stop()
{
    std::lock_guard lock(clientMutex_);
    if (client_)
        client_->stop();
}

void CometdTransport::abandon()
{
    // A client we stop using still counts against the org's concurrent
    // client limit until Salesforce times it out: say goodbye.
    // Only the session's thread replaces client_: no lock (stop() may stop it).
    if (client_ && !client_->clientId().empty() && !host_.stopping())
        client_->disconnect();
}

void CometdTransport::disconnect()
{
    std::lock_guard lock(clientMutex_);
    if (client_ && !client_->clientId().empty()) {
        client_->disconnect(true);
        log::info(kModule, "disconnected from Salesforce", {{"org", orgName()}});
    }
}

bool CometdTransport::admitReply(const Exchange &ex)
{
    if (poison_.admit(ex.batch))
        return true;
    auto &counters = host_.mutableCounters();
    counters.malformed_responses.fetch_add(1);
    counters.reconnects_malformed.fetch_add(1);
    log::error(kModule, "response with an undecodable message discarded whole (" +
                            std::to_string(poison_.failures()) + " of " +
                            std::to_string(decode::PoisonGuard::kThreshold) +
                            " before it is dead-lettered); resuming from committed replay ids: " +
                            ex.batch.undecodable.front().error,
               {{"org", orgName()}, {"bytes", std::to_string(ex.body_bytes)}});
    return false;
}

Next CometdTransport::open()
{
    host_.setState(State::Handshaking);
    const auth::Token &token = host_.token();
    const config::Org &org = host_.org();
    net::Url instance;
    std::string urlError;
    if (!net::Url::parse(token.instance_url, instance, urlError)) {
        log::error(kModule, "invalid instance_url: " + urlError, {{"org", org.name}});
        return Next::NewToken;
    }
    {
        std::lock_guard lock(clientMutex_);
        if (!client_ || clientInstance_ != token.instance_url) {
            auto keys = [this](std::string_view channel) -> const config::KeyPolicy * {
                auto it = channelIndex_.find(channel);
                return it == channelIndex_.end() ? nullptr : &host_.org().channels[it->second].key;
            };
            client_ = std::make_unique<BayeuxClient>(
                instance, org.api_version,
                net::TlsOptions{org.ca_file, org.proxy.reveal(), static_cast<size_t>(org.max_response_bytes)}, keys);
            clientInstance_ = token.instance_url;
        }
        client_->setToken(token.access_token);
        if (host_.stopping())
            return Next::Stop;
    }

    auto &counters = host_.mutableCounters();
    counters.handshakes.fetch_add(1);
    Exchange ex;
    client_->handshake(ex);
    if (host_.stopping())
        return Next::Stop;
    switch (ex.outcome) {
    case Exchange::Outcome::Transport:
        log::warn(kModule, "handshake failed: " + ex.error, {{"org", org.name}});
        return Next::Backoff;
    case Exchange::Outcome::Http:
        log::warn(kModule, "handshake failed: " + ex.error, {{"org", org.name}});
        return ex.http_status == 401 ? Next::NewToken : Next::Backoff;
    case Exchange::Outcome::Malformed:
        counters.malformed_responses.fetch_add(1);
        log::error(kModule, "malformed handshake response discarded: " + ex.error, {{"org", org.name}});
        return Next::Backoff;
    case Exchange::Outcome::Ok:
        break;
    }
    if (!admitReply(ex))
        return Next::Backoff;
    const decode::MetaMessage *reply = nullptr;
    for (const auto &m : ex.batch.meta)
        if (m.channel == "/meta/handshake")
            reply = &m;
    if (client_->clientId().empty()) {
        std::string error = reply ? reply->error : "", reason = reply ? reply->failure_reason : "";
        log::error(kModule, "handshake refused: " + (error.empty() ? "no client id" : error) +
                                (reason.empty() ? "" : " (" + reason + ")"),
                   {{"org", org.name}});
        // A limit first: its reply may also advise reconnect none, and a new
        // token would only be refused again.
        if (contains(reason, "limit") || contains(error, "limit"))
            return Next::LimitBackoff;
        if (contains(reason, "401") || contains(error, "401") || (reply && reply->advice.reconnect == "none"))
            return Next::NewToken;
        return Next::Backoff;
    }
    // Handshake advice: the server's hold time sets the long poll's timeout.
    if (reply && reply->advice.timeout_ms && *reply->advice.timeout_ms > 0)
        client_->setConnectTimeout(std::chrono::milliseconds(*reply->advice.timeout_ms));
    log::event(log::Level::Info, log::id::kHandshake, kModule, "handshake complete", {{"org", org.name}});
    // CometD lets a server deliver messages on any reply (server-side
    // subscriptions): produce them like connect events.
    if (!ex.batch.events.empty())
        host_.deliver(ex.batch);

    std::vector<size_t> all;
    for (size_t i = 0; i < org.channels.size(); ++i)
        if (!host_.channelStopped(i))
            all.push_back(i);
    Next next = subscribeChannels(all);
    client_->closeIdleControl();
    if (next == Next::Stream && reply && reply->advice.interval_ms && *reply->advice.interval_ms > 0 &&
        !host_.sleepFor(std::chrono::milliseconds(*reply->advice.interval_ms)))
        return Next::Stop;
    return next;
}

Next CometdTransport::stream()
{
    auto &counters = host_.mutableCounters();
    const std::string &org = orgName();
    Exchange ex;
    while (!host_.stopping()) {
        if (!host_.waitForCapacity())
            return Next::Stop;
        if (host_.deliveryFailed()) {
            counters.reconnects_delivery_failure.fetch_add(1);
            return Next::Reopen;
        }
        host_.setState(State::Streaming);
        client_->connect(ex);
        host_.touch();
        if (host_.stopping())
            return Next::Stop;
        switch (ex.outcome) {
        // A broken or failed long poll may have carried events the server
        // now counts as delivered: resubscribe from the committed ids.
        case Exchange::Outcome::Transport:
            counters.reconnects_network.fetch_add(1);
            log::warn(kModule, "connect failed: " + ex.error + "; resubscribing from committed replay ids",
                      {{"org", org}});
            return Next::Backoff;
        case Exchange::Outcome::Http:
            if (ex.http_status == 401) {
                counters.reconnects_auth.fetch_add(1);
                return Next::NewToken;
            }
            counters.reconnects_server_error.fetch_add(1);
            log::warn(kModule, "connect failed: " + ex.error + "; resubscribing from committed replay ids",
                      {{"org", org}});
            return Next::Backoff;
        case Exchange::Outcome::Malformed:
            counters.malformed_responses.fetch_add(1);
            counters.reconnects_malformed.fetch_add(1);
            log::error(kModule, "malformed response discarded whole; resuming from committed replay ids: " + ex.error,
                       {{"org", org}, {"bytes", std::to_string(ex.body_bytes)}});
            return Next::Reopen;
        case Exchange::Outcome::Ok:
            break;
        }
        if (!admitReply(ex))
            return Next::Reopen;
        host_.markStreaming();
        if (!ex.batch.events.empty() && log::enabled(log::Level::Debug, kModule))
            log::debug(kModule, "events received",
                       {{"org", org}, {"events", std::to_string(ex.batch.events.size())}});
        host_.deliver(ex.batch);
        if (host_.stopping())
            return Next::Stop;
        std::optional<Next> next;
        int64_t interval = 0;
        for (const auto &m : ex.batch.meta) {
            if (m.channel == "/meta/disconnect") {
                counters.reconnects_unknown_client.fetch_add(1);
                log::info(kModule, "the server disconnected the client; handshaking again", {{"org", org}});
                next = Next::Reopen;
            } else if (m.channel == "/meta/connect") {
                if (m.advice.timeout_ms && *m.advice.timeout_ms > 0)
                    client_->setConnectTimeout(std::chrono::milliseconds(*m.advice.timeout_ms));
                if (m.advice.interval_ms)
                    interval = *m.advice.interval_ms;
                if (auto n = handleConnectReply(m))
                    next = n;
            }
        }
        if (next && *next != Next::Reopen)
            return *next;
        if (next)
            return Next::Reopen;
        if (interval > 0 && !host_.sleepFor(std::chrono::milliseconds(interval)))
            return Next::Stop;
    }
    return Next::Stop;
}

std::optional<Next> CometdTransport::handleConnectReply(const decode::MetaMessage &m)
{
    if (m.successful.value_or(false) && m.advice.reconnect.value_or("retry") == "retry")
        return std::nullopt;
    auto &counters = host_.mutableCounters();
    const std::string &org = orgName();
    const std::string &err = m.error;
    if (contains(err, "401::") || m.advice.reconnect == "none") {
        counters.reconnects_auth.fetch_add(1);
        log::warn(kModule, "connect refused (" + (err.empty() ? "reconnect: none" : err) + "); getting a new token",
                  {{"org", org}});
        return Next::NewToken;
    }
    if (contains(err, "403::Unknown client") || m.advice.reconnect == "handshake") {
        counters.reconnects_unknown_client.fetch_add(1);
        log::info(kModule, "server forgot the client (" + (err.empty() ? "reconnect: handshake" : err) +
                               "); handshaking again",
                  {{"org", org}});
        return Next::Reopen;
    }
    if (contains(err, "limit exceeded")) {
        log::error(kModule, "connect refused by a limit: " + err, {{"org", org}});
        return Next::LimitBackoff;
    }
    if (!m.successful.value_or(false)) {
        counters.reconnects_server_error.fetch_add(1);
        log::warn(kModule, "connect unsuccessful: " + err, {{"org", org}});
        return Next::Backoff;
    }
    return std::nullopt;
}

} // namespace sfk::cometd
