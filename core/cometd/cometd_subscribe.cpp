// CometdTransport: subscribes with the replay extension, and the gaps a
// subscribe refusal can reveal.
#include <charconv>

#include "cometd/cometd_transport.h"
#include "log/log.h"
#include "session/session_text.h"

namespace sfk::cometd {

namespace {

constexpr std::string_view kModule = session::kSessionModule;
using session::contains;
using session::Gap;
using session::GapReason;
using session::Next;

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

} // namespace

std::optional<Next> CometdTransport::handleSubscribeRefusal(size_t i, int64_t from, const decode::MetaMessage &m,
                                                            std::vector<std::optional<int64_t>> &override,
                                                            std::vector<size_t> &retry)
{
    const config::Channel &cfg = host_.org().channels[i];
    const std::string &err = m.error;
    if (contains(err, "401::") || m.advice.reconnect == "none")
        return Next::NewToken;
    if (contains(err, "403::Unknown client") || m.advice.reconnect == "handshake")
        return Next::Reopen;
    if (contains(err, "limit exceeded")) {
        log::error(kModule, "subscribe refused by a limit: " + err, {{"org", orgName()}, {"channel", cfg.name}});
        return Next::LimitBackoff;
    }
    if (contains(err, "wasn't found using the provided replay ID map")) {
        // Our request named the channel differently in the replay map: our
        // bug, not a gap. Retrying (with backoff) keeps the stored id.
        log::error(kModule, "subscribe refused: the replay map did not match the subscription "
                            "(a bug in sfkafkad, please report it): " + err,
                   {{"org", orgName()}, {"channel", cfg.name}});
        host_.mutableCounters().subscribe_retries.fetch_add(1);
        return Next::Backoff;
    }
    if (contains(err, "replayId") && contains(err, "invalid")) {
        host_.mutableChannelCounters(i).gaps.fetch_add(1);
        auto policy = cfg.on_invalid_replay;
        Gap gap{i, GapReason::InvalidReplayId, config::invalidReplayPolicyName(policy), from};
        gap.detail = "replay id rejected; events after replay id " + std::to_string(from) +
                     " that are no longer retained were not delivered; ";
        if (policy == config::InvalidReplayPolicy::Fail) {
            host_.stopChannel(i);
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
        host_.reportGap(gap);
        return std::nullopt;
    }
    int code = errorCode(err);
    if (code == 400 || code == 403 || code == 404) {
        // A channel that does not exist or that the user may not read: stop
        // it loudly (a gap record), keep the others.
        host_.stopChannel(i);
        Gap gap{i, GapReason::SubscribeRefused, "stop", from};
        gap.detail = "subscribe refused, channel stopped until the next reload: " + err;
        host_.reportGap(gap);
        return std::nullopt;
    }
    // Anything else (5xx, no code, an unknown text) may pass: back off, retry.
    host_.mutableCounters().subscribe_retries.fetch_add(1);
    log::warn(kModule, "subscribe failed, will retry: " + (err.empty() ? "no error text" : err),
              {{"org", orgName()}, {"channel", cfg.name}});
    return Next::Backoff;
}

Next CometdTransport::subscribeChannels(std::vector<size_t> which)
{
    const auto &channels = host_.org().channels;
    auto &counters = host_.mutableCounters();
    // Invalid replay ids under `earliest`/`latest` policies come back here
    // once with their new starting point.
    std::vector<std::optional<int64_t>> override(channels.size());
    for (int round = 0; round < 3 && !which.empty(); ++round) {
        std::vector<Subscription> subs;
        for (size_t i : which) {
            int64_t from = override[i] ? *override[i] : host_.subscribeFrom(i).id;
            subs.push_back({channels[i].name, from, {}});
            host_.subscribing(i, from);
        }
        std::vector<size_t> retry;
        size_t pos = 0;
        while (pos < subs.size()) {
            const size_t begin = pos;
            Exchange ex;
            pos = client_->subscribe(subs, pos, ex);
            if (host_.stopping())
                return Next::Stop;
            if (ex.outcome == Exchange::Outcome::Http && ex.http_status == 401)
                return Next::NewToken;
            if (ex.outcome != Exchange::Outcome::Ok) {
                if (ex.outcome == Exchange::Outcome::Malformed)
                    counters.malformed_responses.fetch_add(1);
                log::warn(kModule, "subscribe failed: " + ex.error, {{"org", orgName()}});
                return Next::Backoff;
            }
            if (!admitReply(ex))
                return Next::Backoff;
            std::optional<Next> ends;   // the first reply that ends this Bayeux session
            std::vector<bool> answered(pos - begin, false);
            std::vector<size_t> resumed;
            for (const auto &m : ex.batch.meta) {
                if (m.channel == "/meta/disconnect") {
                    counters.reconnects_unknown_client.fetch_add(1);
                    ends = ends.value_or(Next::Reopen);
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
                              {{"org", orgName()}, {"id", m.id}, {"subscription", m.subscription}});
                    continue;
                }
                answered[k - begin] = true;
                const size_t i = which[k];
                if (m.successful.value_or(false)) {
                    log::info(kModule, "subscribed",
                              {{"org", orgName()}, {"channel", channels[i].name},
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
                counters.subscribe_retries.fetch_add(1);
                log::warn(kModule, "no reply to a subscribe: treated as failed, will retry",
                          {{"org", orgName()}, {"channel", subs[k].channel}});
                ends = ends.value_or(Next::Backoff);
            }
            host_.storeResumeMarkers(resumed);
            if (!ex.batch.events.empty())
                host_.deliver(ex.batch);   // events on a subscribe reply are events
            if (ends)
                return *ends;
        }
        which = std::move(retry);
    }
    if (!which.empty())
        return Next::Backoff;
    return Next::Stream;
}

} // namespace sfk::cometd
