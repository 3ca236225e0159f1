// sfemu over HTTP: the admin API (events of all four families, generated
// events, the published and clients oracles) and the process itself.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "sfemu_process.h"
#include "sfemu_test_client.h"

using namespace sfk::test;
using namespace sfk::test::emu;

namespace {

const std::string kFast = "connect_hold_ms: 300\n";

// Subscribes with -2 and returns the first delivered event message.
Json firstEvent(SfemuProcess &emu, const std::string &channel)
{
    BayeuxTestClient c(emu.url(), passwordToken(emu.url()));
    c.handshake();
    c.subscribe(channel, "-2");
    for (int i = 0; i < 5; ++i) {
        Reply r = c.connectRaw();
        Json j(r.body);
        if (j.size() > 1)
            return j;
    }
    FAIL("no event delivered");
    return Json("[]");
}

} // namespace

TEST_CASE("topic events: sobject, type, createdDate, replayId")
{
    auto emu = SfemuProcess::start(kFast);
    auto ids = emu.publish("default", "/topic/Demo",
                           R"([{"type":"updated","Id":"a00D0000008o6y8IAA","Name":"INV-1","Amount__c":4.5}])");
    Json j = firstEvent(emu, "/topic/Demo");
    simdjson::dom::element d = j[0]["data"];
    CHECK(str(j[0], "channel") == "/topic/Demo");
    CHECK(integer(d["event"], "replayId") == ids[0]);
    CHECK(str(d["event"], "type") == "updated");
    CHECK(str(d["event"], "createdDate").size() == 24);
    CHECK(str(d["sobject"], "Id") == "a00D0000008o6y8IAA");
    CHECK(str(d["sobject"], "Name") == "INV-1");
    CHECK_FALSE(has(d["sobject"], "type"));
    auto p = emu.published("default", "/topic/Demo");
    REQUIRE(p.size() == 1);
    CHECK(p[0].replay_id == ids[0]);
    CHECK(p[0].event_uuid.size() == 36);
    CHECK(p[0].time_ms > 0);
}

TEST_CASE("generic, platform and change events have their family shapes")
{
    auto emu = SfemuProcess::start(kFast);
    emu.publish("default", "/u/Demo", R"(["Build 42 finished"])");
    Json u = firstEvent(emu, "/u/Demo");
    CHECK(str(u[0]["data"], "payload") == "Build 42 finished");
    CHECK(has(u[0]["data"]["event"], "createdDate"));

    emu.publish("default", "/event/Demo__e", R"([{"Order_Number__c":"A-1","Amount__c":42.5}])");
    Json e = firstEvent(emu, "/event/Demo__e");
    simdjson::dom::element ed = e[0]["data"];
    CHECK(str(ed, "schema").size() == 22);
    CHECK(str(ed["payload"], "Order_Number__c") == "A-1");
    CHECK(has(ed["payload"], "CreatedDate"));
    CHECK(has(ed["payload"], "CreatedById"));
    CHECK(str(ed["event"], "EventUuid").size() == 36);
    auto pe = emu.published("default", "/event/Demo__e");
    CHECK(pe[0].event_uuid == str(ed["event"], "EventUuid"));

    emu.publish("default", "/data/AccountChangeEvent",
                R"([{"ChangeEventHeader":{"changeType":"CREATE","recordIds":["001000000000001AAA"],"commitTimestamp":1743355200000,"changedFields":["Name"]},"Name":"Acme"},
                    {"ChangeEventHeader":{"changeType":"GAP_UPDATE","recordIds":["001000000000002AAA","001000000000003AAA"]}}])");
    Json d = firstEvent(emu, "/data/AccountChangeEvent");
    REQUIRE(d.size() == 3);
    simdjson::dom::element h = d[0]["data"]["payload"]["ChangeEventHeader"];
    CHECK(str(h, "entityName") == "Account");
    CHECK(str(h, "changeType") == "CREATE");
    CHECK(integer(h, "commitTimestamp") == 1743355200000);
    CHECK(has(h, "transactionKey"));
    CHECK(has(h, "commitNumber"));
    CHECK(str(d[0]["data"]["payload"], "Name") == "Acme");
    CHECK_FALSE(has(d[0]["data"]["event"], "EventUuid"));
    simdjson::dom::element gap = d[1]["data"]["payload"];
    CHECK(str(gap["ChangeEventHeader"], "changeType") == "GAP_UPDATE");
    CHECK(gap["ChangeEventHeader"]["recordIds"].get_array().value().size() == 2);
    auto pd = emu.published("default", "/data/AccountChangeEvent");
    CHECK(pd[0].time_ms == 1743355200000);
}

TEST_CASE("generated events: family shapes and about the asked size")
{
    auto emu = SfemuProcess::start(kFast);
    auto a = emu.generate("default", "/data/AccountChangeEvent", 3, 1024, 5);
    CHECK(a.size() == 3);
    Json d = firstEvent(emu, "/data/AccountChangeEvent");
    REQUIRE(d.size() == 4);
    for (size_t i = 0; i < 3; ++i) {
        simdjson::dom::element h = d[i]["data"]["payload"]["ChangeEventHeader"];
        CHECK(str(h, "entityName") == "Account");
        CHECK(h["recordIds"].get_array().value().size() == 1);
        std::string text = simdjson::minify(d[i]);
        CHECK(text.size() > 900);
        CHECK(text.size() < 1150);
    }
    emu.generate("default", "/topic/Demo", 2, 1024);
    Json t = firstEvent(emu, "/topic/Demo");
    CHECK(str(t[0]["data"]["sobject"], "Id").size() == 18);
    std::string text = simdjson::minify(t[0]);
    CHECK(text.size() > 900);
    CHECK(text.size() < 1150);
}

TEST_CASE("admin errors: unknown org, unknown channel, bad payloads; org by id")
{
    auto emu = SfemuProcess::start(kFast);
    CHECK_THROWS(emu.publish("nope", "/topic/Demo", R"([{"Name":"a"}])"));
    CHECK_THROWS(emu.publish("default", "/topic/Missing", R"([{"Name":"a"}])"));
    CHECK_THROWS(emu.publish("default", "/u/Demo", R"([{"a":1}])"));
    CHECK_THROWS(emu.publish("default", "/topic/Demo", R"(["text"])"));
    CHECK_THROWS(emu.publish("default", "/topic/Demo", R"(not json)"));
    // Nothing of a refused batch was appended.
    CHECK(emu.published("default", "/topic/Demo").empty());
    CHECK(emu.publish("00D000000000001AAA", "/topic/Demo", R"([{"Name":"a"}])").size() == 1);
    CHECK(emu.published("00D000000000001AAA", "/topic/Demo").size() == 1);
}

TEST_CASE("the clients oracle lists subscriptions and what was sent")
{
    auto emu = SfemuProcess::start(kFast);
    auto ids = emu.generate("default", "/topic/Demo", 3, 100);
    BayeuxTestClient c(emu.url(), passwordToken(emu.url()));
    c.handshake();
    c.subscribe("/topic/Demo", "-2");
    c.receive(3);
    Json j(emu.clients("default"));
    REQUIRE(j.ok);
    simdjson::dom::array clients = j.root["clients"].get_array().value();
    REQUIRE(clients.size() == 1);
    simdjson::dom::element cl = clients.at(0).value();
    CHECK(str(cl, "client_id") == c.clientId());
    CHECK(str(cl, "state") == "connected");
    simdjson::dom::element sub = cl["subscriptions"].at(0).value();
    CHECK(str(sub, "channel") == "/topic/Demo");
    CHECK(str(sub, "replay_from") == "-2");
    std::vector<int64_t> sent;
    simdjson::dom::array sent_ids = sub["sent"].get_array().value();
    for (auto v : sent_ids)
        sent.push_back(v.get_int64().value());
    CHECK(sent == ids);
}

TEST_CASE("a configured org; config errors are reported with file:line:column")
{
    auto emu = SfemuProcess::start(R"(
version: 1
connect_hold_ms: 300
orgs:
  - name: acme
    org_id: 00D000000000009AAA
    users: [{username: u@acme.com, password: p}]
    apps: [{client_id: c1, client_secret: s1}]
    channels: [/topic/A, /event/B__e]
  - name: beta
    org_id: 00D000000000010AAA
    users: [{username: u@beta.com, password: p}]
    apps: [{client_id: c2, client_secret: s2}]
    channels: [/topic/A]
)");
    auto ids = emu.publish("beta", "/topic/A", R"([{"Name":"b"}])");
    BayeuxTestClient a(emu.url(), passwordToken(emu.url(), "u@acme.com", "p", "c1", "s1"));
    a.handshake();
    a.subscribe("/topic/A", "-2");
    a.connect();
    CHECK(a.connect().size() == 1); // beta's event is not acme's
    BayeuxTestClient b(emu.url(), passwordToken(emu.url(), "u@beta.com", "p", "c2", "s2"));
    b.handshake();
    b.subscribe("/topic/A", "-2");
    CHECK(b.receive(1).at(0).second == ids[0]);

    CHECK_THROWS(SfemuProcess::start("orgs:\n  - name: x\n    colour: blue\n"));
    std::string path = "/tmp/sfemu-bad-" + std::to_string(getpid()) + ".yaml";
    std::ofstream(path) << "orgs:\n  - name: x\n    channels: [/bogus/X]\n    colour: blue\n";
    std::string cmd = std::string(std::getenv("SFKAFKA_BUILD_ROOT")) + "/emulator/sfemu --config " + path + " 2>&1";
    FILE *f = popen(cmd.c_str(), "r");
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof buf, f))
        out += buf;
    int status = pclose(f);
    unlink(path.c_str());
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(out.find(path + ":3:") != std::string::npos);
    CHECK(out.find(path + ":4:5: unknown key 'colour'") != std::string::npos);
}

TEST_CASE("the example configuration loads and works")
{
    std::ifstream in(std::string(std::getenv("SFKAFKA_SOURCE_ROOT")) + "/emulator/examples/emulator.yaml");
    REQUIRE(in);
    std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto emu = SfemuProcess::start(yaml);
    auto ids = emu.publish("tests", "/topic/Demo", R"([{"Name":"x"}])");
    BayeuxTestClient c(emu.url(), passwordToken(emu.url(), "ci@tests.example", "ci-password",
                                                "tests-client", "tests-secret"));
    c.handshake();
    c.subscribe("/topic/Demo", "-2");
    CHECK(c.receive(1).at(0).second == ids[0]);
    Reply r = tokenRequest(emu.url(), {{"grant_type", "refresh_token"}, {"client_id", "acme-client"},
                                       {"client_secret", "acme-secret"},
                                       {"refresh_token", "acme-refresh-token"}});
    CHECK(r.status == 200);
}

TEST_CASE("SIGTERM exits 0; TLS serves https")
{
    auto emu = SfemuProcess::start(kFast);
    CHECK(emu.url().rfind("http://127.0.0.1:", 0) == 0);
    int status = emu.stop();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    // A self-signed certificate for 127.0.0.1.
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_sign(cert, key, EVP_sha256());
    std::string base = "/tmp/sfemu-tls-" + std::to_string(getpid());
    FILE *kf = fopen((base + ".key").c_str(), "w");
    PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(kf);
    FILE *cf = fopen((base + ".crt").c_str(), "w");
    PEM_write_X509(cf, cert);
    fclose(cf);
    X509_free(cert);
    EVP_PKEY_free(key);

    auto tls = SfemuProcess::start(kFast, {"--tls-cert", base + ".crt", "--tls-key", base + ".key"});
    CHECK(tls.url().rfind("https://127.0.0.1:", 0) == 0);
    CHECK(tls.adminUrl().rfind("https://127.0.0.1:", 0) == 0);
    std::string token = passwordToken(tls.url());
    BayeuxTestClient c(tls.url(), token);
    CHECK(boolean(c.handshake()[0], "successful"));
    auto ids = tls.publish("default", "/topic/Demo", R"([{"Name":"tls"}])");
    c.subscribe("/topic/Demo", "-2");
    CHECK(c.receive(1).at(0).second == ids[0]);
    unlink((base + ".key").c_str());
    unlink((base + ".crt").c_str());
}
