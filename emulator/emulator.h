#pragma once
// The emulated Salesforce org(s): OAuth, Bayeux long polling, the channel
// logs and the admin API. Transport-free: the HTTP glue lives in
// http_front.cpp and hands requests here as plain strings.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allocations.h"
#include "channel_log.h"
#include "emulator_config.h"
#include "faults.h"

namespace sfk::emu {

// What to send back; the HTTP layer applies the body shape.
struct HttpResult {
    enum class Shape { Normal, Reset, Slow };

    int status = 200;
    std::string content_type = "application/json;charset=UTF-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    Shape shape = Shape::Normal;
    int64_t chunk_bytes = 0;
    int64_t interval_ms = 0;
};

struct Subscription {
    std::string channel;
    std::string replay_from; // as the client asked: "-1", "-2" or an id
    int64_t cursor = 0;      // replay id after which delivery continues
    bool active = true;
    std::vector<int64_t> sent;
};

struct Client {
    std::string id;
    std::string browser_cookie;
    std::string stream_cookie;
    std::string username;
    std::string state = "connected"; // or why it ended
    int64_t created_ms = 0;
    int64_t ended_ms = 0;
    int64_t last_seen_steady_ms = 0;
    bool connected_once = false;
    bool gone = false;
    int connecting = 0;
    uint64_t connect_generation = 0;
    uint64_t connects = 0;
    uint64_t events_sent = 0;
    size_t rotation = 0;
    std::vector<Subscription> subscriptions;
};

struct Org {
    OrgConfig config;
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, std::unique_ptr<ChannelLog>> channels;
    std::map<std::string, std::shared_ptr<Client>> clients;
    std::vector<std::shared_ptr<Client>> ended;
    FaultList faults;
    // client_id -> PEM public key for JWT bearer assertions.
    std::map<std::string, std::string> jwt_keys;
    // Delivery allocation and concurrent-client limit, both transports.
    DeliveryAllocations allocations;
    // Added to sfemu's clock when it judges a JWT assertion's exp and nbf
    // (admin action clock_skew): simulates a client whose clock is off.
    std::atomic<int64_t> clock_skew_ms{0};
};

struct TokenInfo {
    Org *org = nullptr;
    std::string username;
    std::string user_id;
    std::string client_id;
    int64_t expires_ms = 0;
    bool revoked = false;
};

class Emulator {
public:
    explicit Emulator(EmulatorConfig config);
    ~Emulator();

    // The URL the main listener is bound to (an IP literal as a rule).
    void setBaseUrl(const std::string &url) { base_url_ = url; }
    const std::string &baseUrl() const { return base_url_; }
    // The instance URL to hand out instead of the one the client used
    // (--public-url); empty: answer with the client's Host header.
    void setPublicUrl(const std::string &url) { public_url_ = url; }
    // The instance_url (and base of the identity URL) for a request that
    // came with this Host header: the public URL when set, else the host the
    // client used, as Salesforce names its own hosts.
    std::string instanceUrl(const std::string &host_header) const;
    const std::vector<std::unique_ptr<Org>> &orgs() const { return orgs_; }

    // Main listener.
    HttpResult token(const std::string &form_body, const std::string &host_header = {});
    HttpResult revoke(const std::string &form_body);
    HttpResult userinfo(const std::string &authorization, const std::string &host_header = {});
    HttpResult restApi(const std::string &path, const std::string &authorization);
    HttpResult bayeux(const std::string &version, const std::string &body,
                      const std::string &authorization, const std::string &cookie_header);

    // Admin listener.
    HttpResult adminOrgs();
    HttpResult adminPublish(const std::string &org, const std::string &body);
    HttpResult adminFaults(const std::string &org, const std::string &body);
    HttpResult adminListFaults(const std::string &org);
    HttpResult adminPublished(const std::string &org, const std::string &channel);
    HttpResult adminClients(const std::string &org);
    // /admin/orgs/{org}/pubsub/{path} (faults, managed subscriptions),
    // answered by the Pub/Sub listener through the handler it installs
    // (none: 404).
    using PubSubAdmin = std::function<HttpResult(Org &org, const std::string &method, const std::string &path,
                                                 const std::string &body)>;
    void setPubSubAdmin(PubSubAdmin handler);
    HttpResult adminPubSub(const std::string &org, const std::string &method, const std::string &path,
                           const std::string &body);

    // The live (issued, unexpired, unrevoked) access token's owner, for the
    // Pub/Sub listener's per-RPC check.
    std::optional<TokenInfo> accessToken(const std::string &token);
    HttpResult adminUsage(const std::string &org);
    HttpResult adminLimits(const std::string &org, const std::string &body);

    // Forgets clients idle longer than the client timeout; applies retention.
    void sweep();
    // Wakes every held connect and makes new ones return at once.
    void shutdown();

private:
    struct Request;

    Org *findOrg(const std::string &name_or_id);
    std::optional<TokenInfo> validToken(const std::string &authorization);
    HttpResult grantToken(const std::map<std::string, std::string> &form, const std::string &grant,
                          Org *org, const AppConfig *app, const std::string &assertion,
                          const std::string &instance);
    HttpResult issueToken(Org &org, const UserConfig &user, const AppConfig &app,
                          const std::string &grant, const std::string &instance);

    // Bayeux pieces; the org's lock is held by the caller where noted.
    std::string handshake(Request &rq, size_t index, bool force_denied);
    std::string subscribe(Request &rq, size_t index);
    std::string unsubscribe(Request &rq, size_t index);
    std::string disconnect(Request &rq, size_t index);
    std::string connect(Request &rq, size_t index, std::string &events);
    std::shared_ptr<Client> findClient(Org &org, const std::string &client_id,
                                       const std::string &browser, const std::string &stream);
    void endClient(Org &org, std::shared_ptr<Client> client, const std::string &why);
    bool hasEventsFor(Org &org, const Client &client);
    size_t collectFor(Org &org, Client &client, std::string &events);

    std::vector<std::unique_ptr<Org>> orgs_;
    std::string base_url_;
    std::string public_url_;
    std::mutex tokens_mutex_;
    std::unordered_map<std::string, TokenInfo> tokens_;
    std::map<std::string, bool> revoked_refresh_tokens_;
    std::atomic<bool> stopping_{false};
    std::mutex pubsub_admin_mutex_;
    PubSubAdmin pubsub_admin_;
};

} // namespace sfk::emu
