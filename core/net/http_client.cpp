#include "net/http_client.h"

#include <httplib.h>
#include <simdjson.h>

#include <arpa/inet.h>

#include <cstdlib>

namespace sfk::net {

bool Url::parse(const std::string &text, Url &out, std::string &error)
{
    auto schemeEnd = text.find("://");
    if (schemeEnd == std::string::npos) {
        error = "not a URL (expected scheme://host)";
        return false;
    }
    out = {};
    out.scheme = text.substr(0, schemeEnd);
    if (out.scheme != "http" && out.scheme != "https") {
        error = "unsupported scheme '" + out.scheme + "' (expected http or https)";
        return false;
    }
    std::string rest = text.substr(schemeEnd + 3);
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    out.path = slash == std::string::npos ? "" : rest.substr(slash);
    while (!out.path.empty() && out.path.back() == '/')
        out.path.pop_back();
    if (authority.find('@') != std::string::npos) {
        error = "credentials in the URL are not allowed";
        return false;
    }
    std::string portText;
    if (!authority.empty() && authority[0] == '[') {
        auto close = authority.find(']');
        if (close == std::string::npos) {
            error = "unterminated IPv6 address";
            return false;
        }
        out.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') {
                error = "junk after IPv6 address";
                return false;
            }
            portText = authority.substr(close + 2);
        }
    } else {
        auto colon = authority.rfind(':');
        out.host = authority.substr(0, colon);
        if (colon != std::string::npos)
            portText = authority.substr(colon + 1);
    }
    if (out.host.empty()) {
        error = "missing host";
        return false;
    }
    if (portText.empty()) {
        out.port = out.scheme == "https" ? 443 : 80;
    } else {
        char *end = nullptr;
        long p = std::strtol(portText.c_str(), &end, 10);
        if (*end != '\0' || p <= 0 || p > 65535) {
            error = "invalid port '" + portText + "'";
            return false;
        }
        out.port = static_cast<int>(p);
    }
    return true;
}

std::string Url::origin() const
{
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
}

bool isLoopbackHost(const std::string &host)
{
    if (host == "localhost" || host == "::1" || host == "[::1]")
        return true;
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) == 1)
        return (ntohl(addr.s_addr) >> 24) == 127;
    return false;
}

void CookieJar::store(const std::string &header)
{
    // Only name=value matters to us; attributes (Path, Expires, ...) follow ';'.
    auto semi = header.find(';');
    std::string pair = header.substr(0, semi);
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
        return;
    auto trim = [](std::string s) {
        auto b = s.find_first_not_of(" \t");
        auto e = s.find_last_not_of(" \t");
        return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    std::lock_guard lock(mutex_);
    cookies_[trim(pair.substr(0, eq))] = trim(pair.substr(eq + 1));
}

std::string CookieJar::header() const
{
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto &[k, v] : cookies_) {
        if (!out.empty())
            out += "; ";
        out += k + "=" + v;
    }
    return out;
}

void CookieJar::clear()
{
    std::lock_guard lock(mutex_);
    cookies_.clear();
}

bool CookieJar::empty() const
{
    std::lock_guard lock(mutex_);
    return cookies_.empty();
}

bool Proxy::parse(const std::string &url, Proxy &out, std::string &error)
{
    out = {};
    const std::string prefix = "http://";
    if (url.compare(0, prefix.size(), prefix) != 0) {
        error = "a proxy URL starts with http:// (the proxy is reached in plain HTTP and tunnels TLS with CONNECT)";
        return false;
    }
    std::string rest = url.substr(prefix.size());
    while (!rest.empty() && rest.back() == '/')
        rest.pop_back();
    auto at = rest.rfind('@');
    if (at != std::string::npos) {
        std::string cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = cred.find(':');
        out.user = cred.substr(0, colon);
        out.password = colon == std::string::npos ? "" : cred.substr(colon + 1);
    }
    if (rest.find('/') != std::string::npos) {
        error = "a proxy URL has no path";
        return false;
    }
    Url u;
    std::string e;
    if (!Url::parse("http://" + rest, u, e)) {
        error = e;
        return false;
    }
    if (rest.find(':') == std::string::npos || rest.back() == ']') {
        error = "a proxy URL needs an explicit port";
        return false;
    }
    out.host = u.host;
    out.port = u.port;
    return true;
}

namespace {

std::string envOf(const char *a, const char *b)
{
    if (const char *v = std::getenv(a); v && *v)
        return v;
    if (const char *v = std::getenv(b); v && *v)
        return v;
    return {};
}

bool noProxyMatches(const std::string &host, const std::string &list)
{
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        while (!item.empty() && item.front() == ' ')
            item.erase(0, 1);
        while (!item.empty() && item.back() == ' ')
            item.pop_back();
        if (item == "*")
            return true;
        if (!item.empty() && item.front() == '.')
            item.erase(0, 1);
        if (!item.empty() && (host == item ||
                              (host.size() > item.size() &&
                               host.compare(host.size() - item.size(), item.size(), item) == 0 &&
                               host[host.size() - item.size() - 1] == '.')))
            return true;
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return false;
}

} // namespace

bool Proxy::forTarget(const std::string &target_host, const std::string &configured, Proxy &out,
                      std::string &error)
{
    error.clear();
    std::string url = configured;
    if (url.empty()) {
        // The environment's proxy never applies to loopback targets.
        if (isLoopbackHost(target_host))
            return false;
        url = envOf("HTTPS_PROXY", "https_proxy");
        if (url.empty() || noProxyMatches(target_host, envOf("NO_PROXY", "no_proxy")))
            return false;
    }
    return parse(url, out, error);
}

HttpClient::HttpClient(const Url &base, const TlsOptions &tls, CookieJar *cookies)
    : base_(base), cookies_(cookies), maxBodyBytes_(tls.max_body_bytes)
{
    client_ = std::make_unique<httplib::Client>(base_.origin());
    client_->set_tcp_nodelay(true);
    client_->set_keep_alive(true);
    client_->set_follow_location(false);
    if (base_.scheme == "https") {
        client_->enable_server_certificate_verification(true);
        if (!tls.ca_file.empty())
            client_->set_ca_cert_path(tls.ca_file);
        // httplib tunnels https through a proxy with CONNECT.
        Proxy proxy;
        std::string error;
        if (Proxy::forTarget(base_.host, tls.proxy, proxy, error)) {
            client_->set_proxy(proxy.host, proxy.port);
            if (!proxy.user.empty())
                client_->set_proxy_basic_auth(proxy.user, proxy.password);
        } else if (!error.empty()) {
            proxyError_ = "proxy: " + error;
        }
    }
}

HttpClient::~HttpClient() = default;

void HttpClient::setTimeouts(std::chrono::milliseconds connect, std::chrono::milliseconds read)
{
    client_->set_connection_timeout(connect);
    client_->set_read_timeout(read);
    client_->set_write_timeout(std::chrono::seconds(30));
}

Response HttpClient::post(const std::string &path, const std::string &content_type,
                          const std::string &body,
                          const std::vector<std::pair<std::string, std::string>> &headers,
                          std::string *out)
{
    Response r;
    r.body = out;
    out->clear();

    httplib::Request req;
    req.method = "POST";
    req.path = base_.path + path;
    req.body = body;
    req.set_header("Content-Type", content_type);
    req.set_header("Accept", "application/json");
    for (const auto &[k, v] : headers)
        req.set_header(k, v);
    if (cookies_ && !cookies_->empty())
        req.set_header("Cookie", cookies_->header());
    bool tooLarge = false;
    const size_t limit = maxBodyBytes_;
    req.content_receiver = [out, limit, &tooLarge](const char *data, size_t len, uint64_t, uint64_t total) {
        // total is the announced Content-Length (0 when chunked).
        if (total > limit || out->size() + len > limit) {
            tooLarge = true;
            return false;
        }
        if (out->empty() && total > 0)
            out->reserve(total + simdjson::SIMDJSON_PADDING);
        out->append(data, len);
        return true;
    };

    // An announced length over the limit is refused before any byte of the
    // body is read (error pages may bypass the content receiver).
    req.response_handler = [limit, &tooLarge](const httplib::Response &head) {
        const std::string length = head.get_header_value("Content-Length");
        if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) > limit) {
            tooLarge = true;
            return false;
        }
        return true;
    };

    if (!proxyError_.empty()) {
        r.error = proxyError_;
        return r;
    }
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    if (!client_->send(req, res, err) || tooLarge || res.body.size() > limit) {
        r.status = 0;
        r.error = tooLarge || res.body.size() > limit
                      ? "response body larger than " + std::to_string(limit) + " bytes (max_response_bytes)"
                      : httplib::to_string(err);
        std::string().swap(*out);
        return r;
    }
    r.status = res.status;
    r.content_type = res.get_header_value("Content-Type");
    if (cookies_) {
        size_t n = res.get_header_value_count("Set-Cookie");
        for (size_t i = 0; i < n; ++i)
            cookies_->store(res.get_header_value("Set-Cookie", i));
    }
    // A body the receiver did not see (e.g. error pages) lands in res.body.
    if (out->empty() && !res.body.empty())
        *out = std::move(res.body);
    if (out->capacity() < out->size() + simdjson::SIMDJSON_PADDING)
        out->reserve(out->size() + simdjson::SIMDJSON_PADDING);
    return r;
}

void HttpClient::stop() { client_->stop(); }

void HttpClient::closeIdle() { client_->stop(); }

} // namespace sfk::net
