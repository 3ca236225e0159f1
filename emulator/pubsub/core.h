#pragma once
// The state behind the Pub/Sub RPCs: auth, per-org schema stores, the Avro
// encoding of every channel's events (done once, in replay order, and shared
// by all subscribers), opaque replay ids, and the reactors' pump thread.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "emulator.h"
#include "pubsub_api.grpc.pb.h"
#include "pubsub_server.h"
#include "schema.h"

namespace sfk::emu::pubsub {

// Salesforce's error-code trailer values.
namespace code {
inline constexpr const char *kAuth = "sfdc.platform.eventbus.grpc.service.auth.error";
inline constexpr const char *kReplayCorrupted = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted";
inline constexpr const char *kReplayInvalid =
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed";
// Not in Salesforce's table: sfemu's own names for these cases.
inline constexpr const char *kTopicNotFound = "sfdc.platform.eventbus.grpc.topic.not.found";
inline constexpr const char *kSchemaNotFound = "sfdc.platform.eventbus.grpc.schema.not.found";
inline constexpr const char *kBadRequest = "sfdc.platform.eventbus.grpc.invalid.request";
inline constexpr const char *kClientLimit = "sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded";
inline constexpr const char *kManagedNotFound = "sfdc.platform.eventbus.grpc.managed.subscription.not.found";
inline constexpr const char *kManagedStopped = "sfdc.platform.eventbus.grpc.managed.subscription.stopped";
inline constexpr const char *kManagedActive = "sfdc.platform.eventbus.grpc.managed.subscription.active";
} // namespace code

struct Encoded {
    int64_t replay_id = 0;
    std::string uuid;
    std::string schema_id;
    std::string payload;
};
using EncodedPtr = std::shared_ptr<const Encoded>;

struct ChannelCache {
    int64_t upto = 0; // every event <= upto is encoded
    std::deque<EncodedPtr> events;
};

// Faults armed through POST /admin/orgs/{org}/pubsub/faults (admin.cpp).
struct FailNext {
    grpc::StatusCode status = grpc::StatusCode::UNAVAILABLE;
    std::string error_code;
    std::string message;
};
struct PubSubFaults {
    std::deque<FailNext> fail_subscribe; // the next Subscribe calls, one each
    int reset_streams = 0;               // streams still to reset ...
    int reset_after_events = 0;          // ... after this many more events
    int64_t stall_until_ms = 0;          // steady clock: no writes at all before
    int max_clients = 0;                 // concurrent streams per org, 0 = no limit
};

// A managed subscription (Salesforce's ManagedEventSubscription) and the
// replay id its clients committed (managed.cpp, managed_subscribe.cpp).
struct ManagedSubscription {
    std::string id; // 18 characters
    std::string developer_name;
    std::string label;
    std::string topic;
    // Where a stream starts with nothing committed, and where it resumes
    // when the committed id is no longer valid (past retention, reset ids).
    eventbus::v1::ReplayPreset default_replay = eventbus::v1::LATEST;
    eventbus::v1::ReplayPreset error_recovery_replay = eventbus::v1::LATEST;
    bool running = true; // state RUN (or STOP)
    bool committed = false;
    int64_t committed_id = 0;
    std::string committed_bytes; // as the client sent it (its epoch check)
    int64_t committed_ms = 0;
    uint64_t commits = 0;
    std::string active_rpc_id; // the stream using it, "" when none
};

struct OrgState {
    std::mutex mutex;
    SchemaStore schemas;
    std::map<std::string, ChannelCache> channels;
    PubSubFaults faults;
    int streams = 0; // open Subscribe, ManagedSubscribe and PublishStream streams
    // Flow control as clients asked for it (GET .../pubsub/streams): the most
    // credit one subscriber stream ever had outstanding counting the request
    // that added it, before the cap of 100, and the requests seen.
    int64_t peak_outstanding = 0;
    int64_t fetch_requests = 0;
    std::map<std::string, ManagedSubscription> managed; // by id
    int managed_created = 0;
};

// Creates the managed subscriptions an org's config declares.
void seedManaged(const OrgConfig &config, OrgState &st);

// The caller of an RPC once its metadata passed.
struct Caller {
    Org *org = nullptr;
    std::string username;
};

// Something the pump thread visits.
class Pumped {
public:
    virtual ~Pumped() = default;
    virtual void pump() = 0;
};

class Core {
public:
    Core(Emulator &emulator, PubSubOptions options);
    ~Core();

    Emulator &emulator() { return emulator_; }
    const PubSubOptions &options() const { return options_; }

    // Checks accesstoken / instanceurl / tenantid; on failure fills status
    // (and the error-code trailer) and returns nullopt.
    std::optional<Caller> authenticate(grpc::CallbackServerContext &ctx, grpc::Status &status);
    // A failed status as Salesforce sends it: message with the rpc id, and
    // the error-code and rpc-id trailers.
    static grpc::Status fail(grpc::ServerContextBase &ctx, grpc::StatusCode status, const char *error_code,
                             const std::string &message, const std::string &rpc_id);

    // The channel log of a Pub/Sub topic (families /event/ and /data/).
    ChannelLog *topic(Org &org, const std::string &name);
    OrgState &state(Org &org);
    // Encodes every event of the channel not yet encoded; the state's lock
    // must be held.
    ChannelCache &refresh(Org &org, OrgState &st, ChannelLog &log);
    // The schema a topic's next events are written with.
    SchemaPtr topicSchema(Org &org, OrgState &st, ChannelLog &log);

    // Opaque replay ids: 10 bytes (the id big-endian, then a 2-byte check
    // bound to the org and topic). Decoding accepts the bare 8 bytes too.
    std::string replayBytes(const Org &org, const std::string &channel, int64_t id) const;
    // Stale: the check of an earlier replay id epoch (before a reset).
    enum class ReplayCheck { Ok, Corrupted, Stale };
    ReplayCheck decodeReplay(const Org &org, const std::string &channel, const std::string &bytes,
                             int64_t &id) const;

    // The admin API's Pub/Sub routes below /admin/orgs/{org}/pubsub/:
    // "faults" and "streams" (admin.cpp) and "managed[/{id or name}]" (managed.cpp).
    HttpResult admin(Org &org, const std::string &method, const std::string &path, const std::string &body);
    // The managed subscription named by id or developer name; the state's
    // lock must be held.
    static ManagedSubscription *findManaged(OrgState &st, const std::string &id, const std::string &name);
    // A stream is a client of the org's allocations (allocations.h), named
    // by its rpc id: every stream counts against the concurrent-client
    // limit, publishers too (Salesforce: the limit "applies to publisher
    // and subscriber clients"); a subscriber is also refused once the
    // delivery allocation is used. False (status filled) when refused;
    // closeStream() on the way out of an opened one.
    enum class StreamKind { Subscriber, Publisher };
    bool openStream(grpc::ServerContextBase &ctx, Org &org, StreamKind kind, const std::string &rpc_id,
                    grpc::Status &status);
    void closeStream(Org &org, const std::string &rpc_id);
    // How many of `wanted` events a subscriber stream may send now; those
    // are counted as delivered to it.
    static int64_t claimDeliveries(Org &org, const std::string &rpc_id, int64_t wanted);
    // The status a subscriber gets once the org's delivery allocation is used.
    static grpc::Status allocationUsed(grpc::ServerContextBase &ctx, const std::string &rpc_id);

    void addPumped(std::shared_ptr<Pumped> p);
    void removePumped(Pumped *p);
    // Wakes the pump thread (new events, new credit).
    void poke();
    void stop();

private:
    void pumpLoop();
    HttpResult adminFaults(Org &org, const std::string &body);
    HttpResult adminManaged(Org &org, const std::string &method, const std::string &path, const std::string &body);

    Emulator &emulator_;
    PubSubOptions options_;
    std::mutex states_mutex_;
    std::map<Org *, std::unique_ptr<OrgState>> states_;
    mutable std::mutex epochs_mutex_;
    std::map<std::pair<const Org *, std::string>, int> epochs_; // replay id epoch per topic
    std::mutex pumped_mutex_;
    std::condition_variable pumped_wake_;
    std::vector<std::shared_ptr<Pumped>> pumped_;
    bool poked_ = false;
    bool stopping_ = false;
    std::thread pump_thread_;
};

// The service: unary RPCs in service.cpp, streams in subscribe.cpp,
// managed_subscribe.cpp and publish_stream.cpp.
class Service : public eventbus::v1::PubSub::CallbackService {
public:
    explicit Service(Core &core) : core_(core) {}

    grpc::ServerUnaryReactor *GetTopic(grpc::CallbackServerContext *ctx, const eventbus::v1::TopicRequest *req,
                                       eventbus::v1::TopicInfo *resp) override;
    grpc::ServerUnaryReactor *GetSchema(grpc::CallbackServerContext *ctx,
                                        const eventbus::v1::SchemaRequest *req,
                                        eventbus::v1::SchemaInfo *resp) override;
    grpc::ServerUnaryReactor *Publish(grpc::CallbackServerContext *ctx, const eventbus::v1::PublishRequest *req,
                                      eventbus::v1::PublishResponse *resp) override;
    grpc::ServerBidiReactor<eventbus::v1::FetchRequest, eventbus::v1::FetchResponse> *
    Subscribe(grpc::CallbackServerContext *ctx) override;
    grpc::ServerBidiReactor<eventbus::v1::PublishRequest, eventbus::v1::PublishResponse> *
    PublishStream(grpc::CallbackServerContext *ctx) override;
    grpc::ServerBidiReactor<eventbus::v1::ManagedFetchRequest, eventbus::v1::ManagedFetchResponse> *
    ManagedSubscribe(grpc::CallbackServerContext *ctx) override;

private:
    Core &core_;
};

// Publishes one request's events (Publish and PublishStream).
grpc::Status publishEvents(Core &core, grpc::ServerContextBase &ctx, const Caller &caller,
                           const eventbus::v1::PublishRequest &req, eventbus::v1::PublishResponse &resp);

} // namespace sfk::emu::pubsub
