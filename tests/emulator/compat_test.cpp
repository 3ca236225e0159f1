// sfemu over HTTP: the details real clients trip on. The instance URL names
// the host the client used (or --public-url), and the retired Streaming API
// versions 23.0-36.0 are served as the latest version, as at Salesforce.
#include <doctest/doctest.h>

#include "sfemu_process.h"
#include "sfemu_test_client.h"

using namespace sfk::test;
using namespace sfk::test::emu;

namespace {

const std::string kFast = "connect_hold_ms: 300\n";

std::string portOf(const std::string &url) { return url.substr(url.rfind(':') + 1); }

// A password-flow token request sent with the given Host header.
Json tokenVia(const std::string &url, const std::string &host)
{
    auto c = httpClient(url);
    httplib::Headers headers{{"Host", host}};
    auto res = c->Post("/services/oauth2/token", headers,
                       form({{"grant_type", "password"},
                             {"client_id", "sfemu-client"},
                             {"client_secret", "sfemu-secret"},
                             {"username", "user@example.com"},
                             {"password", "password"}}),
                       "application/x-www-form-urlencoded");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return Json(res->body);
}

} // namespace

TEST_CASE("instance_url and the identity URL name the host the client asked for")
{
    auto emu = SfemuProcess::start();
    std::string named = "http://localhost:" + portOf(emu.url());
    Json j = tokenVia(emu.url(), "localhost:" + portOf(emu.url()));
    CHECK(str(j.root, "instance_url") == named);
    CHECK(str(j.root, "id") == named + "/id/00D000000000001AAA/005000000000001AAA");

    auto c = httpClient(emu.url());
    auto res = c->Get("/services/oauth2/userinfo",
                      {{"Host", "localhost:" + portOf(emu.url())},
                       {"Authorization", "Bearer " + str(j.root, "access_token")}});
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(str(Json(res->body).root, "sub") == named + "/id/00D000000000001AAA/005000000000001AAA");

    // A Host header that is not a plain host[:port] is not echoed back.
    Json odd = tokenVia(emu.url(), "evil.example/\"x");
    CHECK(str(odd.root, "instance_url") == emu.url());
}

TEST_CASE("--public-url replaces the host in instance_url and the identity URL")
{
    auto emu = SfemuProcess::start("", {"--public-url", "https://sfemu.example.test:8443/"});
    Json j = tokenVia(emu.url(), "localhost:" + portOf(emu.url()));
    CHECK(str(j.root, "instance_url") == "https://sfemu.example.test:8443");
    CHECK(str(j.root, "id").rfind("https://sfemu.example.test:8443/id/00D000000000001AAA/", 0) == 0);
    CHECK_THROWS(SfemuProcess::start("", {"--public-url", "ftp://nope"}));
    CHECK_THROWS(SfemuProcess::start("", {"--public-url", "http://host/with/path"}));
}

TEST_CASE("retired Streaming API versions 23.0-36.0 are routed to the latest version")
{
    auto emu = SfemuProcess::start(kFast);
    auto ids = emu.publish("default", "/topic/Demo", R"([{"Name":"a"},{"Name":"b"}])");
    for (std::string version : {"23.0", "31.0", "36.0"}) {
        CAPTURE(version);
        BayeuxTestClient client(emu.url(), passwordToken(emu.url()), version);
        Json h = client.handshake();
        REQUIRE(boolean(h[0], "successful"));
        // The replay extension of the latest version is there.
        CHECK(boolean(h[0]["ext"], "replay"));
        Json s = client.subscribe("/topic/Demo", "-2");
        REQUIRE(boolean(s[0], "successful"));
        auto got = client.receive(2);
        REQUIRE(got.size() == 2);
        CHECK(got[0].second == ids[0]);
        CHECK(got[1].second == ids[1]);
    }
    // Before 23.0 there was no Streaming API.
    BayeuxTestClient ancient(emu.url(), passwordToken(emu.url()), "22.0");
    Reply r = ancient.post("[]");
    CHECK(r.status == 400);
    CHECK(r.body.find("UNSUPPORTED_API_VERSION") != std::string::npos);
}
