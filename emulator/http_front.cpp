#include "http_front.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "log/log.h"
#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kModule = "sfemu";
constexpr size_t kMaxRequestBytes = 32 * 1024;
std::mutex g_sweep_mutex;
std::condition_variable g_sweep_cv;

void apply(const HttpResult &r, httplib::Response &res)
{
    res.status = r.status;
    for (auto &[k, v] : r.headers)
        res.headers.emplace(k, v);
    if (r.shape == HttpResult::Shape::Normal) {
        res.set_header("Content-Type", r.content_type);
        res.body = r.body; // copied once; httplib owns the response
        return;
    }
    auto body = std::make_shared<std::string>(r.body);
    if (r.shape == HttpResult::Shape::Reset) {
        // Send the first half, then drop the connection.
        res.set_content_provider(body->size(), r.content_type,
                                 [body](size_t offset, size_t, httplib::DataSink &sink) {
                                     size_t half = body->size() / 2;
                                     if (offset < half) {
                                         sink.write(body->data() + offset, half - offset);
                                         return true;
                                     }
                                     return false;
                                 });
        return;
    }
    size_t chunk = static_cast<size_t>(std::max<int64_t>(1, r.chunk_bytes));
    int64_t interval = r.interval_ms;
    res.set_content_provider(body->size(), r.content_type,
                             [body, chunk, interval](size_t offset, size_t length,
                                                     httplib::DataSink &sink) {
                                 if (interval > 0)
                                     std::this_thread::sleep_for(std::chrono::milliseconds(interval));
                                 size_t n = std::min(chunk, length);
                                 return sink.write(body->data() + offset, n);
                             });
}

void moveInto(HttpResult &&r, httplib::Response &res)
{
    if (r.shape != HttpResult::Shape::Normal) {
        apply(r, res);
        return;
    }
    res.status = r.status;
    for (auto &[k, v] : r.headers)
        res.headers.emplace(k, v);
    res.set_header("Content-Type", r.content_type);
    res.body = std::move(r.body);
}

void tune(httplib::Server &server, size_t threads)
{
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(100000);
    server.set_keep_alive_timeout(30);
    server.set_read_timeout(30, 0);
    server.set_write_timeout(30, 0);
}

std::unique_ptr<httplib::Server> makeServer(const ListenOptions &o)
{
    if (o.tls_cert.empty() != o.tls_key.empty())
        throw std::runtime_error("--tls-cert and --tls-key go together");
    if (o.tls_cert.empty())
        return std::make_unique<httplib::Server>();
    auto server = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    if (!server->is_valid())
        throw std::runtime_error("cannot load the TLS certificate or key");
    return server;
}

std::string bindServer(httplib::Server &server, const std::string &listen, const std::string &scheme)
{
    std::string host;
    int port = 0;
    if (!splitHostPort(listen, host, port))
        throw std::runtime_error("bad listen address " + listen + " (want HOST:PORT)");
    // cpp-httplib 0.11 listens with a backlog of 5: a burst of new
    // connections (many orgs or clients starting at once) overflows it and
    // the kernel drops handshakes, which clients see as resets a second
    // later. Keep the socket (the option hook sees it before bind) and
    // listen again with the system's maximum, as a real server would.
    int listen_fd = -1;
    server.set_socket_options([&listen_fd](socket_t sock) {
        httplib::default_socket_options(sock);
        listen_fd = sock;
    });
    if (port == 0) {
        port = server.bind_to_any_port(host.c_str());
        if (port <= 0)
            throw std::runtime_error("cannot listen on " + listen);
    } else if (!server.bind_to_port(host.c_str(), port)) {
        throw std::runtime_error("cannot listen on " + listen);
    }
    // The hook refers to this frame: put the default back before returning.
    server.set_socket_options(httplib::default_socket_options);
    if (listen_fd < 0 || ::listen(listen_fd, SOMAXCONN) != 0)
        throw std::runtime_error("cannot raise the listen backlog on " + listen);
    std::string shown = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host;
    if (shown.find(':') != std::string::npos)
        shown = "[" + shown + "]";
    return scheme + "://" + shown + ":" + std::to_string(port);
}

} // namespace

HttpFront::HttpFront(Emulator &emulator, const ListenOptions &options) : emulator_(emulator)
{
    std::string admin_host;
    int admin_port = 0;
    if (!splitHostPort(options.admin_listen, admin_host, admin_port))
        throw std::runtime_error("bad --admin-listen address " + options.admin_listen);
    if (!isLoopbackHost(admin_host))
        throw std::runtime_error("the admin API listens on loopback only (127.0.0.1, ::1 or localhost)");
    main_ = makeServer(options);
    admin_ = makeServer(options);
    std::string scheme = options.tls_cert.empty() ? "http" : "https";
    tune(*main_, options.threads);
    tune(*admin_, 8);
    main_->set_payload_max_length(kMaxRequestBytes);
    admin_->set_payload_max_length(256u << 20);
    routeMain(*main_);
    routeAdmin(*admin_);
    url_ = bindServer(*main_, options.listen, scheme);
    admin_url_ = bindServer(*admin_, options.admin_listen, scheme);
    emulator_.setBaseUrl(url_);
}

HttpFront::~HttpFront() { stop(); }

void HttpFront::routeMain(httplib::Server &server)
{
    Emulator &emu = emulator_;
    server.Post("/services/oauth2/token", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.token(req.body, req.get_header_value("Host")), res);
    });
    server.Post("/services/oauth2/revoke", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.revoke(req.body), res);
    });
    server.Get("/services/oauth2/userinfo", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.userinfo(req.get_header_value("Authorization"), req.get_header_value("Host")), res);
    });
    server.Post(R"(/cometd/([^/]+)/?)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.bayeux(req.matches[1], req.body, req.get_header_value("Authorization"),
                            req.get_header_value("Cookie")),
                 res);
    });
    auto rest = [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.restApi(req.path, req.get_header_value("Authorization")), res);
    };
    server.Get(R"(/services/data(/.*)?)", rest);
    server.Post(R"(/services/data(/.*)?)", rest);
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request &, httplib::Response &res) {
        if (res.status == 404 && res.body.empty()) {
            res.set_content("[{\"errorCode\":\"NOT_FOUND\",\"message\":\"The requested resource does not exist\"}]",
                            "application/json;charset=UTF-8");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    }));
}

void HttpFront::routeAdmin(httplib::Server &server)
{
    Emulator &emu = emulator_;
    auto loopbackOnly = [](const httplib::Request &req, httplib::Response &res) {
        if (isLoopbackHost(req.remote_addr) || req.remote_addr == "::ffff:127.0.0.1")
            return httplib::Server::HandlerResponse::Unhandled;
        res.status = 403;
        res.set_content("{\"error\":\"the admin API answers loopback clients only\"}", "application/json");
        return httplib::Server::HandlerResponse::Handled;
    };
    server.set_pre_routing_handler(loopbackOnly);
    server.Get("/admin/health", [](const httplib::Request &, httplib::Response &res) {
        res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    server.Get("/admin/orgs", [&emu](const httplib::Request &, httplib::Response &res) {
        moveInto(emu.adminOrgs(), res);
    });
    server.Post(R"(/admin/orgs/([^/]+)/events)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminPublish(req.matches[1], req.body), res);
    });
    server.Post(R"(/admin/orgs/([^/]+)/faults)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminFaults(req.matches[1], req.body), res);
    });
    // The Pub/Sub listener's routes: faults, flow control and managed subscriptions.
    server.Post(R"(/admin/orgs/([^/]+)/pubsub/(faults|managed))",
                [&emu](const httplib::Request &req, httplib::Response &res) {
                    moveInto(emu.adminPubSub(req.matches[1], "POST", req.matches[2], req.body), res);
                });
    server.Get(R"(/admin/orgs/([^/]+)/pubsub/(streams|managed(?:/[^/]+)?))",
               [&emu](const httplib::Request &req, httplib::Response &res) {
                   moveInto(emu.adminPubSub(req.matches[1], "GET", req.matches[2], ""), res);
               });
    server.Get(R"(/admin/orgs/([^/]+)/faults)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminListFaults(req.matches[1]), res);
    });
    server.Get(R"(/admin/orgs/([^/]+)/published)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminPublished(req.matches[1], req.get_param_value("channel")), res);
    });
    server.Get(R"(/admin/orgs/([^/]+)/clients)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminClients(req.matches[1]), res);
    });
    server.Get(R"(/admin/orgs/([^/]+)/usage)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminUsage(req.matches[1]), res);
    });
    server.Post(R"(/admin/orgs/([^/]+)/limits)", [&emu](const httplib::Request &req, httplib::Response &res) {
        moveInto(emu.adminLimits(req.matches[1], req.body), res);
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request &, httplib::Response &res) {
        if (res.body.empty()) {
            res.set_content("{\"error\":\"HTTP " + std::to_string(res.status) + "\"}", "application/json");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    }));
}

void HttpFront::start()
{
    if (running_)
        return;
    running_ = true;
    main_thread_ = std::thread([this] { main_->listen_after_bind(); });
    admin_thread_ = std::thread([this] { admin_->listen_after_bind(); });
    sweeper_ = std::thread([this] {
        std::unique_lock lock(g_sweep_mutex);
        while (!stop_sweeper_) {
            g_sweep_cv.wait_for(lock, std::chrono::milliseconds(200));
            if (stop_sweeper_)
                break;
            lock.unlock();
            emulator_.sweep();
            lock.lock();
        }
    });
}

void HttpFront::stop()
{
    if (!running_)
        return;
    running_ = false;
    {
        std::lock_guard lock(g_sweep_mutex);
        stop_sweeper_ = true;
    }
    g_sweep_cv.notify_all();
    emulator_.shutdown();
    main_->stop();
    admin_->stop();
    if (main_thread_.joinable())
        main_thread_.join();
    if (admin_thread_.joinable())
        admin_thread_.join();
    if (sweeper_.joinable())
        sweeper_.join();
    log::info(kModule, "stopped");
}

} // namespace sfk::emu
