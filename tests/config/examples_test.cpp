#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config_test_support.h"
#include "sfkafka_build_config.h"

using namespace sfk::config;
using namespace sfk::config::test;

namespace {

std::string example(const std::string &name)
{
    return std::string(SFKAFKA_SOURCE_ROOT) + "/config/examples/" + name;
}

std::string readAll(const std::string &path)
{
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string privateKeyPem()
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char *data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);
    EVP_PKEY_free(key);
    return pem;
}

} // namespace

TEST_CASE("config/examples/demo.yaml validates with the demo's environment")
{
    FakeEnv env;
    env.vars = { { "SFEMU_URL", "http://127.0.0.1:43123" }, { "KAFKA_BOOTSTRAP", "127.0.0.1:39092" } };
    LoadResult r = loadFile(example("demo.yaml"), env.env());
    INFO(dump(r));
    REQUIRE(r.ok());
    const Config &c = *r.config;
    CHECK(c.kafka.brokers == "127.0.0.1:39092");
    CHECK(c.state_directory == "./state");
    REQUIRE(c.orgs.size() == 1);
    const Org &org = c.orgs[0];
    CHECK(org.login_url == "http://127.0.0.1:43123");
    CHECK(org.auth.flow == AuthFlow::Password);
    CHECK(org.auth.client_id == "sfemu-client");
    CHECK(org.auth.client_secret.reveal() == "sfemu-secret");
    CHECK(org.auth.username == "user@example.com");
    CHECK(org.auth.password.reveal() == "password");
    REQUIRE(org.channels.size() == 4);
    CHECK(org.channels[0].name == "/topic/Demo");
    CHECK(org.channels[0].topic == "demo.topic.Demo");
    CHECK(org.channels[1].topic == "demo.u.Demo");
    CHECK(org.channels[2].topic == "demo.event.Demo__e");
    CHECK(org.channels[3].topic == "demo.data.AccountChangeEvent");
    CHECK(org.channels[3].start.kind == StartPosition::Kind::Earliest);
    // The emulator's inline credentials and the legacy password flow are only warned about.
    CHECK(r.warnings.size() == 3);
    CHECK(summary(c) == "config OK: 1 org, 4 channels, brokers 127.0.0.1:39092");

    env.vars["SFKAFKA_STATE_DIR"] = "/tmp/demo-state";
    r = loadFile(example("demo.yaml"), env.env());
    REQUIRE(r.ok());
    CHECK(r.config->state_directory == "/tmp/demo-state");

    // Pointed at a non-loopback URL, the inline secrets become errors.
    env.vars["SFEMU_URL"] = "https://demo.my.salesforce.com";
    r = loadFile(example("demo.yaml"), env.env());
    CHECK(r.errors.size() == 2);
    CHECK(anyErrorContains(r, "secrets must not be inline"));
}

TEST_CASE("config/examples/full.yaml validates")
{
    TempDir creds;
    creds.write("acme.key", privateKeyPem());
    creds.write("globex.refresh_token", "globex-rt\n");
    creds.write("initech.client_secret", "initech-cs\n");
    creds.write("initech.password", "initech-pw");
    creds.write("initech.security_token", "initech-tok\n");
    std::string umbrella = creds.write("umbrella.secret", "umbrella-cs\n");

    // The example reads one secret from /etc/sfkafka; point it at the test's copy.
    std::string yaml = readAll(example("full.yaml"));
    size_t at = yaml.find("/etc/sfkafka/umbrella.secret");
    REQUIRE(at != std::string::npos);
    yaml.replace(at, std::string("/etc/sfkafka/umbrella.secret").size(), umbrella);

    FakeEnv env;
    env.credentials_directory = creds.path();
    env.vars["GLOBEX_CLIENT_SECRET"] = "globex-cs";
    LoadResult r = loadString(yaml, example("full.yaml"), env.env());
    INFO(dump(r));
    REQUIRE(r.ok());
    // Only the legacy username-password flow is warned about.
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].str().find("orgs.initech.auth.flow: the username-password flow is legacy") != std::string::npos);
    const Config &c = *r.config;
    REQUIRE(c.orgs.size() == 4);
    CHECK(c.orgs[0].auth.flow == AuthFlow::JwtBearer);
    CHECK(c.orgs[2].auth.password.reveal() == "initech-pwinitech-tok");
    CHECK(c.orgs[0].channels[2].topic == "sf.acme.topic.OpenCases");
    CHECK(c.orgs[0].channels[1].key.pointer == "/payload/Order_Number__c");
    CHECK(c.orgs[1].auth.flow == AuthFlow::RefreshToken);
    CHECK(c.orgs[2].auth.flow == AuthFlow::Password);
    CHECK(c.orgs[3].auth.flow == AuthFlow::ClientCredentials);
    CHECK(c.orgs[3].channels[0].topic == "sf.umbrella.event.Shipment__e");
    CHECK(c.orgs[3].channels[0].on_invalid_replay == InvalidReplayPolicy::Earliest);
    CHECK(c.kafka.librdkafka.at("compression.type") == "zstd");
    CHECK(logLevelSpec(c) == "info,kafka=warn,session=info");
    CHECK(summary(c) == "config OK: 4 orgs, 6 channels, brokers kafka-1.internal:9092,kafka-2.internal:9092");
}

TEST_CASE("secrets never appear in diagnostics or the summary")
{
    // Secret values that would be easy to spot anywhere.
    const std::string secrets[] = { "SECRET-env-1", "SECRET-file-2", "SECRET-cred-3", "SECRET-kafka-4",
                                    "SECRET-inline-5", "SECRET-default-6" };
    TempDir dir;
    std::string file = dir.write("s", secrets[1] + "\n", 0644);
    dir.write("c", secrets[2]);
    FakeEnv env;
    env.credentials_directory = dir.path();
    env.vars = { { "S1", secrets[0] }, { "KPW", secrets[3] } };

    // Secrets that resolve fine next to many errors, inline secrets, a
    // default used as a secret, a key that is not PEM, and a librdkafka
    // secret in a failing combination.
    std::string yaml = R"(version: 1
kafka:
  brokers: 10.0.0.1:9092
  librdkafka:
    sasl.password: ${env:KPW}
    sasl.mechanisms: NOPE
    ssl.key.password: )" + secrets[4] + R"(
orgs:
  a:
    login_url: https://login.salesforce.com
    auth:
      flow: client_credentials
      client_id: c
      client_secret: ${env:S1}
    channels: { /topic/A: { topic: "a b" } }
  b:
    login_url: https://b.my.salesforce.com
    auth:
      flow: jwt_bearer
      client_id: c
      username: u
      private_key: ${file:)" + file + R"(}
      private_key_passphrase: ${credential:c}
    channels: { /bad: { topic: a } }
  c:
    login_url: https://c.my.salesforce.com
    auth:
      flow: password
      client_id: c
      client_secret: )" + secrets[4] + R"(
      username: u
      password: ${env:NOPE:-)" + secrets[5] + R"(}
      refresh_token: ${credential:c}
    channels: {}
)";
    LoadResult r = load(yaml, env);
    INFO(dump(r));
    CHECK(r.errors.size() >= 8);
    for (const std::vector<Diagnostic> *list : { &r.errors, &r.warnings })
        for (const Diagnostic &d : *list)
            for (const std::string &secret : secrets)
                CHECK_MESSAGE(d.str().find(secret) == std::string::npos, d.str());

    // A loaded config's summary and streamed Secrets show no secret either.
    LoadResult ok = load(R"(version: 1
kafka: { brokers: 127.0.0.1:9092, librdkafka: { sasl.password: "${env:KPW}" } }
orgs:
  a:
    login_url: https://a.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S1}" }
    channels: { /topic/A: { topic: a } }
)",
                         env);
    REQUIRE(ok.ok());
    std::string text = summary(*ok.config);
    std::ostringstream streamed;
    streamed << ok.config->orgs[0].auth.client_secret;
    CHECK(streamed.str() == "<redacted>");
    for (const std::string &secret : secrets)
        CHECK(text.find(secret) == std::string::npos);
}
