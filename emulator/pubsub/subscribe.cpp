// Subscribe: one reactor per stream. The first FetchRequest names the topic
// and where to start; every request adds credit (num_requested, at most 100
// outstanding). Events go out only against credit, one write at a time; an
// empty keepalive response carries latest_replay_id after keepalive_ms
// without a write; a stream left without credit for idle_ms is closed.
// Each stream is a client of the org's allocations (core.h openStream):
// its events count as delivered, and it ends once the allocation is used.
#include <algorithm>

#include "core.h"
#include "log/log.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

constexpr int kMaxOutstanding = 100;
// Keep a response well under the client's default 4 MiB receive limit.
constexpr size_t kMaxResponseBytes = 3 << 20;

int64_t steadyMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class SubscribeReactor : public grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>, public Pumped {
public:
    SubscribeReactor(Core &core, grpc::CallbackServerContext *ctx) : core_(core), ctx_(ctx) {}

    // Called once the shared_ptr owning this exists.
    void begin(std::shared_ptr<SubscribeReactor> self)
    {
        grpc::Status status;
        auto caller = core_.authenticate(*ctx_, status);
        std::lock_guard lock(mutex_);
        if (!caller) {
            finishLocked(status);
            return;
        }
        caller_ = *caller;
        rpc_id_ = uuid4();
        OrgState &st = core_.state(*caller_.org);
        {
            std::lock_guard state_lock(st.mutex);
            if (!st.faults.fail_subscribe.empty()) {
                FailNext f = st.faults.fail_subscribe.front();
                st.faults.fail_subscribe.pop_front();
                finishLocked(Core::fail(*ctx_, f.status, f.error_code.c_str(), f.message, rpc_id_));
                return;
            }
        }
        if (!core_.openStream(*ctx_, *caller_.org, Core::StreamKind::Subscriber, rpc_id_, status)) {
            finishLocked(status);
            return;
        }
        counted_ = true;
        last_write_ms_ = steadyMs();
        no_credit_since_ms_ = last_write_ms_;
        core_.addPumped(std::move(self));
        StartRead(&request_);
    }

    void OnReadDone(bool ok) override
    {
        {
            std::lock_guard lock(mutex_);
            if (finished_)
                return;
            if (!ok) {
                // The client closed its side: nothing more can be asked for.
                finishLocked(grpc::Status::OK);
                return;
            }
            if (!handleRequest())
                return;
            StartRead(&request_);
        }
        pump();
    }

    void OnWriteDone(bool ok) override
    {
        {
            std::lock_guard lock(mutex_);
            writing_ = false;
            if (!ok) {
                finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
                return;
            }
            if (reset_left_ == 0) {
                resetLocked();
                return;
            }
        }
        pump();
    }

    void OnCancel() override
    {
        std::lock_guard lock(mutex_);
        finishLocked(grpc::Status::CANCELLED);
    }

    void OnDone() override
    {
        if (counted_)
            core_.closeStream(*caller_.org, rpc_id_);
        core_.removePumped(this);
        self_.reset(); // may delete this: the last statement
    }

    void pump() override
    {
        std::lock_guard lock(mutex_);
        if (finished_ || writing_)
            return;
        // Past the org's delivery allocation (by this stream, another one or
        // CometD clients) the subscription is disconnected, as at Salesforce.
        if (caller_.org->allocations.exhausted(nowMs())) {
            log::info("pubsub", "Subscribe stream ended: daily delivery allocation used",
                      {{"org", caller_.org->config.name}});
            finishLocked(Core::allocationUsed(*ctx_, rpc_id_));
            return;
        }
        if (!started_)
            return;
        int64_t now = steadyMs();
        OrgState &st = core_.state(*caller_.org);
        std::vector<EncodedPtr> batch;
        int64_t latest = cursor_;
        bool pending = false; // events after the cursor not yet sent
        {
            std::lock_guard state_lock(st.mutex);
            if (now < st.faults.stall_until_ms)
                return; // a silent stream: no events, no keepalives
            ChannelCache &cache = core_.refresh(*caller_.org, st, *log_);
            latest = std::max(cursor_, cache.upto);
            pending = !cache.events.empty() && cache.events.back()->replay_id > cursor_;
            if (credit_ > 0) {
                auto it = std::upper_bound(cache.events.begin(), cache.events.end(), cursor_,
                                           [](int64_t id, const EncodedPtr &e) { return id < e->replay_id; });
                pending = it != cache.events.end();
                if (pending && reset_left_ < 0 && st.faults.reset_streams > 0) {
                    --st.faults.reset_streams;
                    reset_left_ = st.faults.reset_after_events;
                }
                int limit = reset_left_ >= 0 ? std::min(credit_, reset_left_) : credit_;
                if (reset_left_ == 0) {
                    resetLocked();
                    return;
                }
                size_t bytes = 0;
                for (; it != cache.events.end() && static_cast<int>(batch.size()) < limit; ++it) {
                    bytes += (*it)->payload.size() + 64;
                    if (!batch.empty() && bytes > kMaxResponseBytes)
                        break;
                    batch.push_back(*it);
                }
            }
        }
        if (!batch.empty()) {
            // Never past the allocation: what it grants is counted as
            // delivered; the rest waits (the next pump ends the stream).
            auto granted = static_cast<size_t>(Core::claimDeliveries(*caller_.org, rpc_id_,
                                                                     static_cast<int64_t>(batch.size())));
            if (granted == 0) {
                finishLocked(Core::allocationUsed(*ctx_, rpc_id_));
                return;
            }
            batch.resize(granted);
        }
        if (batch.empty()) {
            if (credit_ == 0 && now - no_credit_since_ms_ >= core_.options().idle_ms) {
                log::info("pubsub", "Subscribe stream closed: no credit",
                          {{"topic", log_->name()}, {"idle_ms", std::to_string(core_.options().idle_ms)}});
                finishLocked(Core::fail(*ctx_, grpc::StatusCode::DEADLINE_EXCEEDED, code::kBadRequest,
                                        "The stream requested no events for too long", rpc_id_));
                return;
            }
            if (now - last_write_ms_ < core_.options().keepalive_ms)
                return;
        }
        response_.Clear();
        for (auto &e : batch) {
            auto *ce = response_.add_events();
            ce->set_replay_id(core_.replayBytes(*caller_.org, log_->name(), e->replay_id));
            auto *pe = ce->mutable_event();
            pe->set_id(e->uuid);
            pe->set_schema_id(e->schema_id);
            pe->set_payload(e->payload);
            cursor_ = e->replay_id;
        }
        credit_ -= static_cast<int>(batch.size());
        if (reset_left_ > 0)
            reset_left_ -= static_cast<int>(batch.size());
        if (credit_ == 0 && !batch.empty())
            no_credit_since_ms_ = now;
        // Caught up: the position moves to the topic's newest id (past events
        // that could not be encoded). With events still waiting for credit
        // it stays on the last one sent, so resuming from it loses nothing.
        if (batch.empty() && !pending)
            cursor_ = std::max(cursor_, latest);
        response_.set_latest_replay_id(core_.replayBytes(*caller_.org, log_->name(), cursor_));
        response_.set_rpc_id(rpc_id_);
        response_.set_pending_num_requested(credit_);
        writing_ = true;
        last_write_ms_ = now;
        StartWrite(&response_);
    }

    std::shared_ptr<SubscribeReactor> self_;

private:
    // The mutex is held. False when the stream was finished.
    bool handleRequest()
    {
        if (!started_) {
            log_ = core_.topic(*caller_.org, request_.topic_name());
            if (!log_) {
                finishLocked(Core::fail(*ctx_, grpc::StatusCode::NOT_FOUND, code::kTopicNotFound,
                                        "Topic " + request_.topic_name() + " not found", rpc_id_));
                return false;
            }
            if (!startFrom())
                return false;
            started_ = true;
        }
        int n = request_.num_requested();
        if (n < 0)
            n = 0;
        if (credit_ == 0 && n > 0)
            no_credit_since_ms_ = steadyMs();
        credit_ = std::min(kMaxOutstanding, credit_ + n);
        if (credit_ == 0)
            no_credit_since_ms_ = steadyMs();
        return true;
    }

    bool startFrom()
    {
        Org &org = *caller_.org;
        std::lock_guard org_lock(org.mutex);
        switch (request_.replay_preset()) {
        case v1::LATEST:
            cursor_ = log_->lastReplayId();
            return true;
        case v1::EARLIEST:
            cursor_ = 0;
            return true;
        case v1::CUSTOM: {
            int64_t id = 0;
            auto check = core_.decodeReplay(org, log_->name(), request_.replay_id(), id);
            if (check == Core::ReplayCheck::Stale) {
                finishLocked(Core::fail(*ctx_, grpc::StatusCode::INVALID_ARGUMENT, code::kReplayInvalid,
                                        "The Replay ID validation failed: the topic's replay ids were reset",
                                        rpc_id_));
                return false;
            }
            if (check != Core::ReplayCheck::Ok) {
                finishLocked(Core::fail(*ctx_, grpc::StatusCode::INVALID_ARGUMENT, code::kReplayCorrupted,
                                        "The Replay ID is corrupted", rpc_id_));
                return false;
            }
            if (!log_->retains(id) && id != log_->lastReplayId()) {
                finishLocked(Core::fail(*ctx_, grpc::StatusCode::INVALID_ARGUMENT, code::kReplayInvalid,
                                        "The Replay ID validation failed: " + std::to_string(id) +
                                            " is not retained on " + log_->name(),
                                        rpc_id_));
                return false;
            }
            cursor_ = id;
            return true;
        }
        default:
            finishLocked(Core::fail(*ctx_, grpc::StatusCode::INVALID_ARGUMENT, code::kBadRequest,
                                    "Unknown replay preset", rpc_id_));
            return false;
        }
    }

    // The admin's reset_stream: the stream ends as a reset HTTP/2 stream
    // looks to a Salesforce client.
    void resetLocked()
    {
        finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "RST_STREAM closed stream. rpcId: " + rpc_id_));
    }

    void finishLocked(const grpc::Status &status)
    {
        if (finished_)
            return;
        finished_ = true;
        Finish(status);
    }

    Core &core_;
    grpc::CallbackServerContext *ctx_;
    std::mutex mutex_;
    Caller caller_;
    std::string rpc_id_;
    ChannelLog *log_ = nullptr;
    v1::FetchRequest request_;
    v1::FetchResponse response_;
    int64_t cursor_ = 0;
    int credit_ = 0;
    bool started_ = false;
    bool writing_ = false;
    bool finished_ = false;
    bool counted_ = false;
    int reset_left_ = -1; // events still to send before an armed reset
    int64_t last_write_ms_ = 0;
    int64_t no_credit_since_ms_ = 0;
};

} // namespace

grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse> *Service::Subscribe(grpc::CallbackServerContext *ctx)
{
    // Owned by itself until OnDone (and by the pump list while it runs).
    auto reactor = std::make_shared<SubscribeReactor>(core_, ctx);
    reactor->self_ = reactor;
    reactor->begin(reactor);
    return reactor.get();
}

} // namespace sfk::emu::pubsub
