// PublishStream: each PublishRequest is published as Publish would and
// answered by one PublishResponse, in order (one write in flight; the next
// read starts once its answer is written).
#include "core.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

class PublishStreamReactor : public grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishResponse> {
public:
    PublishStreamReactor(Core &core, grpc::CallbackServerContext *ctx) : core_(core), ctx_(ctx)
    {
        grpc::Status status;
        auto caller = core_.authenticate(*ctx_, status);
        if (!caller) {
            Finish(status);
            return;
        }
        caller_ = *caller;
        rpc_id_ = uuid4();
        if (!core_.openStream(*ctx_, *caller_.org, Core::StreamKind::Publisher, rpc_id_, status)) {
            Finish(status);
            return;
        }
        counted_ = true;
        StartRead(&request_);
    }

    void OnReadDone(bool ok) override
    {
        if (!ok) {
            Finish(grpc::Status::OK);
            return;
        }
        response_.Clear();
        grpc::Status status = publishEvents(core_, *ctx_, caller_, request_, response_);
        if (!status.ok()) {
            Finish(status);
            return;
        }
        StartWrite(&response_);
    }

    void OnWriteDone(bool ok) override
    {
        if (!ok) {
            Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
            return;
        }
        StartRead(&request_);
    }

    void OnDone() override
    {
        if (counted_)
            core_.closeStream(*caller_.org, rpc_id_);
        delete this;
    }

private:
    Core &core_;
    grpc::CallbackServerContext *ctx_;
    Caller caller_;
    std::string rpc_id_; // its client id in the org's allocations
    bool counted_ = false;
    v1::PublishRequest request_;
    v1::PublishResponse response_;
};

} // namespace

grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishResponse> *
Service::PublishStream(grpc::CallbackServerContext *ctx)
{
    return new PublishStreamReactor(core_, ctx);
}

} // namespace sfk::emu::pubsub
