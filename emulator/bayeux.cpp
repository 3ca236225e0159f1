// Bayeux long polling at /cometd/<version>: handshake, connect, subscribe,
// unsubscribe, disconnect, as Salesforce answers them.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <thread>

#include "emulator.h"
#include "log/log.h"
#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kModule = "sfemu";
constexpr size_t kMaxRequestBytes = 32 * 1024;
constexpr const char *kAdviceHandshake = "{\"reconnect\":\"handshake\",\"interval\":0}";
constexpr const char *kAdviceNone = "{\"reconnect\":\"none\",\"interval\":0}";

std::string idPart(const simdjson::dom::object &msg)
{
    simdjson::dom::element id;
    if (msg["id"].get(id) != simdjson::SUCCESS)
        return {};
    return ",\"id\":" + simdjson::minify(id);
}

std::string stringField(const simdjson::dom::object &msg, const char *key)
{
    std::string_view v;
    if (msg[key].get_string().get(v) != simdjson::SUCCESS)
        return {};
    return std::string(v);
}

std::string failure(const std::string &channel, const simdjson::dom::object &msg,
                    const std::string &error, const char *advice = nullptr,
                    const std::string &extra = {})
{
    std::string out = "{\"channel\":" + jsonString(channel);
    std::string client = stringField(msg, "clientId");
    if (!client.empty())
        out += ",\"clientId\":" + jsonString(client);
    out += idPart(msg);
    out += extra;
    out += ",\"successful\":false,\"error\":" + jsonString(error);
    if (advice)
        out += std::string(",\"advice\":") + advice;
    return out + "}";
}

std::string unknownClient(const std::string &channel, const simdjson::dom::object &msg,
                          const std::string &extra = {})
{
    return failure(channel, msg, "403::Unknown client", kAdviceHandshake, extra);
}

std::string authInvalid(const std::string &channel, const simdjson::dom::object &msg,
                        const std::string &extra = {})
{
    return failure(channel, msg, "401::Authentication invalid", kAdviceNone, extra);
}

std::string cookieValue(const std::string &header, const std::string &name)
{
    size_t pos = 0;
    while (pos < header.size()) {
        size_t end = header.find(';', pos);
        if (end == std::string::npos)
            end = header.size();
        std::string_view part(header.data() + pos, end - pos);
        while (!part.empty() && part.front() == ' ')
            part.remove_prefix(1);
        size_t eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == name)
            return std::string(part.substr(eq + 1));
        pos = end + 1;
    }
    return {};
}

HttpResult plain(int status, std::string body, const char *type = "application/json;charset=UTF-8")
{
    HttpResult r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = type;
    return r;
}

std::optional<FaultMatch> matchOf(std::string_view channel)
{
    if (channel == "/meta/handshake") return FaultMatch::Handshake;
    if (channel == "/meta/connect") return FaultMatch::Connect;
    if (channel == "/meta/subscribe") return FaultMatch::Subscribe;
    if (channel == "/meta/unsubscribe") return FaultMatch::Unsubscribe;
    if (channel == "/meta/disconnect") return FaultMatch::Disconnect;
    return std::nullopt;
}

// The subscription field as a list of channel names; false when it is
// neither a string nor an array of strings.
bool subscriptionList(const simdjson::dom::element &el, std::vector<std::string> &out)
{
    std::string_view s;
    if (el.get_string().get(s) == simdjson::SUCCESS) {
        out.emplace_back(s);
        return true;
    }
    simdjson::dom::array arr;
    if (el.get_array().get(arr) != simdjson::SUCCESS)
        return false;
    for (auto item : arr) {
        if (item.get_string().get(s) != simdjson::SUCCESS)
            return false;
        out.emplace_back(s);
    }
    return !out.empty();
}

} // namespace

struct Emulator::Request {
    std::vector<simdjson::dom::object> messages;
    std::optional<TokenInfo> token;
    Org *org = nullptr;
    std::string browser;
    std::string stream;
    std::optional<Fault> forced; // UnknownClient, AuthInvalid, or one acted on by a handler
    std::string reply_events;    // events sent with non-connect replies (EventsOnReply)
    HttpResult *result = nullptr;
};

std::shared_ptr<Client> Emulator::findClient(Org &org, const std::string &client_id,
                                             const std::string &browser, const std::string &stream)
{
    auto it = org.clients.find(client_id);
    if (it == org.clients.end())
        return nullptr;
    auto client = it->second;
    if (client->connecting == 0 &&
        steadyMs() - client->last_seen_steady_ms > org.config.knobs.client_timeout_ms) {
        endClient(org, client, "expired");
        return nullptr;
    }
    if (client->browser_cookie != browser || client->stream_cookie != stream)
        return nullptr;
    return client;
}

void Emulator::endClient(Org &org, std::shared_ptr<Client> client, const std::string &why)
{
    client->gone = true;
    client->state = why;
    client->ended_ms = nowMs();
    org.clients.erase(client->id); // `client` is our own copy: still valid
    org.allocations.closeClient(client->id, client->ended_ms);
    org.ended.push_back(client);
    if (org.ended.size() > 1000)
        org.ended.erase(org.ended.begin());
    org.changed.notify_all();
}

bool Emulator::hasEventsFor(Org &org, const Client &client)
{
    for (auto &s : client.subscriptions) {
        if (!s.active)
            continue;
        auto it = org.channels.find(s.channel);
        if (it != org.channels.end() && it->second->hasAfter(s.cursor))
            return true;
    }
    return false;
}

size_t Emulator::collectFor(Org &org, Client &client, std::string &body)
{
    size_t max = static_cast<size_t>(org.config.knobs.max_events_per_response);
    // Never deliver past the org's allocation (see allocations.h).
    int64_t allowed = org.allocations.remaining(nowMs());
    if (allowed < int64_t(max))
        max = static_cast<size_t>(std::max<int64_t>(0, allowed));
    size_t total = 0;
    size_t n = client.subscriptions.size();
    if (n == 0)
        return 0;
    int64_t now = nowMs();
    thread_local std::vector<EventPtr> batch;
    // Fair across channels: start with a different subscription each time.
    size_t start = client.rotation++ % n;
    for (size_t k = 0; k < n && total < max; ++k) {
        Subscription &s = client.subscriptions[(start + k) % n];
        if (!s.active)
            continue;
        auto it = org.channels.find(s.channel);
        if (it == org.channels.end())
            continue;
        it->second->expire(now);
        batch.clear();
        it->second->collectAfter(s.cursor, max - total, batch);
        if (batch.empty())
            continue;
        size_t bytes = 0;
        for (auto &e : batch)
            bytes += e->json.size() + 1;
        body.reserve(body.size() + bytes + 512);
        for (auto &e : batch) {
            body += e->json;
            body += ',';
            s.sent.push_back(e->replay_id);
        }
        s.cursor = batch.back()->replay_id;
        total += batch.size();
    }
    batch.clear();
    client.events_sent += total;
    org.allocations.recordDelivered(client.id, Transport::CometD, int64_t(total), now);
    return total;
}

std::string Emulator::handshake(Request &rq, size_t index, bool force_denied)
{
    const auto &msg = rq.messages[index];
    Org *org = rq.org;
    if (!rq.token || force_denied) {
        return "{\"channel\":\"/meta/handshake\"" + idPart(msg) +
               ",\"successful\":false,\"error\":\"403::Handshake denied\","
               "\"ext\":{\"sfdc\":{\"failureReason\":\"401::Authentication invalid\"}},"
               "\"advice\":{\"reconnect\":\"none\"}}";
    }
    simdjson::dom::array types;
    if (msg["supportedConnectionTypes"].get_array().get(types) == simdjson::SUCCESS) {
        bool long_polling = false;
        for (auto t : types) {
            std::string_view s;
            long_polling = long_polling ||
                           (t.get_string().get(s) == simdjson::SUCCESS && s == "long-polling");
        }
        if (!long_polling)
            return failure("/meta/handshake", msg, "403::Unsupported connection types",
                           "{\"reconnect\":\"none\"}",
                           ",\"supportedConnectionTypes\":[\"long-polling\"]");
    }
    auto client = std::make_shared<Client>();
    client->id = randomLowerAlnum(25);
    client->browser_cookie = rq.browser.empty() ? randomLowerAlnum(26) : rq.browser;
    client->stream_cookie = rq.stream.empty() ? "!" + randomAlnum(40) : rq.stream;
    client->username = rq.token->username;
    client->created_ms = nowMs();
    client->last_seen_steady_ms = steadyMs();
    int64_t hold;
    {
        std::lock_guard lock(org->mutex);
        if (!org->allocations.openClient(client->id, Transport::CometD, client->created_ms)) {
            log::warn(kModule, "handshake refused: concurrent client limit",
                      {{"org", org->config.name}, {"username", client->username}});
            return "{\"channel\":\"/meta/handshake\"" + idPart(msg) +
                   ",\"successful\":false,\"error\":\"403::Handshake denied\",\"ext\":{\"sfdc\":{"
                   "\"failureReason\":" + jsonString(kConcurrentLimitCometdReason) +
                   "}},\"advice\":{\"reconnect\":\"none\"}}";
        }
        org->clients[client->id] = client;
        hold = org->config.knobs.connect_hold_ms;
    }
    rq.result->headers.emplace_back("Set-Cookie",
                                    "BAYEUX_BROWSER=" + client->browser_cookie + "; Path=/; HttpOnly");
    rq.result->headers.emplace_back("Set-Cookie", "sfdc-stream=" + client->stream_cookie + "; Path=/");
    log::info(kModule, "handshake", {{"org", org->config.name}, {"client", client->id},
                                     {"username", client->username}});
    return "{\"channel\":\"/meta/handshake\",\"clientId\":\"" + client->id +
           "\",\"version\":\"1.0\",\"minimumVersion\":\"1.0\","
           "\"supportedConnectionTypes\":[\"long-polling\"],"
           "\"ext\":{\"replay\":true,\"payload.format\":true}" +
           idPart(msg) + ",\"successful\":true,\"advice\":{\"reconnect\":\"retry\",\"interval\":0,\"timeout\":" +
           std::to_string(hold) + "}}";
}

std::string Emulator::subscribe(Request &rq, size_t index)
{
    const auto &msg = rq.messages[index];
    const std::string channel = "/meta/subscribe";
    simdjson::dom::element sub_el;
    bool has_sub = msg["subscription"].get(sub_el) == simdjson::SUCCESS;
    std::string sub_extra = has_sub ? ",\"subscription\":" + simdjson::minify(sub_el) : "";
    if (!rq.token || (rq.forced && rq.forced->kind == FaultKind::AuthInvalid))
        return authInvalid(channel, msg, sub_extra);
    Org &org = *rq.org;
    std::unique_lock lock(org.mutex);
    std::string client_id = stringField(msg, "clientId");
    if (rq.forced && rq.forced->kind == FaultKind::UnknownClient) {
        auto it = org.clients.find(client_id);
        if (it != org.clients.end())
            endClient(org, it->second, "unknown_client_fault");
        return unknownClient(channel, msg, sub_extra);
    }
    auto client = findClient(org, client_id, rq.browser, rq.stream);
    if (!client)
        return unknownClient(channel, msg, sub_extra);
    if (rq.forced && rq.forced->kind == FaultKind::SubscribeError)
        return failure(channel, msg, "503::Service Unavailable", nullptr, sub_extra);
    if (rq.forced && rq.forced->kind == FaultKind::DropReply)
        return {};   // lost on the way: neither processed nor answered
    if (!has_sub)
        return failure(channel, msg, "403::subscription_missing");
    std::vector<std::string> names;
    if (!subscriptionList(sub_el, names))
        return failure(channel, msg, "403::subscription_invalid", nullptr, sub_extra);

    simdjson::dom::object ext, replay;
    bool has_map = msg["ext"].get_object().get(ext) == simdjson::SUCCESS &&
                   ext["replay"].get_object().get(replay) == simdjson::SUCCESS;

    if (org.allocations.exhausted(nowMs())) {
        log::warn(kModule, "subscribe refused: daily delivery allocation used",
                  {{"org", org.config.name}, {"client", client->id}});
        return failure(channel, msg, kDailyLimitCometdError, nullptr, sub_extra);
    }

    std::string replies;
    int64_t now = nowMs();
    for (auto &name : names) {
        std::string one_extra = ",\"subscription\":" + jsonString(name);
        std::string reply;
        auto it = org.channels.find(name);
        if (it == org.channels.end()) {
            reply = failure(channel, msg,
                            "400::The channel you requested to subscribe to doesn't exist {" + name + "}",
                            nullptr, one_extra);
        } else {
            ChannelLog &log = *it->second;
            log.expire(now);
            int64_t from = -1;
            std::string from_text = "-1";
            bool ok = true;
            if (has_map) {
                simdjson::dom::element v;
                if (replay[name].get(v) != simdjson::SUCCESS) {
                    std::string map_text;
                    for (auto field : replay) {
                        if (!map_text.empty())
                            map_text += ", ";
                        std::string value = simdjson::minify(field.value);
                        if (value.size() >= 2 && value.front() == '"')
                            value = value.substr(1, value.size() - 2);
                        map_text += std::string(field.key) + "=" + value;
                    }
                    reply = failure(channel, msg,
                                    "400::The replayId for channel {" + name +
                                        "} wasn't found using the provided replay ID map {{" +
                                        map_text +
                                        "}}. Ensure that the channel name you provided in the "
                                        "replay map is valid and matches the channel name used "
                                        "for subscribing.",
                                    nullptr, one_extra);
                    ok = false;
                } else {
                    int64_t n = 0;
                    std::string_view s;
                    bool numeric = v.get_int64().get(n) == simdjson::SUCCESS;
                    if (!numeric && v.get_string().get(s) == simdjson::SUCCESS) {
                        char *end = nullptr;
                        std::string str(s);
                        n = std::strtoll(str.c_str(), &end, 10);
                        numeric = !str.empty() && end && *end == '\0';
                    }
                    from_text = numeric ? std::to_string(n) : simdjson::minify(v);
                    if (!numeric || (n != -1 && n != -2 && !log.retains(n))) {
                        reply = failure(channel, msg,
                                        "400::The replayId {" + from_text +
                                            "} you provided was invalid.  Please provide a valid "
                                            "ID, -2 to replay all events, or -1 to replay only new "
                                            "events.",
                                        nullptr, one_extra);
                        ok = false;
                    } else {
                        from = n;
                    }
                }
            }
            if (ok) {
                for (auto &s : client->subscriptions)
                    if (s.channel == name)
                        s.active = false;
                Subscription s;
                s.channel = name;
                s.replay_from = from_text;
                s.cursor = from == -2   ? std::numeric_limits<int64_t>::min()
                           : from == -1 ? log.lastReplayId()
                                        : from;
                client->subscriptions.push_back(std::move(s));
                reply = "{\"channel\":\"/meta/subscribe\",\"clientId\":" + jsonString(client->id) +
                        one_extra + idPart(msg) + ",\"successful\":true}";
                log::info(kModule, "subscribe", {{"org", org.config.name}, {"client", client->id},
                                                 {"channel", name}, {"replay_from", from_text}});
            } else {
                log::info(kModule, "subscribe refused", {{"org", org.config.name}, {"client", client->id},
                                                         {"channel", name}});
            }
        }
        if (!replies.empty())
            replies += ',';
        replies += reply;
    }
    // CometD lets a server deliver messages on any reply: on request, the
    // events now pending for the client come with this one.
    if (rq.forced && rq.forced->kind == FaultKind::EventsOnReply)
        collectFor(org, *client, rq.reply_events);
    org.changed.notify_all();
    return replies;
}

std::string Emulator::unsubscribe(Request &rq, size_t index)
{
    const auto &msg = rq.messages[index];
    const std::string channel = "/meta/unsubscribe";
    simdjson::dom::element sub_el;
    bool has_sub = msg["subscription"].get(sub_el) == simdjson::SUCCESS;
    std::string sub_extra = has_sub ? ",\"subscription\":" + simdjson::minify(sub_el) : "";
    if (!rq.token || (rq.forced && rq.forced->kind == FaultKind::AuthInvalid))
        return authInvalid(channel, msg, sub_extra);
    Org &org = *rq.org;
    std::lock_guard lock(org.mutex);
    std::string client_id = stringField(msg, "clientId");
    auto client = findClient(org, client_id, rq.browser, rq.stream);
    if (!client || (rq.forced && rq.forced->kind == FaultKind::UnknownClient)) {
        if (client)
            endClient(org, client, "unknown_client_fault");
        return unknownClient(channel, msg, sub_extra);
    }
    if (!has_sub)
        return failure(channel, msg, "403::subscription_missing");
    std::vector<std::string> names;
    if (!subscriptionList(sub_el, names))
        return failure(channel, msg, "403::subscription_invalid", nullptr, sub_extra);
    for (auto &name : names)
        for (auto &s : client->subscriptions)
            if (s.channel == name)
                s.active = false;
    return "{\"channel\":\"/meta/unsubscribe\",\"clientId\":" + jsonString(client->id) + sub_extra +
           idPart(msg) + ",\"successful\":true}";
}

std::string Emulator::disconnect(Request &rq, size_t index)
{
    const auto &msg = rq.messages[index];
    const std::string channel = "/meta/disconnect";
    if (!rq.token || (rq.forced && rq.forced->kind == FaultKind::AuthInvalid))
        return authInvalid(channel, msg);
    Org &org = *rq.org;
    std::lock_guard lock(org.mutex);
    auto client = findClient(org, stringField(msg, "clientId"), rq.browser, rq.stream);
    if (!client || (rq.forced && rq.forced->kind == FaultKind::UnknownClient)) {
        if (client)
            endClient(org, client, "unknown_client_fault");
        return unknownClient(channel, msg);
    }
    endClient(org, client, "disconnected");
    log::info(kModule, "disconnect", {{"org", org.config.name}, {"client", client->id}});
    return "{\"channel\":\"/meta/disconnect\",\"clientId\":" + jsonString(client->id) +
           idPart(msg) + ",\"successful\":true}";
}

std::string Emulator::connect(Request &rq, size_t index, std::string &body)
{
    const auto &msg = rq.messages[index];
    const std::string channel = "/meta/connect";
    if (!rq.token || (rq.forced && rq.forced->kind == FaultKind::AuthInvalid))
        return authInvalid(channel, msg);
    Org &org = *rq.org;
    std::unique_lock lock(org.mutex);
    std::string client_id = stringField(msg, "clientId");
    auto client = findClient(org, client_id, rq.browser, rq.stream);
    if (!client || (rq.forced && rq.forced->kind == FaultKind::UnknownClient)) {
        if (client)
            endClient(org, client, "unknown_client_fault");
        return unknownClient(channel, msg);
    }
    if (rq.forced && rq.forced->kind == FaultKind::ServerDisconnect) {
        // The server ends the client on its own (CometD's server-side disconnect).
        endClient(org, client, "disconnected_by_server");
        return "{\"channel\":\"/meta/disconnect\",\"clientId\":" + jsonString(client->id) +
               ",\"successful\":true}";
    }
    if (rq.forced && rq.forced->kind == FaultKind::Rewind) {
        // A redelivery: ids go back below what this subscription was sent.
        for (auto &s : client->subscriptions)
            if (s.active && s.sent.size() >= 2)
                s.cursor = s.sent[s.sent.size() / 2 - 1];
    }
    int64_t hold = org.config.knobs.connect_hold_ms;
    auto overAllocation = [&] {
        if (!org.allocations.exhausted(nowMs()))
            return false;
        log::warn(kModule, "connect refused: daily delivery allocation used",
                  {{"org", org.config.name}, {"client", client->id}});
        client->last_seen_steady_ms = steadyMs();
        return true;
    };
    if (overAllocation())
        return failure(channel, msg, kDailyLimitCometdError);
    uint64_t generation = ++client->connect_generation;
    ++client->connecting;
    ++client->connects;
    org.changed.notify_all(); // an older held connect of this client returns now
    if (client->connected_once && !hasEventsFor(org, *client)) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(hold);
        org.changed.wait_until(lock, deadline, [&] {
            return stopping_ || client->gone || client->connect_generation != generation ||
                   hasEventsFor(org, *client) || org.allocations.exhausted(nowMs());
        });
    }
    client->connected_once = true;
    --client->connecting;
    client->last_seen_steady_ms = steadyMs();
    if (client->gone)
        return unknownClient(channel, msg);
    if (overAllocation())
        return failure(channel, msg, kDailyLimitCometdError);
    collectFor(org, *client, body);
    return "{\"channel\":\"/meta/connect\",\"clientId\":" + jsonString(client->id) + idPart(msg) +
           ",\"successful\":true,\"advice\":{\"reconnect\":\"retry\",\"interval\":0,\"timeout\":" +
           std::to_string(hold) + "}}";
}

HttpResult Emulator::bayeux(const std::string &version, const std::string &body,
                            const std::string &authorization, const std::string &cookie_header)
{
    char *end = nullptr;
    double v = std::strtod(version.c_str(), &end);
    if (version.empty() || !end || *end != '\0')
        return plain(404, "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"The requested resource does not exist\"}]");
    // Streaming API 23.0-36.0 are retired: Salesforce routes them to the
    // latest version (with replay) instead of refusing them. Below 23.0
    // there never was a Streaming API.
    if (v < 23.0)
        return plain(400, "[{\"errorCode\":\"UNSUPPORTED_API_VERSION\",\"message\":\"The Streaming API "
                          "starts at API version 23.0\"}]");
    if (body.size() > kMaxRequestBytes)
        return plain(413, "");

    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    static const std::string kBadRequest =
        "[{\"successful\":false,\"error\":\"400::Bad request: the body must be a JSON array of "
        "Bayeux messages\"}]";
    if (parser.parse(body).get(root) != simdjson::SUCCESS)
        return plain(400, kBadRequest);

    HttpResult result;
    Request rq;
    rq.result = &result;
    simdjson::dom::array arr;
    simdjson::dom::object one;
    if (root.get_array().get(arr) == simdjson::SUCCESS) {
        for (auto el : arr) {
            if (el.get_object().get(one) != simdjson::SUCCESS)
                return plain(400, kBadRequest);
            rq.messages.push_back(one);
        }
    } else if (root.get_object().get(one) == simdjson::SUCCESS) {
        rq.messages.push_back(one);
    }
    if (rq.messages.empty())
        return plain(400, kBadRequest);

    rq.token = validToken(authorization);
    rq.org = rq.token ? rq.token->org : nullptr;
    rq.browser = cookieValue(cookie_header, "BAYEUX_BROWSER");
    rq.stream = cookieValue(cookie_header, "sfdc-stream");

    std::optional<Fault> fault;
    if (rq.org) {
        std::vector<FaultMatch> kinds;
        for (auto &m : rq.messages)
            if (auto k = matchOf(stringField(m, "channel")))
                kinds.push_back(*k);
        std::lock_guard lock(rq.org->mutex);
        fault = rq.org->faults.take(kinds);
    }
    if (fault) {
        log::info(kModule, "fault injected", {{"org", rq.org->config.name},
                                              {"fault", faultKindName(fault->kind)}});
        switch (fault->kind) {
        case FaultKind::Http500:
            return plain(500, "[{\"message\":\"An unexpected error occurred. Please include this "
                              "ErrorId if you contact support: 0000000000-00000 (0000000000)\","
                              "\"errorCode\":\"UNKNOWN_EXCEPTION\"}]");
        case FaultKind::Http503:
            return plain(503, "<html><body>Service Unavailable</body></html>", "text/html");
        case FaultKind::Delay:
            for (int64_t waited = 0; waited < fault->delay_ms && !stopping_; waited += 10)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            break;
        case FaultKind::UnknownClient:
        case FaultKind::AuthInvalid:
        case FaultKind::EventsOnReply:
        case FaultKind::Rewind:
        case FaultKind::ServerDisconnect:
        case FaultKind::SubscribeError:
        case FaultKind::DropReply:
            rq.forced = fault;
            break;
        default:
            break;
        }
    }

    std::vector<std::string> replies(rq.messages.size());
    std::vector<size_t> connects;
    for (size_t i = 0; i < rq.messages.size(); ++i) {
        std::string ch = stringField(rq.messages[i], "channel");
        if (ch.empty()) {
            replies[i] = failure("", rq.messages[i], "400::channel_missing");
            if (replies[i].rfind("{\"channel\":\"\",", 0) == 0)
                replies[i] = "{" + replies[i].substr(14);
        } else if (ch == "/meta/handshake") {
            replies[i] = handshake(rq, i, rq.forced && (rq.forced->kind == FaultKind::AuthInvalid ||
                                                        rq.forced->kind == FaultKind::UnknownClient));
        } else if (ch == "/meta/connect") {
            connects.push_back(i);
        } else if (ch == "/meta/subscribe") {
            replies[i] = subscribe(rq, i);
        } else if (ch == "/meta/unsubscribe") {
            replies[i] = unsubscribe(rq, i);
        } else if (ch == "/meta/disconnect") {
            replies[i] = disconnect(rq, i);
        } else if (ch.rfind("/meta/", 0) == 0) {
            replies[i] = failure(ch, rq.messages[i], "400::Unknown meta channel");
        } else if (!rq.token) {
            replies[i] = authInvalid(ch, rq.messages[i]);
        } else {
            replies[i] = failure(ch, rq.messages[i], "403::Publish denied");
        }
    }

    std::string out = "[" + rq.reply_events;
    for (size_t i : connects)
        replies[i] = connect(rq, i, out);
    bool first = true;
    for (auto &r : replies) {
        if (r.empty())
            continue;
        if (!first)
            out += ',';
        first = false;
        out += r;
    }
    if (first && !out.empty() && out.back() == ',')
        out.pop_back();
    out += ']';
    result.body = std::move(out);

    if (fault) {
        switch (fault->kind) {
        case FaultKind::Reset:
            result.shape = HttpResult::Shape::Reset;
            break;
        case FaultKind::Malformed:
            result.body.resize(result.body.size() / 2);
            break;
        case FaultKind::TrailingGarbage:
            result.body += "garbage{]";
            break;
        case FaultKind::SlowBody:
            result.shape = HttpResult::Shape::Slow;
            result.chunk_bytes = fault->chunk_bytes;
            result.interval_ms = fault->interval_ms;
            break;
        default:
            break;
        }
    }
    return result;
}

} // namespace sfk::emu
