#include <doctest/doctest.h>

#include "config/interpolate.h"
#include "config_test_support.h"

using namespace sfk::config;
using namespace sfk::config::test;

TEST_CASE("${env:...} forms")
{
    FakeEnv fake;
    fake.vars = { { "SET", "value" }, { "EMPTY", "" } };
    Environment env = fake.env();

    Interpolation r = interpolate("a-${env:SET}-b", env);
    CHECK(r.ok());
    CHECK(r.value == "a-value-b");
    CHECK(r.has_reference);
    CHECK(r.has_inline_text);

    r = interpolate("${env:SET}", env);
    CHECK(r.value == "value");
    CHECK_FALSE(r.has_inline_text);

    r = interpolate("${env:EMPTY}", env);
    CHECK(r.ok());
    CHECK(r.value.empty());

    r = interpolate("${env:MISSING}", env);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] == "environment variable MISSING is not set (referenced as ${env:MISSING})");

    CHECK(interpolate("${env:MISSING:-fallback}", env).value == "fallback");
    CHECK(interpolate("${env:EMPTY:-fallback}", env).value == "fallback");
    CHECK(interpolate("${env:SET:-fallback}", env).value == "value");
    CHECK(interpolate("${env:EMPTY-fallback}", env).value == "");
    CHECK(interpolate("${env:MISSING-fallback}", env).value == "fallback");
    CHECK(interpolate("${env:MISSING:-fallback}", env).has_inline_text);
    CHECK_FALSE(interpolate("${env:SET:-fallback}", env).has_inline_text);

    r = interpolate("${env:MISSING:?set it to the broker list}", env);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] == "environment variable MISSING is not set or empty: set it to the broker list");
    CHECK_FALSE(interpolate("${env:EMPTY:?x}", env).ok());
    CHECK(interpolate("${env:EMPTY?x}", env).ok());
    CHECK_FALSE(interpolate("${env:MISSING?x}", env).ok());
    CHECK(interpolate("${env:SET:?x}", env).value == "value");

    CHECK(interpolate("$$HOME and $5 and ${env:SET}$", env).value == "$HOME and $5 and value$");
    CHECK(interpolate("${env:SET", env).errors.at(0) == "unterminated '${' (write '$$' for a literal '$')");
    CHECK(interpolate("${env:1X}", env).errors.at(0).find("a variable name is") != std::string::npos);
    CHECK(interpolate("${env:SET!}", env).errors.at(0).find("after the name only") != std::string::npos);
    CHECK(interpolate("${HOME}", env).errors.at(0) ==
          "unknown reference '${HOME...}': write ${env:HOME} for an environment variable");
    CHECK(interpolate("${vault:x}", env).errors.at(0).find("unknown reference kind 'vault'") != std::string::npos);
}

TEST_CASE("${file:...} and ${credential:...}")
{
    TempDir dir;
    std::string file = dir.write("secret.txt", "file-content\r\n\n");
    dir.write("acme.password", "cred-content\n");
    FakeEnv fake;
    fake.credentials_directory = dir.path();
    Environment env = fake.env();

    Interpolation r = interpolate("${file:" + file + "}", env);
    CHECK(r.ok());
    CHECK(r.value == "file-content");
    CHECK(r.files == std::vector<std::string>{ file });

    r = interpolate("${credential:acme.password}", env);
    CHECK(r.ok());
    CHECK(r.value == "cred-content");

    r = interpolate("${file:relative/path}", env);
    CHECK(r.errors.at(0) == "${file:relative/path}: the path must be absolute");
    r = interpolate("${file:" + dir.path() + "/nope}", env);
    CHECK(r.errors.at(0) == "${file:" + dir.path() + "/nope}: cannot read " + dir.path() +
                                "/nope: No such file or directory");
    r = interpolate("${file:" + dir.path() + "}", env);
    CHECK(r.errors.at(0).find("not a regular file") != std::string::npos);
    r = interpolate("${credential:../etc/passwd}", env);
    CHECK(r.errors.at(0).find("no '/'") != std::string::npos);
    r = interpolate("${credential:missing}", env);
    CHECK(r.errors.at(0).find("cannot read " + dir.path() + "/missing") != std::string::npos);

    fake.credentials_directory.clear();
    r = interpolate("${credential:acme.password}", fake.env());
    CHECK(r.errors.at(0) == "${credential:acme.password}: $CREDENTIALS_DIRECTORY is not set (run under systemd "
                            "with LoadCredential=acme.password:/path, or use ${file:/path})");
}

namespace {

std::string orgWithSecret(const std::string &url, const std::string &secret)
{
    return R"(version: 1
kafka: { brokers: 127.0.0.1:9092 }
orgs:
  acme:
    login_url: )" + url + R"(
    auth:
      flow: client_credentials
      client_id: c
      client_secret: )" + secret + R"(
    channels: { /topic/A: { topic: a } }
)";
}

} // namespace

TEST_CASE("secrets must be references; inline only for loopback with a warning")
{
    LoadResult r = load(orgWithSecret("https://acme.my.salesforce.com", "topsecret-inline"));
    INFO(dump(r));
    CHECK(hasError(r, 9, 22, "orgs.acme.auth.client_secret: secrets must not be inline; use ${credential:...}, "
                             "${file:...} or ${env:...}"));

    // Text around a reference is inline too, and so is a default.
    CHECK(anyErrorContains(load(orgWithSecret("https://acme.my.salesforce.com", "abc${env:X}"), FakeEnv{ { { "X", "y" } } }),
                           "secrets must not be inline"));
    CHECK(anyErrorContains(load(orgWithSecret("https://acme.my.salesforce.com", "${env:X:-fallback}")),
                           "secrets must not be inline"));

    r = load(orgWithSecret("http://127.0.0.1:8080", "sfemu-secret"));
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(hasWarning(r, 9, 22, "warning: orgs.acme.auth.client_secret: inline secret accepted because login_url is "
                               "a loopback address"));
    CHECK(r.config->orgs[0].auth.client_secret.reveal() == "sfemu-secret");

    r = load(orgWithSecret("https://acme.my.salesforce.com", "${env:EMPTY}"), FakeEnv{ { { "EMPTY", "" } } });
    CHECK(hasError(r, 9, 22, "the secret is empty"));

    r = load(orgWithSecret("https://acme.my.salesforce.com", "${env:UNSET}"));
    CHECK(hasError(r, 9, 22, "orgs.acme.auth.client_secret: environment variable UNSET is not set"));
}

TEST_CASE("secrets from the credentials directory; loose file permissions warn")
{
    TempDir dir;
    dir.write("acme.secret", "from-credential\n", 0400);
    std::string loose = dir.write("loose.secret", "from-file\n", 0644);
    FakeEnv env;
    env.credentials_directory = dir.path();

    LoadResult r = load(orgWithSecret("https://acme.my.salesforce.com", "${credential:acme.secret}"), env);
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(otherWarnings(r).empty());
    CHECK(r.config->orgs[0].auth.client_secret.reveal() == "from-credential");

    r = load(orgWithSecret("https://acme.my.salesforce.com", "${file:" + loose + "}"), env);
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(hasWarning(r, 9, 22, "secret file " + loose + " is readable by group or others (mode 0644); chmod 600 it"));
    CHECK(r.config->orgs[0].auth.client_secret.reveal() == "from-file");

    r = load(orgWithSecret("https://acme.my.salesforce.com", "${credential:acme.secret}"), FakeEnv{});
    CHECK(hasError(r, 9, 22, "$CREDENTIALS_DIRECTORY is not set"));
}

TEST_CASE("references work in any scalar value and are positioned")
{
    FakeEnv env;
    env.vars = { { "BROKERS", "10.0.0.1:9092" }, { "S", "x" }, { "LEVEL", "warn" } };
    LoadResult r = load(R"(version: 1
kafka: { brokers: "${env:BROKERS}" }
log: { level: "${env:LEVEL}" }
state: { commit_interval_ms: "${env:INTERVAL:-250}", directory: "${env:DIR:?where state lives}" }
orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: "${env:TOPIC_PREFIX:-sf}.{org}" } }
)",
                        env);
    INFO(dump(r));
    CHECK(hasError(r, 4, 65, "state.directory: environment variable DIR is not set or empty: where state lives"));
    env.vars["DIR"] = "/srv/state";
    r = load(R"(version: 1
kafka: { brokers: "${env:BROKERS}" }
log: { level: "${env:LEVEL}" }
state: { commit_interval_ms: "${env:INTERVAL:-250}", directory: "${env:DIR:?where state lives}" }
orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: "${env:TOPIC_PREFIX:-sf}.{org}" } }
)",
             env);
    REQUIRE(r.ok());
    CHECK(r.config->kafka.brokers == "10.0.0.1:9092");
    CHECK(r.config->log_level == "warn");
    CHECK(r.config->commit_interval == std::chrono::milliseconds(250));
    CHECK(r.config->state_directory == "/srv/state");
    CHECK(r.config->orgs[0].channels[0].topic == "sf.acme");
}
