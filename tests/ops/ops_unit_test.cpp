// Pure pieces of the operations work: log level specs, label escaping, the
// lag histogram, listen addresses, org comparison for reload.
#include <doctest/doctest.h>

#include "config/loader.h"
#include "log/log.h"
#include "metrics/http_server.h"
#include "metrics/lag_histogram.h"
#include "metrics/prometheus.h"
#include "session/supervisor.h"

using namespace sfk;

TEST_CASE("log level specs set a default and per-module levels")
{
    std::string error;
    REQUIRE(log::setLevelSpec("info,session=debug,kafka=error", &error));
    CHECK(log::levelFor("session") == log::Level::Debug);
    CHECK(log::levelFor("kafka") == log::Level::Error);
    CHECK(log::levelFor("main") == log::Level::Info);
    CHECK(log::enabled(log::Level::Debug, "session"));
    CHECK_FALSE(log::enabled(log::Level::Debug, "main"));
    CHECK_FALSE(log::enabled(log::Level::Warn, "kafka"));
    CHECK(log::enabled(log::Level::Info, "main"));

    CHECK_FALSE(log::setLevelSpec("loud", &error));
    CHECK(error.find("loud") != std::string::npos);
    CHECK_FALSE(log::setLevelSpec("info,session=", &error));
    CHECK_FALSE(log::setLevelSpec("info,,", &error));
    CHECK_FALSE(log::setLevelSpec("info,debug", &error));
    // A misspelt module is refused rather than silently never applying.
    CHECK_FALSE(log::setLevelSpec("info,sesion=debug", &error));
    CHECK(error.find("unknown module 'sesion'") != std::string::npos);
    CHECK(error.find("session") != std::string::npos);
    // A failed spec leaves the levels alone.
    CHECK(log::levelFor("session") == log::Level::Debug);

    REQUIRE(log::setLevelSpec("warn"));
    CHECK(log::levelFor("session") == log::Level::Warn);
    CHECK_FALSE(log::enabled(log::Level::Info, "session"));
    log::setLevel(log::Level::Info);
    CHECK(log::enabled(log::Level::Info, "session"));
}

TEST_CASE("label values are escaped for the text format")
{
    CHECK(metrics::escapeLabel("/data/AccountChangeEvent") == "/data/AccountChangeEvent");
    CHECK(metrics::escapeLabel("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("the lag histogram puts observations in fixed buckets")
{
    metrics::LagHistogram h;
    h.observe(3);      // <= 5
    h.observe(5);      // <= 5
    h.observe(70);     // <= 100
    h.observe(-20);    // clock skew: 0
    h.observe(10000000);  // +Inf
    CHECK(h.bucket(0) == 3);
    CHECK(h.bucket(4) == 1);
    CHECK(h.bucket(metrics::LagHistogram::kBoundsMs.size()) == 1);
    CHECK(h.count() == 5);
    CHECK(h.sumMs() == 3 + 5 + 70 + 0 + 10000000);
}

TEST_CASE("listen addresses split into host and port")
{
    std::string host;
    int port = 0;
    CHECK(metrics::splitListen("127.0.0.1:9464", host, port).empty());
    CHECK(host == "127.0.0.1");
    CHECK(port == 9464);
    CHECK(metrics::splitListen("[::1]:80", host, port).empty());
    CHECK(host == "::1");
    CHECK(port == 80);
    CHECK_FALSE(metrics::splitListen("localhost", host, port).empty());
    CHECK_FALSE(metrics::splitListen("h:99999", host, port).empty());
    CHECK_FALSE(metrics::splitListen("h:12x", host, port).empty());
}

namespace {
config::Config load(const std::string &channels_a, const std::string &secret_a = "s")
{
    std::string yaml = "version: 1\nkafka:\n  brokers: 127.0.0.1:9\nstate:\n  directory: /tmp/x\norgs:\n"
                       "  a:\n    login_url: http://127.0.0.1:1\n    auth:\n      flow: password\n"
                       "      client_id: c\n      client_secret: " + secret_a + "\n      username: u\n"
                       "      password: p\n    channels:\n" + channels_a;
    auto r = config::loadString(yaml, "t.yaml");
    for (const auto &e : r.errors)
        MESSAGE(e.str());
    REQUIRE(r.ok());
    return *r.config;
}
} // namespace

TEST_CASE("reload sees any difference in an org, channels included")
{
    auto base = load("      /event/A__e:\n        topic: a\n");
    CHECK(session::sameOrg(base.orgs[0], load("      /event/A__e:\n        topic: a\n").orgs[0]));
    CHECK_FALSE(session::sameOrg(base.orgs[0], load("      /event/A__e:\n        topic: b\n").orgs[0]));
    CHECK_FALSE(session::sameOrg(
        base.orgs[0], load("      /event/A__e:\n        topic: a\n      /event/B__e:\n        topic: b\n").orgs[0]));
    CHECK_FALSE(session::sameOrg(
        base.orgs[0], load("      /event/A__e:\n        topic: a\n        start: earliest\n").orgs[0]));
    CHECK_FALSE(session::sameOrg(base.orgs[0], load("      /event/A__e:\n        topic: a\n", "t").orgs[0]));
}
