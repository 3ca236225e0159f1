// Subscribe: one reactor per stream (the shared machinery in
// fetch_reactor.h). The first FetchRequest names the topic and where to
// start: LATEST, EARLIEST or CUSTOM after a replay id; every request adds
// credit.
#include "fetch_reactor.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

class SubscribeReactor : public FetchReactor<v1::FetchRequest, v1::FetchResponse> {
public:
    SubscribeReactor(Core &core, grpc::CallbackServerContext *ctx) : FetchReactor(core, ctx, "Subscribe") {}

private:
    bool start(const v1::FetchRequest &req) override
    {
        log_ = core_.topic(*caller_.org, req.topic_name());
        if (!log_) {
            finishLocked(Core::fail(*ctx_, grpc::StatusCode::NOT_FOUND, code::kTopicNotFound,
                                    "Topic " + req.topic_name() + " not found", rpc_id_));
            return false;
        }
        Org &org = *caller_.org;
        std::lock_guard org_lock(org.mutex);
        switch (req.replay_preset()) {
        case v1::LATEST:
            cursor_ = log_->lastReplayId();
            return true;
        case v1::EARLIEST:
            cursor_ = 0;
            return true;
        case v1::CUSTOM: {
            int64_t id = 0;
            auto check = core_.decodeReplay(org, log_->name(), req.replay_id(), id);
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
};

} // namespace

grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse> *Service::Subscribe(grpc::CallbackServerContext *ctx)
{
    return startReactor<SubscribeReactor>(core_, ctx);
}

} // namespace sfk::emu::pubsub
