#pragma once
// What Subscribe and ManagedSubscribe share: one reactor per stream that
// authenticates, counts as a client of the org's allocations, takes credit
// from every request (at most 100 outstanding), sends events only against
// credit, one write at a time, a keepalive carrying latest_replay_id after
// keepalive_ms without a write, and closes a stream left without credit for
// idle_ms. The Pub/Sub faults (fail_subscribe, reset_stream,
// stall_keepalives) apply to both. The RPCs differ in where a stream starts
// (start()) and in what a request may carry besides credit (handle()).

#include <memory>
#include <mutex>
#include <string>

#include "core.h"

namespace sfk::emu::pubsub {

template <class Req, class Resp>
class FetchReactor : public grpc::ServerBidiReactor<Req, Resp>, public Pumped {
public:
    FetchReactor(Core &core, grpc::CallbackServerContext *ctx, const char *rpc_name)
        : core_(core), ctx_(ctx), rpc_name_(rpc_name)
    {
    }

    // Called once the shared_ptr owning this exists.
    void begin(std::shared_ptr<FetchReactor> self);

    void OnReadDone(bool ok) override;
    void OnWriteDone(bool ok) override;
    void OnCancel() override;
    void OnDone() override;
    void pump() override;

    // Owned by itself until OnDone (and by the pump list while it runs).
    std::shared_ptr<FetchReactor> self_;

protected:
    // Hooks, called with mutex_ held. start() runs on the first request:
    // it sets log_ and cursor_ (events go out after the cursor), or
    // finishes the stream and returns false. handle() runs on every request
    // after start(); false when it finished the stream.
    virtual bool start(const Req &req) = 0;
    virtual bool handle(const Req &) { return true; }
    // Something to send at once even without events (a commit's answer).
    virtual bool mustWrite() const { return false; }
    // Adds what the subclass sends beside events, just before a write.
    virtual void fill(Resp &) {}
    // Once, when the stream is finished.
    virtual void onFinish() {}

    void finishLocked(const grpc::Status &status);

    Core &core_;
    grpc::CallbackServerContext *ctx_;
    Caller caller_;
    std::string rpc_id_;
    ChannelLog *log_ = nullptr;
    int64_t cursor_ = 0;

private:
    bool handleRequest();
    // The admin's reset_stream: the stream ends as a reset HTTP/2 stream
    // looks to a Salesforce client.
    void resetLocked();

    const char *rpc_name_;
    std::mutex mutex_;
    Req request_;
    Resp response_;
    int credit_ = 0;
    bool started_ = false;
    bool writing_ = false;
    bool finished_ = false;
    bool counted_ = false;
    int reset_left_ = -1; // events still to send before an armed reset
    int64_t last_write_ms_ = 0;
    int64_t no_credit_since_ms_ = 0;
};

// Both instantiations live in fetch_reactor.cpp.
extern template class FetchReactor<eventbus::v1::FetchRequest, eventbus::v1::FetchResponse>;
extern template class FetchReactor<eventbus::v1::ManagedFetchRequest, eventbus::v1::ManagedFetchResponse>;

// Creates a reactor of type R for a new stream and starts it.
template <class R, class... Args>
R *startReactor(Core &core, grpc::CallbackServerContext *ctx, Args &&...args)
{
    auto reactor = std::make_shared<R>(core, ctx, std::forward<Args>(args)...);
    reactor->self_ = reactor;
    reactor->begin(reactor);
    return reactor.get();
}

} // namespace sfk::emu::pubsub
