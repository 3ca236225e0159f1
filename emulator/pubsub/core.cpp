#include "core.h"

#include <algorithm>

#include "log/log.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace {

constexpr const char *kModule = "pubsub";

std::string metadata(const grpc::CallbackServerContext &ctx, const char *key)
{
    const auto &md = ctx.client_metadata();
    auto it = md.find(key);
    return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// The record a change event is written with: AccountChangeEvent,
// Invoice__ChangeEvent (for Invoice__c).
std::string changeEventRecord(std::string_view entity)
{
    if (entity.size() > 3 && entity.substr(entity.size() - 3) == "__c")
        return std::string(entity.substr(0, entity.size() - 3)) + "__ChangeEvent";
    return std::string(entity) + "ChangeEvent";
}

uint16_t replayCheck(const Org &org, const std::string &channel, int epoch, int64_t id)
{
    uint64_t h = 1469598103934665603ULL ^ static_cast<uint64_t>(epoch);
    auto mix = [&](std::string_view s) {
        for (unsigned char c : s)
            h = (h ^ c) * 1099511628211ULL;
    };
    mix(org.config.org_id);
    mix(channel);
    for (int i = 0; i < 8; ++i)
        h = (h ^ ((static_cast<uint64_t>(id) >> (8 * i)) & 0xff)) * 1099511628211ULL;
    return static_cast<uint16_t>(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
}

} // namespace

Core::Core(Emulator &emulator, PubSubOptions options) : emulator_(emulator), options_(std::move(options))
{
    pump_thread_ = std::thread([this] { pumpLoop(); });
}

Core::~Core() { stop(); }

void Core::stop()
{
    {
        std::lock_guard lock(pumped_mutex_);
        if (stopping_ && !pump_thread_.joinable())
            return;
        stopping_ = true;
    }
    pumped_wake_.notify_all();
    if (pump_thread_.joinable())
        pump_thread_.join();
}

grpc::Status Core::fail(grpc::ServerContextBase &ctx, grpc::StatusCode status, const char *error_code,
                        const std::string &message, const std::string &rpc_id)
{
    ctx.AddTrailingMetadata("error-code", error_code);
    ctx.AddTrailingMetadata("rpc-id", rpc_id);
    return grpc::Status(status, message + " rpcId: " + rpc_id);
}

std::optional<Caller> Core::authenticate(grpc::CallbackServerContext &ctx, grpc::Status &status)
{
    std::string token = metadata(ctx, "accesstoken");
    std::string instance = metadata(ctx, "instanceurl");
    std::string tenant = metadata(ctx, "tenantid");
    std::string rpc_id = uuid4();
    auto refuse = [&](const std::string &why) {
        log::info(kModule, "RPC refused", {{"why", why}});
        status = fail(ctx, grpc::StatusCode::UNAUTHENTICATED, code::kAuth,
                      "An authentication exception occurred. Provide valid authentication via "
                      "metadata headers. " + why + ".",
                      rpc_id);
        return std::nullopt;
    };
    if (token.empty() || instance.empty() || tenant.empty())
        return refuse("accesstoken, instanceurl and tenantid are all required");
    auto info = emulator_.accessToken(token);
    if (!info)
        return refuse("the access token is not valid (unknown, expired or revoked)");
    const std::string &org_id = info->org->config.org_id;
    if (tenant != org_id && tenant != org_id.substr(0, 15))
        return refuse("tenantid does not name the token's org");
    if (instance.rfind("http://", 0) != 0 && instance.rfind("https://", 0) != 0)
        return refuse("instanceurl is not a URL");
    return Caller{info->org, info->username};
}

ChannelLog *Core::topic(Org &org, const std::string &name)
{
    auto family = channelFamily(name);
    if (!family || (*family != Family::Event && *family != Family::Data))
        return nullptr;
    std::lock_guard lock(org.mutex);
    auto it = org.channels.find(name);
    return it == org.channels.end() ? nullptr : it->second.get();
}

OrgState &Core::state(Org &org)
{
    std::lock_guard lock(states_mutex_);
    auto &slot = states_[&org];
    if (!slot) {
        slot = std::make_unique<OrgState>();
        seedManaged(org.config, *slot);
    }
    return *slot;
}

ChannelCache &Core::refresh(Org &org, OrgState &st, ChannelLog &log)
{
    ChannelCache &cache = st.channels[log.name()];
    std::vector<EventPtr> fresh;
    int64_t first_retained = 0;
    {
        std::lock_guard lock(org.mutex);
        log.collectAfter(cache.upto, SIZE_MAX, fresh);
        std::vector<EventPtr> first;
        if (log.collectAfter(0, 1, first))
            first_retained = first[0]->replay_id;
        else
            first_retained = log.lastReplayId() + 1;
    }
    simdjson::dom::parser parser;
    for (const auto &ev : fresh) {
        cache.upto = ev->replay_id;
        simdjson::dom::object payload;
        if (parser.parse(ev->json)["data"]["payload"].get_object().get(payload) != simdjson::SUCCESS)
            continue;
        SchemaPtr schema;
        if (log.family() == Family::Event) {
            schema = st.schemas.forPayload(log.name().substr(7), RecordKind::PlatformEvent, payload);
        } else {
            std::string_view entity;
            if (payload["ChangeEventHeader"]["entityName"].get_string().get(entity) != simdjson::SUCCESS)
                entity = "Account";
            schema = st.schemas.forPayload(changeEventRecord(entity), RecordKind::ChangeEvent, payload);
        }
        auto enc = std::make_shared<Encoded>();
        enc->replay_id = ev->replay_id;
        enc->uuid = ev->uuid.empty() ? uuid4() : ev->uuid;
        enc->schema_id = schema->id();
        try {
            enc->payload = schema->encode(payload);
        } catch (const std::exception &e) {
            log::warn(kModule, "event not encodable, skipped",
                      {{"channel", log.name()}, {"replay_id", std::to_string(ev->replay_id)}, {"error", e.what()}});
            continue;
        }
        cache.events.push_back(std::move(enc));
    }
    while (!cache.events.empty() && cache.events.front()->replay_id < first_retained)
        cache.events.pop_front();
    return cache;
}

SchemaPtr Core::topicSchema(Org &org, OrgState &st, ChannelLog &log)
{
    ChannelCache &cache = refresh(org, st, log);
    if (log.family() == Family::Event)
        return st.schemas.current(log.name().substr(7), RecordKind::PlatformEvent);
    if (!cache.events.empty())
        if (auto s = st.schemas.byId(cache.events.back()->schema_id))
            return s;
    std::string_view rest = std::string_view(log.name()).substr(6);
    std::string record = rest.size() > 11 && rest.substr(rest.size() - 11) == "ChangeEvent" &&
                                 rest != "ChangeEvents"
                             ? std::string(rest)
                             : "AccountChangeEvent";
    return st.schemas.current(record, RecordKind::ChangeEvent);
}

std::string Core::replayBytes(const Org &org, const std::string &channel, int64_t id) const
{
    std::string out(10, '\0');
    for (int i = 0; i < 8; ++i)
        out[static_cast<size_t>(i)] = static_cast<char>((static_cast<uint64_t>(id) >> (56 - 8 * i)) & 0xff);
    int epoch = 0;
    {
        std::lock_guard lock(epochs_mutex_);
        auto it = epochs_.find({&org, channel});
        if (it != epochs_.end())
            epoch = it->second;
    }
    uint16_t check = replayCheck(org, channel, epoch, id);
    out[8] = static_cast<char>(check >> 8);
    out[9] = static_cast<char>(check & 0xff);
    return out;
}

Core::ReplayCheck Core::decodeReplay(const Org &org, const std::string &channel, const std::string &bytes,
                                     int64_t &id) const
{
    if (bytes.size() != 8 && bytes.size() != 10)
        return ReplayCheck::Corrupted;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
    id = static_cast<int64_t>(v);
    if (id < 0)
        return ReplayCheck::Corrupted;
    if (bytes.size() == 8)
        return ReplayCheck::Ok;
    int epoch = 0;
    {
        std::lock_guard lock(epochs_mutex_);
        auto it = epochs_.find({&org, channel});
        if (it != epochs_.end())
            epoch = it->second;
    }
    auto matches = [&](int e) {
        uint16_t check = replayCheck(org, channel, e, id);
        return static_cast<unsigned char>(bytes[8]) == (check >> 8) &&
               static_cast<unsigned char>(bytes[9]) == (check & 0xff);
    };
    if (matches(epoch))
        return ReplayCheck::Ok;
    for (int e = 0; e < epoch; ++e)
        if (matches(e))
            return ReplayCheck::Stale;
    return ReplayCheck::Corrupted;
}

void Core::addPumped(std::shared_ptr<Pumped> p)
{
    std::lock_guard lock(pumped_mutex_);
    pumped_.push_back(std::move(p));
}

void Core::removePumped(Pumped *p)
{
    std::shared_ptr<Pumped> keep; // released after the lock
    std::lock_guard lock(pumped_mutex_);
    auto it = std::find_if(pumped_.begin(), pumped_.end(), [&](auto &x) { return x.get() == p; });
    if (it != pumped_.end()) {
        keep = std::move(*it);
        pumped_.erase(it);
    }
}

void Core::poke()
{
    {
        std::lock_guard lock(pumped_mutex_);
        poked_ = true;
    }
    pumped_wake_.notify_all();
}

void Core::pumpLoop()
{
    // Events published through the admin API or CometD do not poke: a short
    // tick finds them (and runs the keepalive and idle timers).
    std::unique_lock lock(pumped_mutex_);
    while (!stopping_) {
        pumped_wake_.wait_for(lock, std::chrono::milliseconds(10), [&] { return stopping_ || poked_; });
        poked_ = false;
        if (stopping_)
            break;
        std::vector<std::shared_ptr<Pumped>> snapshot = pumped_;
        lock.unlock();
        for (auto &p : snapshot)
            p->pump();
        snapshot.clear();
        lock.lock();
    }
}

} // namespace sfk::emu::pubsub
