#include "auth/token_provider.h"

#include <simdjson.h>

#include "auth/jwt_assertion.h"

namespace sfk::auth {

std::string urlEncode(const std::string &s)
{
    static const char *hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3);
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string TokenError::str() const
{
    std::string s;
    if (http_status)
        s = "HTTP " + std::to_string(http_status) + ": ";
    s += error.empty() ? "unknown error" : error;
    if (!description.empty())
        s += " (" + description + ")";
    if (!hint.empty())
        s += ": " + hint;
    return s;
}

std::string tokenErrorHint(config::AuthFlow flow, const std::string &description)
{
    // Salesforce's words for an assertion outside its validity window: the
    // assertion expires 3 minutes after this host's clock, so that clock is
    // more than 3 minutes behind Salesforce's (or far ahead).
    if (flow == config::AuthFlow::JwtBearer && description == "expired authorization code")
        return "Salesforce judged the JWT assertion expired; check this host's clock (NTP)";
    return {};
}

TokenProvider::TokenProvider(const config::Org &org) : org_(org)
{
    if (!net::Url::parse(org_.login_url, login_, urlError_))
        return;
    net::TlsOptions tls{org_.ca_file, org_.proxy.reveal(), static_cast<size_t>(org_.max_response_bytes)};
    http_ = std::make_unique<net::HttpClient>(login_, tls, nullptr);
    http_->setTimeouts(std::chrono::seconds(10), std::chrono::seconds(30));
}

TokenProvider::~TokenProvider() = default;

void TokenProvider::stop()
{
    if (http_)
        http_->stop();
}

bool TokenProvider::buildRequestBody(std::string &body, std::string &error) const
{
    const auto &a = org_.auth;
    auto field = [&body](const char *name, const std::string &value) {
        if (!body.empty())
            body += '&';
        body += name;
        body += '=';
        body += urlEncode(value);
    };
    body.clear();
    switch (a.flow) {
    case config::AuthFlow::Password:
        field("grant_type", "password");
        field("client_id", a.client_id);
        field("client_secret", a.client_secret.reveal());
        field("username", a.username);
        field("password", a.password.reveal());
        return true;
    case config::AuthFlow::RefreshToken:
        field("grant_type", "refresh_token");
        field("client_id", a.client_id);
        if (!a.client_secret.empty())
            field("client_secret", a.client_secret.reveal());
        field("refresh_token", a.refresh_token.reveal());
        return true;
    case config::AuthFlow::ClientCredentials:
        field("grant_type", "client_credentials");
        field("client_id", a.client_id);
        field("client_secret", a.client_secret.reveal());
        return true;
    case config::AuthFlow::JwtBearer: {
        std::string assertion;
        std::string audience = a.audience.empty() ? org_.login_url : a.audience;
        if (!makeJwtAssertion(a.client_id, a.username, audience, a.private_key,
                              a.private_key_passphrase, assertion, error))
            return false;
        field("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
        field("assertion", assertion);
        return true;
    }
    }
    error = "unknown auth flow";
    return false;
}

namespace {

std::string stringField(simdjson::dom::element doc, const char *key)
{
    std::string_view v;
    if (doc[key].get_string().get(v) == simdjson::SUCCESS)
        return std::string(v);
    return {};
}

} // namespace

bool TokenProvider::fetch(Token &out, TokenError &err)
{
    err = {};
    if (!http_) {
        err.error = "invalid login_url: " + urlError_;
        return false;
    }
    // A token lasts hours: no connection to the login host is kept between logins.
    struct CloseAfter {
        net::HttpClient &http;
        ~CloseAfter() { http.closeIdle(); }
    } closeAfter{*http_};
    std::string body, buildError;
    if (!buildRequestBody(body, buildError)) {
        err.error = buildError;
        return false;
    }
    std::string response;
    net::Response r = http_->post("/services/oauth2/token", "application/x-www-form-urlencoded",
                                  body, {}, &response);
    // The body holds secrets: wipe it before it goes back to the allocator.
    std::fill(body.begin(), body.end(), '\0');
    if (r.status == 0) {
        err.error = "no answer from the token endpoint: " + r.error;
        err.transient = true;
        return false;
    }
    err.http_status = r.status;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    bool parsed = parser.parse(response).get(doc) == simdjson::SUCCESS && doc.is_object();
    if (r.status != 200) {
        if (parsed) {
            err.error = stringField(doc, "error");
            err.description = stringField(doc, "error_description");
            err.hint = tokenErrorHint(org_.auth.flow, err.description);
        }
        if (err.error.empty())
            err.error = "token endpoint answered HTTP " + std::to_string(r.status);
        err.transient = r.status >= 500 || r.status == 429;
        return false;
    }
    if (!parsed) {
        err.error = "token response is not a JSON object";
        err.transient = true;
        return false;
    }
    Token t;
    t.access_token = config::Secret(stringField(doc, "access_token"));
    t.instance_url = stringField(doc, "instance_url");
    std::string id = stringField(doc, "id");
    // .../id/<org id>/<user id>
    auto last = id.rfind('/');
    if (last != std::string::npos && last > 0) {
        auto prev = id.rfind('/', last - 1);
        if (prev != std::string::npos)
            t.org_id = id.substr(prev + 1, last - prev - 1);
    }
    if (t.access_token.empty() || t.instance_url.empty()) {
        err.error = "token response lacks access_token or instance_url";
        return false;
    }
    net::Url inst;
    std::string urlErr;
    if (!net::Url::parse(t.instance_url, inst, urlErr)) {
        err.error = "token response has an invalid instance_url: " + urlErr;
        return false;
    }
    if (inst.scheme != "https" && !net::isLoopbackHost(inst.host)) {
        err.error = "instance_url " + t.instance_url + " is not https";
        return false;
    }
    out = std::move(t);
    return true;
}

} // namespace sfk::auth
