#include "metrics/prometheus.h"

#include <cstdio>

#include "session/supervisor.h"
#include "sfkafka_build_config.h"

namespace sfk::metrics {

std::string escapeLabel(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

namespace {

class Writer {
public:
    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    // labels: already formatted `a="x",b="y"` (may be empty).
    void sample(std::string_view name, const std::string &labels, double value)
    {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        char buf[64];
        std::snprintf(buf, sizeof buf, " %.17g\n", value);
        out_ += buf;
    }
    void sample(std::string_view name, const std::string &labels, uint64_t value)
    {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
        out_ += std::to_string(value);
        out_ += '\n';
    }
    void sample(std::string_view name, const std::string &labels, int64_t value)
    {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
        out_ += std::to_string(value);
        out_ += '\n';
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

std::string label(std::string_view key, std::string_view value)
{
    return std::string(key) + "=\"" + escapeLabel(value) + "\"";
}

// An org with channels on both transports runs one session for each.
std::string orgLabel(const session::OrgSession &s)
{
    return label("org", s.org().name) + "," + label("transport", config::transportName(s.transport()));
}

std::string channelLabels(const session::OrgSession &s, size_t i)
{
    return orgLabel(s) + "," + label("channel", s.org().channels[i].name);
}

using session::OrgSession;
using session::ChannelCounters;
using session::SessionCounters;

} // namespace

std::string render(const session::Supervisor &sup)
{
    Writer w;
    w.family("sfkafka_build_info", "gauge", "Build information; always 1.");
    w.sample("sfkafka_build_info", label("version", SFKAFKA_VERSION), int64_t{1});

    struct ChannelMetric {
        const char *name, *help;
        const std::atomic<uint64_t> ChannelCounters::*field;
    };
    static const ChannelMetric channelMetrics[] = {
        {"sfkafka_events_received_total", "Events received from Salesforce.", &ChannelCounters::received},
        {"sfkafka_events_produced_total", "Events handed to the Kafka producer.", &ChannelCounters::produced},
        {"sfkafka_events_delivered_total", "Events acknowledged by Kafka.", &ChannelCounters::delivered},
        {"sfkafka_events_failed_total", "Events whose delivery to Kafka failed.", &ChannelCounters::failed},
        {"sfkafka_events_duplicates_skipped_total", "Events already delivered and skipped.",
         &ChannelCounters::duplicates_skipped},
        {"sfkafka_replay_gaps_total", "Replay ids rejected by Salesforce (events possibly lost).",
         &ChannelCounters::gaps},
        {"sfkafka_replay_id_backwards_total", "Events whose replay id went below the previous one mid-stream (produced).",
         &ChannelCounters::replay_backwards},
    };
    for (const auto &m : channelMetrics) {
        w.family(m.name, "counter", m.help);
        sup.forEachSession([&](const OrgSession &s) {
            for (size_t i = 0; i < s.channelCount(); ++i)
                w.sample(m.name, channelLabels(s, i), (s.channelCounters(i).*m.field).load());
        });
    }

    w.family("sfkafka_dead_letters_total", "counter",
             "Events written to the dead-letter topic instead of their own, by reason.");
    sup.forEachSession([&](const OrgSession &s) {
        for (size_t i = 0; i < s.channelCount(); ++i)
            for (auto r : {session::DeadLetterReason::KafkaRejected, session::DeadLetterReason::Undecodable,
                           session::DeadLetterReason::TooLarge})
                w.sample("sfkafka_dead_letters_total",
                         channelLabels(s, i) + "," + label("reason", session::reasonName(r)),
                         (s.channelCounters(i).dead_letters[static_cast<int>(r)]).load());
    });

    w.family("sfkafka_committed_replay_id", "gauge",
             "Replay id committed (every event up to it acknowledged by Kafka), per channel.");
    sup.forEachSession([&](const OrgSession &s) {
        for (size_t i = 0; i < s.channelCount(); ++i)
            // -2: a resume marker, no id yet; Pub/Sub ids are opaque bytes, no number.
            if (auto c = s.committed(i); c && !c->isOpaque() && c->id >= 0)
                w.sample("sfkafka_committed_replay_id", channelLabels(s, i), c->id);
    });

    w.family("sfkafka_in_flight_events", "gauge", "Events produced and not yet acknowledged by Kafka.");
    sup.forEachSession([&](const OrgSession &s) {
        w.sample("sfkafka_in_flight_events", orgLabel(s), s.inFlightEvents());
    });
    w.family("sfkafka_in_flight_bytes", "gauge", "Bytes of events not yet acknowledged by Kafka.");
    sup.forEachSession([&](const OrgSession &s) {
        w.sample("sfkafka_in_flight_bytes", orgLabel(s), s.inFlightBytes());
    });

    static const session::State states[] = {
        session::State::Starting, session::State::Authenticating, session::State::Handshaking,
        session::State::Streaming, session::State::Paused,         session::State::Backoff,
        session::State::Stopped};
    w.family("sfkafka_session_state", "gauge", "1 for the state each org's session is in.");
    sup.forEachSession([&](const OrgSession &s) {
        auto now = s.state();
        for (auto st : states)
            w.sample("sfkafka_session_state", orgLabel(s) + "," + label("state", session::stateName(st)),
                     int64_t{st == now ? 1 : 0});
    });

    struct Reason {
        const char *name;
        const std::atomic<uint64_t> SessionCounters::*field;
    };
    static const Reason reasons[] = {
        {"auth", &SessionCounters::reconnects_auth},
        {"unknown_client", &SessionCounters::reconnects_unknown_client},
        {"network", &SessionCounters::reconnects_network},
        {"server_error", &SessionCounters::reconnects_server_error},
        {"malformed", &SessionCounters::reconnects_malformed},
        {"delivery_failure", &SessionCounters::reconnects_delivery_failure},
        {"credit_idle", &SessionCounters::reconnects_credit_idle},
        {"stalled", &SessionCounters::reconnects_stalled},
    };
    w.family("sfkafka_reconnects_total", "counter", "Reconnections to Salesforce by reason.");
    sup.forEachSession([&](const OrgSession &s) {
        for (const auto &r : reasons)
            w.sample("sfkafka_reconnects_total", orgLabel(s) + "," + label("reason", r.name),
                     (s.counters().*r.field).load());
    });

    struct OrgMetric {
        const char *name, *help;
        const std::atomic<uint64_t> SessionCounters::*field;
    };
    static const OrgMetric orgMetrics[] = {
        {"sfkafka_handshakes_total", "Bayeux handshakes completed (Pub/Sub: subscribe rounds).",
         &SessionCounters::handshakes},
        {"sfkafka_pubsub_keepalive_positions_total",
         "Pub/Sub keepalives whose latest replay id a quiet channel adopted as committed.",
         &SessionCounters::keepalive_positions},
        {"sfkafka_pubsub_schema_fetches_total", "Pub/Sub GetSchema calls (schema cache misses).",
         &SessionCounters::schema_fetches},
        {"sfkafka_token_requests_total", "OAuth token requests.", &SessionCounters::token_requests},
        {"sfkafka_token_failures_total", "Failed OAuth token requests.", &SessionCounters::token_failures},
        {"sfkafka_malformed_responses_total", "Salesforce responses discarded as malformed.",
         &SessionCounters::malformed_responses},
        {"sfkafka_paced_logins_total", "Token requests that waited for their turn (pacing.logins_per_second).",
         &SessionCounters::paced_logins},
        {"sfkafka_paced_handshakes_total", "Handshakes that waited for their turn (pacing.handshakes_per_second).",
         &SessionCounters::paced_handshakes},
    };
    for (const auto &m : orgMetrics) {
        w.family(m.name, "counter", m.help);
        sup.forEachSession([&](const OrgSession &s) {
            w.sample(m.name, orgLabel(s), (s.counters().*m.field).load());
        });
    }

    w.family("sfkafka_paced_wait_seconds_total", "counter", "Time spent waiting for pacing turns.");
    sup.forEachSession([&](const OrgSession &s) {
        w.sample("sfkafka_paced_wait_seconds_total", orgLabel(s),
                 static_cast<double>(s.counters().paced_wait_ms.load()) / 1000.0);
    });
    w.family("sfkafka_delivered_events_24h", "gauge",
             "Events Salesforce delivered to the org's client in the rolling last 24 hours (its allocation's count).");
    sup.forEachSession([&](const OrgSession &s) { w.sample("sfkafka_delivered_events_24h", orgLabel(s), s.deliveredLast24h()); });
    w.family("sfkafka_delivery_allocation", "gauge", "The org's configured daily delivery allocation (allocation.daily_events).");
    sup.forEachSession([&](const OrgSession &s) {
        if (s.org().daily_event_allocation > 0)
            w.sample("sfkafka_delivery_allocation", orgLabel(s), s.org().daily_event_allocation);
    });

    w.family("sfkafka_delivery_lag_seconds", "histogram",
             "Time from the event's creation at Salesforce to its acknowledgement by Kafka.");
    sup.forEachSession([&](const OrgSession &s) {
        const auto &h = s.lag();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < LagHistogram::kBoundsMs.size(); ++i) {
            cumulative += h.bucket(i);
            char le[32];
            std::snprintf(le, sizeof le, "%g", static_cast<double>(LagHistogram::kBoundsMs[i]) / 1000.0);
            w.sample("sfkafka_delivery_lag_seconds_bucket", orgLabel(s) + "," + label("le", le), cumulative);
        }
        cumulative += h.bucket(LagHistogram::kBoundsMs.size());
        // count read last would race with buckets; report the bucket total as the count.
        w.sample("sfkafka_delivery_lag_seconds_bucket", orgLabel(s) + "," + label("le", "+Inf"), cumulative);
        w.sample("sfkafka_delivery_lag_seconds_sum", orgLabel(s), static_cast<double>(h.sumMs()) / 1000.0);
        w.sample("sfkafka_delivery_lag_seconds_count", orgLabel(s), cumulative);
    });

    const auto &sink = sup.sink();
    auto stats = sink.stats();
    w.family("sfkafka_kafka_queue_depth", "gauge", "Records queued or in flight inside the Kafka producer.");
    w.sample("sfkafka_kafka_queue_depth", "", sink.queueDepth());
    w.family("sfkafka_kafka_brokers_up", "gauge", "1 while a Kafka broker is reachable.");
    w.sample("sfkafka_kafka_brokers_up", "", int64_t{sink.brokersUp() ? 1 : 0});
    w.family("sfkafka_kafka_producer_restarts_total", "counter",
             "Kafka producers recreated after a fatal error.");
    w.sample("sfkafka_kafka_producer_restarts_total", "", stats.producer_restarts);

    const auto &control = sup.control();
    w.family("sfkafka_gaps_total", "counter",
             "Gaps: events knowingly not delivered to their topic, by reason (each also a control-topic record).");
    for (const auto &[key, count] : control.counts()) {
        const auto &[org, channel, reason] = key;
        w.sample("sfkafka_gaps_total",
                 label("org", org) + "," + label("channel", channel) + "," + label("reason", reason), count);
    }
    w.family("sfkafka_control_records_pending", "gauge",
             "Gap records not yet acknowledged by Kafka on the control topic.");
    w.sample("sfkafka_control_records_pending", "", control.pending());

    w.family("sfkafka_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
    w.sample("sfkafka_reloads_total", label("result", "success"), sup.reloadSuccesses());
    w.sample("sfkafka_reloads_total", label("result", "failure"), sup.reloadFailures());
    w.family("sfkafka_retired_sessions", "gauge",
             "Sessions stopped by a reload whose last delivery reports are still due.");
    w.sample("sfkafka_retired_sessions", "", static_cast<int64_t>(sup.retiredSessions()));
    return w.take();
}

} // namespace sfk::metrics
