// The unary RPCs (GetTopic, GetSchema, Publish) and the server's start.
#include <grpcpp/security/server_credentials.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core.h"
#include "log/log.h"
#include "tls.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

grpc::ServerUnaryReactor *finish(grpc::CallbackServerContext *ctx, const grpc::Status &status)
{
    auto *reactor = ctx->DefaultReactor();
    reactor->Finish(status);
    return reactor;
}

} // namespace

grpc::ServerUnaryReactor *Service::GetTopic(grpc::CallbackServerContext *ctx, const v1::TopicRequest *req,
                                            v1::TopicInfo *resp)
{
    grpc::Status status;
    auto caller = core_.authenticate(*ctx, status);
    if (!caller)
        return finish(ctx, status);
    std::string rpc_id = uuid4();
    ChannelLog *log = core_.topic(*caller->org, req->topic_name());
    if (!log)
        return finish(ctx, Core::fail(*ctx, grpc::StatusCode::NOT_FOUND, code::kTopicNotFound,
                                      "Topic " + req->topic_name() + " not found", rpc_id));
    OrgState &st = core_.state(*caller->org);
    std::lock_guard lock(st.mutex);
    SchemaPtr schema = core_.topicSchema(*caller->org, st, *log);
    resp->set_topic_name(req->topic_name());
    resp->set_tenant_guid(caller->org->config.org_id);
    resp->set_can_publish(log->family() == Family::Event);
    resp->set_can_subscribe(true);
    resp->set_schema_id(schema->id());
    resp->set_rpc_id(rpc_id);
    return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor *Service::GetSchema(grpc::CallbackServerContext *ctx, const v1::SchemaRequest *req,
                                             v1::SchemaInfo *resp)
{
    grpc::Status status;
    auto caller = core_.authenticate(*ctx, status);
    if (!caller)
        return finish(ctx, status);
    std::string rpc_id = uuid4();
    OrgState &st = core_.state(*caller->org);
    std::lock_guard lock(st.mutex);
    SchemaPtr schema = st.schemas.byId(req->schema_id());
    if (!schema)
        return finish(ctx, Core::fail(*ctx, grpc::StatusCode::NOT_FOUND, code::kSchemaNotFound,
                                      "Schema " + req->schema_id() + " not found", rpc_id));
    resp->set_schema_json(schema->json());
    resp->set_schema_id(schema->id());
    resp->set_rpc_id(rpc_id);
    return finish(ctx, grpc::Status::OK);
}

grpc::Status publishEvents(Core &core, grpc::ServerContextBase &ctx, const Caller &caller,
                           const v1::PublishRequest &req, v1::PublishResponse &resp)
{
    std::string rpc_id = uuid4();
    resp.set_rpc_id(rpc_id);
    Org &org = *caller.org;
    ChannelLog *log = core.topic(org, req.topic_name());
    if (!log)
        return Core::fail(ctx, grpc::StatusCode::NOT_FOUND, code::kTopicNotFound,
                          "Topic " + req.topic_name() + " not found", rpc_id);
    if (log->family() != Family::Event)
        return Core::fail(ctx, grpc::StatusCode::PERMISSION_DENIED, code::kBadRequest,
                          "Publishing to " + req.topic_name() + " is not allowed", rpc_id);
    OrgState &st = core.state(org);
    std::lock_guard lock(st.mutex);
    SchemaPtr current = core.topicSchema(org, st, *log);
    resp.set_schema_id(current->id());
    simdjson::dom::parser parser;
    bool appended = false;
    for (const auto &event : req.events()) {
        auto *result = resp.add_results();
        result->set_correlation_key(event.id());
        auto error = [&](const std::string &msg) {
            result->mutable_error()->set_code(v1::PUBLISH);
            result->mutable_error()->set_msg(msg);
        };
        SchemaPtr schema = st.schemas.byId(event.schema_id());
        if (!schema || schema->recordName() != current->recordName()) {
            error("unknown schema id " + event.schema_id() + " for " + req.topic_name());
            continue;
        }
        std::string why;
        auto json = schema->decodeToJson(event.payload(), why);
        if (!json) {
            error(why);
            continue;
        }
        simdjson::dom::element payload;
        if (parser.parse(*json).get(payload) != simdjson::SUCCESS) {
            error("internal: the decoded payload is not JSON");
            continue;
        }
        int64_t id = 0;
        try {
            std::lock_guard org_lock(org.mutex);
            id = log->append(payload, nowMs());
            org.changed.notify_all();
        } catch (const std::exception &e) {
            error(e.what());
            continue;
        }
        appended = true;
        result->set_replay_id(core.replayBytes(org, log->name(), id));
    }
    if (appended)
        core.poke();
    return grpc::Status::OK;
}

grpc::ServerUnaryReactor *Service::Publish(grpc::CallbackServerContext *ctx, const v1::PublishRequest *req,
                                           v1::PublishResponse *resp)
{
    grpc::Status status;
    auto caller = core_.authenticate(*ctx, status);
    if (!caller)
        return finish(ctx, status);
    return finish(ctx, publishEvents(core_, *ctx, *caller, *req, *resp));
}

// ---------------------------------------------------------------------------

namespace {

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool loopbackHost(const std::string &listen)
{
    std::string host = listen.substr(0, listen.rfind(':'));
    return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

} // namespace

struct Serving {
    std::unique_ptr<Service> service;
    std::unique_ptr<grpc::Server> server;
};

PubSubServer::PubSubServer(Emulator &emulator, const PubSubOptions &options)
{
    if (options.plaintext && !loopbackHost(options.listen))
        throw std::runtime_error("--pubsub-plaintext is only allowed on a loopback address, not " +
                                 options.listen);
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (options.plaintext) {
        creds = grpc::InsecureServerCredentials();
        plaintext_ = true;
    } else {
        TlsMaterial tls;
        if (!options.tls_cert.empty() || !options.tls_key.empty()) {
            if (options.tls_cert.empty() || options.tls_key.empty())
                throw std::runtime_error("--pubsub-tls-cert and --pubsub-tls-key go together");
            tls.cert_pem = readFile(options.tls_cert);
            tls.key_pem = readFile(options.tls_key);
            ca_path_ = options.tls_ca;
        } else {
            tls = generateTls();
            std::string dir = options.tls_dir;
            if (dir.empty()) {
                const char *tmp = std::getenv("TMPDIR");
                std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sfemu-pubsub-XXXXXX";
                if (!mkdtemp(pattern.data()))
                    throw std::runtime_error("cannot create a directory for the Pub/Sub CA");
                dir = pattern;
            }
            ca_path_ = writeTls(tls, dir);
        }
        grpc::SslServerCredentialsOptions ssl;
        ssl.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
        creds = grpc::SslServerCredentials(ssl);
    }
    core_ = std::make_unique<Core>(emulator, options);
    auto serving = std::make_unique<Serving>();
    serving->service = std::make_unique<Service>(*core_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options.listen, creds, &port);
    builder.RegisterService(serving->service.get());
    builder.SetMaxReceiveMessageSize(4 << 20);
    serving->server = builder.BuildAndStart();
    if (!serving->server || port == 0)
        throw std::runtime_error("cannot listen on " + options.listen + " for the Pub/Sub API");
    std::string host = options.listen.substr(0, options.listen.rfind(':'));
    address_ = host + ":" + std::to_string(port);
    serving_ = std::move(serving);
    emulator_ = &emulator;
    Core *core = core_.get();
    emulator.setPubSubAdmin([core](Org &org, const std::string &method, const std::string &path,
                                   const std::string &body) { return core->admin(org, method, path, body); });
    log::info("pubsub", "Pub/Sub API listening",
              {{"address", address_}, {"tls", plaintext_ ? "off" : "on"}, {"ca", ca_path_}});
}

PubSubServer::~PubSubServer() { stop(); }

void PubSubServer::stop()
{
    if (serving_ && serving_->server) {
        emulator_->setPubSubAdmin(nullptr);
        core_->stop();
        serving_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
        serving_->server->Wait();
        serving_->server.reset();
    }
}

} // namespace sfk::emu::pubsub
