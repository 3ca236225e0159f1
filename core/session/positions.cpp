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
    case GapReason::TransportSwitch: return "transport_switch";
    }
    return "?";
}

void OrgSession::reportGap(const Gap &gap)
{
    auto &ch = channels_[gap.channel];
    std::string resumed = gap.resumed_from ? replay::positionDescription(*gap.resumed_from)
                                           : std::string("none (channel stopped)");
    auto id = [](const std::optional<replay::Position> &v) { return replay::positionText(v); };
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
    record.transport = config::transportName(transport_kind_);
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

replay::Position OrgSession::subscribeFrom(size_t i) const
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

void OrgSession::subscribing(size_t i, const replay::Position &from)
{
    channels_[i].last_seen = !from.isOpaque() && from.id >= 0 ? std::optional<int64_t>(from.id) : std::nullopt;
    channels_[i].start_from = channels_[i].last_seen;
}

void OrgSession::storeResumeMarkers(const std::vector<size_t> &which)
{
    if (which.empty())
        return;
    for (size_t i : which) {
        tracker_.setCommitted(static_cast<uint32_t>(i), -2);
        store_.set(org_.name, channels_[i].cfg->name, transport_kind_, -2);
    }
    // Durable before any event of the new subscription is received: a crash
    // from now on replays what is retained instead of skipping it.
    std::string error;
    if (!store_.flush(error))
        log::error(kModule, "could not store the resume position (the next flush retries): " + error,
                   {{"org", org_.name}, {"directory", store_.directory()}});
}

std::optional<replay::Position> OrgSession::switchedTransport(size_t i, const replay::Position &other)
{
    const auto &cfg = *channels_[i].cfg;
    const char *now = config::transportName(transport_kind_);
    const char *before = config::transportName(transport_kind_ == config::Transport::Cometd ? config::Transport::Pubsub
                                                                                          : config::Transport::Cometd);
    Gap gap{i, GapReason::TransportSwitch, "", other};
    gap.detail = std::string("the channel moved from ") + before + " to " + now + "; its " + before +
                 " position " + replay::positionText(other) + " means nothing over " + now + "; ";
    std::optional<replay::Position> from;
    switch (cfg.on_transport_switch) {
    case config::TransportSwitchPolicy::Earliest:
        gap.policy = "earliest";
        from = -2;
        gap.detail += "resuming from the earliest retained event (duplicates, on_transport_switch: earliest)";
        break;
    case config::TransportSwitchPolicy::Latest:
        gap.policy = "latest";
        from = -1;
        gap.detail += "resuming from new events only: events since that position that are not yet read "
                      "are not delivered (on_transport_switch: latest)";
        break;
    case config::TransportSwitchPolicy::Fail:
        gap.policy = "fail";
        channels_[i].stopped = true;
        gap.detail += "channel stopped (on_transport_switch: fail); set on_transport_switch, or position it "
                      "with `sfkafkad replay set`";
        break;
    }
    gap.resumed_from = from;
    reportGap(gap);
    return from;
}

int64_t OrgSession::eventRoom() const
{
    if (tracker_.inFlightBytes() >= org_.max_in_flight_bytes || !sink_.hasRoom())
        return 0;
    return std::max<int64_t>(0, org_.max_in_flight_events - uncommittedEvents());
}

bool OrgSession::adoptIdlePosition(size_t i, const replay::Position &p)
{
    const auto c = static_cast<uint32_t>(i);
    if (channels_[i].stopped || tracker_.inFlight(c) != 0 || tracker_.failed(c))
        return false;
    if (tracker_.committed(c) == p)
        return false;
    tracker_.setCommitted(c, p);
    return true;
}

} // namespace sfk::session
