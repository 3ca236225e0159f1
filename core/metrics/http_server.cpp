#include "metrics/http_server.h"

#include <httplib.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "metrics/prometheus.h"
#include "metrics/status.h"
#include "session/supervisor.h"

namespace sfk::metrics {

std::string splitListen(const std::string &listen, std::string &host, int &port)
{
    std::string portText;
    if (!listen.empty() && listen[0] == '[') {
        auto close = listen.find(']');
        if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
            return "expected [address]:port";
        host = listen.substr(1, close - 1);
        portText = listen.substr(close + 2);
    } else {
        auto colon = listen.rfind(':');
        if (colon == std::string::npos)
            return "expected host:port";
        host = listen.substr(0, colon);
        portText = listen.substr(colon + 1);
    }
    if (host.empty())
        host = "0.0.0.0";
    try {
        size_t used = 0;
        port = std::stoi(portText, &used);
        if (used != portText.size() || port < 0 || port > 65535)
            return "invalid port '" + portText + "'";
    } catch (...) {
        return "invalid port '" + portText + "'";
    }
    return "";
}

HttpServer::HttpServer(const session::Supervisor &supervisor,
                       std::function<bool(std::string &)> healthy)
    : supervisor_(supervisor), healthy_(std::move(healthy))
{
}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::start(const std::string &listen, std::string &error)
{
    std::string host;
    int port = 0;
    std::string problem = splitListen(listen, host, port);
    if (!problem.empty()) {
        error = "http.listen '" + listen + "': " + problem;
        return false;
    }
    server_ = std::make_unique<httplib::Server>();
    server_->set_tcp_nodelay(true);
    server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
    server_->Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
        res.set_content(render(supervisor_), "text/plain; version=0.0.4; charset=utf-8");
    });
    server_->Get("/status", [this](const httplib::Request &, httplib::Response &res) {
        res.set_content(renderStatus(supervisor_), "application/json");
    });
    server_->Get("/healthz", [this](const httplib::Request &, httplib::Response &res) {
        std::string report;
        bool ok = healthy_(report);
        res.status = ok ? 200 : 503;
        res.set_content(report, "text/plain; charset=utf-8");
    });
    server_->Get("/readyz", [this](const httplib::Request &req, httplib::Response &res) {
        std::string report;
        bool ok = supervisor_.ready(&report);
        res.status = ok ? 200 : 503;
        res.set_content(req.has_param("verbose") ? report : std::string(ok ? "ready\n" : "not ready\n"),
                        "text/plain; charset=utf-8");
    });
    if (port == 0) {
        port_ = server_->bind_to_any_port(host);
        if (port_ < 0) {
            error = "cannot listen on " + listen + ": " + std::strerror(errno);
            return false;
        }
    } else {
        if (!server_->bind_to_port(host, port)) {
            error = "cannot listen on " + listen + ": " + std::strerror(errno);
            return false;
        }
        port_ = port;
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    log::info("http", "serving /metrics, /status, /healthz, /readyz",
              {{"listen", host + ":" + std::to_string(port_)}});
    return true;
}

void HttpServer::stop()
{
    if (server_)
        server_->stop();
    if (thread_.joinable())
        thread_.join();
}

} // namespace sfk::metrics
