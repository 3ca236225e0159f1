#include "emulator.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <thread>

#include "log/log.h"
#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kModule = "sfemu";

HttpResult json(int status, std::string body)
{
    HttpResult r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResult oauthError(const char *error, const char *description, int status = 400)
{
    return json(status, std::string("{\"error\":\"") + error + "\",\"error_description\":\"" +
                            description + "\"}");
}

HttpResult adminError(int status, const std::string &message)
{
    return json(status, "{\"error\":" + jsonString(message) + "}");
}

HttpResult invalidSession()
{
    return json(401, "[{\"message\":\"Session expired or invalid\",\"errorCode\":\"INVALID_SESSION_ID\"}]");
}

std::map<std::string, std::string> parseForm(const std::string &body)
{
    std::map<std::string, std::string> out;
    size_t pos = 0;
    while (pos <= body.size()) {
        size_t amp = body.find('&', pos);
        if (amp == std::string::npos)
            amp = body.size();
        std::string_view part(body.data() + pos, amp - pos);
        if (!part.empty()) {
            size_t eq = part.find('=');
            std::string key = formDecode(part.substr(0, eq));
            std::string value = eq == std::string_view::npos ? "" : formDecode(part.substr(eq + 1));
            out.emplace(std::move(key), std::move(value));
        }
        pos = amp + 1;
    }
    return out;
}

std::string get(const std::map<std::string, std::string> &m, const char *key)
{
    auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
}

// The public key of a PEM certificate, or the PEM itself when it already is
// a public key. Empty when it cannot be read.
std::string publicKeyPem(const std::string &pem)
{
    if (pem.find("BEGIN CERTIFICATE") == std::string::npos)
        return pem;
    std::string out;
    BIO *in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509 *cert = in ? PEM_read_bio_X509(in, nullptr, nullptr, nullptr) : nullptr;
    EVP_PKEY *key = cert ? X509_get_pubkey(cert) : nullptr;
    BIO *mem = key ? BIO_new(BIO_s_mem()) : nullptr;
    if (mem && PEM_write_bio_PUBKEY(mem, key) == 1) {
        char *data = nullptr;
        long n = BIO_get_mem_data(mem, &data);
        out.assign(data, static_cast<size_t>(n));
    }
    if (mem) BIO_free(mem);
    if (key) EVP_PKEY_free(key);
    if (cert) X509_free(cert);
    if (in) BIO_free(in);
    return out;
}

std::string bearer(const std::string &authorization)
{
    static const std::string prefixes[] = {"Bearer ", "bearer ", "OAuth "};
    for (auto &p : prefixes)
        if (authorization.rfind(p, 0) == 0)
            return authorization.substr(p.size());
    return {};
}

uint64_t channelSeed(const std::string &org_id, const std::string &channel)
{
    uint64_t h = 1469598103934665603ULL;
    for (char c : org_id + channel)
        h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h ^ static_cast<uint64_t>(std::random_device{}());
}

int64_t retentionMs(const Knobs &k, Family f)
{
    switch (f) {
    case Family::Topic: return k.retention_topic_seconds * 1000;
    case Family::Generic: return k.retention_u_seconds * 1000;
    case Family::Event: return k.retention_event_seconds * 1000;
    case Family::Data: return k.retention_data_seconds * 1000;
    }
    return 0;
}

} // namespace

Emulator::Emulator(EmulatorConfig config)
{
    for (auto &oc : config.orgs) {
        auto org = std::make_unique<Org>();
        org->config = std::move(oc);
        for (auto &name : org->config.channels) {
            auto family = channelFamily(name);
            if (!family || org->channels.count(name))
                continue;
            org->channels.emplace(
                name, std::make_unique<ChannelLog>(name, *family,
                                                   retentionMs(org->config.knobs, *family),
                                                   org->config.knobs.retention_max_events,
                                                   channelSeed(org->config.org_id, name)));
        }
        for (auto &app : org->config.apps) {
            if (app.certificate_pem.empty())
                continue;
            std::string key = publicKeyPem(app.certificate_pem);
            if (key.empty())
                log::warn(kModule, "cannot read the certificate of a connected app",
                          {{"org", org->config.name}, {"client_id", app.client_id}});
            else
                org->jwt_keys[app.client_id] = key;
        }
        orgs_.push_back(std::move(org));
    }
}

Emulator::~Emulator() { shutdown(); }

void Emulator::shutdown()
{
    stopping_ = true;
    for (auto &org : orgs_) {
        std::lock_guard lock(org->mutex);
        org->changed.notify_all();
    }
}

Org *Emulator::findOrg(const std::string &name_or_id)
{
    for (auto &org : orgs_)
        if (org->config.name == name_or_id || org->config.org_id == name_or_id ||
            org->config.org_id.substr(0, 15) == name_or_id)
            return org.get();
    return nullptr;
}

std::optional<TokenInfo> Emulator::validToken(const std::string &authorization)
{
    std::string token = bearer(authorization);
    if (token.empty())
        return std::nullopt;
    std::lock_guard lock(tokens_mutex_);
    auto it = tokens_.find(token);
    if (it == tokens_.end() || it->second.revoked || it->second.expires_ms <= nowMs())
        return std::nullopt;
    return it->second;
}

// ---------------------------------------------------------------------------
// OAuth

HttpResult Emulator::issueToken(Org &org, const UserConfig &user, const AppConfig &app,
                                const std::string &grant)
{
    std::string token = org.config.org_id + "!AQ" + randomAlnum(94);
    int64_t issued = nowMs();
    {
        std::lock_guard lock(tokens_mutex_);
        TokenInfo info;
        info.org = &org;
        info.username = user.username;
        info.user_id = user.user_id;
        info.client_id = app.client_id;
        info.expires_ms = issued + org.config.knobs.token_lifetime_seconds * 1000;
        tokens_[token] = info;
    }
    std::string id = base_url_ + "/id/" + org.config.org_id + "/" + user.user_id;
    std::string issued_at = std::to_string(issued);
    std::string body = "{\"access_token\":" + jsonString(token) +
                       ",\"instance_url\":" + jsonString(base_url_) + ",\"id\":" + jsonString(id) +
                       ",\"token_type\":\"Bearer\",\"issued_at\":\"" + issued_at +
                       "\",\"signature\":" +
                       jsonString(hmacSha256Base64(app.client_secret, id + issued_at)) + "}";
    log::info(kModule, "access token issued",
              {{"org", org.config.name}, {"grant", grant}, {"username", user.username}});
    return json(200, std::move(body));
}

HttpResult Emulator::token(const std::string &form_body)
{
    auto form = parseForm(form_body);
    std::string grant = get(form, "grant_type");
    bool jwt_grant = grant == "urn:ietf:params:oauth:grant-type:jwt-bearer";
    if (grant != "password" && grant != "refresh_token" && grant != "client_credentials" &&
        !jwt_grant)
        return oauthError("unsupported_grant_type", "grant type not supported");

    // The org is the one of the connected app named by the request.
    std::string client_id = get(form, "client_id");
    std::string assertion = get(form, "assertion");
    std::string jwt_sub, jwt_aud;
    if (jwt_grant) {
        size_t d1 = assertion.find('.');
        size_t d2 = d1 == std::string::npos ? d1 : assertion.find('.', d1 + 1);
        std::string claims;
        simdjson::dom::parser parser;
        simdjson::dom::object obj;
        std::string_view iss;
        if (d2 == std::string::npos ||
            !base64UrlDecode(std::string_view(assertion).substr(d1 + 1, d2 - d1 - 1), claims) ||
            parser.parse(claims).get_object().get(obj) != simdjson::SUCCESS ||
            obj["iss"].get_string().get(iss) != simdjson::SUCCESS)
            return oauthError("invalid_grant", "invalid assertion");
        client_id = std::string(iss);
    }

    Org *org = nullptr;
    const AppConfig *app = nullptr;
    for (auto &o : orgs_)
        for (auto &a : o->config.apps)
            if (!client_id.empty() && a.client_id == client_id) {
                org = o.get();
                app = &a;
            }

    std::optional<Fault> shape_fault;
    if (org) {
        std::optional<Fault> fault;
        {
            std::lock_guard lock(org->mutex);
            fault = org->faults.take({FaultMatch::Token});
        }
        if (fault) {
            log::info(kModule, "fault injected", {{"fault", faultKindName(fault->kind)}, {"on", "token"}});
            switch (fault->kind) {
            case FaultKind::Http500: return json(500, "[{\"message\":\"Internal Server Error\",\"errorCode\":\"UNKNOWN_EXCEPTION\"}]");
            case FaultKind::Http503: {
                HttpResult r;
                r.status = 503;
                r.content_type = "text/html";
                r.body = "<html><body>Service Unavailable</body></html>";
                return r;
            }
            case FaultKind::AuthInvalid:
            case FaultKind::UnknownClient:
                return oauthError("invalid_grant", "authentication failure");
            case FaultKind::Delay:
                for (int64_t waited = 0; waited < fault->delay_ms && !stopping_; waited += 10)
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                break;
            default:
                shape_fault = fault;
                break;
            }
        }
    }

    HttpResult r = grantToken(form, grant, org, app, assertion);
    if (shape_fault) {
        if (shape_fault->kind == FaultKind::Reset) {
            r.shape = HttpResult::Shape::Reset;
        } else if (shape_fault->kind == FaultKind::SlowBody) {
            r.shape = HttpResult::Shape::Slow;
            r.chunk_bytes = shape_fault->chunk_bytes;
            r.interval_ms = shape_fault->interval_ms;
        } else if (shape_fault->kind == FaultKind::Malformed) {
            r.body.resize(r.body.size() / 2);
        } else if (shape_fault->kind == FaultKind::TrailingGarbage) {
            r.body += "}garbage";
        }
    }
    return r;
}

HttpResult Emulator::grantToken(const std::map<std::string, std::string> &form,
                                const std::string &grant, Org *org, const AppConfig *app,
                                const std::string &assertion)
{
    bool jwt_grant = grant == "urn:ietf:params:oauth:grant-type:jwt-bearer";

    if (!app)
        return oauthError("invalid_client_id", "client identifier invalid");

    auto findUser = [&](const std::string &username) -> const UserConfig * {
        for (auto &u : org->config.users)
            if (u.username == username)
                return &u;
        return nullptr;
    };

    if (jwt_grant) {
        auto key = org->jwt_keys.find(app->client_id);
        if (key == org->jwt_keys.end())
            return oauthError("invalid_grant", "invalid assertion");
        jwt_t *jwt = nullptr;
        if (jwt_decode(&jwt, assertion.c_str(),
                       reinterpret_cast<const unsigned char *>(key->second.data()),
                       static_cast<int>(key->second.size())) != 0 ||
            !jwt) {
            if (jwt)
                jwt_free(jwt);
            return oauthError("invalid_grant", "invalid assertion");
        }
        std::unique_ptr<jwt_t, void (*)(jwt_t *)> guard(jwt, jwt_free);
        if (jwt_get_alg(jwt) != JWT_ALG_RS256)
            return oauthError("invalid_grant", "invalid assertion");
        const char *sub = jwt_get_grant(jwt, "sub");
        const char *aud = jwt_get_grant(jwt, "aud");
        std::string aud_text = aud ? aud : "";
        if (!aud) {
            if (char *all = jwt_get_grants_json(jwt, "aud")) {
                aud_text = all;
                free(all);
            }
        }
        auto audienceOk = [&](const std::string &want) {
            std::string w = want;
            while (!w.empty() && w.back() == '/')
                w.pop_back();
            std::string a = aud_text;
            while (!a.empty() && a.back() == '/')
                a.pop_back();
            return a == w || (aud == nullptr && aud_text.find("\"" + w + "\"") != std::string::npos) ||
                   (aud == nullptr && aud_text.find("\"" + w + "/\"") != std::string::npos);
        };
        std::vector<std::string> audiences = {"https://login.salesforce.com",
                                              "https://test.salesforce.com", base_url_};
        audiences.insert(audiences.end(), org->config.jwt_audiences.begin(),
                         org->config.jwt_audiences.end());
        bool aud_ok = false;
        for (auto &a : audiences)
            aud_ok = aud_ok || audienceOk(a);
        if (!aud_ok)
            return oauthError("invalid_grant", "audience is invalid");
        errno = 0;
        long exp = jwt_get_grant_int(jwt, "exp");
        if (errno == ENOENT)
            return oauthError("invalid_grant", "invalid assertion");
        // Salesforce's words for an assertion outside its validity window
        // (it says "authorization code" for JWT assertions too).
        int64_t now = nowMs() + org->clock_skew_ms.load();
        if (int64_t(exp) * 1000 <= now)
            return oauthError("invalid_grant", "expired authorization code");
        errno = 0;
        long nbf = jwt_get_grant_int(jwt, "nbf");
        if (errno != ENOENT && int64_t(nbf) * 1000 > now)
            return oauthError("invalid_grant", "expired authorization code");
        const UserConfig *user = sub ? findUser(sub) : nullptr;
        if (!user)
            return oauthError("invalid_grant", "invalid assertion");
        return issueToken(*org, *user, *app, "jwt_bearer");
    }

    if (get(form, "client_secret") != app->client_secret || app->client_secret.empty())
        return oauthError("invalid_client", "invalid client credentials");

    if (grant == "password") {
        const UserConfig *user = findUser(get(form, "username"));
        if (!user || user->password.empty() || get(form, "password") != user->password)
            return oauthError("invalid_grant", "authentication failure");
        return issueToken(*org, *user, *app, grant);
    }
    if (grant == "refresh_token") {
        std::string rt = get(form, "refresh_token");
        {
            std::lock_guard lock(tokens_mutex_);
            if (revoked_refresh_tokens_.count(rt))
                return oauthError("invalid_grant", "expired access/refresh token");
        }
        for (auto &r : org->config.refresh_tokens)
            if (!rt.empty() && r.token == rt && r.client_id == app->client_id)
                if (const UserConfig *user = findUser(r.username))
                    return issueToken(*org, *user, *app, grant);
        return oauthError("invalid_grant", "expired access/refresh token");
    }
    // client_credentials
    const UserConfig *user = app->run_as.empty() ? nullptr : findUser(app->run_as);
    if (!user)
        return oauthError("invalid_grant", "no client credentials user enabled");
    return issueToken(*org, *user, *app, grant);
}

HttpResult Emulator::revoke(const std::string &form_body)
{
    auto form = parseForm(form_body);
    std::string token = get(form, "token");
    std::lock_guard lock(tokens_mutex_);
    auto it = tokens_.find(token);
    if (it != tokens_.end()) {
        it->second.revoked = true;
        return json(200, "");
    }
    for (auto &org : orgs_)
        for (auto &r : org->config.refresh_tokens)
            if (r.token == token) {
                revoked_refresh_tokens_[token] = true;
                return json(200, "");
            }
    return oauthError("unsupported_token_type", "this token type is not supported");
}

HttpResult Emulator::userinfo(const std::string &authorization)
{
    auto info = validToken(authorization);
    if (!info) {
        HttpResult r = json(403, "Bad_OAuth_Token");
        r.content_type = "text/plain";
        return r;
    }
    return json(200, "{\"sub\":" + jsonString(base_url_ + "/id/" + info->org->config.org_id + "/" + info->user_id) +
                         ",\"user_id\":" + jsonString(info->user_id) +
                         ",\"organization_id\":" + jsonString(info->org->config.org_id) +
                         ",\"preferred_username\":" + jsonString(info->username) + "}");
}

HttpResult Emulator::restApi(const std::string &path, const std::string &authorization)
{
    if (path == "/services/data" || path == "/services/data/") {
        std::string body = "[";
        for (int v = 37; v <= 62; ++v) {
            if (v > 37)
                body += ',';
            body += "{\"label\":\"sfemu\",\"url\":\"/services/data/v" + std::to_string(v) +
                    ".0\",\"version\":\"" + std::to_string(v) + ".0\"}";
        }
        return json(200, body + "]");
    }
    if (!validToken(authorization))
        return invalidSession();
    return json(404, "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"The requested resource does not exist\"}]");
}

// ---------------------------------------------------------------------------
// Admin API

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
    return json(200, body + "]}");
}

HttpResult Emulator::adminPublish(const std::string &org_name, const std::string &body)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (parser.parse(body).get_object().get(root) != simdjson::SUCCESS)
        return adminError(400, "the body must be a JSON object");
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
    return json(200, out + "]}");
}

HttpResult Emulator::adminFaults(const std::string &org_name, const std::string &body)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (parser.parse(body).get_object().get(root) != simdjson::SUCCESS)
        return adminError(400, "the body must be a JSON object");
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
        return json(200, "{\"done\":\"revoke_tokens\",\"count\":" + std::to_string(n) + "}");
    }
    if (name == "expire_clients") {
        std::lock_guard lock(org->mutex);
        size_t n = org->clients.size();
        while (!org->clients.empty())
            endClient(*org, org->clients.begin()->second, "expired_by_admin");
        org->changed.notify_all();
        return json(200, "{\"done\":\"expire_clients\",\"count\":" + std::to_string(n) + "}");
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
        return json(200, "{\"done\":\"purge\",\"count\":" +
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
        return json(200, "{\"done\":\"clock_skew\",\"seconds\":" + std::to_string(seconds) + "}");
    }
    if (name == "clear") {
        std::lock_guard lock(org->mutex);
        org->faults.clear();
        org->clock_skew_ms.store(0);
        return json(200, "{\"done\":\"clear\"}");
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
    return json(200, out + "],\"clock_skew_seconds\":" +
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
    return json(200, out + "]}");
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
    return json(200, out + "]}");
}

void Emulator::sweep()
{
    int64_t now = steadyMs();
    int64_t wall = nowMs();
    for (auto &org : orgs_) {
        std::lock_guard lock(org->mutex);
        std::vector<std::shared_ptr<Client>> idle;
        for (auto &[id, c] : org->clients)
            if (c->connecting == 0 &&
                now - c->last_seen_steady_ms > org->config.knobs.client_timeout_ms)
                idle.push_back(c);
        for (auto &c : idle) {
            log::info(kModule, "client forgotten after the client timeout",
                      {{"org", org->config.name}, {"client", c->id}});
            endClient(*org, c, "expired");
        }
        for (auto &[name, log] : org->channels)
            log->expire(wall);
    }
}

} // namespace sfk::emu
