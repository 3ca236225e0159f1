// How fast sfemu serves pre-generated events to one long-polling client on
// loopback. Starts the real sfemu binary, appends N events of about B bytes
// through the admin API, then lets a minimal keep-alive HTTP/1.1 client
// handshake, subscribe with -2 and connect until it has every event.
//
//   sfemu_bench [--events N] [--bytes B] [--passes P] [--batch M] [--sfemu PATH]
//
// Prints events/s and MB/s per pass and the best pass.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

class Connection {
public:
    explicit Connection(int port)
    {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
        if (connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
            throw std::runtime_error("connect failed");
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int big = 4 << 20;
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        buf_.resize(1 << 20);
    }
    ~Connection() { close(fd_); }

    // One request; returns the body. Collects Set-Cookie pairs.
    std::string request(const std::string &method, const std::string &path,
                        const std::string &headers, const std::string &body)
    {
        std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        size_t off = 0;
        while (off < req.size()) {
            ssize_t n = send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
            if (n <= 0)
                throw std::runtime_error("send failed");
            off += static_cast<size_t>(n);
        }
        // Headers.
        size_t header_end;
        while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos)
            fill();
        std::string head = pending_.substr(0, header_end);
        pending_.erase(0, header_end + 4);
        status_ = std::atoi(head.c_str() + 9);
        size_t length = 0;
        size_t pos = 0;
        while ((pos = head.find("\r\n", pos)) != std::string::npos) {
            pos += 2;
            auto line_end = head.find("\r\n", pos);
            std::string line = head.substr(pos, line_end == std::string::npos ? std::string::npos : line_end - pos);
            if (strncasecmp(line.c_str(), "Content-Length:", 15) == 0)
                length = std::strtoul(line.c_str() + 15, nullptr, 10);
            if (strncasecmp(line.c_str(), "Set-Cookie:", 11) == 0) {
                std::string pair = line.substr(12, line.find(';') - 12);
                cookies_ += (cookies_.empty() ? "" : "; ") + pair;
            }
        }
        std::string out;
        out.reserve(length);
        size_t take = std::min(length, pending_.size());
        out.append(pending_, 0, take);
        pending_.erase(0, take);
        while (out.size() < length) {
            ssize_t n = recv(fd_, buf_.data(), std::min(buf_.size(), length - out.size()), 0);
            if (n <= 0)
                throw std::runtime_error("recv failed");
            out.append(buf_.data(), static_cast<size_t>(n));
        }
        return out;
    }
    int status() const { return status_; }
    const std::string &cookies() const { return cookies_; }

private:
    void fill()
    {
        ssize_t n = recv(fd_, buf_.data(), buf_.size(), 0);
        if (n <= 0)
            throw std::runtime_error("recv failed");
        pending_.append(buf_.data(), static_cast<size_t>(n));
    }

    int fd_ = -1;
    std::vector<char> buf_;
    std::string pending_;
    std::string cookies_;
    int status_ = 0;
};

std::string field(const std::string &json, const std::string &key)
{
    auto pos = json.find("\"" + key + "\":\"");
    if (pos == std::string::npos)
        return {};
    pos += key.size() + 4;
    return json.substr(pos, json.find('"', pos) - pos);
}

int portOf(const std::string &url) { return std::atoi(url.c_str() + url.rfind(':') + 1); }

size_t count(const std::string &body, const char *needle)
{
    size_t n = 0;
    size_t len = std::strlen(needle);
    const char *p = body.data();
    const char *end = p + body.size();
    while ((p = static_cast<const char *>(memmem(p, static_cast<size_t>(end - p), needle, len)))) {
        ++n;
        p += len;
    }
    return n;
}

} // namespace

int main(int argc, char **argv)
{
    long events = 300000, bytes = 1024, passes = 3, batch = 1000;
    std::string sfemu;
    {
        std::string self = argv[0];
        auto slash = self.rfind('/');
        std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
        sfemu = dir + "/../emulator/sfemu";
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--events") events = std::atol(argv[i + 1]);
        else if (a == "--bytes") bytes = std::atol(argv[i + 1]);
        else if (a == "--passes") passes = std::atol(argv[i + 1]);
        else if (a == "--batch") batch = std::atol(argv[i + 1]);
        else if (a == "--sfemu") sfemu = argv[i + 1];
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }

    char config[] = "/tmp/sfemu-bench-XXXXXX";
    int cfd = mkstemp(config);
    std::string yaml = "connect_hold_ms: 2000\nclient_timeout_ms: 60000\nmax_events_per_response: " +
                       std::to_string(batch) + "\n";
    if (write(cfd, yaml.data(), yaml.size()) != static_cast<ssize_t>(yaml.size()))
        return 1;
    close(cfd);

    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execl(sfemu.c_str(), sfemu.c_str(), "--config", config, "--log-level", "warn", nullptr);
        std::perror("exec sfemu");
        _exit(127);
    }
    close(pipefd[1]);
    std::string out, url, admin;
    char buf[256];
    while (admin.empty()) {
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n <= 0) {
            std::fprintf(stderr, "sfemu did not start\n");
            return 1;
        }
        out.append(buf, static_cast<size_t>(n));
        auto u = out.find("SFEMU_URL=");
        auto a = out.find("SFEMU_ADMIN_URL=");
        if (u != std::string::npos && a != std::string::npos && out.find('\n', a) != std::string::npos) {
            url = out.substr(u + 10, out.find('\n', u) - u - 10);
            admin = out.substr(a + 16, out.find('\n', a) - a - 16);
        }
    }

    int rc = 0;
    try {
        Connection adm(portOf(admin));
        auto t0 = Clock::now();
        for (long done = 0; done < events;) {
            long n = std::min(50000L, events - done);
            adm.request("POST", "/admin/orgs/default/events", "Content-Type: application/json\r\n",
                        "{\"channel\":\"/event/Demo__e\",\"generate\":{\"count\":" + std::to_string(n) +
                            ",\"payload_bytes\":" + std::to_string(bytes) + ",\"seed\":" +
                            std::to_string(done + 1) + "}}");
            if (adm.status() != 200)
                throw std::runtime_error("generate failed");
            done += n;
        }
        double gen_s = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("sfemu_bench: %ld events of about %ld bytes generated in %.2f s; batch %ld\n",
                    events, bytes, gen_s, batch);

        std::vector<double> rates;
        for (long p = 0; p < passes; ++p) {
            Connection c(portOf(url));
            std::string token = field(
                c.request("POST", "/services/oauth2/token",
                          "Content-Type: application/x-www-form-urlencoded\r\n",
                          "grant_type=password&client_id=sfemu-client&client_secret=sfemu-secret"
                          "&username=user%40example.com&password=password"),
                "access_token");
            std::string auth = "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\n";
            std::string hs = c.request("POST", "/cometd/62.0", auth,
                                       R"([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}])");
            std::string client = field(hs, "clientId");
            std::string with_cookies = auth + "Cookie: " + c.cookies() + "\r\n";
            c.request("POST", "/cometd/62.0", with_cookies,
                      R"([{"channel":"/meta/subscribe","clientId":")" + client +
                          R"(","subscription":"/event/Demo__e","id":"2","ext":{"replay":{"/event/Demo__e":-2}}}])");
            const std::string connect = R"([{"channel":"/meta/connect","clientId":")" + client +
                                        R"(","connectionType":"long-polling","id":"3"}])";
            size_t got = 0, total_bytes = 0, responses = 0;
            auto start = Clock::now();
            while (got < static_cast<size_t>(events)) {
                std::string body = c.request("POST", "/cometd/62.0", with_cookies, connect);
                if (c.status() != 200)
                    throw std::runtime_error("connect failed: HTTP " + std::to_string(c.status()));
                got += count(body, "\"replayId\":");
                total_bytes += body.size();
                ++responses;
            }
            double s = std::chrono::duration<double>(Clock::now() - start).count();
            double rate = static_cast<double>(got) / s;
            rates.push_back(rate);
            std::printf("pass %ld: %zu events in %zu responses, %.3f s: %.0f events/s, %.1f MB/s\n", p + 1,
                        got, responses, s, rate, static_cast<double>(total_bytes) / s / 1e6);
        }
        std::sort(rates.begin(), rates.end());
        std::printf("sfemu_bench: best %.0f events/s, median %.0f events/s (one client, loopback, ~%ld-byte events)\n",
                    rates.back(), rates[rates.size() / 2], bytes);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sfemu_bench: %s\n", e.what());
        rc = 1;
    }
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    unlink(config);
    return rc;
}
