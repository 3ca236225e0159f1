#include "metrics/status.h"

#include <chrono>
#include <map>
#include <mutex>

#include "decode/json_escape.h"
#include "log/log.h"
#include "session/supervisor.h"

namespace sfk::metrics {

namespace {

struct Problem {
    std::string level, module, message;
    int64_t at_ms = 0;
};

std::mutex g_problemsMutex;
std::map<std::string, Problem, std::less<>> g_problems;  // by org name

int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
}

void noteProblem(log::Level level, std::string_view module, std::string_view message,
                 std::initializer_list<log::Field> fields)
{
    for (const auto &f : fields) {
        if (f.key != "org")
            continue;
        std::lock_guard lock(g_problemsMutex);
        auto &p = g_problems[f.value];
        p.level = level == log::Level::Error ? "error" : "warn";
        p.module = module;
        p.message = message;
        p.at_ms = nowMs();
        return;
    }
}

class Json {
public:
    Json &key(std::string_view k)
    {
        comma();
        decode::appendJsonString(out_, k);
        out_ += ':';
        fresh_ = true;
        return *this;
    }
    Json &str(std::string_view v) { comma(); decode::appendJsonString(out_, v); return *this; }
    Json &num(int64_t v) { comma(); out_ += std::to_string(v); return *this; }
    Json &unum(uint64_t v) { comma(); out_ += std::to_string(v); return *this; }
    Json &boolean(bool v) { comma(); out_ += v ? "true" : "false"; return *this; }
    Json &null() { comma(); out_ += "null"; return *this; }
    Json &optMs(int64_t ms) { return ms > 0 ? num(ms) : null(); }
    Json &open(char c) { comma(); out_ += c; fresh_ = true; return *this; }
    Json &close(char c) { out_ += c; fresh_ = false; return *this; }
    std::string take() { return std::move(out_); }

private:
    void comma()
    {
        if (!fresh_ && !out_.empty())
            out_ += ',';
        fresh_ = false;
    }
    std::string out_;
    bool fresh_ = true;
};

// The smallest bucket bound under which `q` of the observations fall (an
// upper bound of the quantile); -1 without observations.
int64_t quantileMs(const LagHistogram &h, double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= LagHistogram::kBoundsMs.size(); ++i)
        total += h.bucket(i);
    if (total == 0)
        return -1;
    uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total) + 0.999999);
    uint64_t seen = 0;
    for (size_t i = 0; i < LagHistogram::kBoundsMs.size(); ++i) {
        seen += h.bucket(i);
        if (seen >= want)
            return LagHistogram::kBoundsMs[i];
    }
    return LagHistogram::kBoundsMs.back() + 1;  // beyond the last bound
}

} // namespace

void trackProblems() { log::setProblemObserver(&noteProblem); }

std::string renderStatus(const session::Supervisor &sup)
{
    const auto counts = sup.control().counts();
    auto gapsOf = [&](const std::string &org, const std::string &channel, bool deadLetters) {
        uint64_t n = 0;
        for (const auto &[key, count] : counts) {
            const auto &[o, c, reason] = key;
            if (o == org && c == channel && (reason == "dead_letter") == deadLetters)
                n += count;
        }
        return n;
    };

    Json j;
    j.open('{');
    j.key("time_ms").num(nowMs());
    j.key("ready").boolean(sup.ready(nullptr));
    j.key("kafka").open('{');
    j.key("brokers_up").boolean(sup.sink().brokersUp());
    j.key("queue_depth").num(sup.sink().queueDepth());
    j.key("control_topic").str(sup.control().topic());
    j.key("control_records_pending").num(sup.control().pending());
    j.close('}');
    j.key("orgs").open('[');
    sup.forEachSession([&](const session::OrgSession &s) {
        const auto &org = s.org();
        j.open('{');
        j.key("name").str(org.name);
        j.key("transport").str(config::transportName(s.transport()));
        j.key("org_id").str(s.orgId());
        j.key("state").str(session::stateName(s.state()));
        j.key("state_since_ms").optMs(s.stateSinceMs());
        j.key("transport").str("cometd");
        j.key("owner").null();  // set when high availability shares orgs between instances
        // Salesforce does not say when a token expires: it works until a 401,
        // then sfkafkad gets a new one. Its age is what can be shown.
        j.key("token_obtained_ms").optMs(s.tokenObtainedMs());
        {
            std::lock_guard lock(g_problemsMutex);
            auto it = g_problems.find(org.name);
            j.key("last_problem");
            if (it == g_problems.end()) {
                j.null();
            } else {
                j.open('{');
                j.key("level").str(it->second.level);
                j.key("module").str(it->second.module);
                j.key("message").str(it->second.message);
                j.key("at_ms").num(it->second.at_ms);
                j.close('}');
            }
        }
        j.key("delivered_24h").num(s.deliveredLast24h());
        j.key("delivery_allocation");
        org.daily_event_allocation > 0 ? j.num(org.daily_event_allocation) : j.null();
        j.key("allocation_state").str(session::allocationStateName(s.allocationState()));
        j.key("in_flight_events").num(s.inFlightEvents());
        j.key("in_flight_bytes").num(s.inFlightBytes());
        j.key("delivery_lag_p50_ms").num(quantileMs(s.lag(), 0.5));
        j.key("delivery_lag_p99_ms").num(quantileMs(s.lag(), 0.99));
        j.key("channels").open('[');
        for (size_t i = 0; i < s.channelCount(); ++i) {
            const auto &ch = org.channels[i];
            const auto &c = s.channelCounters(i);
            j.open('{');
            j.key("name").str(ch.name);
            j.key("topic").str(ch.topic);
            j.key("transport").str(config::transportName(s.transport()));
            auto committed = s.committed(i);
            j.key("committed_replay_id");
            // -2 (a resume marker, no id committed yet) shows as null, as in the
            // gauge; a Pub/Sub id as base64 text.
            if (committed && committed->isOpaque())
                j.str(replay::positionText(*committed));
            else if (committed && committed->id >= 0)
                j.num(committed->id);
            else
                j.null();
            j.key("stopped").boolean(s.channelStopped(i));
            uint64_t produced = c.produced.load(), delivered = c.delivered.load(), failed = c.failed.load();
            j.key("received").unum(c.received.load());
            j.key("produced").unum(produced);
            j.key("delivered").unum(delivered);
            j.key("failed").unum(failed);
            j.key("in_flight").num(static_cast<int64_t>(produced) - static_cast<int64_t>(delivered + failed));
            j.key("duplicates_skipped").unum(c.duplicates_skipped.load());
            j.key("last_event_ms").optMs(c.last_event_ms.load());
            j.key("gaps").unum(gapsOf(org.name, ch.name, false));
            j.key("dead_letters").unum(gapsOf(org.name, ch.name, true));
            j.close('}');
        }
        j.close(']');
        j.close('}');
    });
    j.close(']');
    j.close('}');
    std::string out = j.take();
    out += '\n';
    return out;
}

} // namespace sfk::metrics
