#pragma once
// The two HTTP listeners of sfemu (main: OAuth + Bayeux; admin: loopback
// only) on cpp-httplib, optionally over TLS.

#include <memory>
#include <string>
#include <thread>

#include "emulator.h"

namespace httplib {
class Server;
}

namespace sfk::emu {

struct ListenOptions {
    std::string listen = "127.0.0.1:0";
    std::string admin_listen = "127.0.0.1:0";
    std::string tls_cert;
    std::string tls_key;
    // Main listener workers: a held /meta/connect keeps one busy for up to
    // connect_hold_ms, so many orgs need many (the 100-org benchmark: 200+).
    size_t threads = 256;
};

class HttpFront {
public:
    // Binds both listeners (port 0: a free port); throws std::runtime_error.
    HttpFront(Emulator &emulator, const ListenOptions &options);
    ~HttpFront();

    const std::string &url() const { return url_; }
    const std::string &adminUrl() const { return admin_url_; }

    // Serves on background threads until stop().
    void start();
    void stop();

private:
    void routeMain(httplib::Server &server);
    void routeAdmin(httplib::Server &server);

    Emulator &emulator_;
    std::unique_ptr<httplib::Server> main_;
    std::unique_ptr<httplib::Server> admin_;
    std::string url_;
    std::string admin_url_;
    std::thread main_thread_;
    std::thread admin_thread_;
    std::thread sweeper_;
    bool running_ = false;
    bool stop_sweeper_ = false;
};

} // namespace sfk::emu
