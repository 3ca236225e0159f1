// A minimal HTTP CONNECT proxy for tests: tunnels TCP to loopback targets
// only, optionally demands Basic credentials, and prints "TUNNEL host:port"
// for every tunnel it opens (so a test can see traffic went through it).
//
//   connect_proxy [--user U --password P]     prints PROXY=127.0.0.1:<port>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::string g_expectedAuth; // "Basic <base64>" or empty
std::mutex g_out;

std::string base64(const std::string &in)
{
    static const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    while (i + 2 < in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += tbl[v >> 18 & 63]; out += tbl[v >> 12 & 63]; out += tbl[v >> 6 & 63]; out += tbl[v & 63];
        i += 3;
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += tbl[v >> 18 & 63]; out += tbl[v >> 12 & 63]; out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += tbl[v >> 18 & 63]; out += tbl[v >> 12 & 63]; out += tbl[v >> 6 & 63]; out += '=';
    }
    return out;
}

void sendAll(int fd, const std::string &s) { (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

void relay(int a, int b)
{
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    char buf[65536];
    for (;;) {
        if (::poll(fds, 2, 120000) <= 0)
            return;
        for (int i = 0; i < 2; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
            if (n <= 0)
                return;
            int to = fds[1 - i].fd;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = ::send(to, buf + off, n - off, MSG_NOSIGNAL);
                if (w <= 0)
                    return;
                off += w;
            }
        }
    }
}

void serve(int client)
{
    std::string head;
    char c;
    while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
        if (::recv(client, &c, 1, 0) != 1) {
            ::close(client);
            return;
        }
        head += c;
    }
    char method[16] = {}, target[512] = {};
    if (std::sscanf(head.c_str(), "%15s %511s", method, target) != 2 || std::strcmp(method, "CONNECT") != 0) {
        sendAll(client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        ::close(client);
        return;
    }
    if (!g_expectedAuth.empty()) {
        bool ok = false;
        size_t pos = 0;
        while ((pos = head.find("\r\n", pos)) != std::string::npos) {
            pos += 2;
            std::string line = head.substr(pos, head.find("\r\n", pos) - pos);
            if (strncasecmp(line.c_str(), "Proxy-Authorization:", 20) == 0) {
                std::string v = line.substr(20);
                while (!v.empty() && v[0] == ' ')
                    v.erase(0, 1);
                ok = v == g_expectedAuth;
            }
        }
        if (!ok) {
            sendAll(client, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n");
            ::close(client);
            return;
        }
    }
    std::string t = target;
    auto colon = t.rfind(':');
    std::string host = t.substr(0, colon), port = colon == std::string::npos ? "443" : t.substr(colon + 1);
    if (host == "localhost")
        host = "127.0.0.1";
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
        sendAll(client, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");   // loopback only
        ::close(client);
        return;
    }
    int up = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = addr;
    sa.sin_port = htons(static_cast<uint16_t>(std::atoi(port.c_str())));
    if (::connect(up, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
        sendAll(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        ::close(up);
        ::close(client);
        return;
    }
    int one = 1;
    ::setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
        std::lock_guard lock(g_out);
        std::printf("TUNNEL %s\n", target);
        std::fflush(stdout);
    }
    sendAll(client, "HTTP/1.1 200 Connection established\r\n\r\n");
    relay(client, up);
    ::close(up);
    ::close(client);
}

} // namespace

int main(int argc, char **argv)
{
    std::string user, password;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--user") == 0) user = argv[i + 1];
        else if (std::strcmp(argv[i], "--password") == 0) password = argv[i + 1];
    }
    if (!user.empty())
        g_expectedAuth = "Basic " + base64(user + ":" + password);
    std::signal(SIGPIPE, SIG_IGN);
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || ::listen(s, 64) != 0) {
        std::perror("connect_proxy: bind");
        return 1;
    }
    socklen_t len = sizeof sa;
    ::getsockname(s, reinterpret_cast<sockaddr *>(&sa), &len);
    std::printf("PROXY=127.0.0.1:%d\n", ntohs(sa.sin_port));
    std::fflush(stdout);
    for (;;) {
        int c = ::accept(s, nullptr, nullptr);
        if (c < 0)
            continue;
        std::thread(serve, c).detach();
    }
}
