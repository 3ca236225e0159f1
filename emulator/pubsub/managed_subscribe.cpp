// ManagedSubscribe (beta at Salesforce): Subscribe's stream (fetch_reactor.h)
// on a managed subscription. The first request names it by subscription_id
// or developer_name; events start after its committed replay id, or at its
// default replay preset with nothing committed (its error recovery preset
// when the committed id is no longer valid). One stream at a time per
// subscription. A request may carry commit_replay_id_request: the replay id
// is validated and stored on the subscription, and the next response (at
// once, even without events) answers it in commit_response.
#include <deque>

#include "fetch_reactor.h"
#include "log/log.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

// Why a replay id cannot be committed on a topic, "" when it can (id set):
// it must be one the topic issued, still retained (or the topic's newest,
// which latest_replay_id reports), or 0 (nothing consumed yet). The org's
// lock is held.
std::string commitError(const Core &core, const Org &org, const ChannelLog &log, const std::string &bytes,
                        int64_t &id)
{
    auto check = core.decodeReplay(org, log.name(), bytes, id);
    if (check == Core::ReplayCheck::Stale)
        return "The Replay ID validation failed: the topic's replay ids were reset";
    if (check != Core::ReplayCheck::Ok)
        return "The Replay ID is corrupted";
    if (id > log.lastReplayId())
        return "The Replay ID validation failed: " + std::to_string(id) + " was never issued on " + log.name();
    if (id != 0 && id != log.lastReplayId() && !log.retains(id))
        return "The Replay ID validation failed: " + std::to_string(id) + " is not retained on " + log.name();
    return {};
}

class ManagedReactor : public FetchReactor<v1::ManagedFetchRequest, v1::ManagedFetchResponse> {
public:
    ManagedReactor(Core &core, grpc::CallbackServerContext *ctx) : FetchReactor(core, ctx, "ManagedSubscribe")
    {
    }

private:
    bool start(const v1::ManagedFetchRequest &req) override
    {
        auto refuse = [&](grpc::StatusCode status, const char *error_code, const std::string &message) {
            finishLocked(Core::fail(*ctx_, status, error_code, message, rpc_id_));
            return false;
        };
        if (req.subscription_id().empty() && req.developer_name().empty())
            return refuse(grpc::StatusCode::INVALID_ARGUMENT, code::kBadRequest,
                          "The first ManagedFetchRequest must give subscription_id or developer_name");
        Org &org = *caller_.org;
        OrgState &st = core_.state(org);
        std::lock_guard state_lock(st.mutex);
        ManagedSubscription *sub = Core::findManaged(st, req.subscription_id(), req.developer_name());
        std::string named = req.subscription_id().empty() ? req.developer_name() : req.subscription_id();
        if (!sub)
            return refuse(grpc::StatusCode::NOT_FOUND, code::kManagedNotFound,
                          "The managed subscription " + named + " doesn't exist");
        if (!sub->running)
            return refuse(grpc::StatusCode::FAILED_PRECONDITION, code::kManagedStopped,
                          "The managed subscription " + named + " is in the STOP state");
        if (!sub->active_rpc_id.empty())
            return refuse(grpc::StatusCode::FAILED_PRECONDITION, code::kManagedActive,
                          "An active managed subscription with the same ID already exists. Try subscribing "
                          "again later");
        log_ = core_.topic(org, sub->topic);
        if (!log_)
            return refuse(grpc::StatusCode::NOT_FOUND, code::kTopicNotFound, "Topic " + sub->topic + " not found");
        std::lock_guard org_lock(org.mutex);
        v1::ReplayPreset preset = sub->default_replay;
        if (sub->committed) {
            int64_t id = 0;
            if (commitError(core_, org, *log_, sub->committed_bytes, id).empty()) {
                cursor_ = id;
                preset = v1::CUSTOM;
            } else {
                log::info("pubsub", "ManagedSubscribe: committed replay id no longer valid, error recovery preset",
                          {{"subscription", sub->developer_name}, {"replay_id", std::to_string(sub->committed_id)}});
                preset = sub->error_recovery_replay;
            }
        }
        if (preset == v1::LATEST)
            cursor_ = log_->lastReplayId();
        else if (preset == v1::EARLIEST)
            cursor_ = 0;
        sub->active_rpc_id = rpc_id_;
        sub_ = sub;
        return true;
    }

    bool handle(const v1::ManagedFetchRequest &req) override
    {
        if (!req.has_commit_replay_id_request())
            return true;
        const v1::CommitReplayRequest &commit = req.commit_replay_id_request();
        v1::CommitReplayResponse answer;
        answer.set_commit_request_id(commit.commit_request_id());
        answer.set_replay_id(commit.replay_id());
        int64_t id = 0;
        std::string why;
        {
            std::lock_guard org_lock(caller_.org->mutex);
            why = commitError(core_, *caller_.org, *log_, commit.replay_id(), id);
        }
        if (why.empty()) {
            std::lock_guard state_lock(core_.state(*caller_.org).mutex);
            sub_->committed = true;
            sub_->committed_id = id;
            sub_->committed_bytes = commit.replay_id();
            sub_->committed_ms = nowMs();
            ++sub_->commits;
        } else {
            answer.mutable_error()->set_code(v1::COMMIT);
            answer.mutable_error()->set_msg(why);
        }
        answer.set_process_time(nowMs());
        commits_.push_back(std::move(answer));
        return true;
    }

    bool mustWrite() const override { return !commits_.empty(); }

    // One commit answer per response, in the order the commits came.
    void fill(v1::ManagedFetchResponse &resp) override
    {
        if (commits_.empty())
            return;
        *resp.mutable_commit_response() = std::move(commits_.front());
        commits_.pop_front();
    }

    void onFinish() override
    {
        if (!sub_)
            return;
        std::lock_guard state_lock(core_.state(*caller_.org).mutex);
        if (sub_->active_rpc_id == rpc_id_)
            sub_->active_rpc_id.clear();
    }

    // Its org state's lock guards it; subscriptions are never removed.
    ManagedSubscription *sub_ = nullptr;
    std::deque<v1::CommitReplayResponse> commits_; // answers not sent yet
};

} // namespace

grpc::ServerBidiReactor<v1::ManagedFetchRequest, v1::ManagedFetchResponse> *
Service::ManagedSubscribe(grpc::CallbackServerContext *ctx)
{
    return startReactor<ManagedReactor>(core_, ctx);
}

} // namespace sfk::emu::pubsub
