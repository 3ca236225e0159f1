#pragma once
// Typed configuration of sfkafkad (YAML, `version: 1`). The loader
// (config/loader.h) fills these; everything else reads only these structs.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/secret.h"

namespace sfk::config {

// Where a channel starts when no committed replay id is stored.
struct StartPosition {
    enum class Kind { Latest, Earliest, ReplayId } kind = Kind::Latest;
    int64_t replay_id = 0; // when kind == ReplayId
};

enum class InvalidReplayPolicy { Fail, Earliest, Latest };
inline const char *invalidReplayPolicyName(InvalidReplayPolicy p)
{
    return p == InvalidReplayPolicy::Fail ? "fail" : p == InvalidReplayPolicy::Earliest ? "earliest" : "latest";
}

// How a channel's events come: CometD (Bayeux long polling) or Salesforce's
// Pub/Sub API (gRPC, Avro). /topic/ and /u/ channels exist only on CometD.
enum class Transport { Cometd, Pubsub };
inline const char *transportName(Transport t) { return t == Transport::Pubsub ? "pubsub" : "cometd"; }

// What a Pub/Sub event's Kafka value is: its Avro payload as JSON, as the
// JSON CometD would have delivered for it, or the Avro bytes unchanged (the
// schema id in a header, the schema on the schemas topic).
enum class ValueFormat { Json, CometdCompatible, Avro };

// Where a channel starts when its stored position belongs to the other
// transport (the channel's transport was switched): a position of one means
// nothing to the other, so this is always a gap record.
enum class TransportSwitchPolicy { Earliest, Latest, Fail };

// How a record's Kafka key is chosen.
struct KeyPolicy {
    // RecordId: PushTopic sobject.Id / CDC first recordIds, no key otherwise.
    // Channel: the channel name. None: no key. Pointer: JSON pointer into
    // the event's `data` object (e.g. /payload/Order_Number__c).
    enum class Kind { RecordId, Channel, None, Pointer } kind = Kind::RecordId;
    std::string pointer;
};

struct Channel {
    std::string name;   // e.g. /data/AccountChangeEvent
    std::string topic;  // resolved: {org} and {channel} already substituted
    StartPosition start;
    InvalidReplayPolicy on_invalid_replay = InvalidReplayPolicy::Fail;
    KeyPolicy key;
    // Where events Kafka refuses for good, or that cannot be decoded, go
    // (resolved like topic). README: How sfkafkad delivers events.
    std::string dead_letter_topic = "sfkafka.dead-letters";
    Transport transport = Transport::Cometd;
    ValueFormat value_format = ValueFormat::Json;       // pubsub only
    TransportSwitchPolicy on_transport_switch = TransportSwitchPolicy::Earliest;
};

// Where an org's Pub/Sub API calls go (used when one of its channels is pubsub).
struct PubsubEndpoint {
    std::string host = "api.pubsub.salesforce.com";
    int port = 7443;
    bool plaintext = false;   // loopback only (an emulator)
    std::string ca_file;      // extra CA bundle; empty: the system's roots
    // The compacted topic each Avro schema is published to once (value_format: avro).
    std::string schemas_topic = "sfkafka.schemas";
    // A stream silent this long is cancelled and resubscribed: Salesforce
    // sends a keepalive every 270 s at the latest.
    int64_t stall_timeout_ms = 300000;
};

enum class AuthFlow { Password, RefreshToken, JwtBearer, ClientCredentials };

struct Auth {
    AuthFlow flow = AuthFlow::Password;
    std::string client_id;
    Secret client_secret;   // password, refresh_token, client_credentials
    std::string username;   // password, jwt_bearer
    Secret password;        // password flow: password + security token
    Secret refresh_token;   // refresh_token flow
    Secret private_key;     // jwt_bearer: PEM text
    Secret private_key_passphrase;
    std::string audience;   // jwt_bearer: defaults to login_url
};

struct Org {
    std::string name;       // the key under `orgs:`
    std::string login_url;  // https://login.salesforce.com, a My Domain, or loopback http
    std::string api_version = "62.0";
    Auth auth;
    std::vector<Channel> channels;
    // Back-pressure: polling pauses while this many events/bytes are unacknowledged.
    int64_t max_in_flight_events = 10000;
    int64_t max_in_flight_bytes = 64 * 1024 * 1024;
    std::string ca_file;    // extra CA bundle for TLS to this org (optional)
    // A response body larger than this (Salesforce's stay far below; a
    // misbehaving proxy might not) is a transport error: resubscribe.
    int64_t max_response_bytes = int64_t(256) << 20;
    // The org's Salesforce delivery allocation: events delivered to our
    // client in a rolling 24 hours (0: not watched), and the share of it at
    // which a warning is logged.
    int64_t daily_event_allocation = 0;
    int64_t allocation_warning_percent = 80;
    // HTTP CONNECT proxy for https traffic: http://[user:password@]host:port.
    // A Secret because it may carry a password. Empty: $HTTPS_PROXY applies.
    Secret proxy;
    PubsubEndpoint pubsub;
};

struct Kafka {
    std::string brokers;
    // Passed to librdkafka unchanged (after sfkafkad's defaults).
    std::map<std::string, std::string> librdkafka;
    // Gap records (what was knowingly not delivered); "" disables.
    std::string control_topic = "sfkafka.control";
};

// Process-wide pacing of the org sessions' OAuth logins and Bayeux
// handshakes (a start or a mass failure of many orgs must not be a herd).
struct Pacing {
    int64_t logins_per_second = 20;
    int64_t handshakes_per_second = 50;
};

struct Config {
    std::string path;       // the file it was loaded from
    Kafka kafka;
    std::string state_directory;   // resolved default: $STATE_DIRECTORY, else ./state
    std::chrono::milliseconds commit_interval{1000};
    Pacing pacing;
    std::string http_listen = "127.0.0.1:9464";  // empty: disabled
    std::string log_level = "info";                    // the default level (log.level)
    std::map<std::string, std::string> log_modules;    // module -> level (log.modules)
    std::vector<Org> orgs;  // in file order
};

} // namespace sfk::config
