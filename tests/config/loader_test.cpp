#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config_test_support.h"
#include "log/log.h"

using namespace sfk::config;
using namespace sfk::config::test;

namespace {

const char *const kValid = R"(version: 1
kafka:
  brokers: 127.0.0.1:9092
  librdkafka:
    compression.type: zstd
    linger.ms: 5
state:
  directory: /var/lib/sfkafka
  commit_interval_ms: 2500
http:
  listen: ""
log:
  level: debug
orgs:
  acme:
    login_url: https://acme.my.salesforce.com/
    api_version: 61
    max_in_flight_events: 500
    max_in_flight_bytes: 1048576
    auth:
      flow: password
      client_id: 3MVG9acme
      client_secret: ${env:ACME_SECRET}
      username: integration@acme.com
      password: ${env:ACME_PASSWORD}${env:ACME_TOKEN}
    channels:
      /data/AccountChangeEvent:
        topic: sf.{org}.account-changes
        start: earliest
        on_invalid_replay: latest
        key: /payload/ChangeEventHeader/entityName
      /event/Order_Placed__e:
        topic: sf.{org}.{channel}
        start: 1234
        key: none
  beta:
    login_url: https://beta.my.salesforce.com
    auth:
      flow: client_credentials
      client_id: 3MVG9beta
      client_secret: ${env:BETA_SECRET}
    channels:
      /u/notifications/Stuff:
        topic: beta.stuff
        key: channel
)";

FakeEnv validEnv()
{
    FakeEnv env;
    env.vars = { { "ACME_SECRET", "acme-client-secret" },
                 { "ACME_PASSWORD", "acme-pass" },
                 { "ACME_TOKEN", "TOKEN123" },
                 { "BETA_SECRET", "beta-client-secret" } };
    return env;
}

// A minimal valid org block around some channels or auth, for small tests.
std::string withOrg(const std::string &orgBody)
{
    return "version: 1\nkafka:\n  brokers: 127.0.0.1:9092\norgs:\n  acme:\n" + orgBody;
}

} // namespace

TEST_CASE("a valid file loads into the typed structs")
{
    LoadResult r = load(kValid, validEnv());
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(otherWarnings(r).empty());
    const Config &c = *r.config;
    CHECK(c.path == "test.yaml");
    CHECK(c.kafka.brokers == "127.0.0.1:9092");
    CHECK(c.kafka.librdkafka.at("compression.type") == "zstd");
    CHECK(c.kafka.librdkafka.at("linger.ms") == "5");
    CHECK(c.state_directory == "/var/lib/sfkafka");
    CHECK(c.commit_interval == std::chrono::milliseconds(2500));
    CHECK(c.http_listen.empty());
    CHECK(c.log_level == "debug");
    REQUIRE(c.orgs.size() == 2);

    const Org &acme = c.orgs[0];
    CHECK(acme.name == "acme");
    CHECK(acme.login_url == "https://acme.my.salesforce.com");
    CHECK(acme.api_version == "61.0");
    CHECK(acme.max_in_flight_events == 500);
    CHECK(acme.max_in_flight_bytes == 1048576);
    CHECK(acme.auth.flow == AuthFlow::Password);
    CHECK(acme.auth.client_id == "3MVG9acme");
    CHECK(acme.auth.client_secret.reveal() == "acme-client-secret");
    CHECK(acme.auth.username == "integration@acme.com");
    CHECK(acme.auth.password.reveal() == "acme-passTOKEN123");
    REQUIRE(acme.channels.size() == 2);
    CHECK(acme.channels[0].name == "/data/AccountChangeEvent");
    CHECK(acme.channels[0].topic == "sf.acme.account-changes");
    CHECK(acme.channels[0].start.kind == StartPosition::Kind::Earliest);
    CHECK(acme.channels[0].on_invalid_replay == InvalidReplayPolicy::Latest);
    CHECK(acme.channels[0].key.kind == KeyPolicy::Kind::Pointer);
    CHECK(acme.channels[0].key.pointer == "/payload/ChangeEventHeader/entityName");
    CHECK(acme.channels[1].topic == "sf.acme.event.Order_Placed__e");
    CHECK(acme.channels[1].start.kind == StartPosition::Kind::ReplayId);
    CHECK(acme.channels[1].start.replay_id == 1234);
    CHECK(acme.channels[1].on_invalid_replay == InvalidReplayPolicy::Fail);
    CHECK(acme.channels[1].key.kind == KeyPolicy::Kind::None);

    const Org &beta = c.orgs[1];
    CHECK(beta.auth.flow == AuthFlow::ClientCredentials);
    CHECK(beta.api_version == "62.0");
    CHECK(beta.max_in_flight_events == 10000);
    CHECK(beta.channels[0].topic == "beta.stuff");
    CHECK(beta.channels[0].key.kind == KeyPolicy::Kind::Channel);
    CHECK(beta.channels[0].start.kind == StartPosition::Kind::Latest);

    CHECK(summary(c) == "config OK: 2 orgs, 3 channels, brokers 127.0.0.1:9092");
}

TEST_CASE("defaults: state directory from $STATE_DIRECTORY, else ./state; http and log defaults")
{
    std::string yaml = withOrg(R"(    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: x, client_secret: "${env:S}" }
    channels:
      /topic/Demo: { topic: t }
)");
    FakeEnv env;
    env.vars["S"] = "s3cr3t-value";
    LoadResult r = load(yaml, env);
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->state_directory == "./state");
    CHECK(r.config->http_listen == "127.0.0.1:9464");
    CHECK(r.config->log_level == "info");
    CHECK(r.config->commit_interval == std::chrono::milliseconds(1000));
    CHECK(summary(*r.config) == "config OK: 1 org, 1 channel, brokers 127.0.0.1:9092");

    env.state_directory = "/var/lib/sfkafka";
    r = load(yaml, env);
    REQUIRE(r.ok());
    CHECK(r.config->state_directory == "/var/lib/sfkafka");
}

TEST_CASE("a file with several mistakes yields all of them with correct line:column")
{
    const char *yaml = R"(version: 1
kafka:
  brokers: 127.0.0.1:9092
  librdkafka:
    compression.type: zstdx
state:
  commit_interval_ms: 5
log:
  level: verbose
orgs:
  acme:
    login_url: http://acme.my.salesforce.com
    api_version: "30.0"
    auth:
      flow: password
      client_id: cid
      client_secret: hunter2
      username: u@acme.com
      password: ${env:NOPE}
    channels:
      /data/AccountChangeEvent:
        topc: x
        start: latests
      /bogus/Thing:
        topic: "bad topic"
      /data/AccountChangeEvent:
        topic: dup
)";
    LoadResult r = load(yaml);
    INFO(dump(r));
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.config.has_value());
    CHECK(hasError(r, 5, 23, "kafka.librdkafka[\"compression.type\"]: librdkafka: Invalid value \"zstdx\""));
    CHECK(hasError(r, 7, 23, "state.commit_interval_ms: '5' is out of range: must be between 10 and 3600000"));
    CHECK(hasError(r, 9, 10, "log.level: 'verbose' is not one of: debug, info, warn, error"));
    CHECK(hasError(r, 12, 16, "orgs.acme.login_url: login_url must use https"));
    CHECK(hasError(r, 13, 18, "orgs.acme.api_version: API version 30.0 is too old"));
    CHECK(hasError(r, 17, 22, "orgs.acme.auth.client_secret: secrets must not be inline; use ${credential:...}, "
                              "${file:...} or ${env:...}"));
    CHECK(hasError(r, 19, 17, "orgs.acme.auth.password: environment variable NOPE is not set"));
    CHECK(hasError(r, 21, 7, "missing required key 'topic'"));
    CHECK(hasError(r, 22, 9, "unknown key 'topc' (did you mean 'topic'?); allowed keys: topic, start, "
                             "on_invalid_replay, key, dead_letter_topic"));
    CHECK(hasError(r, 23, 16, "'latests' is not latest, earliest or a replay id (an integer) (did you mean 'latest'?)"));
    CHECK(hasError(r, 24, 7, "invalid channel '/bogus/Thing'"));
    CHECK(hasError(r, 25, 16, "topic 'bad topic' has the character ' '"));
    CHECK(hasError(r, 26, 7, "duplicate key '/data/AccountChangeEvent' (first defined at line 21)"));
    CHECK(r.errors.size() == 13);

    // In file order, formatted file:line:column: path: message.
    for (size_t i = 1; i < r.errors.size(); ++i)
        CHECK(r.errors[i - 1].line <= r.errors[i].line);
    CHECK(r.errors.front().str().starts_with("test.yaml:5:23: kafka.librdkafka[\"compression.type\"]: "));
}

TEST_CASE("duplicate keys are errors at every level")
{
    const char *yaml = R"(version: 1
version: 1
kafka:
  brokers: 127.0.0.1:9092
  librdkafka: { linger.ms: 5, linger.ms: 10 }
orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth:
      flow: client_credentials
      flow: password
      client_id: x
      client_secret: ${env:S}
    channels:
      /topic/A: { topic: a, topic: b }
)";
    FakeEnv env;
    env.vars["S"] = "x";
    LoadResult r = load(yaml, env);
    INFO(dump(r));
    CHECK(hasError(r, 2, 1, "version: duplicate key 'version' (first defined at line 1)"));
    CHECK(hasError(r, 5, 31, "duplicate key 'linger.ms'"));
    CHECK(hasError(r, 11, 7, "orgs.acme.auth.flow: duplicate key 'flow' (first defined at line 10)"));
    CHECK(hasError(r, 15, 29, "duplicate key 'topic'"));
    CHECK(r.errors.size() == 4);
}

TEST_CASE("unknown keys name the allowed ones and the closest")
{
    const char *yaml = R"(version: 1
kafka:
  broker: 127.0.0.1:9092
orgz: {}
)";
    LoadResult r = load(yaml);
    INFO(dump(r));
    CHECK(hasError(r, 3, 3, "kafka.broker: unknown key 'broker' (did you mean 'brokers'?); allowed keys: brokers, librdkafka, control_topic"));
    CHECK(hasError(r, 4, 1, "unknown key 'orgz' (did you mean 'orgs'?)"));
    CHECK(hasError(r, 2, 1, "kafka: missing required key 'brokers'"));
    CHECK(hasError(r, 1, 1, "missing required key 'orgs'"));
    // No suggestion when nothing is close.
    r = load("version: 1\nzzzzzzzz: 1\n");
    CHECK(anyErrorContains(r, "unknown key 'zzzzzzzz'; allowed keys: version, kafka"));
}

TEST_CASE("wrong types, missing values, bad versions")
{
    const char *yaml = R"(version: 2
kafka: [a, b]
state:
  directory:
  commit_interval_ms: soon
http:
  listen: localhost
orgs:
  acme: just a string
)";
    LoadResult r = load(yaml);
    INFO(dump(r));
    CHECK(hasError(r, 1, 10, "unsupported version 2; this sfkafkad reads version 1"));
    CHECK(hasError(r, 2, 8, "kafka: expected a mapping, found a list"));
    CHECK(hasError(r, 4, 3, "state.directory: missing value: expected a directory path"));
    CHECK(hasError(r, 5, 23, "expected an integer, found 'soon'"));
    CHECK(hasError(r, 7, 11, "invalid listen address 'localhost'"));
    CHECK(hasError(r, 9, 9, "orgs.acme: expected a mapping, found a scalar"));
}

TEST_CASE("YAML syntax errors, empty files and extra documents")
{
    LoadResult r = load("version: 1\nkafka:\n  brokers: [1, 2\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str().find("YAML syntax error") != std::string::npos);
    CHECK(r.errors[0].line >= 3);

    r = load("");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() == "test.yaml: the file is empty; it starts with version: 1");

    r = load("version: 1\n---\nversion: 1\n");
    CHECK(anyErrorContains(r, "only one YAML document is allowed"));

    // yaml-cpp's LoadAll never returned on these (fuzz_config_loader).
    r = load(",");
    CHECK(anyErrorContains(r, "the file is empty"));
    r = load("{z}\n,");
    CHECK_FALSE(r.ok());
    r = load("version: 1\n---\n,\n");
    CHECK(anyErrorContains(r, "only one YAML document is allowed"));

    r = loadFile("/nonexistent/sfkafka.yaml", FakeEnv{}.env());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() == "/nonexistent/sfkafka.yaml: cannot read the configuration: No such file or directory");
}

TEST_CASE("login URLs")
{
    auto check = [](const std::string &url) {
        FakeEnv env;
        env.vars["S"] = "x";
        return load(withOrg("    login_url: " + url + R"(
    auth: { flow: password, client_id: c, client_secret: "${env:S}", username: u, password: "${env:S}" }
    channels: { /topic/A: { topic: a } }
)"), env);
    };
    CHECK(check("https://login.salesforce.com").ok());
    CHECK(check("https://acme.my.salesforce.com:8443").ok());
    CHECK(check("http://127.0.0.1:8080").ok());
    CHECK(check("http://127.1.2.3:8080").ok());
    CHECK(check("http://localhost:8080").ok());
    CHECK(check("http://[::1]:8080").ok());
    CHECK(anyErrorContains(check("http://10.0.0.1"), "must use https"));
    CHECK(anyErrorContains(check("ftp://x.example.com"), "the scheme must be https"));
    CHECK(anyErrorContains(check("acme.my.salesforce.com"), "expected a URL"));
    CHECK(anyErrorContains(check("https://acme.my.salesforce.com/services/oauth2"), "no path"));
    CHECK(anyErrorContains(check("https://user:pw@acme.my.salesforce.com"), "user information"));
    CHECK(anyErrorContains(check("https://acme.my.salesforce.com:99999"), "is not a port"));
    CHECK(anyErrorContains(check("https://"), "the host is missing"));
}

TEST_CASE("channel names")
{
    auto check = [](const std::string &channel) {
        FakeEnv env;
        env.vars["S"] = "x";
        return load(withOrg(R"(    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels:
      )" + channel + ": { topic: t }\n"), env);
    };
    CHECK(check("/topic/OpenCases").ok());
    CHECK(check("/event/Order_Placed__e").ok());
    CHECK(check("/data/ChangeEvents").ok());
    CHECK(check("/u/notifications/Deploys").ok());
    CHECK(anyErrorContains(check("/topic/"), "the channel name after /topic/ is missing"));
    CHECK(anyErrorContains(check("/event/A/B"), "only /u/ channels may have more than one segment"));
    CHECK(anyErrorContains(check("/event/A-B"), "letters, digits and '_'"));
    CHECK(anyErrorContains(check("topic/OpenCases"), "a channel starts with /topic/"));
    CHECK(anyErrorContains(check("/meta/handshake"), "a channel starts with /topic/"));
}

TEST_CASE("topic templates")
{
    auto load2 = [](const std::string &defaults, const std::string &channels) {
        FakeEnv env;
        env.vars["S"] = "x";
        return load("version: 1\nkafka: { brokers: 127.0.0.1:9092 }\n" + defaults +
                        R"(orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels:
)" + channels,
                    env);
    };
    LoadResult r = load2("defaults: { topic: \"sf.{org}.{channel}\", key: none }\n",
                         "      /data/AccountChangeEvent:\n"
                         "      /u/notifications/Deploys: {}\n"
                         "      /event/Order__e: { topic: \"{channel}\", key: record_id }\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    const auto &channels = r.config->orgs[0].channels;
    CHECK(channels[0].topic == "sf.acme.data.AccountChangeEvent");
    CHECK(channels[0].key.kind == KeyPolicy::Kind::None);
    CHECK(channels[1].topic == "sf.acme.u.notifications.Deploys");
    CHECK(channels[2].topic == "event.Order__e");
    CHECK(channels[2].key.kind == KeyPolicy::Kind::RecordId);

    r = load2("", "      /topic/A: { topic: \"sf.{orgs}\" }\n");
    CHECK(hasError(r, 8, 26, "unknown placeholder '{orgs}' in topic template; use {org} and {channel}"));
    r = load2("", "      /topic/A: { topic: \"sf.{org\" }\n");
    CHECK(anyErrorContains(r, "unterminated '{'"));
    r = load2("", "      /topic/A: { topic: \"sf/acme\" }\n");
    CHECK(anyErrorContains(r, "has the character '/'"));
    r = load2("", "      /topic/A: { topic: \"..\" }\n");
    CHECK(anyErrorContains(r, "not a valid Kafka topic name"));
    r = load2("", "      /topic/A: { topic: \"" + std::string(245, 'x') + ".{org}\" }\n");
    CHECK(anyErrorContains(r, "characters long; Kafka allows 249"));
    r = load2("", "      /topic/A:\n");
    CHECK(hasError(r, 8, 7, "missing required key 'topic' (or set defaults.topic"));
    r = load2("defaults: { topic: \"sf.{channel}\" }\n", "      /topic/" + std::string(250, 'A') + ":\n");
    CHECK(anyErrorContains(r, "(from defaults.topic)"));
}

TEST_CASE("dead_letter_topic: sfkafka.dead-letters by default, from defaults, per channel, a template")
{
    auto load2 = [](const std::string &defaults, const std::string &channels) {
        FakeEnv env;
        env.vars["S"] = "x";
        return load("version: 1\nkafka: { brokers: 127.0.0.1:9092 }\n" + defaults +
                        R"(orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels:
)" + channels,
                    env);
    };
    LoadResult r = load2("", "      /topic/A: { topic: a }\n");
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].channels[0].dead_letter_topic == "sfkafka.dead-letters");

    r = load2("defaults: { dead_letter_topic: \"dlq.{org}\" }\n",
              "      /topic/A: { topic: a }\n"
              "      /topic/B: { topic: b, dead_letter_topic: \"dlq.{org}.{channel}\" }\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].channels[0].dead_letter_topic == "dlq.acme");
    CHECK(r.config->orgs[0].channels[1].dead_letter_topic == "dlq.acme.topic.B");

    r = load2("", "      /topic/A: { topic: a, dead_letter_topic: \"dead letters\" }\n");
    CHECK(hasError(r, 8, 48, "topic 'dead letters' has the character ' '"));
    r = load2("defaults: { dead_letter_topic: \"x{orgs}\" }\n", "      /topic/A: { topic: a }\n");
    CHECK(anyErrorContains(r, "unknown placeholder '{orgs}'"));
}

TEST_CASE("channels of different orgs writing to one topic give a warning")
{
    FakeEnv env;
    env.vars["S"] = "x";
    LoadResult r = load(R"(version: 1
kafka: { brokers: 127.0.0.1:9092 }
defaults: { topic: "sf.{channel}" }
orgs:
  a:
    login_url: https://a.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /data/AccountChangeEvent: }
  b:
    login_url: https://b.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /data/AccountChangeEvent: }
)",
                        env);
    INFO(dump(r));
    CHECK(r.ok());
    CHECK(hasWarning(r, 12, 17, "topic 'sf.data.AccountChangeEvent' also receives channel /data/AccountChangeEvent of org 'a'"));
}

TEST_CASE("start, on_invalid_replay and key values")
{
    auto check = [](const std::string &settings) {
        FakeEnv env;
        env.vars["S"] = "x";
        return load(withOrg(R"(    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels:
      /topic/A: { topic: t, )" + settings + " }\n"), env);
    };
    CHECK(anyErrorContains(check("start: -1"), "write latest instead of -1"));
    CHECK(anyErrorContains(check("start: -2"), "write earliest instead of -2"));
    CHECK(anyErrorContains(check("on_invalid_replay: skip"), "'skip' is not one of: fail, earliest, latest"));
    CHECK(anyErrorContains(check("key: recordid"), "(did you mean 'record_id'?)"));
    CHECK(anyErrorContains(check("key: /a~2b"), "'~' must be followed by 0"));
    CHECK(check("key: /a~1b/~0c").ok());
    CHECK(anyErrorContains(check("start: [1]"), "expected latest, earliest or a replay id, found a list"));
}

TEST_CASE("numbers out of range and org names")
{
    FakeEnv env;
    env.vars["S"] = "x";
    LoadResult r = load(withOrg(R"(    login_url: https://acme.my.salesforce.com
    max_in_flight_events: 0
    max_in_flight_bytes: 99999999999999999999999
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: a } }
  "bad name":
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: a } }
)"),
                        env);
    INFO(dump(r));
    CHECK(hasError(r, 7, 27, "'0' is out of range: must be between 1 and 10000000"));
    CHECK(hasError(r, 8, 26, "is out of range"));
    CHECK(hasError(r, 11, 3, "invalid org name 'bad name'"));
}

TEST_CASE("max_response_bytes: 256 MiB by default, 1 MiB to 4 GiB")
{
    FakeEnv env;
    env.vars["S"] = "x";
    auto check = [&](const std::string &line) {
        return load(withOrg("    login_url: https://acme.my.salesforce.com\n" + line +
                            "    auth: { flow: client_credentials, client_id: c, client_secret: \"${env:S}\" }\n"
                            "    channels: { /topic/A: { topic: a } }\n"),
                    env);
    };
    LoadResult r = check("");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].max_response_bytes == int64_t(256) << 20);
    r = check("    max_response_bytes: 2097152\n");
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].max_response_bytes == 2097152);
    r = check("    max_response_bytes: 1000\n");
    INFO(dump(r));
    CHECK(hasError(r, 7, 25, "'1000' is out of range: must be between 1048576 and 4294967296"));
}

TEST_CASE("auth flows: required keys, keys of other flows")
{
    FakeEnv env;
    env.vars["S"] = "x";
    auto check = [&](const std::string &auth, const std::string &url = "https://acme.my.salesforce.com") {
        return load(withOrg("    login_url: " + url + "\n    auth:\n" + auth +
                            "    channels: { /topic/A: { topic: a } }\n"),
                    env);
    };

    LoadResult r = check("      flow: password\n      client_id: c\n      private_key: ${env:S}\n");
    INFO(dump(r));
    CHECK(hasError(r, 10, 7, "orgs.acme.auth.private_key: 'private_key' is not used by the password flow (it "
                            "belongs to jwt_bearer); password takes: flow, client_id, client_secret, username, password"));
    CHECK(hasError(r, 7, 5, "the password flow needs 'client_secret' (e.g. client_secret: ${credential:acme.client_secret})"));
    CHECK(hasError(r, 7, 5, "the password flow needs 'username'"));
    CHECK(hasError(r, 7, 5, "the password flow needs 'password'"));

    r = check("      flow: client_credentials\n      client_id: c\n      client_secret: ${env:S}\n"
              "      username: u\n");
    CHECK(anyErrorContains(r, "'username' is not used by the client_credentials flow (it belongs to password, jwt_bearer)"));

    r = check("      flow: saml\n      client_id: c\n");
    CHECK(hasError(r, 8, 13, "'saml' is not one of: password, refresh_token, jwt_bearer, client_credentials"));

    r = check("      client_id: c\n");
    CHECK(hasError(r, 7, 5, "orgs.acme.auth: missing required key 'flow' (one of: password, refresh_token"));

    r = check("      flow: refresh_token\n      client_id: c\n      refresh_token: ${env:S}\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].auth.flow == AuthFlow::RefreshToken);
    CHECK(r.config->orgs[0].auth.refresh_token.reveal() == "x");

    r = check("      flow: client_credentials\n      client_id: ''\n      client_secret: ${env:S}\n");
    CHECK(anyErrorContains(r, "client_id: must not be empty"));
}

TEST_CASE("client_credentials against login.salesforce.com or test.salesforce.com is an error")
{
    FakeEnv env;
    env.vars["S"] = "x";
    for (const char *host : { "https://login.salesforce.com", "https://TEST.salesforce.com/" }) {
        LoadResult r = load(withOrg(std::string("    login_url: ") + host + R"(
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: a } }
)"),
                            env);
        INFO(dump(r));
        CHECK(hasError(r, 6, 16, "the client_credentials flow works only against the org's My Domain host"));
    }
}

namespace {

std::string makePrivateKeyPem(const char *passphrase = nullptr)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    if (passphrase)
        PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase, static_cast<int>(strlen(passphrase)),
                                      nullptr, nullptr);
    else
        PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char *data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);
    EVP_PKEY_free(key);
    return pem;
}

} // namespace

TEST_CASE("jwt_bearer: the private key must be a PEM key; audience defaults to login_url")
{
    TempDir dir;
    dir.write("acme.key", makePrivateKeyPem());
    dir.write("acme.enc", makePrivateKeyPem("pass-phrase-1"));
    dir.write("acme.pass", "pass-phrase-1\n");
    dir.write("acme.wrongpass", "nope\n");
    dir.write("acme.garbage", "not a key\n");
    FakeEnv env;
    env.credentials_directory = dir.path();
    auto check = [&](const std::string &extra) {
        return load(withOrg(R"(    login_url: https://login.salesforce.com
    auth:
      flow: jwt_bearer
      client_id: c
      username: u@acme.com
)" + extra + "    channels: { /topic/A: { topic: a } }\n"),
                    env);
    };
    LoadResult r = check("      private_key: ${credential:acme.key}\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].auth.audience == "https://login.salesforce.com");
    CHECK(r.config->orgs[0].auth.private_key.reveal().starts_with("-----BEGIN PRIVATE KEY-----"));

    r = check("      private_key: ${credential:acme.enc}\n      private_key_passphrase: ${credential:acme.pass}\n"
              "      audience: https://test.salesforce.com\n");
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].auth.audience == "https://test.salesforce.com");

    r = check("      private_key: ${credential:acme.enc}\n");
    CHECK(hasError(r, 11, 20, "private_key is encrypted: set private_key_passphrase"));
    r = check("      private_key: ${credential:acme.enc}\n      private_key_passphrase: ${credential:acme.wrongpass}\n");
    CHECK(anyErrorContains(r, "cannot decrypt private_key"));
    r = check("      private_key: ${credential:acme.garbage}\n");
    CHECK(anyErrorContains(r, "private_key is not a PEM private key"));
}

TEST_CASE("brokers: a string or a list, each host:port")
{
    auto check = [](const std::string &brokers) {
        FakeEnv env;
        env.vars["S"] = "x";
        return load("version: 1\nkafka:\n  brokers: " + brokers + R"(
orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: a } }
)",
                    env);
    };
    LoadResult r = check("[\"k1:9092\", \"k2:9093\"]");
    REQUIRE(r.ok());
    CHECK(r.config->kafka.brokers == "k1:9092,k2:9093");
    r = check("\"k1:9092, [::1]:9093\"");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->kafka.brokers == "k1:9092,[::1]:9093");
    CHECK(hasError(check("k1"), 3, 12, "invalid broker 'k1': expected host:port"));
    CHECK(anyErrorContains(check("\"\""), "no brokers given"));
}

TEST_CASE("the ca_file must be readable")
{
    TempDir dir;
    std::string ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    FakeEnv env;
    env.vars["S"] = "x";
    auto check = [&](const std::string &path) {
        return load(withOrg("    login_url: https://acme.my.salesforce.com\n    ca_file: " + path + R"(
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: a } }
)"),
                    env);
    };
    LoadResult r = check(ca);
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].ca_file == ca);
    CHECK(hasError(check(dir.path() + "/missing.pem"), 7, 14, "No such file or directory"));
}

namespace {

// A minimal valid file with `logBody` as its log: section (starting at line 5).
LoadResult loadWithLog(const std::string &logBody)
{
    FakeEnv env;
    env.vars["S"] = "s3cr3t-value";
    return load("version: 1\nkafka:\n  brokers: 127.0.0.1:9092\nlog:\n" + logBody + R"(orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: x, client_secret: "${env:S}" }
    channels:
      /topic/Demo: { topic: t }
)", env);
}

} // namespace

TEST_CASE("log.modules sets per-module levels on top of log.level")
{
    LoadResult r = loadWithLog(R"(  level: warn
  modules:
    session: debug
    kafka: error
)");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->log_level == "warn");
    CHECK(r.config->log_modules == std::map<std::string, std::string>{{"kafka", "error"}, {"session", "debug"}});
    CHECK(logLevelSpec(*r.config) == "warn,kafka=error,session=debug");
    CHECK(sfk::log::parseLevelSpec(logLevelSpec(*r.config)));

    // Every module the daemon logs under may be named; modules alone keep the default info.
    std::string all;
    for (std::string_view m : sfk::log::kModules)
        all += "    " + std::string(m) + ": debug\n";
    r = loadWithLog("  modules:\n" + all);
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->log_level == "info");
    CHECK(r.config->log_modules.size() == sfk::log::kModules.size());

    // An empty mapping is no override at all.
    r = loadWithLog("  level: debug\n  modules: {}\n");
    REQUIRE(r.ok());
    CHECK(logLevelSpec(*r.config) == "debug");
}

TEST_CASE("log: unknown modules, bad levels and the command-line spec form are errors at their position")
{
    LoadResult r = loadWithLog(R"(  level: info,session=debug
  modules:
    sesion: debug
    kafka: loud
    http: [debug]
    kafka: warn
  verbosity: 2
)");
    INFO(dump(r));
    CHECK_FALSE(r.ok());
    CHECK(hasError(r, 5, 10, "log.level: 'info,session=debug' is not one of: debug, info, warn, error; "
                             "per-module levels go under log.modules, e.g. modules: {session: debug}"));
    CHECK(hasError(r, 7, 5, "log.modules.sesion: unknown key 'sesion' (did you mean 'session'?); allowed keys: "
                            "main, config, session, supervisor, commit, kafka, http"));
    CHECK(hasError(r, 8, 12, "log.modules.kafka: 'loud' is not one of: debug, info, warn, error"));
    CHECK(hasError(r, 9, 11, "log.modules.http: expected one of the listed words, found a list"));
    CHECK(hasError(r, 10, 5, "duplicate key 'kafka' (first defined at line 8)"));
    CHECK(hasError(r, 11, 3, "log.verbosity: unknown key 'verbosity'"));
    CHECK(r.errors.size() == 6);

    r = loadWithLog("  modules: session=debug\n");
    INFO(dump(r));
    CHECK(hasError(r, 5, 12, "log.modules: expected a mapping, found a scalar"));
}

TEST_CASE("pacing: defaults, values, and errors at their line:column")
{
    const char *base = R"(version: 1
kafka:
  brokers: 127.0.0.1:9092
orgs: {}
)";
    LoadResult r = load(base);
    REQUIRE(r.ok());
    CHECK(r.config->pacing.logins_per_second == 20);
    CHECK(r.config->pacing.handshakes_per_second == 50);

    r = load(std::string(base) + "pacing:\n  logins_per_second: 5\n  handshakes_per_second: 7\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->pacing.logins_per_second == 5);
    CHECK(r.config->pacing.handshakes_per_second == 7);

    r = load(std::string(base) + "pacing:\n  logins_per_second: 0\n  handshake_per_second: 7\n");
    CHECK_FALSE(r.ok());
    CHECK(hasError(r, 6, 22, "pacing.logins_per_second: '0' is out of range: must be between 1 and 10000"));
    CHECK(hasError(r, 7, 3, "unknown key 'handshake_per_second' (did you mean 'handshakes_per_second'?)"));
}

TEST_CASE("an org's delivery allocation: optional, with a warning share, errors at their line:column")
{
    auto org = [](const std::string &allocation) {
        return std::string(R"(version: 1
kafka:
  brokers: 127.0.0.1:9092
orgs:
  acme:
    login_url: http://127.0.0.1:1
    auth: {flow: client_credentials, client_id: x, client_secret: y}
    channels: {/event/A__e: {topic: a}}
)") + allocation;
    };
    LoadResult r = load(org(""));
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].daily_event_allocation == 0);
    CHECK(r.config->orgs[0].allocation_warning_percent == 80);
    r = load(org("    allocation: {daily_events: 50000, warn_percent: 90}\n"));
    REQUIRE(r.ok());
    CHECK(r.config->orgs[0].daily_event_allocation == 50000);
    CHECK(r.config->orgs[0].allocation_warning_percent == 90);
    r = load(org("    allocation:\n      daily_events: -1\n      warn_percent: 101\n"));
    CHECK_FALSE(r.ok());
    CHECK(hasError(r, 10, 21, "orgs.acme.allocation.daily_events: '-1' is out of range"));
    CHECK(hasError(r, 11, 21, "orgs.acme.allocation.warn_percent: '101' is out of range: must be between 1 and 100"));
}
