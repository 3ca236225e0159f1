#pragma once
// sfemu's configuration: orgs, their users, connected apps, refresh tokens,
// channels and managed subscriptions, plus the timing knobs tests shorten.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "allocations.h"

namespace sfk::emu {

struct UserConfig {
    std::string username;
    std::string password;
    std::string user_id; // 005... (generated when absent)
};

struct AppConfig {
    std::string client_id;
    std::string client_secret;
    // PEM certificate or public key that verifies JWT bearer assertions.
    std::string certificate_pem;
    // Username the client credentials flow runs as (empty: flow disabled).
    std::string run_as;
};

struct RefreshTokenConfig {
    std::string token;
    std::string client_id;
    std::string username;
};

// A managed subscription for ManagedSubscribe (pubsub/managed.cpp), as
// Salesforce's ManagedEventSubscription metadata declares one.
struct ManagedSubscriptionConfig {
    std::string developer_name;
    std::string topic_name;
    std::string label;
    std::string default_replay = "LATEST"; // or EARLIEST
    std::string error_recovery_replay = "LATEST";
    std::string state = "RUN"; // or STOP
};

// Knobs settable globally and overridden per org.
struct Knobs {
    int64_t token_lifetime_seconds = 7200;
    int64_t connect_hold_ms = 110000;
    int64_t client_timeout_ms = 40000;
    int64_t max_events_per_response = 1000;
    // Retention by age per family, and by count per channel (0: unlimited).
    int64_t retention_topic_seconds = 24 * 3600;
    int64_t retention_u_seconds = 24 * 3600;
    int64_t retention_event_seconds = 72 * 3600;
    int64_t retention_data_seconds = 72 * 3600;
    int64_t retention_max_events = 0;
    // Delivery allocation and concurrent-client limit (0: unlimited).
    AllocationLimits limits;
};

struct OrgConfig {
    std::string name;
    std::string org_id;
    std::vector<UserConfig> users;
    std::vector<AppConfig> apps;
    std::vector<RefreshTokenConfig> refresh_tokens;
    std::vector<std::string> channels;
    // Extra accepted JWT audiences (login.salesforce.com, test.salesforce.com
    // and sfemu's own URL are always accepted).
    std::vector<std::string> jwt_audiences;
    std::vector<ManagedSubscriptionConfig> managed_subscriptions;
    Knobs knobs;
};

struct EmulatorConfig {
    std::vector<OrgConfig> orgs;
};

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The documented default: org "default", 00D000000000001AAA, app
// sfemu-client/sfemu-secret, user user@example.com/password, four channels.
EmulatorConfig defaultConfig();

// Parses YAML text. Every problem is collected; the exception's message
// lists them, one "file:line:column: message" per line.
EmulatorConfig parseConfig(const std::string &yaml_text, const std::string &file_name);
EmulatorConfig loadConfigFile(const std::string &path);

} // namespace sfk::emu
