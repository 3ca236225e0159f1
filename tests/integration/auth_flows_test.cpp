// Authentication end to end: the four OAuth flows, clear errors that recover
// once fixed (a wrong key, an unknown user, a revoked token, an expired
// assertion), TLS with a private CA, an HTTP CONNECT proxy, and secrets that
// never show up in any output (logs, --check-config, /metrics, /readyz, /healthz).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "../ops/ops_support.h"
#include "pipeline_support.h"
#include "sfkafka_build_config.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// Distinctive secret values: none of them may appear in any output.
const std::string kPassword = "Pw-9f3Kq-NEVERPRINT";
const std::string kClientSecret = "Cs-7xQ2-NEVERPRINT";
const std::string kRefreshToken = "Rt-5mZ8-NEVERPRINT";
const std::string kPassphrase = "Pp-3vN1-NEVERPRINT";
const std::string kProxyPassword = "Px-8tB4-NEVERPRINT";

void sh(const std::string &cmd) { runCommand("set -e; " + cmd + " >/dev/null 2>&1"); }

struct Pki {
    TempDir dir;
    std::string ca, srvCert, srvKey, appKey, appKeyEncrypted, appCert, otherKey;
    Pki()
    {
        const std::string d = dir.path();
        sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=sfkafka-test-ca"
           " && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1"
           " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > ext.cnf"
           " && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext.cnf"
           " && openssl genrsa -traditional -out app.key 2048"
           " && openssl req -x509 -key app.key -out app.crt -days 2 -subj /CN=acme-app"
           " && openssl pkcs8 -topk8 -v2 aes-256-cbc -in app.key -out app-enc.key -passout pass:" + kPassphrase +
           " && openssl genrsa -out other.key 2048 && chmod 600 *.key");
        ca = dir.file("ca.crt");
        srvCert = dir.file("srv.crt");
        srvKey = dir.file("srv.key");
        appKey = dir.file("app.key");
        appKeyEncrypted = dir.file("app-enc.key");
        appCert = dir.file("app.crt");
        otherKey = dir.file("other.key");
    }
};

std::string emulatorYaml(const Pki &pki)
{
    return "connect_hold_ms: 500\n"
           "orgs:\n"
           "  - name: acme\n"
           "    org_id: 00D000000000042AAA\n"
           "    users:\n"
           "      - {username: integration@acme.com, password: \"" + kPassword + "\"}\n"
           "    apps:\n"
           "      - client_id: acme-app\n"
           "        client_secret: \"" + kClientSecret + "\"\n"
           "        run_as: integration@acme.com\n"
           "        certificate_file: " + pki.appCert + "\n"
           "    refresh_tokens:\n"
           "      - {token: \"" + kRefreshToken + "\", client_id: acme-app, username: integration@acme.com}\n"
           "    channels: [/event/Order__e]\n";
}

// Secrets live in files (mode 0600) and one in the environment, as in production.
struct Secrets {
    TempDir dir;
    Secrets()
    {
        writeFile(dir.file("password"), kPassword + "\n");
        writeFile(dir.file("client_secret"), kClientSecret);
        writeFile(dir.file("refresh_token"), kRefreshToken);
        writeFile(dir.file("passphrase"), kPassphrase);
        for (auto f : {"password", "client_secret", "refresh_token", "passphrase"})
            ::chmod(dir.file(f).c_str(), 0600);
    }
};

struct AuthCase {
    std::string flow;
    std::string extra;   // auth keys beyond flow
};

std::string daemonYaml(const std::string &login_url, const std::string &brokers,
                       const std::string &state, const std::string &topic, const std::string &auth,
                       const std::string &orgExtra = "")
{
    return "version: 1\nkafka:\n  brokers: " + brokers + "\nstate:\n  directory: " + state +
           "\n  commit_interval_ms: 100\nhttp:\n  listen: \"\"\norgs:\n  acme:\n    login_url: " +
           login_url + "\n" + orgExtra + "    auth:\n" + auth + "    channels:\n      /event/Order__e:\n        topic: " +
           topic + "\n        start: earliest\n";
}

std::string passwordAuth(const Secrets &s, const std::string &user = "integration@acme.com")
{
    return "      flow: password\n      client_id: acme-app\n      client_secret: ${file:" +
           s.dir.file("client_secret") + "}\n      username: " + user + "\n      password: ${file:" +
           s.dir.file("password") + "}\n";
}

void checkNoSecrets(const std::string &text)
{
    // "eyJ" opens every base64url JSON object: a JWT assertion would show it.
    for (const auto &secret : {kPassword, kClientSecret, kRefreshToken, kPassphrase, kProxyPassword,
                               std::string("PRIVATE KEY"), std::string("Bearer "), std::string("00D000000000042AAA!"),
                               std::string("eyJ")})
        CHECK_MESSAGE(text.find(secret) == std::string::npos, "leaked: " << secret);
}

// The daemon's HTTP listener on a free port, and what it serves.
struct Listener {
    int port = freePort();
    std::string config(const std::string &yaml) const { return withListen(yaml, port); }
    // /metrics, /readyz?verbose and /healthz, for the secret checks.
    std::string scrape() const
    {
        std::string all;
        for (const char *path : {"/metrics", "/readyz?verbose", "/healthz"}) {
            HttpAnswer a = httpGet(port, path);
            CHECK_MESSAGE(a.status > 0, "no answer on " << path);
            all += a.body;
        }
        return all;
    }
    double tokenFailures() const
    {
        return metricValue(httpGet(port, "/metrics").body, "sfkafka_token_failures_total{org=\"acme\",transport=\"cometd\"}");
    }
};

// A child process whose first stdout line we read (the proxy).
struct Child {
    FILE *out = nullptr;
    pid_t pid = -1;
    std::string firstLine;
    std::string pidFile;
    Child(const std::string &cmd, const TempDir &dir)
    {
        pidFile = dir.file("child.pid");
        out = ::popen(("echo $$ > " + pidFile + "; exec " + cmd).c_str(), "r");
        REQUIRE(out);
        char buf[256];
        REQUIRE(std::fgets(buf, sizeof buf, out));
        firstLine = buf;
        while (!firstLine.empty() && firstLine.back() == '\n')
            firstLine.pop_back();
        pid = std::stoi(readFile(pidFile));
    }
    std::string rest()
    {
        ::kill(pid, SIGTERM);
        std::string all;
        char buf[256];
        while (std::fgets(buf, sizeof buf, out))
            all += buf;
        ::pclose(out);
        out = nullptr;
        return all;
    }
    ~Child()
    {
        if (out) {
            ::kill(pid, SIGKILL);
            ::pclose(out);
        }
    }
};

std::string toolPath(const std::string &name)
{
    const char *b = std::getenv("SFKAFKA_BUILD_ROOT");
    return std::string(b && *b ? b : SFKAFKA_BUILD_ROOT) + "/tests/tools/" + name;
}

} // namespace

TEST_CASE("each OAuth flow streams end to end and no secret appears in any output")
{
    const auto &broker = KafkaBroker::shared();
    Pki pki;
    Secrets secrets;
    SfemuProcess emu = SfemuProcess::start(emulatorYaml(pki));
    std::vector<AuthCase> cases = {
        {"password", passwordAuth(secrets)},
        {"refresh_token", "      flow: refresh_token\n      client_id: acme-app\n      client_secret: ${file:" +
                              secrets.dir.file("client_secret") + "}\n      refresh_token: ${env:TEST_REFRESH_TOKEN}\n"},
        {"client_credentials", "      flow: client_credentials\n      client_id: acme-app\n      client_secret: ${file:" +
                                   secrets.dir.file("client_secret") + "}\n"},
        {"jwt_bearer (PKCS#1 key)", "      flow: jwt_bearer\n      client_id: acme-app\n      username: integration@acme.com\n"
                                    "      private_key: ${file:" + pki.appKey + "}\n"},
        {"jwt_bearer (encrypted PKCS#8 key)",
         "      flow: jwt_bearer\n      client_id: acme-app\n      username: integration@acme.com\n"
         "      private_key: ${file:" + pki.appKeyEncrypted + "}\n      private_key_passphrase: ${file:" +
             secrets.dir.file("passphrase") + "}\n"},
    };
    std::string everything;
    int seed = 1;
    for (const auto &c : cases) {
        CAPTURE(c.flow);
        TempDir dir;
        std::string topic = uniqueTopic("auth");
        Listener http;
        std::string yaml = http.config(daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"), topic, c.extra));
        writeFile(dir.file("check.yaml"), yaml);
        std::string out;
        std::vector<std::string> env = {"TEST_REFRESH_TOKEN=" + kRefreshToken};
        CHECK(runDaemon({"--check-config", dir.file("check.yaml")}, out, env) == 0);
        everything += out;
        DaemonProcess d = DaemonProcess::start(dir, yaml, {"--log-level", "debug"}, env);
        emu.generate("acme", "/event/Order__e", 20, 300, seed++);
        Landing l = awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s);
        INFO(describe(l) << "\n" << d.log());
        CHECK(l.missing == 0);
        std::string pages = http.scrape();
        CHECK(pages.find("sfkafka_token_requests_total{org=\"acme\",transport=\"cometd\"}") != std::string::npos);
        everything += pages;
        CHECK(d.stop() == 0);
        everything += d.log();
    }
    checkNoSecrets(everything);
}

TEST_CASE("a wrong key, an unknown user and a revoked token give clear errors and recover")
{
    const auto &broker = KafkaBroker::shared();
    Pki pki;
    Secrets secrets;
    SfemuProcess emu = SfemuProcess::start(emulatorYaml(pki));
    TempDir dir;
    std::string topic = uniqueTopic("authfix");
    std::string jwtWrong = "      flow: jwt_bearer\n      client_id: acme-app\n      username: integration@acme.com\n"
                           "      private_key: ${file:" + pki.otherKey + "}\n";
    std::string all;
    Listener http;
    {
        DaemonProcess d = DaemonProcess::start(dir, http.config(daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"),
                                                                          topic, jwtWrong)));
        CHECK(waitUntil([&] { return d.log().find("token request failed: HTTP 400: invalid_grant") != std::string::npos; }, 30s));
        CHECK(d.running());
        all += http.scrape();  // while failing: the error may be reported, never a secret
        CHECK(d.stop() == 0);
        all += d.log();
    }
    {
        DaemonProcess d = DaemonProcess::start(dir, http.config(daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"),
                                                                          topic, passwordAuth(secrets, "nobody@acme.com"))));
        CHECK(waitUntil([&] { return d.log().find("invalid_grant (authentication failure)") != std::string::npos; }, 30s));
        all += http.scrape();
        CHECK(d.stop() == 0);
        all += d.log();
    }
    // Fixed: the right user streams, and a revoked token is replaced on its own.
    DaemonProcess d = DaemonProcess::start(dir, daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"), topic,
                                                             passwordAuth(secrets)));
    emu.generate("acme", "/event/Order__e", 50, 300, 1);
    CHECK(awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s).missing == 0);
    emu.arm("acme", R"({"fault":"revoke_tokens"})");
    emu.generate("acme", "/event/Order__e", 50, 300, 2);
    Landing l = awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s);
    INFO(describe(l));
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    CHECK(d.log().find("getting a new token") != std::string::npos);
    CHECK(d.stop() == 0);
    all += d.log();
    checkNoSecrets(all);
}

TEST_CASE("an expired JWT assertion (clock skew) is named in the log; the daemon recovers by itself")
{
    const auto &broker = KafkaBroker::shared();
    Pki pki;
    SfemuProcess emu = SfemuProcess::start(emulatorYaml(pki));
    TempDir dir;
    Listener http;
    std::string topic = uniqueTopic("authskew");
    std::string jwt = "      flow: jwt_bearer\n      client_id: acme-app\n      username: integration@acme.com\n"
                      "      private_key: ${file:" + pki.appKey + "}\n";
    DaemonProcess d = DaemonProcess::start(dir, http.config(daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"),
                                                                      topic, jwt)));
    emu.generate("acme", "/event/Order__e", 30, 300, 1);
    REQUIRE(awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s).missing == 0);
    CHECK(http.tokenFailures() == 0);

    // sfemu's clock 10 minutes ahead: the daemon's assertion (exp = its now + 3 min)
    // has expired on arrival. Revoking the token makes the daemon ask for a new one.
    emu.arm("acme", R"({"fault":"clock_skew","seconds":600})");
    emu.arm("acme", R"({"fault":"revoke_tokens"})");
    const std::string named = "token request failed: HTTP 400: invalid_grant (expired authorization code)";
    CHECK(waitUntil([&] { return d.log().find(named) != std::string::npos; }, 30s));
    CHECK(d.log().find(named + ": Salesforce judged the JWT assertion expired; check this host's clock") !=
          std::string::npos);
    CHECK(waitUntil([&] { return http.tokenFailures() >= 1; }, 10s));
    // Published while the daemon cannot authenticate.
    emu.generate("acme", "/event/Order__e", 30, 300, 2);
    std::string pages = http.scrape();

    // The clock is fixed: the next retry (at least 5 s later) gets a token, no restart.
    emu.arm("acme", R"({"fault":"clock_skew","seconds":0})");
    Landing l = awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s);
    INFO(describe(l) << "\n" << d.log());
    CHECK(l.published == 60);
    CHECK(l.missing == 0);
    CHECK(l.duplicates == 0);
    CHECK(d.running());
    std::string log = d.log();
    size_t tokens = 0;
    for (size_t at = 0; (at = log.find("access token obtained", at)) != std::string::npos; ++at)
        ++tokens;
    CHECK(tokens >= 2);
    pages += http.scrape();
    CHECK(d.stop() == 0);
    checkNoSecrets(d.log() + pages);
}

TEST_CASE("TLS to a private CA needs ca_file; an HTTP CONNECT proxy carries the traffic")
{
    const auto &broker = KafkaBroker::shared();
    Pki pki;
    Secrets secrets;
    SfemuProcess emu = SfemuProcess::start(emulatorYaml(pki), {"--tls-cert", pki.srvCert, "--tls-key", pki.srvKey});
    REQUIRE(emu.url().rfind("https://127.0.0.1:", 0) == 0);
    TempDir dir;
    std::string topic = uniqueTopic("tls");
    std::string all;
    {
        // System CAs only: the self-signed chain is refused.
        DaemonProcess d = DaemonProcess::start(dir, daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"), topic,
                                                                 passwordAuth(secrets)));
        CHECK(waitUntil([&] { return d.log().find("token request failed") != std::string::npos; }, 30s));
        INFO(d.log());
        CHECK(d.log().find("SSLServerVerification") != std::string::npos);  // certificate refused
        CHECK(d.stop() == 0);
        all += d.log();
    }
    emu.generate("acme", "/event/Order__e", 30, 300, 1);
    {
        DaemonProcess d = DaemonProcess::start(dir, daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"), topic,
                                                                 passwordAuth(secrets), "    ca_file: " + pki.ca + "\n"));
        Landing l = awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s);
        INFO(describe(l) << "\n" << d.log());
        CHECK(l.missing == 0);
        CHECK(d.stop() == 0);
        all += d.log();
    }
    // Through a CONNECT proxy that wants credentials.
    TempDir proxyDir;
    Child proxy(toolPath("connect_proxy") + " --user relay --password " + kProxyPassword, proxyDir);
    REQUIRE(proxy.firstLine.rfind("PROXY=", 0) == 0);
    std::string proxyAddr = proxy.firstLine.substr(6);
    writeFile(dir.file("proxy_url"), "http://relay:" + kProxyPassword + "@" + proxyAddr);
    ::chmod(dir.file("proxy_url").c_str(), 0600);
    emu.generate("acme", "/event/Order__e", 30, 300, 2);
    {
        DaemonProcess d = DaemonProcess::start(dir, daemonYaml(emu.url(), broker.bootstrap(), dir.file("state"), topic,
                                                                 passwordAuth(secrets),
                                                                 "    ca_file: " + pki.ca + "\n    proxy: ${file:" +
                                                                     dir.file("proxy_url") + "}\n"));
        Landing l = awaitLanding(emu, "acme", "/event/Order__e", broker.bootstrap(), topic, 60s);
        INFO(describe(l) << "\n" << d.log());
        CHECK(l.missing == 0);
        CHECK(l.duplicates == 0);
        CHECK(d.stop() == 0);
        all += d.log();
    }
    std::string tunnels = proxy.rest();
    CHECK(tunnels.find("TUNNEL 127.0.0.1:") != std::string::npos);
    checkNoSecrets(all);
}
