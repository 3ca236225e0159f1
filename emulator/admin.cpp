// The admin API (loopback only): publish, faults, the published and
// clients oracles, usage and limits.
#include <random>

#include "emulator.h"
#include "log/log.h"
#include "results.h"
#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kModule = "sfemu";

// Checks the org named by the path was found and parses the body, which
// must be one JSON object; returns the answer to send when either fails.
std::optional<HttpResult> orgAndBody(const Org *org, const std::string &org_name,
                                     simdjson::dom::parser &parser, const std::string &body,
                                     simdjson::dom::object &root)
{
    if (!org)
        return adminError(404, "unknown org " + org_name);
    if (parser.parse(body).get_object().get(root) != simdjson::SUCCESS)
        return adminError(400, "the body must be a JSON object");
    return std::nullopt;
}

} // namespace

HttpResult Emulator::adminOrgs()
{
    std::string body = "{\"orgs\":[";
    bool first = true;
    for (auto &org : orgs_) {
        if (!first)
            body += ',';
        first = false;
        body += "{\"name\":" + jsonString(org->config.name) +
                ",\"org_id\":" + jsonString(org->config.org_id) + ",\"channels\":[";
        bool cfirst = true;
        for (auto &c : org->config.channels) {
            if (!cfirst)
                body += ',';
            cfirst = false;
            body += jsonString(c);
        }
        body += "]}";
    }
    return jsonResult(200, body + "]}");
}

HttpResult Emulator::adminPublish(const std::string &org_name, const std::string &body)
{
    Org *org = findOrg(org_name);
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (auto bad = orgAndBody(org, org_name, parser, body, root))
        return *bad;
    std::string_view channel;
    if (root["channel"].get_string().get(channel) != simdjson::SUCCESS)
        return adminError(400, "\"channel\" (a string) is required");
    simdjson::dom::array events;
    simdjson::dom::object gen;
    bool has_events = root["events"].get_array().get(events) == simdjson::SUCCESS;
    bool has_gen = root["generate"].get_object().get(gen) == simdjson::SUCCESS;
    // "raw": complete Bayeux messages sent as given (an undecodable event).
    simdjson::dom::array raw;
    bool has_raw = root["raw"].get_array().get(raw) == simdjson::SUCCESS;
    if (int(has_events) + int(has_gen) + int(has_raw) != 1)
        return adminError(400, "give one of \"events\" (an array), \"generate\" (an object) or \"raw\" (an array of strings)");
    for (size_t i = 0; has_raw && i < raw.size(); ++i) {
        auto m = raw.at(i);
        std::string_view text;
        simdjson::dom::parser check;
        if (m.get_string().get(text) != simdjson::SUCCESS)
            return adminError(400, "each raw message must be a string");
        std::string probe(text);   // as it will be sent, with some replay id
        for (size_t at = probe.find("{replayId}"); at != std::string::npos; at = probe.find("{replayId}"))
            probe.replace(at, 10, "1");
        if (check.parse(probe).error())
            return adminError(400, "a raw message must be valid JSON (the response must stay valid)");
    }
    int64_t count = 0, bytes = 1024, seed = 1;
    if (has_gen) {
        if (gen["count"].get_int64().get(count) != simdjson::SUCCESS || count < 0 || count > 10000000)
            return adminError(400, "generate.count must be an integer from 0 to 10000000");
        if (gen["payload_bytes"].error() == simdjson::SUCCESS &&
            (gen["payload_bytes"].get_int64().get(bytes) != simdjson::SUCCESS || bytes < 0 ||
             bytes > 1 << 20))
            return adminError(400, "generate.payload_bytes must be an integer from 0 to 1048576");
        if (gen["seed"].error() == simdjson::SUCCESS &&
            gen["seed"].get_int64().get(seed) != simdjson::SUCCESS)
            return adminError(400, "generate.seed must be an integer");
    }

    std::vector<int64_t> ids;
    {
        std::lock_guard lock(org->mutex);
        auto it = org->channels.find(std::string(channel));
        if (it == org->channels.end())
            return adminError(404, "org " + org->config.name + " has no channel " + std::string(channel));
        ChannelLog &log = *it->second;
        int64_t now = nowMs();
        if (has_raw) {
            for (auto m : raw)
                ids.push_back(log.appendRaw(std::string(m.get_string().value_unsafe()), now));
        } else if (has_events) {
            // Validate every payload first: all or nothing.
            for (auto payload : events) {
                ChannelLog probe(log.name(), log.family(), 1000, 0, 1);
                try {
                    probe.append(payload, now);
                } catch (const PayloadError &e) {
                    return adminError(400, e.what());
                }
            }
            for (auto payload : events)
                ids.push_back(log.append(payload, now));
        } else {
            std::mt19937_64 rng(static_cast<uint64_t>(seed));
            ids.reserve(static_cast<size_t>(count));
            for (int64_t i = 0; i < count; ++i)
                ids.push_back(log.appendGenerated(static_cast<uint64_t>(i), bytes, rng, now));
        }
        org->changed.notify_all();
    }
    std::string out = "{\"channel\":" + jsonString(channel) + ",\"replay_ids\":[";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i)
            out += ',';
        out += std::to_string(ids[i]);
    }
    return jsonResult(200, out + "]}");
}

HttpResult Emulator::adminFaults(const std::string &org_name, const std::string &body)
{
    Org *org = findOrg(org_name);
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (auto bad = orgAndBody(org, org_name, parser, body, root))
        return *bad;
    std::string_view name;
    if (root["fault"].get_string().get(name) != simdjson::SUCCESS)
        return adminError(400, "\"fault\" (a string) is required");

    auto optInt = [&](const char *key, int64_t &out, int64_t min) -> bool {
        auto v = root[key];
        if (v.error() != simdjson::SUCCESS)
            return true;
        int64_t n;
        if (v.get_int64().get(n) != simdjson::SUCCESS || n < min)
            return false;
        out = n;
        return true;
    };

    if (name == "revoke_tokens") {
        int n = 0;
        std::lock_guard lock(tokens_mutex_);
        for (auto &[t, info] : tokens_)
            if (info.org == org && !info.revoked) {
                info.revoked = true;
                ++n;
            }
        log::info(kModule, "admin revoked tokens", {{"org", org->config.name}, {"count", std::to_string(n)}});
        return jsonResult(200, "{\"done\":\"revoke_tokens\",\"count\":" + std::to_string(n) + "}");
    }
    if (name == "expire_clients") {
        std::lock_guard lock(org->mutex);
        size_t n = org->clients.size();
        while (!org->clients.empty())
            endClient(*org, org->clients.begin()->second, "expired_by_admin");
        org->changed.notify_all();
        return jsonResult(200, "{\"done\":\"expire_clients\",\"count\":" + std::to_string(n) + "}");
    }
    if (name == "purge") {
        std::string_view channel;
        int64_t up_to = 0;
        if (root["channel"].get_string().get(channel) != simdjson::SUCCESS)
            return adminError(400, "purge needs \"channel\"");
        if (root["replay_id"].get_int64().get(up_to) != simdjson::SUCCESS)
            return adminError(400, "purge needs \"replay_id\" (an integer)");
        std::lock_guard lock(org->mutex);
        auto it = org->channels.find(std::string(channel));
        if (it == org->channels.end())
            return adminError(404, "org " + org->config.name + " has no channel " + std::string(channel));
        size_t before = it->second->retainedCount();
        it->second->purgeUpTo(up_to);
        return jsonResult(200, "{\"done\":\"purge\",\"count\":" +
                             std::to_string(before - it->second->retainedCount()) + "}");
    }
    if (name == "clock_skew") {
        // Ten years either way is plenty and keeps the milliseconds far from overflow.
        constexpr int64_t kMaxSkewSeconds = 10LL * 365 * 24 * 3600;
        int64_t seconds = 0;
        if (root["seconds"].get_int64().get(seconds) != simdjson::SUCCESS ||
            seconds < -kMaxSkewSeconds || seconds > kMaxSkewSeconds)
            return adminError(400, "clock_skew needs \"seconds\" (an integer, at most ten years either way)");
        org->clock_skew_ms.store(seconds * 1000);
        log::info(kModule, "clock skew set", {{"org", org->config.name}, {"seconds", std::to_string(seconds)}});
        return jsonResult(200, "{\"done\":\"clock_skew\",\"seconds\":" + std::to_string(seconds) + "}");
    }
    if (name == "clear") {
        std::lock_guard lock(org->mutex);
        org->faults.clear();
        org->clock_skew_ms.store(0);
        return jsonResult(200, "{\"done\":\"clear\"}");
    }

    auto kind = parseFaultKind(name);
    if (!kind)
        return adminError(400, "unknown fault " + std::string(name) +
                                   " (http_500, http_503, unknown_client, auth_invalid, reset, "
                                   "malformed_json, trailing_garbage, slow_body, delay, "
                                   "revoke_tokens, expire_clients, purge, clock_skew, clear)");
    Fault f;
    f.kind = *kind;
    std::string_view match = "any";
    if (root["match"].error() == simdjson::SUCCESS &&
        root["match"].get_string().get(match) != simdjson::SUCCESS)
        return adminError(400, "\"match\" must be a string");
    auto m = parseFaultMatch(match);
    if (!m)
        return adminError(400, "unknown match " + std::string(match) +
                                   " (handshake, connect, subscribe, unsubscribe, disconnect, token, any)");
    f.match = *m;
    if (!optInt("count", f.remaining, 1) || !optInt("delay_ms", f.delay_ms, 0) ||
        !optInt("chunk_bytes", f.chunk_bytes, 1) || !optInt("interval_ms", f.interval_ms, 0))
        return adminError(400, "count, delay_ms, chunk_bytes and interval_ms must be non-negative integers (count, chunk_bytes >= 1)");
    {
        std::lock_guard lock(org->mutex);
        org->faults.arm(f);
    }
    log::info(kModule, "fault armed", {{"org", org->config.name}, {"fault", faultKindName(f.kind)},
                                        {"match", faultMatchName(f.match)}, {"count", std::to_string(f.remaining)}});
    return adminListFaults(org_name);
}

HttpResult Emulator::adminListFaults(const std::string &org_name)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    std::lock_guard lock(org->mutex);
    std::string out = "{\"armed\":[";
    bool first = true;
    for (auto &f : org->faults.armed()) {
        if (!first)
            out += ',';
        first = false;
        out += "{\"fault\":\"" + std::string(faultKindName(f.kind)) + "\",\"match\":\"" +
               faultMatchName(f.match) + "\",\"count\":" + std::to_string(f.remaining) + "}";
    }
    return jsonResult(200, out + "],\"clock_skew_seconds\":" +
                         std::to_string(org->clock_skew_ms.load() / 1000) + "}");
}

HttpResult Emulator::adminPublished(const std::string &org_name, const std::string &channel)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    std::lock_guard lock(org->mutex);
    if (!channel.empty() && !org->channels.count(channel))
        return adminError(404, "org " + org->config.name + " has no channel " + channel);
    std::string out = "{\"events\":[";
    bool first = true;
    for (auto &[name, log] : org->channels) {
        if (!channel.empty() && name != channel)
            continue;
        std::string quoted = jsonString(name);
        for (auto &p : log->published()) {
            if (!first)
                out += ',';
            first = false;
            out += "{\"channel\":" + quoted + ",\"replay_id\":" + std::to_string(p.replay_id) +
                   ",\"event_uuid\":\"" + p.uuid + "\",\"time_ms\":" + std::to_string(p.time_ms) + "}";
        }
    }
    return jsonResult(200, out + "]}");
}

HttpResult Emulator::adminClients(const std::string &org_name)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    sweep();
    std::lock_guard lock(org->mutex);
    std::string out = "{\"clients\":[";
    bool first = true;
    auto emit = [&](const Client &c) {
        if (!first)
            out += ',';
        first = false;
        out += "{\"client_id\":" + jsonString(c.id) + ",\"username\":" + jsonString(c.username) +
               ",\"state\":" + jsonString(c.state) + ",\"created_ms\":" + std::to_string(c.created_ms) +
               ",\"ended_ms\":" + std::to_string(c.ended_ms) +
               ",\"connects\":" + std::to_string(c.connects) +
               ",\"events_sent\":" + std::to_string(c.events_sent) + ",\"subscriptions\":[";
        bool sfirst = true;
        for (auto &s : c.subscriptions) {
            if (!sfirst)
                out += ',';
            sfirst = false;
            out += "{\"channel\":" + jsonString(s.channel) + ",\"replay_from\":" +
                   jsonString(s.replay_from) + ",\"active\":" + (s.active ? "true" : "false") +
                   ",\"sent\":[";
            for (size_t i = 0; i < s.sent.size(); ++i) {
                if (i)
                    out += ',';
                out += std::to_string(s.sent[i]);
            }
            out += "]}";
        }
        out += "]}";
    };
    for (auto &c : org->ended)
        emit(*c);
    for (auto &[id, c] : org->clients)
        emit(*c);
    return jsonResult(200, out + "]}");
}

HttpResult Emulator::adminUsage(const std::string &org_name)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    return jsonResult(200, org->allocations.usageJson(nowMs()));
}

HttpResult Emulator::adminLimits(const std::string &org_name, const std::string &body)
{
    Org *org = findOrg(org_name);
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (auto bad = orgAndBody(org, org_name, parser, body, root))
        return *bad;
    AllocationLimits limits = org->allocations.limits();
    bool reset = false;
    for (auto field : root) {
        std::string_view key = field.key;
        if (key == "reset_usage") {
            if (field.value.get_bool().get(reset) != simdjson::SUCCESS)
                return adminError(400, "reset_usage must be true or false");
            continue;
        }
        int64_t n = 0;
        int64_t min = key == "window_seconds" ? 1 : 0;
        int64_t *target = key == "daily_delivered_events" ? &limits.daily_delivered_events
                          : key == "concurrent_clients"   ? &limits.concurrent_clients
                          : key == "window_seconds"       ? &limits.window_seconds
                                                          : nullptr;
        if (!target)
            return adminError(400, "unknown key " + std::string(key) +
                                       " (daily_delivered_events, concurrent_clients, "
                                       "window_seconds, reset_usage)");
        if (field.value.get_int64().get(n) != simdjson::SUCCESS || n < min)
            return adminError(400, std::string(key) + " must be an integer of at least " +
                                       std::to_string(min) + " (0: unlimited)");
        *target = n;
    }
    org->allocations.setLimits(limits);
    if (reset)
        org->allocations.resetUsage();
    log::info(kModule, "limits set",
              {{"org", org->config.name},
               {"daily_delivered_events", std::to_string(limits.daily_delivered_events)},
               {"concurrent_clients", std::to_string(limits.concurrent_clients)},
               {"window_seconds", std::to_string(limits.window_seconds)}});
    {
        // A held connect re-checks the allocation when it wakes.
        std::lock_guard lock(org->mutex);
        org->changed.notify_all();
    }
    return adminUsage(org_name);
}

} // namespace sfk::emu
