// The OAuth endpoints (token, revoke, userinfo) and the REST stubs clients
// probe: password, refresh token, client credentials and JWT bearer flows.
#include <jwt.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "emulator.h"
#include "log/log.h"
#include "results.h"
#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kModule = "sfemu";

HttpResult oauthError(const char *error, const char *description, int status = 400)
{
    return jsonResult(status, std::string("{\"error\":\"") + error + "\",\"error_description\":\"" +
                            description + "\"}");
}

HttpResult invalidSession()
{
    return jsonResult(401, "[{\"message\":\"Session expired or invalid\",\"errorCode\":\"INVALID_SESSION_ID\"}]");
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

} // namespace

HttpResult Emulator::issueToken(Org &org, const UserConfig &user, const AppConfig &app,
                                const std::string &grant, const std::string &instance)
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
    std::string id = instance + "/id/" + org.config.org_id + "/" + user.user_id;
    std::string issued_at = std::to_string(issued);
    std::string body = "{\"access_token\":" + jsonString(token) +
                       ",\"instance_url\":" + jsonString(instance) + ",\"id\":" + jsonString(id) +
                       ",\"token_type\":\"Bearer\",\"issued_at\":\"" + issued_at +
                       "\",\"signature\":" +
                       jsonString(hmacSha256Base64(app.client_secret, id + issued_at)) + "}";
    log::info(kModule, "access token issued",
              {{"org", org.config.name}, {"grant", grant}, {"username", user.username}});
    return jsonResult(200, std::move(body));
}

HttpResult Emulator::token(const std::string &form_body, const std::string &host_header)
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
            case FaultKind::Http500: return jsonResult(500, "[{\"message\":\"Internal Server Error\",\"errorCode\":\"UNKNOWN_EXCEPTION\"}]");
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

    HttpResult r = grantToken(form, grant, org, app, assertion, instanceUrl(host_header));
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
                                const std::string &assertion, const std::string &instance)
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
                                              "https://test.salesforce.com", base_url_,
                                              instance};
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
        return issueToken(*org, *user, *app, "jwt_bearer", instance);
    }

    if (get(form, "client_secret") != app->client_secret || app->client_secret.empty())
        return oauthError("invalid_client", "invalid client credentials");

    if (grant == "password") {
        const UserConfig *user = findUser(get(form, "username"));
        if (!user || user->password.empty() || get(form, "password") != user->password)
            return oauthError("invalid_grant", "authentication failure");
        return issueToken(*org, *user, *app, grant, instance);
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
                    return issueToken(*org, *user, *app, grant, instance);
        return oauthError("invalid_grant", "expired access/refresh token");
    }
    // client_credentials
    const UserConfig *user = app->run_as.empty() ? nullptr : findUser(app->run_as);
    if (!user)
        return oauthError("invalid_grant", "no client credentials user enabled");
    return issueToken(*org, *user, *app, grant, instance);
}

HttpResult Emulator::revoke(const std::string &form_body)
{
    auto form = parseForm(form_body);
    std::string token = get(form, "token");
    std::lock_guard lock(tokens_mutex_);
    auto it = tokens_.find(token);
    if (it != tokens_.end()) {
        it->second.revoked = true;
        return jsonResult(200, "");
    }
    for (auto &org : orgs_)
        for (auto &r : org->config.refresh_tokens)
            if (r.token == token) {
                revoked_refresh_tokens_[token] = true;
                return jsonResult(200, "");
            }
    return oauthError("unsupported_token_type", "this token type is not supported");
}

HttpResult Emulator::userinfo(const std::string &authorization, const std::string &host_header)
{
    auto info = validToken(authorization);
    if (!info) {
        HttpResult r = jsonResult(403, "Bad_OAuth_Token");
        r.content_type = "text/plain";
        return r;
    }
    return jsonResult(200, "{\"sub\":" + jsonString(instanceUrl(host_header) + "/id/" + info->org->config.org_id + "/" + info->user_id) +
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
        return jsonResult(200, body + "]");
    }
    if (!validToken(authorization))
        return invalidSession();
    return jsonResult(404, "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"The requested resource does not exist\"}]");
}

} // namespace sfk::emu
