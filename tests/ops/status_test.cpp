// GET /status and `sfkafkad status` against a running daemon: the fields an
// operator reads first, a problem shown with its time, and no secret anywhere.
#include <doctest/doctest.h>

#include <simdjson.h>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("status endpoint and command: per org and channel, last problem, no secrets")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string topicA = uniqueTopic("ops.status.a");
    const std::string topicB = uniqueTopic("ops.status.b");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topicA}, {"/topic/Demo", topicB}};
    spec.orgs = {org};
    int port = freePort();
    std::string yaml = withListen(daemonConfig(spec), port);
    emu.generate("default", "/event/Demo__e", 12, 200);
    DaemonProcess daemon = DaemonProcess::start(dir, yaml);
    REQUIRE(awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topicA).missing == 0);
    // The first channel's id is committed within the commit interval.
    CHECK(waitUntil([&] {
        auto body = httpGet(port, "/status").body;
        auto at = body.find("\"name\":\"/event/Demo__e\"");
        return at != std::string::npos && body.find("\"committed_replay_id\":null", at) > body.find("/topic/Demo", at);
    }, 20s));

    auto status = httpGet(port, "/status");
    REQUIRE(status.status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(status.body).get(doc) == simdjson::SUCCESS);
    simdjson::dom::element o = doc["orgs"].at(0);
    CHECK(std::string(o["name"].get_string().value()) == "default");
    CHECK(std::string(o["state"].get_string().value()) == "streaming");
    CHECK(std::string(o["transport"].get_string().value()) == "cometd");
    CHECK(o["org_id"].get_string().value().size() >= 15);
    CHECK(o["token_obtained_ms"].get_int64().value() > 0);
    CHECK(o["state_since_ms"].get_int64().value() > 0);
    CHECK(o["last_problem"].is_null());
    CHECK(o["delivery_lag_p99_ms"].get_int64().value() >= 0);
    simdjson::dom::element a = o["channels"].at(0);
    CHECK(std::string(a["name"].get_string().value()) == "/event/Demo__e");
    CHECK(std::string(a["topic"].get_string().value()) == topicA);
    CHECK(a["received"].get_uint64().value() == 12);
    CHECK(a["delivered"].get_uint64().value() == 12);
    CHECK(a["in_flight"].get_int64().value() == 0);
    CHECK(a["last_event_ms"].get_int64().value() > 0);
    CHECK(a["gaps"].get_uint64().value() == 0);
    CHECK(a["dead_letters"].get_uint64().value() == 0);
    simdjson::dom::element b = o["channels"].at(1);
    CHECK(std::string(b["name"].get_string().value()) == "/topic/Demo");
    CHECK(b["last_event_ms"].is_null());
    CHECK(b["committed_replay_id"].is_null());

    std::string out;
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    CHECK(runDaemon({"status", "--url", url}, out) == 0);
    INFO(out);
    CHECK(out.find("ORG") != std::string::npos);
    CHECK(out.find("default") != std::string::npos);
    CHECK(out.find("streaming") != std::string::npos);
    CHECK(out.find("/event/Demo__e") != std::string::npos);
    CHECK(out.find(topicA) != std::string::npos);
    CHECK(out.find("DEAD LETTERS") != std::string::npos);

    // The same through the configuration's http.listen, and as JSON.
    writeFile(dir.file("status.yaml"), yaml);
    std::string viaConfig;
    CHECK(runDaemon({"status", "--config", dir.file("status.yaml")}, viaConfig) == 0);
    CHECK(viaConfig.find("/event/Demo__e") != std::string::npos);
    std::string json;
    CHECK(runDaemon({"status", "--url", url, "--json"}, json) == 0);
    CHECK(json.find("\"orgs\":[") != std::string::npos);

    // A problem shows with its time; the command's exit status says so.
    emu.arm("default", R"({"fault":"http_503","match":"connect","count":1000})");
    CHECK(waitUntil([&] { return httpGet(port, "/status").body.find("\"last_problem\":{") != std::string::npos; },
                    30s));
    std::string degraded;
    CHECK(waitUntil([&] { return runDaemon({"status", "--url", url}, degraded) == 3; }, 30s));
    CHECK(degraded.find("last warn") != std::string::npos);
    emu.arm("default", R"({"fault":"clear"})");

    // Never a secret (sfemu's default client secret and password).
    for (const std::string &text : {httpGet(port, "/status").body, out, viaConfig, json, degraded}) {
        CHECK(text.find("sfemu-secret") == std::string::npos);
        CHECK(text.find("\"password\"") == std::string::npos);
        CHECK(text.find("access_token") == std::string::npos);
    }

    // Nothing listening: a clear error and exit 1.
    std::string down;
    CHECK(runDaemon({"status", "--url", "http://127.0.0.1:" + std::to_string(freePort())}, down) == 1);
    CHECK(down.find("cannot reach") != std::string::npos);
    CHECK(runDaemon({"status", "--bogus"}, down) == 2);
    CHECK(daemon.stop() == 0);
}
