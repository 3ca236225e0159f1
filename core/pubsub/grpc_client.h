#pragma once
// The daemon's client of Salesforce's Pub/Sub API (README, "Pub/Sub API"):
// Subscribe streams on the grpc++ callback API, spread over as many HTTP/2
// connections as they need, and the blocking unary calls GetSchema and
// GetTopic. The org session's Pub/Sub transport owns one Client.
//
// Threads. Subscribe streams run on gRPC's threads; what they receive is
// queued (in arrival order, per stream and overall) for the owner thread,
// which takes it with next(). subscribe(), request(), cancel(),
// cancelAll() and next() belong to the owner thread; wake(), connections()
// and openStreams() may be called from any thread; getSchema() and
// getTopic() from any thread except a gRPC callback (they block). The
// IdentitySource runs on gRPC threads, once per call.
//
// Connections. Salesforce serves at most 100 concurrent streams on one
// HTTP/2 connection and queues further ones silently, and grpc++ shares one
// connection between channels with equal arguments (its global subchannel
// pool): every channel this client
// makes has its own subchannel pool and a distinct argument, and carries at
// most max_streams_per_connection streams. A stream frees its slot when it is
// cancelled or ends.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pubsub_api.grpc.pb.h"

namespace sfk::pubsub {

struct Endpoint {
    std::string host;
    int port = 7443;
    bool plaintext = false;   // h2c: loopback hosts only (for tests)
    std::string ca_file;      // PEM roots for TLS; empty: the system's roots
};

// False with an error for: an empty host, a port outside 1..65535,
// plaintext to a host that is not loopback (127.0.0.0/8, ::1, localhost), a
// ca_file that cannot be read or holds no certificate.
bool validateEndpoint(const Endpoint &endpoint, std::string &error);

struct CallIdentity {
    std::string access_token, instance_url, tenant_id;
};
// Called once per call on a gRPC thread: must be cheap and thread-safe. Its
// values become the metadata accesstoken, instanceurl and tenantid
// (lowercase: grpc++ aborts on upper-case keys); empty values are not sent.
using IdentitySource = std::function<CallIdentity()>;

struct ClientOptions {
    size_t max_streams_per_connection = 90;  // Salesforce allows 100 per HTTP/2 connection
    int max_receive_bytes = 64 << 20;        // above gRPC's 4 MiB default
    std::chrono::milliseconds unary_deadline{30000};
};

// One item from a Subscribe stream.
struct StreamItem {
    size_t stream = 0;        // the id given to subscribe()
    uint64_t generation = 0;  // which subscribe() of that id (later ones are larger)
    bool ended = false;       // false: `response` is valid; true: the stream ended with the status below
    eventbus::v1::FetchResponse response;
    grpc::StatusCode code = grpc::StatusCode::OK;
    std::string message;      // the status message (the access token is never in it)
    std::string error_code;   // the `error-code` trailer, e.g. ...subscription.fetch.replayid.corrupted
};

// The name of a status code ("UNAUTHENTICATED"), for messages.
const char *statusCodeName(grpc::StatusCode code);

namespace detail {
struct Hub;
}

class Client {
public:
    // Throws std::invalid_argument when validateEndpoint() refuses the
    // endpoint (check it first for a message in context).
    Client(Endpoint endpoint, IdentitySource identity, ClientOptions options = {});
    // Cancels every stream and waits until gRPC finished with them: no
    // callback runs after it returns.
    ~Client();
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    // Opens stream `id` with a first FetchRequest {topic, preset, replay_id
    // (CUSTOM only), num_requested = credit}; returns its generation. An open
    // stream of the same id is cancelled first: next() returns nothing more
    // of it, not even items it queued before.
    uint64_t subscribe(size_t id, const std::string &topic, eventbus::v1::ReplayPreset preset,
                       const std::string &replay_id, int credit);
    // Asks stream `id` for `credit` more events (FetchRequest{num_requested});
    // requests are written one at a time, in order. Nothing for a stream
    // that is not open or already ending.
    void request(size_t id, int credit);
    // Cancels stream `id`: like a replaced stream, nothing more of it
    // (no `ended` item either) comes out of next().
    void cancel(size_t id);
    void cancelAll();

    // The next item of any stream, waiting up to `timeout`; nullopt on a
    // timeout or when wake() was called since the last next(). Every stream
    // not cancelled or replaced ends with exactly one `ended` item.
    std::optional<StreamItem> next(std::chrono::milliseconds timeout);
    // Makes a waiting (or the next) next() return nullopt. Any thread.
    void wake();
    // Any thread: cancels the unary calls in progress, and every later one
    // fails at once with CANCELLED (a stopping session must not wait out
    // the unary deadline).
    void stopCalls();

    // gRPC channels (HTTP/2 connections) made so far.
    size_t connections() const;
    // Streams holding a slot on a connection.
    size_t openStreams() const;

    // Blocking unary calls with the unary deadline; false with an error
    // ("GetSchema: NOT_FOUND: ...") and *code on failure.
    bool getSchema(const std::string &schema_id, std::string &schema_json, std::string &error,
                   grpc::StatusCode *code = nullptr);
    bool getTopic(const std::string &topic, eventbus::v1::TopicInfo &info, std::string &error,
                  grpc::StatusCode *code = nullptr);

private:
    std::unique_ptr<detail::Hub> hub_;
};

} // namespace sfk::pubsub
