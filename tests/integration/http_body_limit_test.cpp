// The response body limit of core/net/http_client (an org's
// max_response_bytes) against a loopback server that sends too much: a
// misbehaving proxy must not exhaust memory. Loopback only, no broker.
#include <doctest/doctest.h>

#include <httplib.h>

#include <thread>

#include "net/http_client.h"

using namespace sfk::net;

namespace {

class HugeServer {
public:
    HugeServer()
    {
        server_.Post("/fixed", [](const httplib::Request &, httplib::Response &res) {
            res.set_content(std::string(3 << 20, 'x'), "application/json");
        });
        server_.Post("/error", [](const httplib::Request &, httplib::Response &res) {
            res.status = 502;
            res.set_content(std::string(3 << 20, 'e'), "text/html");
        });
        // No Content-Length: 64 KiB chunks without end (until the client leaves).
        server_.Post("/endless", [](const httplib::Request &, httplib::Response &res) {
            res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink &sink) {
                static const std::string chunk(64 << 10, 'y');
                return sink.write(chunk.data(), chunk.size());
            });
        });
        server_.Post("/small", [](const httplib::Request &, httplib::Response &res) {
            res.set_content("[{\"ok\":true}]", "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        while (!server_.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ~HugeServer()
    {
        server_.stop();
        thread_.join();
    }
    int port() const { return port_; }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

Response post(int port, const std::string &path, size_t limit, std::string &body)
{
    Url url;
    std::string error;
    REQUIRE(Url::parse("http://127.0.0.1:" + std::to_string(port), url, error));
    TlsOptions tls;
    tls.max_body_bytes = limit;
    HttpClient client(url, tls, nullptr);
    client.setTimeouts(std::chrono::seconds(5), std::chrono::seconds(30));
    return client.post(path, "application/json", "[]", {}, &body);
}

} // namespace

TEST_CASE("a response body over max_body_bytes is a transport error and its memory is given back")
{
    HugeServer server;
    const size_t limit = 1 << 20;
    for (const char *path : {"/fixed", "/error", "/endless"}) {
        INFO(path);
        std::string body;
        Response r = post(server.port(), path, limit, body);
        CHECK(r.status == 0);
        CHECK(r.error == "response body larger than 1048576 bytes (max_response_bytes)");
        CHECK(body.empty());
        CHECK(body.capacity() <= limit);
    }
    // Under the limit: as before.
    std::string body;
    Response r = post(server.port(), "/small", limit, body);
    CHECK(r.status == 200);
    CHECK(body == "[{\"ok\":true}]");
    // The default is well above Salesforce's responses (events are <= 1 MB).
    CHECK(TlsOptions{}.max_body_bytes == size_t(256) << 20);
    r = post(server.port(), "/fixed", TlsOptions{}.max_body_bytes, body);
    CHECK(r.status == 200);
    CHECK(body.size() == size_t(3) << 20);
}
