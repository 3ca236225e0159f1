#pragma once
// One Subscribe stream read from the earliest event, asking for 100 events
// at a time (the most Salesforce allows outstanding) as soon as the credit
// runs out, until `want` events arrived or the stream ended. Shared by the
// benchmarks that read sfemu's Pub/Sub API.

#include <cstddef>
#include <functional>
#include <string>

#include "pubsub_client.h"

namespace sfk::bench {

// Calls on_response for each response; returns how many events arrived and,
// when fewer than `want`, the stream's status message in *why.
inline size_t readEarliest(eventbus::v1::PubSub::Stub &stub, const test::pubsub::Auth &auth,
                           const std::string &topic, size_t want,
                           const std::function<void(const eventbus::v1::FetchResponse &)> &on_response,
                           std::string *why)
{
    grpc::ClientContext ctx;
    auth.apply(ctx, 600);
    auto rw = stub.Subscribe(&ctx);
    eventbus::v1::FetchRequest req;
    req.set_topic_name(topic);
    req.set_replay_preset(eventbus::v1::EARLIEST);
    req.set_num_requested(100);
    rw->Write(req);
    size_t events = 0;
    eventbus::v1::FetchResponse resp;
    while (events < want && rw->Read(&resp)) {
        events += static_cast<size_t>(resp.events_size());
        on_response(resp);
        if (resp.pending_num_requested() == 0 && events < want) {
            eventbus::v1::FetchRequest more;
            more.set_num_requested(100);
            rw->Write(more);
        }
    }
    ctx.TryCancel();
    auto status = rw->Finish();
    if (events < want)
        *why = status.error_message();
    return events;
}

} // namespace sfk::bench
