// The stream machinery of Subscribe and ManagedSubscribe (fetch_reactor.h).
#include "fetch_reactor.h"

#include <algorithm>

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

} // namespace

template <class Req, class Resp>
void FetchReactor<Req, Resp>::begin(std::shared_ptr<FetchReactor> self)
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
    this->StartRead(&request_);
}

template <class Req, class Resp>
void FetchReactor<Req, Resp>::OnReadDone(bool ok)
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
        this->StartRead(&request_);
    }
    pump();
}

template <class Req, class Resp>
void FetchReactor<Req, Resp>::OnWriteDone(bool ok)
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

template <class Req, class Resp>
void FetchReactor<Req, Resp>::OnCancel()
{
    std::lock_guard lock(mutex_);
    finishLocked(grpc::Status::CANCELLED);
}

template <class Req, class Resp>
void FetchReactor<Req, Resp>::OnDone()
{
    if (counted_)
        core_.closeStream(*caller_.org, rpc_id_);
    core_.removePumped(this);
    self_.reset(); // may delete this: the last statement
}

template <class Req, class Resp>
void FetchReactor<Req, Resp>::pump()
{
    std::lock_guard lock(mutex_);
    if (finished_ || writing_)
        return;
    // Past the org's delivery allocation (by this stream, another one or
    // CometD clients) the subscription is disconnected, as at Salesforce.
    if (caller_.org->allocations.exhausted(nowMs())) {
        log::info("pubsub", std::string(rpc_name_) + " stream ended: daily delivery allocation used",
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
    bool reset_now = false;
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
            // Finished below, after the state's lock (onFinish() may take it).
            reset_now = reset_left_ == 0;
            size_t bytes = 0;
            for (; it != cache.events.end() && static_cast<int>(batch.size()) < limit; ++it) {
                bytes += (*it)->payload.size() + 64;
                if (!batch.empty() && bytes > kMaxResponseBytes)
                    break;
                batch.push_back(*it);
            }
        }
    }
    if (reset_now) {
        resetLocked();
        return;
    }
    if (!batch.empty()) {
        // Never past the allocation: what it grants is counted as
        // delivered; the rest waits (the next pump ends the stream).
        auto granted = static_cast<size_t>(
            Core::claimDeliveries(*caller_.org, rpc_id_, static_cast<int64_t>(batch.size())));
        if (granted == 0) {
            finishLocked(Core::allocationUsed(*ctx_, rpc_id_));
            return;
        }
        batch.resize(granted);
    }
    if (batch.empty() && !mustWrite()) {
        if (credit_ == 0 && now - no_credit_since_ms_ >= core_.options().idle_ms) {
            log::info("pubsub", std::string(rpc_name_) + " stream closed: no credit",
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
    fill(response_);
    writing_ = true;
    last_write_ms_ = now;
    this->StartWrite(&response_);
}

template <class Req, class Resp>
bool FetchReactor<Req, Resp>::handleRequest()
{
    if (!started_) {
        if (!start(request_))
            return false;
        started_ = true;
    }
    if (!handle(request_))
        return false;
    int n = request_.num_requested();
    if (n < 0)
        n = 0;
    if (credit_ == 0 && n > 0)
        no_credit_since_ms_ = steadyMs();
    {
        OrgState &st = core_.state(*caller_.org);
        std::lock_guard state_lock(st.mutex);
        st.peak_outstanding = std::max<int64_t>(st.peak_outstanding, int64_t(credit_) + n);
        ++st.fetch_requests;
    }
    credit_ = std::min(kMaxOutstanding, credit_ + n);
    if (credit_ == 0)
        no_credit_since_ms_ = steadyMs();
    return true;
}

template <class Req, class Resp>
void FetchReactor<Req, Resp>::resetLocked()
{
    finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "RST_STREAM closed stream. rpcId: " + rpc_id_));
}

template <class Req, class Resp>
void FetchReactor<Req, Resp>::finishLocked(const grpc::Status &status)
{
    if (finished_)
        return;
    finished_ = true;
    onFinish();
    this->Finish(status);
}

template class FetchReactor<v1::FetchRequest, v1::FetchResponse>;
template class FetchReactor<v1::ManagedFetchRequest, v1::ManagedFetchResponse>;

} // namespace sfk::emu::pubsub
