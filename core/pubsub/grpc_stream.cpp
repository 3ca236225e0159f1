// One Subscribe stream of the Pub/Sub client (grpc_stream.h).
#include "pubsub/grpc_stream.h"

#include <algorithm>

namespace sfk::pubsub::detail {

namespace v1 = eventbus::v1;

std::string Hub::scrub(std::string message) const
{
    std::string token;
    try {
        token = identity().access_token;
    } catch (const std::exception &) {
        return "(message withheld: the identity source failed)"; // the token to cut out is unknown
    }
    if (token.empty())
        return message;
    for (size_t at = message.find(token); at != std::string::npos; at = message.find(token, at))
        message.replace(at, token.size(), "<redacted>");
    return message;
}

void Hub::releaseLocked(SubscribeStream &stream)
{
    if (!stream.slot_held)
        return;
    stream.slot_held = false;
    --stream.connection.open;
    --open;
}

SubscribeStream::SubscribeStream(Hub &hub, Connection &conn, size_t stream_id, uint64_t gen)
    : connection(conn), id(stream_id), generation(gen), hub_(hub)
{
}

void SubscribeStream::start(std::shared_ptr<SubscribeStream> self, v1::FetchRequest first)
{
    self_ = std::move(self);
    context_.set_credentials(hub_.call_credentials);
    connection.stub->async()->Subscribe(&context_, this);
    Then then;
    {
        std::lock_guard lock(write_mutex_);
        pending_.push_back(std::move(first));
        then = nextLocked();
    }
    act(then);
    StartRead(&response_);
    // Writes may be started from the owner thread at any time: OnDone must
    // wait until no more can be (reads ended, no write in flight).
    AddHold();
    StartCall();
}

void SubscribeStream::request(int credit)
{
    v1::FetchRequest req;
    req.set_num_requested(credit);
    Then then;
    {
        std::lock_guard lock(write_mutex_);
        if (closed_)
            return;
        pending_.push_back(std::move(req));
        then = nextLocked();
    }
    act(then);
}

void SubscribeStream::cancel() { context_.TryCancel(); }

SubscribeStream::Then SubscribeStream::nextLocked()
{
    if (writing_)
        return Then::Nothing;
    if (!closed_ && !pending_.empty()) {
        writing_request_ = std::move(pending_.front());
        pending_.pop_front();
        writing_ = true;
        return Then::Write;
    }
    if (reads_done_ && !hold_released_) {
        hold_released_ = true;
        return Then::ReleaseHold;
    }
    return Then::Nothing;
}

void SubscribeStream::act(Then then)
{
    if (then == Then::Write)
        StartWrite(&writing_request_);
    else if (then == Then::ReleaseHold)
        RemoveHold();
}

void SubscribeStream::OnReadDone(bool ok)
{
    if (ok) {
        {
            std::lock_guard lock(hub_.mutex);
            if (!dropped) {
                StreamItem item;
                item.stream = id;
                item.generation = generation;
                item.response = std::move(response_);
                hub_.items.push_back(std::move(item));
                hub_.ready.notify_one();
            }
        }
        response_.Clear();
        StartRead(&response_);
        return;
    }
    Then then;
    {
        std::lock_guard lock(write_mutex_);
        reads_done_ = true;
        closed_ = true;
        pending_.clear();
        then = nextLocked();
    }
    act(then);
}

void SubscribeStream::OnWriteDone(bool ok)
{
    Then then;
    {
        std::lock_guard lock(write_mutex_);
        writing_ = false;
        if (!ok) {
            // The call is over; its reads end too and bring OnDone.
            closed_ = true;
            pending_.clear();
        }
        then = nextLocked();
    }
    act(then);
}

void SubscribeStream::OnDone(const grpc::Status &status)
{
    StreamItem item;
    item.stream = id;
    item.generation = generation;
    item.ended = true;
    item.code = status.error_code();
    item.message = hub_.scrub(status.error_message()); // outside the hub's lock: it calls the IdentitySource
    auto trailers = context_.GetServerTrailingMetadata();
    if (auto it = trailers.find("error-code"); it != trailers.end())
        item.error_code.assign(it->second.data(), it->second.size());

    Hub &hub = hub_;
    std::shared_ptr<SubscribeStream> keep;
    {
        std::lock_guard lock(hub.mutex);
        if (!dropped) {
            hub.items.push_back(std::move(item));
            hub.ready.notify_one();
        }
        hub.releaseLocked(*this);
        if (auto it = hub.streams.find(id); it != hub.streams.end() && it->second.get() == this)
            hub.streams.erase(it);
        keep = std::move(self_);
    }
    keep.reset(); // may delete this
    std::lock_guard lock(hub.mutex);
    if (--hub.live == 0)
        hub.idle.notify_all();
}

} // namespace sfk::pubsub::detail
