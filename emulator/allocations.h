#pragma once
// An org's streaming allocations, shared by both transports (CometD in
// bayeux.cpp, Pub/Sub in pubsub/): a rolling-window count of the events
// delivered to each subscribing client against the org's daily delivery
// allocation, and the org's concurrent-client limit.
//
// Salesforce counts one delivery per event per subscribed client (20,000
// events to two subscribers use 40,000), over a rolling 24 hours; past the
// allocation CometD subscribes and connects fail with
// "403::Organization total events daily limit exceeded" and Pub/Sub
// subscriptions with the error code
// "sfdc.platform.eventbus.grpc.subscription.limit.exceeded".
//
// Thread-safe on its own (one mutex), so a transport can call it with or
// without its org's lock. Lock order: the org's mutex, then this one.

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <string>

namespace sfk::emu {

enum class Transport { CometD, PubSub };
const char *transportName(Transport t);

struct AllocationLimits {
    int64_t daily_delivered_events = 0; // per rolling window, org total; 0: unlimited
    int64_t concurrent_clients = 0;     // open clients of both transports; 0: unlimited
    int64_t window_seconds = 24 * 3600; // the "daily" window (shortened in tests)
};

// Salesforce's texts, for the transports to send.
inline constexpr const char *kDailyLimitCometdError = "403::Organization total events daily limit exceeded";
inline constexpr const char *kConcurrentLimitCometdReason = "403::Organization concurrent user limit exceeded";
inline constexpr const char *kLimitPubSubErrorCode = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded";

class DeliveryAllocations {
public:
    static constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

    explicit DeliveryAllocations(AllocationLimits limits = {});

    AllocationLimits limits() const;
    void setLimits(const AllocationLimits &limits);
    // Forgets every delivery counted so far (open clients stay open).
    void resetUsage();

    // A new client (a CometD handshake, a Pub/Sub stream): false, and not
    // counted, when the org already has its limit of open clients.
    bool openClient(const std::string &client_id, Transport transport, int64_t now_ms);
    void closeClient(const std::string &client_id, int64_t now_ms);
    size_t openClients() const;

    // Deliveries still allowed in the window now (kUnlimited when no
    // allocation is set); 0 means subscribes and connects are refused.
    int64_t remaining(int64_t now_ms);
    bool exhausted(int64_t now_ms) { return remaining(now_ms) <= 0; }
    // Counts `count` events delivered to one client.
    void recordDelivered(const std::string &client_id, Transport transport, int64_t count,
                         int64_t now_ms);
    // At most `wanted` deliveries to one client, taken from what is left
    // and counted in one step (so streams delivering at once never overrun
    // the allocation together); returns how many were granted.
    int64_t claim(const std::string &client_id, Transport transport, int64_t wanted, int64_t now_ms);

    // {"window_seconds":..,"daily_delivered_events":..,"concurrent_clients":..,
    //  "delivered":..,"remaining":..|null,"open_clients":..,"clients":[{"client_id":..,
    //  "transport":..,"open":..,"delivered":..,"delivered_total":..}]}
    std::string usageJson(int64_t now_ms);

private:
    struct Bucket {
        int64_t start_ms;
        int64_t count;
    };
    struct ClientUsage {
        Transport transport = Transport::CometD;
        bool open = false;
        int64_t closed_ms = 0;
        int64_t in_window = 0; // sum of buckets
        int64_t total = 0;     // since sfemu started (or the last reset)
        std::deque<Bucket> buckets;
    };

    int64_t bucketMs() const;
    void expireLocked(int64_t now_ms);
    void recordLocked(const std::string &client_id, Transport transport, int64_t count, int64_t now_ms);

    mutable std::mutex mutex_;
    AllocationLimits limits_;
    int64_t in_window_ = 0;
    std::map<std::string, ClientUsage> clients_;
    size_t open_ = 0;
};

} // namespace sfk::emu
