// sfemu over HTTP: faults armed through the admin API.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "sfemu_process.h"
#include "sfemu_test_client.h"

using namespace sfk::test;
using namespace sfk::test::emu;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kFast = "connect_hold_ms: 300\nclient_timeout_ms: 5000\n";

int64_t msSince(Clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Sends one raw HTTP/1.1 request and reads until the peer closes (or 10 s).
std::string rawExchange(const std::string &url, const std::string &request)
{
    auto colon = url.rfind(':');
    int port = std::stoi(url.substr(colon + 1));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        out.append(buf, static_cast<size_t>(n));
    close(fd);
    return out;
}

struct Session {
    BayeuxTestClient client;
    explicit Session(const SfemuProcess &emu) : client(emu.url(), passwordToken(emu.url()))
    {
        REQUIRE(boolean(client.handshake()[0], "successful"));
    }
};

std::string connectRequest(const std::string &token, const BayeuxTestClient &c, const std::string &body)
{
    std::string cookie;
    for (auto &[k, v] : c.cookies())
        cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
    return "POST /cometd/62.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
           "\r\nCookie: " + cookie + "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace

TEST_CASE("http_503 and http_500 for the next N matching requests only")
{
    auto emu = SfemuProcess::start(kFast);
    Session s(emu);
    emu.arm("default", R"({"fault":"http_503","count":2,"match":"connect"})");
    // A subscribe does not match a connect fault.
    CHECK(boolean(s.client.subscribe("/topic/Demo", "-1")[0], "successful"));
    CHECK(s.client.connectRaw().status == 503);
    CHECK(s.client.connectRaw().status == 503);
    CHECK(s.client.connectRaw().status == 200);
    emu.arm("default", R"({"fault":"http_500","match":"any"})");
    CHECK(s.client.subscribe("/u/Demo", "-1").ok == true);
    CHECK(s.client.connectRaw().status == 200);
}

TEST_CASE("unknown_client on connect forgets the client; handshake again and resume")
{
    auto emu = SfemuProcess::start(kFast);
    Session s(emu);
    auto ids = emu.generate("default", "/topic/Demo", 4, 100);
    s.client.subscribe("/topic/Demo", "-2");
    auto got = s.client.receive(2);
    emu.arm("default", R"({"fault":"unknown_client","match":"connect"})");
    Json c = s.client.connect();
    CHECK(str(c[0], "error") == "403::Unknown client");
    CHECK(str(c[0]["advice"], "reconnect") == "handshake");
    CHECK(str(s.client.connect()[0], "error") == "403::Unknown client");
    REQUIRE(boolean(s.client.handshake()[0], "successful"));
    REQUIRE(boolean(s.client.subscribe("/topic/Demo", std::to_string(ids[1]))[0], "successful"));
    auto rest = s.client.receive(2);
    REQUIRE(rest.size() == 2);
    CHECK(rest[0].second == ids[2]);
    CHECK(rest[1].second == ids[3]);
    CHECK(emu.clients("default").find("unknown_client_fault") != std::string::npos);
}

TEST_CASE("auth_invalid on handshake and on connect")
{
    auto emu = SfemuProcess::start(kFast);
    Session s(emu);
    emu.arm("default", R"({"fault":"auth_invalid","match":"handshake"})");
    Json h = s.client.handshake();
    CHECK(str(h[0], "error") == "403::Handshake denied");
    CHECK(str(h[0]["ext"]["sfdc"], "failureReason") == "401::Authentication invalid");
    REQUIRE(boolean(s.client.handshake()[0], "successful"));
    emu.arm("default", R"({"fault":"auth_invalid","match":"connect"})");
    Json c = s.client.connect();
    CHECK(str(c[0], "error") == "401::Authentication invalid");
    CHECK(str(c[0]["advice"], "reconnect") == "none");
}

TEST_CASE("malformed JSON, trailing garbage, reset, slow body and delay")
{
    auto emu = SfemuProcess::start(kFast);
    Session s(emu);
    emu.generate("default", "/topic/Demo", 3, 200);
    s.client.subscribe("/topic/Demo", "-2");

    emu.arm("default", R"({"fault":"malformed_json","match":"connect"})");
    Reply r = s.client.connectRaw();
    CHECK(r.status == 200);
    CHECK_FALSE(Json(r.body).ok);

    emu.generate("default", "/topic/Demo", 1, 200);
    emu.arm("default", R"({"fault":"trailing_garbage","match":"connect"})");
    r = s.client.connectRaw();
    CHECK(r.status == 200);
    auto tail = r.body.rfind("garbage{]");
    REQUIRE(tail != std::string::npos);
    CHECK(tail + 9 == r.body.size());
    CHECK_FALSE(Json(r.body).ok);
    CHECK(Json(r.body.substr(0, tail)).ok);

    // Reset: the body stops halfway and the connection closes.
    emu.generate("default", "/topic/Demo", 2, 2000);
    emu.arm("default", R"({"fault":"reset","match":"connect"})");
    std::string body = R"([{"channel":"/meta/connect","clientId":")" + s.client.clientId() +
                       R"(","connectionType":"long-polling","id":"r1"}])";
    std::string raw = rawExchange(emu.url(), connectRequest(passwordToken(emu.url()), s.client, body));
    // Another token is fine: the client is found by id and cookies.
    auto header_end = raw.find("\r\n\r\n");
    REQUIRE(header_end != std::string::npos);
    auto cl = raw.find("Content-Length: ");
    REQUIRE(cl != std::string::npos);
    size_t declared = std::stoul(raw.substr(cl + 16));
    size_t got = raw.size() - header_end - 4;
    CHECK(got < declared);
    CHECK(got > 0);

    // Slow body: arrives whole, but trickled.
    emu.generate("default", "/topic/Demo", 1, 300);
    emu.arm("default", R"({"fault":"slow_body","match":"connect","chunk_bytes":64,"interval_ms":20})");
    auto t0 = Clock::now();
    r = s.client.connectRaw();
    CHECK(Json(r.body).ok);
    CHECK(msSince(t0) >= 100);

    emu.arm("default", R"({"fault":"delay","match":"subscribe","delay_ms":400})");
    t0 = Clock::now();
    CHECK(boolean(s.client.subscribe("/u/Demo", "-1")[0], "successful"));
    CHECK(msSince(t0) >= 380);
}

TEST_CASE("expire_clients forgets every client; a held connect returns unknown client")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 5000\n");
    Session s(emu);
    s.client.connect();
    std::thread admin([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        emu.arm("default", R"({"fault":"expire_clients"})");
    });
    auto t0 = Clock::now();
    Json c = s.client.connect();
    admin.join();
    CHECK(msSince(t0) < 3000);
    CHECK(str(c[0], "error") == "403::Unknown client");
}

TEST_CASE("expire_clients with several clients; the oracle keeps them")
{
    auto emu = SfemuProcess::start(kFast);
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 4; ++i)
        sessions.push_back(std::make_unique<Session>(emu));
    emu.arm("default", R"({"fault":"expire_clients"})");
    for (auto &s : sessions)
        CHECK(str(s->client.connect()[0], "error") == "403::Unknown client");
    std::string clients = emu.clients("default");
    size_t n = 0;
    for (size_t pos = 0; (pos = clients.find("expired_by_admin", pos)) != std::string::npos; ++pos)
        ++n;
    CHECK(n == 4);
    Session again(emu);
    CHECK(boolean(again.client.connect()[0], "successful"));
}

TEST_CASE("bad fault bodies are refused with 400")
{
    auto emu = SfemuProcess::start(kFast);
    CHECK_THROWS(emu.arm("default", R"({"fault":"explode"})"));
    CHECK_THROWS(emu.arm("default", R"({"fault":"http_503","match":"everything"})"));
    CHECK_THROWS(emu.arm("default", R"({"fault":"http_503","count":0})"));
    CHECK_THROWS(emu.arm("default", "nope"));
    CHECK_THROWS(emu.arm("nosuchorg", R"({"fault":"http_503"})"));
    CHECK_NOTHROW(emu.arm("default", R"({"fault":"http_503"})"));
    CHECK_NOTHROW(emu.arm("default", R"({"fault":"clear"})"));
    Session s(emu);
    CHECK(s.client.connectRaw().status == 200);
}
