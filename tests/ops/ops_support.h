#pragma once
// Helpers for the operations tests: a NOTIFY_SOCKET receiver, free ports,
// HTTP GETs to the daemon's listener.

#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"

namespace sfk::test {

// A datagram socket playing systemd's side of sd_notify().
class NotifySocket {
public:
    explicit NotifySocket(const std::string &path) : path_(path)
    {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        ::unlink(path.c_str());
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
            throw std::runtime_error("cannot bind notify socket " + path);
        reader_ = std::thread([this] { readLoop(); });
    }
    ~NotifySocket()
    {
        stop_ = true;
        reader_.join();
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    const std::string &path() const { return path_; }
    std::vector<std::string> messages()
    {
        std::lock_guard lock(mutex_);
        return messages_;
    }
    // Index of the first message at or after `from` containing `text`, or -1.
    int find(const std::string &text, size_t from = 0)
    {
        auto m = messages();
        for (size_t i = from; i < m.size(); ++i)
            if (m[i].find(text) != std::string::npos)
                return static_cast<int>(i);
        return -1;
    }
    int waitFor(const std::string &text, size_t from = 0,
                std::chrono::milliseconds timeout = std::chrono::seconds(30))
    {
        int at = -1;
        waitUntil([&] { return (at = find(text, from)) >= 0; }, timeout);
        return at;
    }
    size_t count(const std::string &text)
    {
        size_t n = 0;
        for (const auto &m : messages())
            n += m.find(text) != std::string::npos;
        return n;
    }

private:
    void readLoop()
    {
        char buf[4096];
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0)
                continue;
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                std::lock_guard lock(mutex_);
                messages_.emplace_back(buf, static_cast<size_t>(n));
            }
        }
    }
    std::string path_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<std::string> messages_;
    std::thread reader_;
};

inline int freePort()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

struct HttpAnswer {
    int status = -1;
    std::string body;
};

inline HttpAnswer httpGet(int port, const std::string &path)
{
    httplib::Client c("127.0.0.1", port);
    c.set_tcp_nodelay(true);
    c.set_connection_timeout(2);
    c.set_read_timeout(5);
    auto r = c.Get(path);
    if (!r)
        return {};
    return {r->status, r->body};
}

// How many times what occurs in text (e.g. a log line in a daemon's log).
inline size_t countOf(const std::string &text, const std::string &what)
{
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

// Replaces the `listen: ""` that daemonConfig() writes with a port.
inline std::string withListen(std::string yaml, int port)
{
    const std::string from = "listen: \"\"";
    auto at = yaml.find(from);
    if (at != std::string::npos)
        yaml.replace(at, from.size(), "listen: \"127.0.0.1:" + std::to_string(port) + "\"");
    return yaml;
}

// A metric sample's value from /metrics text (-1 if absent).
inline double metricValue(const std::string &text, const std::string &series)
{
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos)
        return -1;
    return std::stod(text.substr(at + series.size() + 2));
}

} // namespace sfk::test
