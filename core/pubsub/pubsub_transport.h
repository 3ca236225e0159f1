#pragma once
// The Pub/Sub API transport of an org session (session/transport.h): one
// Subscribe stream per channel over the org's gRPC connections
// (pubsub/grpc_client.h), credit granted only as far as the session's
// in-flight bounds allow, events decoded from Avro (pubsub/event_values.h)
// on the session's thread, and what a stream's end means for the session.

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "decode/batch_decoder.h"
#include "pubsub/event_values.h"
#include "pubsub/grpc_client.h"
#include "pubsub/schema_cache.h"
#include "session/transport.h"

namespace sfk::pubsub {

// The largest num_requested one FetchRequest may carry.
inline constexpr int64_t kMaxCreditPerStream = 100;

class PubsubTransport final : public session::Transport {
public:
    explicit PubsubTransport(session::TransportHost &host);
    ~PubsubTransport() override;

    session::Next open() override;
    session::Next stream() override;
    void stop() override;
    void abandon() override;
    void disconnect() override;

private:
    using Next = session::Next;
    struct Stream {
        bool active = false;
        uint64_t generation = 0;
        int64_t outstanding = 0;   // credit asked for and not yet used by events received
        std::chrono::steady_clock::time_point last_heard{};
    };
    struct Identity {
        std::mutex mutex;
        CallIdentity value;
    };

    // Asks for credit where the in-flight bounds leave room, fairly across streams.
    void grantCredit();
    // One response of channel i: keepalive or events into the session;
    // a value when the streams must end (a schema could not be fetched or written).
    std::optional<Next> handleResponse(size_t i, const eventbus::v1::FetchResponse &r);
    // A schema lookup of channel i failed with schemaCode_: what the session
    // does when a retry can help; nullopt: the events are undecodable.
    std::optional<Next> schemaUnavailable(size_t i, const std::string &error);
    // What an ended stream of channel i means; nullopt: the others stream on.
    std::optional<Next> handleEnd(size_t i, const StreamItem &item);
    // The first stream silent past the stall timeout, cancelled; nullopt: none.
    std::optional<size_t> stalledStream();
    const std::string &orgName() const { return host_.org().name; }

    session::TransportHost &host_;
    std::shared_ptr<Identity> identity_ = std::make_shared<Identity>();
    std::mutex clientMutex_;   // guards client_ and stopped_ against stop() from other threads
    std::unique_ptr<Client> client_;
    bool stopped_ = false;
    // The status of the last failed GetSchema (the session thread's).
    grpc::StatusCode schemaCode_ = grpc::StatusCode::OK;
    SchemaCache schemas_;
    EventValues values_;
    std::vector<Stream> streams_;
    decode::Batch batch_;
    size_t creditCursor_ = 0;
    // Writer schemas' JSON by id as GetSchema returned them, and the ids
    // already on the schemas topic (value_format: avro).
    std::map<std::string, std::string> schemaText_;
    std::set<std::string> schemasPublished_;
    bool anyAvro_ = false;
};

} // namespace sfk::pubsub
