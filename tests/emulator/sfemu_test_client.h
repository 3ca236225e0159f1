#pragma once
// A deliberately small Bayeux/OAuth client for sfemu's own tests: raw
// requests, cookies kept by hand, replies parsed with simdjson.

#include <httplib.h>
#include <simdjson.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sfk::test::emu {

inline std::unique_ptr<httplib::Client> httpClient(const std::string &base)
{
    auto c = std::make_unique<httplib::Client>(base);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(10, 0);
    c->set_read_timeout(130, 0);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    c->enable_server_certificate_verification(false);
#endif
    return c;
}

// A parsed JSON document that owns its parser.
struct Json {
    std::shared_ptr<simdjson::dom::parser> parser = std::make_shared<simdjson::dom::parser>();
    simdjson::dom::element root;
    bool ok = false;

    explicit Json(const std::string &text)
    {
        ok = parser->parse(text).get(root) == simdjson::SUCCESS;
    }
    simdjson::dom::element operator[](size_t i) const { return root.at(i).value(); }
    size_t size() const
    {
        simdjson::dom::array a;
        return root.get_array().get(a) == simdjson::SUCCESS ? a.size() : 0;
    }
};

inline std::string str(simdjson::dom::element el, const char *key)
{
    std::string_view v;
    if (el[key].get_string().get(v) != simdjson::SUCCESS)
        return {};
    return std::string(v);
}

inline bool has(simdjson::dom::element el, const char *key) { return el[key].error() == simdjson::SUCCESS; }

inline bool boolean(simdjson::dom::element el, const char *key)
{
    bool b = false;
    if (el[key].get_bool().get(b) != simdjson::SUCCESS)
        return false;
    return b;
}

inline int64_t integer(simdjson::dom::element el, const char *key)
{
    int64_t v = 0;
    if (el[key].get_int64().get(v) != simdjson::SUCCESS)
        return 0;
    return v;
}

inline std::string form(const std::map<std::string, std::string> &fields)
{
    std::string out;
    for (auto &[k, v] : fields) {
        if (!out.empty())
            out += '&';
        out += httplib::detail::encode_query_param(k) + "=" + httplib::detail::encode_query_param(v);
    }
    return out;
}

struct Reply {
    int status = 0;
    std::string body;
    bool transport_ok = false;
    httplib::Headers headers;
};

inline Reply tokenRequest(const std::string &url, const std::map<std::string, std::string> &fields)
{
    auto c = httpClient(url);
    auto res = c->Post("/services/oauth2/token", form(fields), "application/x-www-form-urlencoded");
    Reply r;
    if (res) {
        r.transport_ok = true;
        r.status = res->status;
        r.body = res->body;
        r.headers = res->headers;
    }
    return r;
}

// A password-flow token for the default org (or the given user/app).
inline std::string passwordToken(const std::string &url,
                                 const std::string &username = "user@example.com",
                                 const std::string &password = "password",
                                 const std::string &client_id = "sfemu-client",
                                 const std::string &client_secret = "sfemu-secret")
{
    Reply r = tokenRequest(url, {{"grant_type", "password"},
                                 {"client_id", client_id},
                                 {"client_secret", client_secret},
                                 {"username", username},
                                 {"password", password}});
    Json j(r.body);
    if (r.status != 200 || !j.ok)
        throw std::runtime_error("token request failed: " + r.body);
    return str(j.root, "access_token");
}

class BayeuxTestClient {
public:
    BayeuxTestClient(std::string url, std::string token, std::string version = "62.0")
        : http_(httpClient(url)), token_(std::move(token)), path_("/cometd/" + version)
    {
    }

    void setToken(const std::string &token) { token_ = token; }
    void dropCookies() { cookies_.clear(); }
    const std::map<std::string, std::string> &cookies() const { return cookies_; }
    const std::string &clientId() const { return client_id_; }
    void setClientId(const std::string &id) { client_id_ = id; }

    Reply post(const std::string &body)
    {
        httplib::Headers headers;
        if (!token_.empty())
            headers.emplace("Authorization", "Bearer " + token_);
        std::string cookie;
        for (auto &[k, v] : cookies_)
            cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
        if (!cookie.empty())
            headers.emplace("Cookie", cookie);
        auto res = http_->Post(path_, headers, body, "application/json");
        Reply r;
        if (!res)
            return r;
        r.transport_ok = true;
        r.status = res->status;
        r.body = res->body;
        r.headers = res->headers;
        for (auto it = res->headers.lower_bound("Set-Cookie"); it != res->headers.upper_bound("Set-Cookie"); ++it) {
            std::string pair = it->second.substr(0, it->second.find(';'));
            auto eq = pair.find('=');
            if (eq != std::string::npos)
                cookies_[pair.substr(0, eq)] = pair.substr(eq + 1);
        }
        return r;
    }

    Json handshake()
    {
        Reply r = post(R"([{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["long-polling"],"id":")" +
                       nextId() + R"(","ext":{"replay":true}}])");
        Json j(r.body);
        if (j.ok && j.size() == 1)
            client_id_ = str(j[0], "clientId");
        return j;
    }

    // replay: the replay map value as JSON text ("" = no ext at all).
    Json subscribe(const std::string &channel, const std::string &replay)
    {
        std::string ext = replay.empty() ? "" : R"(,"ext":{"replay":{")" + channel + "\":" + replay + "}}";
        return Json(post(R"([{"channel":"/meta/subscribe","clientId":")" + client_id_ +
                         R"(","subscription":")" + channel + R"(","id":")" + nextId() + "\"" + ext + "}]")
                        .body);
    }

    Reply connectRaw()
    {
        return post(R"([{"channel":"/meta/connect","clientId":")" + client_id_ +
                    R"(","connectionType":"long-polling","id":")" + nextId() + "\"}]");
    }
    Json connect() { return Json(connectRaw().body); }
    // One connect: "" when it succeeded, else its error text.
    std::string connectError()
    {
        Json j = connect();
        if (j.size() < 1 || str(j[j.size() - 1], "channel") != "/meta/connect")
            throw std::runtime_error("no /meta/connect reply");
        auto reply = j[j.size() - 1];
        return boolean(reply, "successful") ? std::string() : str(reply, "error");
    }

    // Connects until at least n events arrived (or max_connects); returns
    // the events' (channel, replay id) in arrival order.
    std::vector<std::pair<std::string, int64_t>> receive(size_t n, int max_connects = 20)
    {
        std::vector<std::pair<std::string, int64_t>> out;
        for (int i = 0; i < max_connects && out.size() < n; ++i) {
            Json j = connect();
            if (!j.ok)
                throw std::runtime_error("connect reply is not JSON");
            for (size_t k = 0; k < j.size(); ++k) {
                std::string ch = str(j[k], "channel");
                if (ch.rfind("/meta/", 0) == 0) {
                    if (!boolean(j[k], "successful"))
                        throw std::runtime_error("connect failed: " + str(j[k], "error"));
                    continue;
                }
                out.emplace_back(ch, j[k]["data"]["event"]["replayId"].get_int64().value());
            }
        }
        return out;
    }

    std::string nextId() { return std::to_string(++id_); }

private:
    std::unique_ptr<httplib::Client> http_;
    std::string token_;
    std::string path_;
    std::string client_id_;
    std::map<std::string, std::string> cookies_;
    int id_ = 0;
};

} // namespace sfk::test::emu
