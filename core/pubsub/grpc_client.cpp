// The Pub/Sub API client (grpc_client.h): endpoint checks, credentials,
// connections, the owner's side of the streams and the unary calls.
#include "pubsub/grpc_client.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "pubsub/grpc_stream.h"

namespace sfk::pubsub {

namespace v1 = eventbus::v1;
using detail::Connection;
using detail::SubscribeStream;

namespace {

bool isLoopback(std::string host)
{
    std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (host == "localhost")
        return true;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool readFile(const std::string &path, std::string &text)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return false;
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
    return !in.bad();
}

std::string target(const Endpoint &e)
{
    bool v6 = e.host.find(':') != std::string::npos && e.host.front() != '[';
    return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

// The identity as call metadata, asked for on every call.
class IdentityPlugin : public grpc::MetadataCredentialsPlugin {
public:
    explicit IdentityPlugin(IdentitySource source) : source_(std::move(source)) {}
    bool IsBlocking() const override { return false; }
    const char *GetType() const override { return "sfkafka-identity"; }
    grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext &,
                             std::multimap<grpc::string, grpc::string> *metadata) override
    {
        CallIdentity id;
        try {
            id = source_();
        } catch (const std::exception &) {
            return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the identity source failed");
        }
        if (!id.access_token.empty())
            metadata->emplace("accesstoken", id.access_token);
        if (!id.instance_url.empty())
            metadata->emplace("instanceurl", id.instance_url);
        if (!id.tenant_id.empty())
            metadata->emplace("tenantid", id.tenant_id);
        return grpc::Status::OK;
    }
    grpc::string DebugString() override { return "sfkafka Pub/Sub identity"; }

private:
    IdentitySource source_;
};

// A new channel (its own HTTP/2 connection); the lock must be held.
Connection &addConnectionLocked(detail::Hub &hub)
{
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(hub.options.max_receive_bytes);
    // Channels with equal arguments share one connection through gRPC's
    // global subchannel pool: a local pool and a distinct argument each.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sfkafka.connection_index", static_cast<int>(hub.connections.size()));
    auto c = std::make_unique<Connection>();
    c->channel = grpc::CreateCustomChannel(target(hub.endpoint), hub.channel_credentials, args);
    c->stub = v1::PubSub::NewStub(c->channel);
    hub.connections.push_back(std::move(c));
    return *hub.connections.back();
}

// Marks a stream cancelled or replaced and takes it (and its queued items)
// out of the hub; the lock must be held. The caller cancels it unlocked.
std::shared_ptr<SubscribeStream> dropLocked(detail::Hub &hub, size_t id)
{
    auto it = hub.streams.find(id);
    if (it == hub.streams.end())
        return nullptr;
    std::shared_ptr<SubscribeStream> s = std::move(it->second);
    hub.streams.erase(it);
    s->dropped = true;
    hub.releaseLocked(*s);
    hub.items.erase(std::remove_if(hub.items.begin(), hub.items.end(),
                                   [id](const StreamItem &item) { return item.stream == id; }),
                    hub.items.end());
    return s;
}

} // namespace

bool validateEndpoint(const Endpoint &endpoint, std::string &error)
{
    if (endpoint.host.empty()) {
        error = "Pub/Sub endpoint: no host";
        return false;
    }
    if (endpoint.port < 1 || endpoint.port > 65535) {
        error = "Pub/Sub endpoint " + endpoint.host + ": port " + std::to_string(endpoint.port) +
                " is not in 1..65535";
        return false;
    }
    if (endpoint.plaintext && !isLoopback(endpoint.host)) {
        error = "Pub/Sub endpoint " + endpoint.host +
                ": plaintext is allowed to loopback hosts only (127.0.0.0/8, ::1, localhost)";
        return false;
    }
    if (!endpoint.plaintext && !endpoint.ca_file.empty()) {
        std::string pem;
        if (!readFile(endpoint.ca_file, pem)) {
            error = "Pub/Sub endpoint " + endpoint.host + ": cannot read the CA file " + endpoint.ca_file;
            return false;
        }
        if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
            error = "Pub/Sub endpoint " + endpoint.host + ": the CA file " + endpoint.ca_file +
                    " holds no PEM certificate";
            return false;
        }
    }
    return true;
}

const char *statusCodeName(grpc::StatusCode code)
{
    switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN_STATUS";
    }
}

Client::Client(Endpoint endpoint, IdentitySource identity, ClientOptions options)
    : hub_(std::make_unique<detail::Hub>())
{
    std::string error;
    if (!validateEndpoint(endpoint, error))
        throw std::invalid_argument(error);
    if (options.max_streams_per_connection == 0)
        throw std::invalid_argument("Pub/Sub client: max_streams_per_connection must be at least 1");
    if (endpoint.plaintext) {
        hub_->channel_credentials = grpc::InsecureChannelCredentials();
    } else {
        grpc::SslCredentialsOptions ssl;
        if (!endpoint.ca_file.empty())
            readFile(endpoint.ca_file, ssl.pem_root_certs);
        hub_->channel_credentials = grpc::SslCredentials(ssl);
    }
    // The token may travel in clear text only where validateEndpoint allows
    // plaintext at all: loopback.
    hub_->call_credentials = grpc::experimental::MetadataCredentialsFromPlugin(
        std::make_unique<IdentityPlugin>(identity),
        endpoint.plaintext ? GRPC_SECURITY_NONE : GRPC_PRIVACY_AND_INTEGRITY);
    hub_->endpoint = std::move(endpoint);
    hub_->identity = std::move(identity);
    hub_->options = options;
}

Client::~Client()
{
    cancelAll();
    std::unique_lock lock(hub_->mutex);
    hub_->idle.wait(lock, [this] { return hub_->live == 0; });
}

uint64_t Client::subscribe(size_t id, const std::string &topic, v1::ReplayPreset preset,
                           const std::string &replay_id, int credit)
{
    v1::FetchRequest first;
    first.set_topic_name(topic);
    first.set_replay_preset(preset);
    if (preset == v1::CUSTOM)
        first.set_replay_id(replay_id);
    first.set_num_requested(credit);

    detail::Hub &hub = *hub_;
    std::shared_ptr<SubscribeStream> old, fresh;
    uint64_t generation;
    {
        std::lock_guard lock(hub.mutex);
        old = dropLocked(hub, id);
        generation = ++hub.generations[id];
        auto free = std::find_if(hub.connections.begin(), hub.connections.end(), [&](const auto &c) {
            return c->open < hub.options.max_streams_per_connection;
        });
        Connection &conn = free != hub.connections.end() ? **free : addConnectionLocked(hub);
        fresh = std::make_shared<SubscribeStream>(hub, conn, id, generation);
        ++conn.open;
        ++hub.open;
        ++hub.live;
        hub.streams[id] = fresh;
    }
    if (old)
        old->cancel();
    fresh->start(fresh, std::move(first));
    return generation;
}

void Client::request(size_t id, int credit)
{
    std::shared_ptr<SubscribeStream> s;
    {
        std::lock_guard lock(hub_->mutex);
        auto it = hub_->streams.find(id);
        if (it == hub_->streams.end())
            return;
        s = it->second;
    }
    s->request(credit);
}

void Client::cancel(size_t id)
{
    std::shared_ptr<SubscribeStream> s;
    {
        std::lock_guard lock(hub_->mutex);
        s = dropLocked(*hub_, id);
    }
    if (s)
        s->cancel();
}

void Client::cancelAll()
{
    std::vector<std::shared_ptr<SubscribeStream>> all;
    {
        std::lock_guard lock(hub_->mutex);
        while (!hub_->streams.empty())
            all.push_back(dropLocked(*hub_, hub_->streams.begin()->first));
    }
    for (auto &s : all)
        s->cancel();
}

std::optional<StreamItem> Client::next(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(hub_->mutex);
    hub_->ready.wait_for(lock, timeout, [this] { return hub_->woken || !hub_->items.empty(); });
    if (hub_->woken) {
        hub_->woken = false;
        return std::nullopt;
    }
    if (hub_->items.empty())
        return std::nullopt;
    std::optional<StreamItem> item(std::move(hub_->items.front()));
    hub_->items.pop_front();
    return item;
}

void Client::wake()
{
    std::lock_guard lock(hub_->mutex);
    hub_->woken = true;
    hub_->ready.notify_all();
}

void Client::stopCalls()
{
    std::lock_guard lock(hub_->mutex);
    hub_->unary_stopped = true;
    for (grpc::ClientContext *ctx : hub_->unary)
        ctx->TryCancel();
}

size_t Client::connections() const
{
    std::lock_guard lock(hub_->mutex);
    return hub_->connections.size();
}

size_t Client::openStreams() const
{
    std::lock_guard lock(hub_->mutex);
    return hub_->open;
}

namespace {

// The unary calls' connection (the first one) and a context for a call.
v1::PubSub::Stub &unaryStub(detail::Hub &hub)
{
    std::lock_guard lock(hub.mutex);
    return hub.connections.empty() ? *addConnectionLocked(hub).stub : *hub.connections.front()->stub;
}

void prepare(detail::Hub &hub, grpc::ClientContext &ctx)
{
    ctx.set_credentials(hub.call_credentials);
    ctx.set_deadline(std::chrono::system_clock::now() + hub.options.unary_deadline);
}

// A unary call registered for stopCalls(); `ok()` false once they are stopped.
class UnaryCall {
public:
    UnaryCall(detail::Hub &hub, grpc::ClientContext &ctx) : hub_(hub), ctx_(ctx)
    {
        std::lock_guard lock(hub_.mutex);
        ok_ = !hub_.unary_stopped;
        if (ok_)
            hub_.unary.insert(&ctx_);
    }
    ~UnaryCall()
    {
        std::lock_guard lock(hub_.mutex);
        hub_.unary.erase(&ctx_);
    }
    bool ok() const { return ok_; }

private:
    detail::Hub &hub_;
    grpc::ClientContext &ctx_;
    bool ok_ = false;
};

bool stoppedCall(const char *rpc, std::string &error, grpc::StatusCode *code)
{
    error = std::string(rpc) + ": CANCELLED: the client is stopping";
    if (code)
        *code = grpc::StatusCode::CANCELLED;
    return false;
}

bool failed(detail::Hub &hub, const char *rpc, const grpc::Status &status, const grpc::ClientContext &ctx,
            std::string &error, grpc::StatusCode *code)
{
    error = std::string(rpc) + ": " + statusCodeName(status.error_code()) + ": " + hub.scrub(status.error_message());
    auto trailers = ctx.GetServerTrailingMetadata();
    if (auto it = trailers.find("error-code"); it != trailers.end())
        error += " (error-code " + std::string(it->second.data(), it->second.size()) + ")";
    if (code)
        *code = status.error_code();
    return false;
}

} // namespace

bool Client::getSchema(const std::string &schema_id, std::string &schema_json, std::string &error,
                       grpc::StatusCode *code)
{
    grpc::ClientContext ctx;
    prepare(*hub_, ctx);
    UnaryCall call(*hub_, ctx);
    if (!call.ok())
        return stoppedCall("GetSchema", error, code);
    v1::SchemaRequest req;
    req.set_schema_id(schema_id);
    v1::SchemaInfo info;
    grpc::Status status = unaryStub(*hub_).GetSchema(&ctx, req, &info);
    if (!status.ok())
        return failed(*hub_, "GetSchema", status, ctx, error, code);
    schema_json = info.schema_json();
    if (code)
        *code = grpc::StatusCode::OK;
    return true;
}

bool Client::getTopic(const std::string &topic, v1::TopicInfo &info, std::string &error, grpc::StatusCode *code)
{
    grpc::ClientContext ctx;
    prepare(*hub_, ctx);
    UnaryCall call(*hub_, ctx);
    if (!call.ok())
        return stoppedCall("GetTopic", error, code);
    v1::TopicRequest req;
    req.set_topic_name(topic);
    grpc::Status status = unaryStub(*hub_).GetTopic(&ctx, req, &info);
    if (!status.ok())
        return failed(*hub_, "GetTopic", status, ctx, error, code);
    if (code)
        *code = grpc::StatusCode::OK;
    return true;
}

} // namespace sfk::pubsub
