// The loader's transport settings: transport per channel with an org-level
// default, the Pub/Sub endpoint, value_format and on_transport_switch.
#include <doctest/doctest.h>

#include "config_test_support.h"

using namespace sfk::config;
using namespace sfk::config::test;

namespace {

std::string withOrg(const std::string &orgBody)
{
    return "version: 1\nkafka:\n  brokers: 127.0.0.1:9092\norgs:\n  acme:\n"
           "    login_url: https://acme.my.salesforce.com\n"
           "    auth: { flow: client_credentials, client_id: x, client_secret: \"${env:S}\" }\n" +
           orgBody;
}

FakeEnv env()
{
    FakeEnv e;
    e.vars["S"] = "s3cr3t";
    return e;
}

} // namespace

TEST_CASE("transport: the channel's own, else the org's, else cometd; /topic/ and /u/ stay on CometD")
{
    LoadResult r = load(withOrg(R"(    transport: pubsub
    channels:
      /event/Order__e: { topic: t1, value_format: cometd_compatible }
      /data/AccountChangeEvent: { topic: t2, transport: cometd }
      /topic/Invoices: { topic: t3 }
      /data/ChangeEvents: { topic: t4, value_format: avro, on_transport_switch: fail }
)"),
                    env());
    INFO(dump(r));
    REQUIRE(r.ok());
    const auto &ch = r.config->orgs.at(0).channels;
    REQUIRE(ch.size() == 4);
    CHECK(ch[0].transport == Transport::Pubsub);
    CHECK(ch[0].value_format == ValueFormat::CometdCompatible);
    CHECK(ch[0].on_transport_switch == TransportSwitchPolicy::Earliest);
    CHECK(ch[1].transport == Transport::Cometd);
    CHECK(ch[2].transport == Transport::Cometd);   // inherited pubsub does not apply to a PushTopic
    CHECK(ch[3].transport == Transport::Pubsub);
    CHECK(ch[3].value_format == ValueFormat::Avro);
    CHECK(ch[3].on_transport_switch == TransportSwitchPolicy::Fail);
    const auto &ep = r.config->orgs.at(0).pubsub;
    CHECK(ep.host == "api.pubsub.salesforce.com");
    CHECK(ep.port == 7443);
    CHECK_FALSE(ep.plaintext);
    CHECK(ep.stall_timeout_ms == 300000);
}

TEST_CASE("pubsub endpoint, plaintext to loopback only, schemas topic and stall timeout")
{
    LoadResult r = load(withOrg(R"(    pubsub:
      endpoint: "127.0.0.1:7011"
      plaintext: true
      schemas_topic: my.schemas
      stall_timeout_ms: 5000
    channels:
      /event/Order__e: { topic: t1, transport: pubsub }
)"),
                    env());
    INFO(dump(r));
    REQUIRE(r.ok());
    const auto &ep = r.config->orgs.at(0).pubsub;
    CHECK(ep.host == "127.0.0.1");
    CHECK(ep.port == 7011);
    CHECK(ep.plaintext);
    CHECK(ep.schemas_topic == "my.schemas");
    CHECK(ep.stall_timeout_ms == 5000);
}

TEST_CASE("every transport mistake is reported at its line and column")
{
    LoadResult r = load(withOrg(R"(    transport: grpc
    pubsub:
      endpoint: api.pubsub.salesforce.com
      plaintext: true
      ca_file: /nonexistent/ca.pem
      schemas_topic: "bad topic"
      stall_timeout_ms: 10
    channels:
      /topic/Invoices: { topic: t1, transport: pubsub }
      /u/Notes: { topic: t2, transport: pubsub }
      /event/A__e: { topic: t3, value_format: avro }
      /event/B__e: { topic: t4, transport: pubsub, value_format: xml, on_transport_switch: newest }
      /event/C__e: { topic: t5, transport: pubsub, start: 1234 }
)"),
                    env());
    INFO(dump(r));
    CHECK_FALSE(r.ok());
    CHECK(hasError(r, 8, 16, "orgs.acme.transport: 'grpc' is not one of: cometd, pubsub"));
    CHECK(hasError(r, 10, 17, "is not host:port (e.g. api.pubsub.salesforce.com:7443)"));
    CHECK(hasError(r, 11, 18, "plaintext gRPC is accepted only to a loopback emulator"));
    CHECK(hasError(r, 12, 16, "cannot read /nonexistent/ca.pem"));
    CHECK(hasError(r, 13, 22, "schemas_topic 'bad topic'"));
    CHECK(hasError(r, 14, 25, "is out of range"));
    CHECK(hasError(r, 16, 48, "cannot use transport pubsub: Salesforce serves PushTopic (/topic/) channels over CometD only"));
    CHECK(hasError(r, 17, 41, "generic streaming (/u/) channels over CometD only"));
    CHECK(hasError(r, 18, 47, "value_format applies to Pub/Sub channels; /event/A__e uses transport cometd"));
    CHECK(hasError(r, 19, 66, "'xml' is not one of: json, cometd_compatible, avro"));
    CHECK(hasError(r, 19, 92, "'newest' is not one of: earliest, latest, fail"));
    CHECK(hasError(r, 20, 59, "a numeric start replay id is a CometD position"));
}

TEST_CASE("plaintext gRPC to a host that is not loopback is refused")
{
    LoadResult r = load(withOrg(R"(    pubsub: { endpoint: "api.pubsub.salesforce.com:7443", plaintext: true }
    channels:
      /event/Order__e: { topic: t1, transport: pubsub }
)"),
                    env());
    INFO(dump(r));
    CHECK_FALSE(r.ok());
    CHECK(anyErrorContains(r, "plaintext gRPC is accepted only to a loopback emulator"));
}
