// OrgSession: handshake, subscribes, and the gaps a subscribe can reveal.
#include <charconv>

#include "log/log.h"
#include "session/org_session.h"
#include "session/session_text.h"

namespace sfk::session {

namespace {

constexpr std::string_view kModule = kSessionModule;

// The numeric code of a Bayeux error "NNN::text" (0 when there is none).
int errorCode(std::string_view err)
{
    int code = 0;
    auto sep = err.find("::");
    if (sep == err.npos)
        return 0;
    auto [p, ec] = std::from_chars(err.data(), err.data() + sep, code);
    return ec == std::errc() && p == err.data() + sep ? code : 0;
}

const char *policyName(config::InvalidReplayPolicy p)
{
    switch (p) {
    case config::InvalidReplayPolicy::Fail: return "fail";
    case config::InvalidReplayPolicy::Earliest: return "earliest";
    case config::InvalidReplayPolicy::Latest: return "latest";
    }
    return "?";
}

} // namespace

const char *gapReasonName(GapReason r)
{
    switch (r) {
    case GapReason::InvalidReplayId: return "invalid_replay_id";
    case GapReason::SubscribeRefused: return "subscribe_refused";
    case GapReason::ReplayIdBackwards: return "replay_id_backwards";
    case GapReason::ChannelStopped: return "channel_stopped";
    case GapReason::DeadLetter: return "dead_letter";
    }
    return "?";
}

void OrgSession::reportGap(const Gap &gap)
{
    auto &ch = channels_[gap.channel];
    std::string resumed = !gap.resumed_from      ? "none (channel stopped)"
                          : *gap.resumed_from == -2 ? "-2 (earliest retained)"
                          : *gap.resumed_from == -1 ? "-1 (new events only)"
                                                    : std::to_string(*gap.resumed_from);
    auto id = [](const std::optional<int64_t> &v) { return v ? std::to_string(*v) : std::string("none"); };
    if (gap.replay_id)
        log::event(log::Level::Error, log::id::kGap, kModule, "GAP: " + gap.detail,
                   {{"org", org_.name}, {"channel", ch.cfg->name}, {"reason", gapReasonName(gap.reason)},
                    {"policy", gap.policy}, {"replay_id", id(gap.stored_replay_id)},
                    {"resumed_from", resumed}, {"event_replay_id", id(gap.replay_id)}});
    else
        log::event(log::Level::Error, log::id::kGap, kModule, "GAP: " + gap.detail,
                   {{"org", org_.name}, {"channel", ch.cfg->name}, {"reason", gapReasonName(gap.reason)},
                    {"policy", gap.policy}, {"replay_id", id(gap.stored_replay_id)},
                    {"resumed_from", resumed}});
    kafka::GapRecord record;
    record.org = org_.name;
    record.org_id = orgId_;
    record.channel = ch.cfg->name;
    record.reason = gapReasonName(gap.reason);
    record.policy = gap.policy;
    record.stored_replay_id = gap.stored_replay_id;
    record.resumed_from = gap.resumed_from;
    record.replay_id = gap.replay_id;
    record.detail = gap.detail;
    control_.publish(record);
}

bool OrgSession::noteBackwards(size_t i, int64_t replay_id)
{
    auto &ch = channels_[i];
    if (ch.start_from && replay_id <= *ch.start_from) {
        ch.counters->duplicates_skipped.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    // Not a replay of what we asked to skip: a new run of ids (a server-side
    // reset, a redelivery). Produced; the committed id follows the stream, so
    // a resubscribe can only repeat events, never skip them.
    ch.counters->replay_backwards.fetch_add(1, std::memory_order_relaxed);
    Gap gap{i, GapReason::ReplayIdBackwards, "produced", tracker_.committed(static_cast<uint32_t>(i))};
    gap.replay_id = replay_id;
    gap.resumed_from = replay_id;
    gap.detail = "replay id went backwards mid-stream, from " + std::to_string(ch.last_seen.value_or(-1)) +
                 " to " + std::to_string(replay_id) + "; produced (it may repeat or reorder events)";
    reportGap(gap);
    return true;
}

int64_t OrgSession::subscribeReplayId(size_t i) const
{
    // Also the marker -2 stored after a subscribe from -1/-2 (or a gap).
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

void OrgSession::storeResumeMarkers(const std::vector<size_t> &which)
{
    if (which.empty())
        return;
    for (size_t i : which) {
        tracker_.setCommitted(static_cast<uint32_t>(i), -2);
        store_.set(org_.name, channels_[i].cfg->name, -2);
    }
    // Durable before any event of the new subscription is received: a crash
    // from now on replays what is retained instead of skipping it.
    std::string error;
    if (!store_.flush(error))
        log::error(kModule, "could not store the resume position (the next flush retries): " + error,
                   {{"org", org_.name}, {"directory", store_.directory()}});
}

OrgSession::Next OrgSession::handshakeAndSubscribe()
{
    if (!drainInFlight())
        return Next::Stop;
    setState(State::Handshaking);
    committedAtHandshake_.resize(channels_.size());
    for (size_t i = 0; i < channels_.size(); ++i)
        committedAtHandshake_[i] = tracker_.committed(static_cast<uint32_t>(i));
    streamingSince_ = {};

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
                instance, org_.api_version, net::TlsOptions{org_.ca_file, org_.proxy.reveal(), static_cast<size_t>(org_.max_response_bytes)}, keys);
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
                   {{"org", org_.name}});
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
    log::event(log::Level::Info, log::id::kHandshake, kModule, "handshake complete", {{"org", org_.name}});
    // CometD lets a server deliver messages on any reply (server-side
    // subscriptions): produce them like connect events.
    if (!ex.batch.events.empty())
        produceEvents(ex.batch);

    std::vector<size_t> all;
    for (size_t i = 0; i < channels_.size(); ++i)
        if (!channels_[i].stopped)
            all.push_back(i);
    Next next = subscribeChannels(all);
    if (next == Next::Connect && reply && reply->advice.interval_ms && *reply->advice.interval_ms > 0 &&
        !sleepFor(std::chrono::milliseconds(*reply->advice.interval_ms)))
        return Next::Stop;
    return next;
}

std::optional<OrgSession::Next> OrgSession::handleSubscribeRefusal(
    size_t i, int64_t from, const decode::MetaMessage &m,
    std::vector<std::optional<int64_t>> &override, std::vector<size_t> &retry)
{
    auto &ch = channels_[i];
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
    if (contains(err, "wasn't found using the provided replay ID map")) {
        // Our request named the channel differently in the replay map: our
        // bug, not a gap. Retrying (with backoff) keeps the stored id.
        log::error(kModule, "subscribe refused: the replay map did not match the subscription "
                            "(a bug in sfkafkad, please report it): " + err,
                   {{"org", org_.name}, {"channel", ch.cfg->name}});
        counters_.subscribe_retries.fetch_add(1);
        return Next::Backoff;
    }
    if (contains(err, "replayId") && contains(err, "invalid")) {
        ch.counters->gaps.fetch_add(1);
        auto policy = ch.cfg->on_invalid_replay;
        Gap gap{i, GapReason::InvalidReplayId, policyName(policy), from};
        gap.detail = "replay id rejected; events after replay id " + std::to_string(from) +
                     " that are no longer retained were not delivered; ";
        if (policy == config::InvalidReplayPolicy::Fail) {
            ch.stopped = true;
            gap.detail += "channel stopped (on_invalid_replay: fail)";
        } else {
            bool earliest = policy == config::InvalidReplayPolicy::Earliest;
            override[i] = earliest ? -2 : -1;
            gap.resumed_from = override[i];
            gap.detail += std::string("resuming from ") +
                          (earliest ? "the earliest retained event" : "new events only");
            retry.push_back(i);
        }
        gap.detail += ": " + err;
        reportGap(gap);
        return std::nullopt;
    }
    int code = errorCode(err);
    if (code == 400 || code == 403 || code == 404) {
        // A channel that does not exist or that the user may not read: stop
        // it loudly (a gap record), keep the others.
        ch.stopped = true;
        Gap gap{i, GapReason::SubscribeRefused, "stop", from};
        gap.detail = "subscribe refused, channel stopped until the next reload: " + err;
        reportGap(gap);
        return std::nullopt;
    }
    // Anything else (5xx, no code, an unknown text) may pass: back off, retry.
    counters_.subscribe_retries.fetch_add(1);
    log::warn(kModule, "subscribe failed, will retry: " + (err.empty() ? "no error text" : err),
              {{"org", org_.name}, {"channel", ch.cfg->name}});
    return Next::Backoff;
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
            subs.push_back({channels_[i].cfg->name, from, {}});
            channels_[i].last_seen = from >= 0 ? std::optional<int64_t>(from) : std::nullopt;
            channels_[i].start_from = channels_[i].last_seen;
        }
        std::vector<size_t> retry;
        size_t pos = 0;
        while (pos < subs.size()) {
            const size_t begin = pos;
            cometd::Exchange ex;
            pos = client_->subscribe(subs, pos, ex);
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
            if (!admitReply(ex))
                return Next::Backoff;
            std::optional<Next> ends;   // the first reply that ends this Bayeux session
            std::vector<bool> answered(pos - begin, false);
            std::vector<size_t> resumed;
            for (const auto &m : ex.batch.meta) {
                if (m.channel == "/meta/disconnect") {
                    counters_.reconnects_unknown_client.fetch_add(1);
                    ends = ends.value_or(Next::Rehandshake);
                    continue;
                }
                if (m.channel != "/meta/subscribe")
                    continue;
                // Matched by message id; by channel only when the server
                // leaves the id out.
                size_t k = begin;
                while (k < pos && !(m.id.empty() ? subs[k].channel == m.subscription : subs[k].message_id == m.id))
                    ++k;
                if (k == pos || answered[k - begin]) {
                    log::warn(kModule, "subscribe reply matching no request of ours ignored",
                              {{"org", org_.name}, {"id", m.id}, {"subscription", m.subscription}});
                    continue;
                }
                answered[k - begin] = true;
                const size_t i = which[k];
                if (m.successful.value_or(false)) {
                    log::info(kModule, "subscribed",
                              {{"org", org_.name}, {"channel", channels_[i].cfg->name},
                               {"replay_from", std::to_string(subs[k].replay_id)}});
                    if (subs[k].replay_id < 0)
                        resumed.push_back(i);
                    continue;
                }
                if (auto n = handleSubscribeRefusal(i, subs[k].replay_id, m, override, retry))
                    ends = ends.value_or(*n);
            }
            for (size_t k = begin; k < pos; ++k) {
                if (answered[k - begin])
                    continue;
                counters_.subscribe_retries.fetch_add(1);
                log::warn(kModule, "no reply to a subscribe: treated as failed, will retry",
                          {{"org", org_.name}, {"channel", subs[k].channel}});
                ends = ends.value_or(Next::Backoff);
            }
            storeResumeMarkers(resumed);
            if (!ex.batch.events.empty())
                produceEvents(ex.batch);   // events on a subscribe reply are events
            if (ends)
                return *ends;
        }
        which = std::move(retry);
    }
    if (!which.empty())
        return Next::Backoff;
    return Next::Connect;
}

} // namespace sfk::session
