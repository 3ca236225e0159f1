// OrgSession's dead-letter path (README: How sfkafkad delivers events): an
// event Kafka refuses for good, or a message that cannot be decoded, goes to
// the channel's dead-letter topic; the watermark passes it only once that
// write is acknowledged. Also the other records written synchronously: raw
// Avro's writer schemas.

#include "log/log.h"
#include "session/org_session.h"

namespace sfk::session {

namespace {

constexpr std::string_view kModule = "session";
constexpr size_t kMaxSuspects = 100000;

} // namespace

void OrgSession::noteRefused(uint32_t channel, const replay::Position &replay_id)
{
    std::lock_guard lock(suspectsMutex_);
    if (suspects_.size() >= kMaxSuspects)
        return;   // the rest are found again on a later round
    suspects_.emplace(channel, replay_id);
    suspectCount_.store(suspects_.size());
}

void OrgSession::forgetSuspect(size_t channel, const replay::Position &replay_id)
{
    std::lock_guard lock(suspectsMutex_);
    suspects_.erase({static_cast<uint32_t>(channel), replay_id});
    suspectCount_.store(suspects_.size());
}

bool OrgSession::isSuspect(size_t channel, const replay::Position &replay_id)
{
    if (suspectCount_.load(std::memory_order_relaxed) == 0)
        return false;   // the hot path: no lock
    std::lock_guard lock(suspectsMutex_);
    // A channel already frozen this round resubscribes anyway: the suspect
    // waits for that round, so it is never dead-lettered twice.
    return suspects_.count({static_cast<uint32_t>(channel), replay_id}) != 0 &&
           !tracker_.failed(static_cast<uint32_t>(channel));
}

// A broker refuses a whole batch: a small event batched with a large one
// is refused too. Alone in its batch (everything before it acknowledged,
// nothing after it produced yet), a refusal is its own.
void OrgSession::produceAlone(const decode::Event &e, size_t i, const kafka::OutRecord &rec)
{
    auto &ch = channels_[i];
    while (tracker_.inFlightEvents() > 0) {
        if (stop_.load())
            return;
        touch();
        tracker_.waitInFlightBelow(1, INT64_MAX, std::chrono::milliseconds(200));
    }
    const replay::Position position = positionOf(e);
    auto ticket = tracker_.track(static_cast<uint32_t>(i), position, e.data.size());
    auto stopping = [this] { return stop_.load(); };
    SyncDelivery d = produceAndWait(sink_, rec, stopping, [this] { touch(); return !stop_.load(); });
    if (!d.done) {
        tracker_.complete(ticket, false);
        return;
    }
    if (d.ok) {
        forgetSuspect(i, position);
        ch.counters->produced.fetch_add(1, std::memory_order_relaxed);
        onDelivered(ticket, true, 0, "", e.timestamp_ms);
        return;
    }
    if (!d.refusal) {
        // Transient this time: freeze and resubscribe as for any failure.
        onDelivered(ticket, false, 0, d.error.c_str());
        return;
    }
    deadLetterEvent(e, i, ticket, d.error, *d.refusal);
}

void OrgSession::deadLetterEvent(const decode::Event &e, size_t i, const replay::AckTracker::Ticket &ticket,
                                 const std::string &error, DeadLetterReason reason)
{
    auto &ch = channels_[i];
    DeadLetter l;
    l.topic = ch.cfg->dead_letter_topic;
    l.org = org_.name;
    l.org_id = orgId_;
    l.channel = ch.cfg->name;
    l.intended_topic = ch.cfg->topic;
    l.transport = config::transportName(transport_kind_);
    const replay::Position position = positionOf(e);
    l.replay_id = position;
    l.key = e.key;
    l.body = e.data;
    l.error = error;
    l.reason = reason;
    l.timestamp_ms = e.timestamp_ms;
    auto r = writeDeadLetter(sink_, l, [this] { return stop_.load(); }, [this] { touch(); return !stop_.load(); });
    if (!r.delivery.done || !r.delivery.ok) {
        // The watermark stays before the event: it comes back after the resubscribe.
        if (r.delivery.done)
            log::error(kModule, "dead-letter write failed; channel frozen at its committed replay id: " +
                                    r.delivery.error,
                       {{"org", org_.name}, {"channel", ch.cfg->name}, {"topic", std::string(l.topic)},
                        {"replay_id", replay::positionText(position)}});
        tracker_.complete(ticket, false);
        ch.counters->failed.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    forgetSuspect(i, position);
    tracker_.complete(ticket, true);
    reportDeadLetter(i, l, r.body_dropped);
}

void OrgSession::deadLetterUndecodable(const decode::Undecodable &u)
{
    std::optional<size_t> channel;
    if (auto it = channelIndex_.find(u.channel); it != channelIndex_.end())
        channel = it->second;
    // Without a known channel: the org's first channel's settings.
    const config::Channel &cfg = org_.channels[channel.value_or(0)];
    std::optional<replay::Position> position;
    if (!u.opaque_replay_id.empty())
        position = replay::Position::bytes(u.opaque_replay_id);
    else if (u.replay_id)
        position = *u.replay_id;
    if (channel) {
        auto &ch = channels_[*channel];
        ch.counters->received.fetch_add(1, std::memory_order_relaxed);
        if (ch.stopped)
            return;
        if (u.replay_id && ch.last_seen && *u.replay_id <= *ch.last_seen) {
            ch.counters->duplicates_skipped.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (u.replay_id)
            ch.last_seen = u.replay_id;
    }
    DeadLetter l;
    l.topic = cfg.dead_letter_topic;
    l.org = org_.name;
    l.org_id = orgId_;
    l.channel = u.channel;
    l.intended_topic = channel ? std::string_view(cfg.topic) : std::string_view();
    l.transport = config::transportName(transport_kind_);
    l.replay_id = position;
    l.body = u.raw;
    l.error = u.error;
    l.reason = DeadLetterReason::Undecodable;
    auto r = writeDeadLetter(sink_, l, [this] { return stop_.load(); }, [this] { touch(); return !stop_.load(); });
    const bool ok = r.delivery.done && r.delivery.ok;
    // A tracked entry keeps the watermark before the message until the
    // dead letter is acknowledged; a failed one freezes the channel (the
    // placeholder id of an entry without one is never committed: it fails).
    auto freeze = [&](size_t i) {
        auto t = tracker_.track(static_cast<uint32_t>(i), position.value_or(replay::Position(0)), 0);
        tracker_.complete(t, false);
        channels_[i].counters->failed.fetch_add(1, std::memory_order_relaxed);
    };
    if (!ok) {
        if (r.delivery.done)
            log::error(kModule, "dead-letter write of an undecodable message failed; resuming from committed replay ids: " +
                                    r.delivery.error,
                       {{"org", org_.name}, {"channel", std::string(u.channel)}, {"topic", std::string(l.topic)}});
        if (channel) {
            freeze(*channel);
        } else {
            for (size_t i = 0; i < channels_.size(); ++i)
                if (!channels_[i].stopped)
                    freeze(i);
        }
        return;
    }
    if (channel && position) {
        auto t = tracker_.track(static_cast<uint32_t>(*channel), *position, 0);
        tracker_.complete(t, true);
    }
    reportDeadLetter(channel, l, r.body_dropped);
}

void OrgSession::reportDeadLetter(std::optional<size_t> channel, const DeadLetter &l, bool body_dropped)
{
    if (channel)
        channels_[*channel].counters->dead_letters[static_cast<int>(l.reason)].fetch_add(1);
    std::string replay = l.replay_id ? replay::positionText(*l.replay_id) : std::string("unknown");
    log::error(kModule, std::string("DEAD LETTER: event written to the dead-letter topic instead of ") +
                            (l.intended_topic.empty() ? "its topic" : std::string(l.intended_topic)) + " (" +
                            reasonName(l.reason) + (body_dropped ? ", body dropped: too large" : "") +
                            "): " + std::string(l.error),
               {{"org", org_.name}, {"channel", std::string(l.channel)}, {"replay_id", replay},
                {"dead_letter_topic", std::string(l.topic)}});
    publishDeadLetterGap(l);
}

void OrgSession::publishDeadLetterGap(const DeadLetter &l)
{
    kafka::GapRecord g;
    g.org = org_.name;
    g.org_id = orgId_;
    g.channel = l.channel;
    g.transport = config::transportName(transport_kind_);
    g.reason = "dead_letter";
    g.policy = "dead_letter";
    if (auto it = channelIndex_.find(l.channel); it != channelIndex_.end())
        g.stored_replay_id = tracker_.committed(static_cast<uint32_t>(it->second));
    g.replay_id = l.replay_id;
    g.detail = std::string(reasonName(l.reason)) + ": " + std::string(l.error) + "; written to " +
               std::string(l.topic) + " instead of " +
               (l.intended_topic.empty() ? std::string("its topic") : std::string(l.intended_topic));
    control_.publish(g);
}

bool OrgSession::publishSchema(const std::string &schema_id, const std::string &schema_json)
{
    const std::string &topic = org_.pubsub.schemas_topic;
    if (!schemasTopicReady_) {
        std::string error;
        if (!sink_.ensureCompactedTopic(topic, error, [this] { return stop_.load(); })) {
            if (stop_.load())
                return false;
            log::error(kModule, "cannot create the compacted schemas topic: " + error,
                       {{"org", org_.name}, {"topic", topic}});
            return false;
        }
        schemasTopicReady_ = true;
    }
    kafka::Header headers[] = {{"sf.org_id", orgId_}, {"sf.schema", schema_id}};
    kafka::OutRecord rec;
    rec.topic = topic;
    rec.key = schema_id;
    rec.value = schema_json;
    rec.headers = headers;
    rec.header_count = 2;
    SyncDelivery d = produceAndWait(sink_, rec, [this] { return stop_.load(); }, [this] { touch(); return !stop_.load(); });
    if (d.done && !d.ok)
        log::error(kModule, "cannot write a Pub/Sub schema to the schemas topic; resubscribing: " + d.error,
                   {{"org", org_.name}, {"topic", topic}, {"schema", schema_id}});
    return d.done && d.ok;
}

} // namespace sfk::session
