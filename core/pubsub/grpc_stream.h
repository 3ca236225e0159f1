#pragma once
// Inside the Pub/Sub client (grpc_client.h): the state its streams share with
// it, and one Subscribe stream as a grpc++ callback reactor.

#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <mutex>
#include <vector>

#include "pubsub/grpc_client.h"

namespace sfk::pubsub::detail {

struct Connection {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<eventbus::v1::PubSub::Stub> stub;
    size_t open = 0; // streams holding a slot
};

class SubscribeStream;

// What the client and its reactors share, under `mutex`. Outlives every
// reactor (the client's destructor waits until `live` is 0).
struct Hub {
    Endpoint endpoint;
    IdentitySource identity;
    ClientOptions options;
    std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
    std::shared_ptr<grpc::CallCredentials> call_credentials;

    mutable std::mutex mutex;
    std::condition_variable ready; // an item was queued, or wake()
    std::condition_variable idle;  // `live` fell to 0
    std::deque<StreamItem> items;
    bool woken = false;
    std::map<size_t, std::shared_ptr<SubscribeStream>> streams; // by id: the current generation
    std::map<size_t, uint64_t> generations;                     // by id: the last one given
    std::vector<std::unique_ptr<Connection>> connections;
    size_t open = 0; // sum of the connections' `open`
    size_t live = 0; // reactors gRPC has not finished with
    // Unary calls in progress, and whether stopCalls() ended them for good.
    std::set<grpc::ClientContext *> unary;
    bool unary_stopped = false;

    // The status message with the current access token cut out.
    std::string scrub(std::string message) const;
    // Frees the stream's connection slot once; the lock must be held.
    void releaseLocked(SubscribeStream &stream);
};

// One Subscribe call. Made and started by the client with the hub's
// `live` counted; keeps itself alive until gRPC's OnDone. Never calls gRPC
// with a lock held (gRPC may run a reaction inline).
class SubscribeStream : public grpc::ClientBidiReactor<eventbus::v1::FetchRequest, eventbus::v1::FetchResponse> {
public:
    SubscribeStream(Hub &hub, Connection &connection, size_t id, uint64_t generation);

    void start(std::shared_ptr<SubscribeStream> self, eventbus::v1::FetchRequest first);
    // Queues a FetchRequest (any thread); nothing once the stream is ending.
    void request(int credit);
    void cancel();

    void OnReadDone(bool ok) override;
    void OnWriteDone(bool ok) override;
    void OnDone(const grpc::Status &status) override;

    // Under the hub's lock.
    Connection &connection;
    const size_t id;
    const uint64_t generation;
    bool dropped = false;   // cancelled or replaced: queue nothing more
    bool slot_held = true;

private:
    // Under write_mutex_: starts the next queued write when none is in
    // flight, or says the hold can go (reads done, no write in flight).
    enum class Then { Nothing, Write, ReleaseHold };
    Then nextLocked();
    void act(Then then);

    Hub &hub_;
    grpc::ClientContext context_;
    eventbus::v1::FetchResponse response_;
    std::shared_ptr<SubscribeStream> self_; // until OnDone

    std::mutex write_mutex_;
    std::deque<eventbus::v1::FetchRequest> pending_;
    eventbus::v1::FetchRequest writing_request_;
    bool writing_ = false;
    bool closed_ = false;      // no more writes (a write failed, or reads ended)
    bool reads_done_ = false;
    bool hold_released_ = false;
};

} // namespace sfk::pubsub::detail
