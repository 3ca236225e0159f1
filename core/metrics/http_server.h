#pragma once
// The operations listener: /metrics, /status, /healthz, /readyz (cpp-httplib).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace sfk::session {
class Supervisor;
}

namespace sfk::metrics {

// "host:port" or "[v6]:port" -> host, port. Returns an error text or "".
std::string splitListen(const std::string &listen, std::string &host, int &port);

class HttpServer {
public:
    // healthy: the watchdog predicate (fills a text report).
    HttpServer(const session::Supervisor &supervisor,
               std::function<bool(std::string &)> healthy);
    ~HttpServer();

    // Binds synchronously (so a bind failure is a start-up error), then
    // serves on its own thread.
    bool start(const std::string &listen, std::string &error);
    void stop();
    int port() const { return port_; }

private:
    const session::Supervisor &supervisor_;
    std::function<bool(std::string &)> healthy_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
};

} // namespace sfk::metrics
