#include <doctest/doctest.h>

#include "config_test_support.h"

using namespace sfk::config;
using namespace sfk::config::test;

namespace {

LoadResult withLibrdkafka(const std::string &props, const FakeEnv &env = {}, const std::string &brokers = "10.1.1.1:9092")
{
    FakeEnv e = env;
    e.vars["S"] = "x";
    return load("version: 1\nkafka:\n  brokers: " + brokers + "\n  librdkafka:\n" + props + R"(orgs:
  acme:
    login_url: https://acme.my.salesforce.com
    auth: { flow: client_credentials, client_id: c, client_secret: "${env:S}" }
    channels: { /topic/A: { topic: a } }
)",
                e);
}

} // namespace

TEST_CASE("librdkafka properties are checked by librdkafka, errors at the key or value")
{
    LoadResult r = withLibrdkafka("    compression.type: lz5\n"
                                  "    no.such.property: 1\n"
                                  "    linger.ms: forever\n"
                                  "    message.timeout.ms: 300000\n");
    INFO(dump(r));
    CHECK(hasError(r, 5, 23, "kafka.librdkafka[\"compression.type\"]: librdkafka: Invalid value \"lz5\" for "
                             "configuration property \"compression.codec\""));
    CHECK(hasError(r, 6, 5, "librdkafka: No such configuration property: \"no.such.property\""));
    CHECK(hasError(r, 7, 16, "linger.ms\"]: librdkafka: Invalid value for configuration property"));
    CHECK(r.errors.size() == 3);

    r = withLibrdkafka("    compression.type: zstd\n    message.timeout.ms: 300000\n    acks: all\n"
                       "    enable.idempotence: true\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->kafka.librdkafka.size() == 4);
}

TEST_CASE("properties sfkafkad owns or that break no-loss are refused")
{
    LoadResult r = withLibrdkafka("    bootstrap.servers: 127.0.0.1:9092\n"
                                  "    enable.idempotence: false\n"
                                  "    acks: 1\n"
                                  "    request.required.acks: 0\n"
                                  "    transactional.id: x\n");
    INFO(dump(r));
    CHECK(hasError(r, 5, 24, "sfkafkad sets bootstrap.servers from kafka.brokers; write the brokers there"));
    CHECK(hasError(r, 6, 25, "enable.idempotence=false would break the no-loss guarantee"));
    CHECK(hasError(r, 7, 11, "acks=1 would break the no-loss guarantee"));
    CHECK(hasError(r, 8, 28, "request.required.acks=0 would break the no-loss guarantee"));
    CHECK(hasError(r, 9, 23, "sfkafkad does not use Kafka transactions"));
    CHECK(withLibrdkafka("    acks: -1\n").ok());
}

TEST_CASE("combinations librdkafka rejects are reported; consumer properties warn")
{
    LoadResult r = withLibrdkafka("    max.in.flight.requests.per.connection: 50\n");
    INFO(dump(r));
    CHECK(hasError(r, 4, 3, "librdkafka rejects these settings"));
    CHECK(anyErrorContains(r, "max.in.flight"));

    r = withLibrdkafka("    group.id: sfkafka\n");
    INFO(dump(r));
    CHECK(r.ok());
    CHECK(hasWarning(r, 5, 5, "group.id is a consumer property"));
}

TEST_CASE("librdkafka values are scalars; secrets among them are references")
{
    LoadResult r = withLibrdkafka("    compression:\n      type: zstd\n");
    CHECK(anyErrorContains(r, "write dotted property names as one key, e.g. compression.type: zstd"));

    r = withLibrdkafka("    security.protocol: sasl_ssl\n    sasl.mechanisms: PLAIN\n    sasl.username: u\n"
                       "    sasl.password: inline-kafka-pw\n");
    CHECK(hasError(r, 8, 20, "secrets must not be inline"));

    FakeEnv env;
    env.vars["KAFKA_PW"] = "kafka-pw-from-env";
    r = withLibrdkafka("    security.protocol: sasl_ssl\n    sasl.mechanisms: PLAIN\n    sasl.username: u\n"
                       "    sasl.password: ${env:KAFKA_PW}\n",
                       env);
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(otherWarnings(r).empty());
    CHECK(r.config->kafka.librdkafka.at("sasl.password") == "kafka-pw-from-env");

    r = withLibrdkafka("    security.protocol: sasl_plaintext\n    sasl.mechanisms: SCRAM-SHA-1024\n");
    CHECK(hasError(r, 6, 22, "unsupported SASL mechanism \"SCRAM-SHA-1024\""));

    // Every broker on loopback: inline allowed with a warning.
    r = withLibrdkafka("    sasl.password: inline-kafka-pw\n", {}, "127.0.0.1:9092");
    CHECK(r.ok());
    CHECK(hasWarning(r, 5, 20, "inline secret accepted because every broker is a loopback address"));
}
