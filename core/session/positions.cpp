// OrgSession: where a channel's subscription starts, which events are
// duplicates of it, and gaps (the GAP line and the control-topic record).
#include "log/log.h"
#include "session/org_session.h"
#include "session/session_text.h"

namespace sfk::session {

namespace {

constexpr std::string_view kModule = kSessionModule;

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

int64_t OrgSession::subscribeFrom(size_t i) const
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

void OrgSession::subscribing(size_t i, int64_t from)
{
    channels_[i].last_seen = from >= 0 ? std::optional<int64_t>(from) : std::nullopt;
    channels_[i].start_from = channels_[i].last_seen;
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

} // namespace sfk::session
