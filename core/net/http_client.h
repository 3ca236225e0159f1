#pragma once
// An HTTP(S) client for one base URL: TLS verified unless the host is
// loopback, cookies kept and returned, TCP_NODELAY, and response bodies read
// into a caller-owned buffer that keeps room for simdjson's padding.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace httplib { class Client; }

namespace sfk::net {

struct Url {
    std::string scheme;  // http | https
    std::string host;
    int port = 0;
    std::string path;    // "" or starting with '/'

    static bool parse(const std::string &text, Url &out, std::string &error);
    std::string origin() const;  // scheme://host:port
};

bool isLoopbackHost(const std::string &host);

// Cookies a server set, returned on every later request (Salesforce routes a
// Bayeux client by them; dropping them yields 403::Unknown client).
class CookieJar {
public:
    void store(const std::string &set_cookie_header);
    std::string header() const;  // "a=1; b=2", empty if none
    void clear();
    bool empty() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> cookies_;
};

// An HTTP CONNECT proxy: http://[user:password@]host:port. Errors never
// repeat the URL (it may carry a password).
struct Proxy {
    std::string host;
    int port = 0;
    std::string user, password;

    static bool parse(const std::string &url, Proxy &out, std::string &error);
    // The proxy for an https target host: `configured` if not empty, else
    // $HTTPS_PROXY / $https_proxy unless the host is loopback or matches
    // $NO_PROXY / $no_proxy. False: no proxy (or an error).
    static bool forTarget(const std::string &target_host, const std::string &configured,
                          Proxy &out, std::string &error);
};

// The default response body limit (an org's max_response_bytes).
constexpr size_t kDefaultMaxBodyBytes = size_t(256) << 20;

struct TlsOptions {
    std::string ca_file;         // extra trust anchor; empty: system CAs
    std::string proxy;           // configured proxy URL (see Proxy::forTarget)
    // A longer response body is abandoned as a transport error (status 0).
    size_t max_body_bytes = kDefaultMaxBodyBytes;
};

struct Response {
    int status = 0;              // 0: transport error (see error)
    std::string error;           // transport error text
    std::string *body = nullptr; // the caller's buffer
    std::string content_type;
};

class HttpClient {
public:
    HttpClient(const Url &base, const TlsOptions &tls, CookieJar *cookies);
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    void setTimeouts(std::chrono::milliseconds connect, std::chrono::milliseconds read);

    // POSTs body to path. The response body is written into *out (cleared
    // first), with extra capacity reserved after it for parsing. A body
    // over max_body_bytes ends the request: status 0, error naming the
    // limit, *out emptied (its memory given back).
    Response post(const std::string &path, const std::string &content_type,
                  const std::string &body,
                  const std::vector<std::pair<std::string, std::string>> &headers,
                  std::string *out);

    // Aborts a request in progress from another thread (shutdown).
    void stop();
    // Closes the kept-alive connection (the next request opens a new one):
    // for rare requests, such as logins, that must not hold a socket at the
    // server between them (1,000 orgs would hold 1,000).
    void closeIdle();

private:
    Url base_;
    CookieJar *cookies_;
    size_t maxBodyBytes_;
    std::unique_ptr<httplib::Client> client_;
    std::string proxyError_;
};

} // namespace sfk::net
