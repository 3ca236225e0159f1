// Every failure sfemu can inject on the Salesforce side: the session
// recovers by itself and every published event reaches Kafka.
#include <doctest/doctest.h>

#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("each armed sfemu fault: no loss, no duplicates, the session recovers")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\nmax_events_per_response: 200\n");
    TempDir dir;
    const std::string tag = uniqueTopic("faults");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", tag + ".event"}, {"/topic/Demo", tag + ".topic"}};
    spec.orgs = {org};
    DaemonProcess daemon = DaemonProcess::start(dir, daemonConfig(spec), {"--log-level", "debug"});

    struct Fault {
        std::string name;
        std::vector<std::string> arm;   // admin fault bodies, in order
        std::string log_hint;           // what the daemon says when it recovers
    };
    std::vector<Fault> faults = {
        {"HTTP 500 on connect", {R"({"fault":"http_500","match":"connect","count":2})"}, "connect failed: HTTP 500"},
        {"HTTP 503 on connect", {R"({"fault":"http_503","match":"connect","count":2})"}, "connect failed: HTTP 503"},
        {"403::Unknown client", {R"({"fault":"unknown_client","match":"connect","count":1})"}, "handshaking again"},
        {"401::Authentication invalid", {R"({"fault":"auth_invalid","match":"connect","count":1})"}, "getting a new token"},
        {"connection reset mid-body", {R"({"fault":"reset","match":"connect","count":1})"}, "connect failed"},
        {"malformed JSON", {R"({"fault":"malformed_json","match":"connect","count":1})"}, "malformed response discarded"},
        {"trailing garbage", {R"({"fault":"trailing_garbage","match":"connect","count":1})"}, "malformed response discarded"},
        {"slow trickled body", {R"({"fault":"slow_body","match":"connect","count":1,"chunk_bytes":256,"interval_ms":2})"}, ""},
        {"delayed response", {R"({"fault":"delay","match":"connect","count":1,"delay_ms":1500})"}, ""},
        {"token revocation", {R"({"fault":"revoke_tokens"})"}, "getting a new token"},
        {"client expiry", {R"({"fault":"expire_clients"})"}, "handshaking again"},
        {"server-initiated /meta/disconnect", {R"({"fault":"server_disconnect","match":"connect","count":1})"},
         "the server disconnected the client"},
        {"503 on handshake after expiry",
         {R"({"fault":"http_503","match":"handshake","count":2})", R"({"fault":"expire_clients"})"},
         "handshake failed: HTTP 503"},
        {"token endpoint down after revocation",
         {R"({"fault":"http_503","match":"token","count":2})", R"({"fault":"revoke_tokens"})"},
         "token request failed"},
    };
    int seed = 1;
    for (const auto &f : faults) {
        CAPTURE(f.name);
        size_t logBefore = daemon.log().size();
        for (const auto &body : f.arm)
            emu.arm("default", body);
        emu.generate("default", "/event/Demo__e", 300, 400, seed++);
        emu.generate("default", "/topic/Demo", 100, 400, seed++);
        for (const auto &c : org.channels) {
            Landing l = awaitLanding(emu, "default", c.name, broker.bootstrap(), c.topic, 120s);
            INFO(c.name << ": " << describe(l));
            CHECK(l.missing == 0);
            CHECK(l.duplicates == 0);
            CHECK(l.order_errors == 0);
        }
        if (!f.log_hint.empty()) {
            std::string log = daemon.log().substr(logBefore);
            INFO(log.substr(0, 4000));
            CHECK(log.find(f.log_hint) != std::string::npos);
        }
        CHECK(daemon.running());
    }
    std::string log = daemon.log();
    for (const char *secret : {"sfemu-secret", "password=", "Bearer "})
        CHECK(log.find(secret) == std::string::npos);
    CHECK(daemon.stop() == 0);
}
