// The Pub/Sub routes of the admin API with its faults (POST
// /admin/orgs/{org}/pubsub/faults) and its flow-control oracle (GET
// /admin/orgs/{org}/pubsub/streams), and the streams' accounting in the
// org's allocations (allocations.h).
#include <simdjson.h>

#include "core.h"
#include "log/log.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace {

HttpResult reply(int status, const std::string &body)
{
    HttpResult r;
    r.status = status;
    r.body = body;
    return r;
}

HttpResult bad(const std::string &message) { return reply(400, "{\"error\":" + jsonString(message) + "}"); }

bool statusByName(std::string_view name, grpc::StatusCode &out)
{
    static const std::pair<const char *, grpc::StatusCode> names[] = {
        {"CANCELLED", grpc::StatusCode::CANCELLED},
        {"UNKNOWN", grpc::StatusCode::UNKNOWN},
        {"INVALID_ARGUMENT", grpc::StatusCode::INVALID_ARGUMENT},
        {"DEADLINE_EXCEEDED", grpc::StatusCode::DEADLINE_EXCEEDED},
        {"NOT_FOUND", grpc::StatusCode::NOT_FOUND},
        {"PERMISSION_DENIED", grpc::StatusCode::PERMISSION_DENIED},
        {"RESOURCE_EXHAUSTED", grpc::StatusCode::RESOURCE_EXHAUSTED},
        {"FAILED_PRECONDITION", grpc::StatusCode::FAILED_PRECONDITION},
        {"ABORTED", grpc::StatusCode::ABORTED},
        {"INTERNAL", grpc::StatusCode::INTERNAL},
        {"UNAVAILABLE", grpc::StatusCode::UNAVAILABLE},
        {"UNAUTHENTICATED", grpc::StatusCode::UNAUTHENTICATED},
    };
    for (auto &[n, code] : names)
        if (name == n) {
            out = code;
            return true;
        }
    return false;
}

bool fieldType(std::string_view name, FieldType &out)
{
    static const std::pair<const char *, FieldType> names[] = {
        {"string", FieldType::String},   {"long", FieldType::Long},         {"double", FieldType::Double},
        {"boolean", FieldType::Boolean}, {"datetime", FieldType::DateTime},
    };
    for (auto &[n, t] : names)
        if (name == n) {
            out = t;
            return true;
        }
    return false;
}

int64_t steadyNowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace

bool Core::openStream(grpc::ServerContextBase &ctx, Org &org, StreamKind kind, const std::string &rpc_id,
                      grpc::Status &status)
{
    if (kind == StreamKind::Subscriber && org.allocations.exhausted(nowMs())) {
        log::warn("pubsub", "Subscribe refused: daily delivery allocation used", {{"org", org.config.name}});
        status = allocationUsed(ctx, rpc_id);
        return false;
    }
    auto over = [&] {
        status = fail(ctx, grpc::StatusCode::RESOURCE_EXHAUSTED, code::kClientLimit,
                      "The maximum number of concurrent clients across all topics has been exceeded.", rpc_id);
        return false;
    };
    OrgState &st = state(org);
    std::lock_guard lock(st.mutex);
    // The fault's cap (Pub/Sub streams only) and the org's limit (both transports).
    if (st.faults.max_clients > 0 && st.streams >= st.faults.max_clients)
        return over();
    if (!org.allocations.openClient(rpc_id, Transport::PubSub, nowMs())) {
        log::warn("pubsub", "stream refused: concurrent client limit", {{"org", org.config.name}});
        return over();
    }
    ++st.streams;
    return true;
}

void Core::closeStream(Org &org, const std::string &rpc_id)
{
    org.allocations.closeClient(rpc_id, nowMs());
    OrgState &st = state(org);
    std::lock_guard lock(st.mutex);
    --st.streams;
}

int64_t Core::claimDeliveries(Org &org, const std::string &rpc_id, int64_t wanted)
{
    return org.allocations.claim(rpc_id, Transport::PubSub, wanted, nowMs());
}

grpc::Status Core::allocationUsed(grpc::ServerContextBase &ctx, const std::string &rpc_id)
{
    // Salesforce documents the error code and the message, not the status:
    // RESOURCE_EXHAUSTED is sfemu's choice (README).
    return fail(ctx, grpc::StatusCode::RESOURCE_EXHAUSTED, kLimitPubSubErrorCode,
                "You have exceeded the event delivery limit for your org.", rpc_id);
}

HttpResult Core::admin(Org &org, const std::string &method, const std::string &path, const std::string &body)
{
    if (path == "faults" && method == "POST")
        return adminFaults(org, body);
    if (path == "streams" && method == "GET") {
        OrgState &st = state(org);
        std::lock_guard lock(st.mutex);
        return reply(200, "{\"open_streams\":" + std::to_string(st.streams) + ",\"peak_outstanding\":" +
                              std::to_string(st.peak_outstanding) + ",\"fetch_requests\":" +
                              std::to_string(st.fetch_requests) + "}");
    }
    if (path == "managed" || path.rfind("managed/", 0) == 0)
        return adminManaged(org, method, path, body);
    return reply(404, "{\"error\":" + jsonString("no Pub/Sub admin route " + method + " " + path) + "}");
}

HttpResult Core::adminFaults(Org &org, const std::string &body)
{
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (parser.parse(body).get_object().get(root) != simdjson::SUCCESS)
        return bad("the body must be a JSON object");
    std::string_view fault;
    if (root["fault"].get_string().get(fault) != simdjson::SUCCESS)
        return bad("\"fault\" (a string) is required");
    auto text = [&](const char *key, std::string_view fallback) {
        std::string_view v;
        return std::string(root[key].get_string().get(v) == simdjson::SUCCESS ? v : fallback);
    };
    auto number = [&](const char *key, int64_t fallback) {
        int64_t v = 0;
        return root[key].get_int64().get(v) == simdjson::SUCCESS ? v : fallback;
    };
    OrgState &st = state(org);
    log::info("pubsub", "fault armed", {{"org", org.config.name}, {"fault", std::string(fault)}});
    if (fault == "fail_subscribe") {
        FailNext f;
        if (!statusByName(text("status", "UNAVAILABLE"), f.status))
            return bad("\"status\" must name a gRPC status code (UNAVAILABLE, INTERNAL, ...)");
        f.error_code = text("error_code", "sfdc.platform.eventbus.grpc.service.unavailable");
        f.message = text("message", "The Pub/Sub API service is unavailable.");
        int64_t count = number("count", 1);
        if (count < 1 || count > 1000)
            return bad("\"count\" must be from 1 to 1000");
        std::lock_guard lock(st.mutex);
        for (int64_t i = 0; i < count; ++i)
            st.faults.fail_subscribe.push_back(f);
        return reply(200, "{\"armed\":" + std::to_string(count) + "}");
    }
    if (fault == "reset_stream") {
        int64_t after = number("after_events", 0), count = number("count", 1);
        if (after < 0 || count < 1)
            return bad("\"after_events\" must be >= 0 and \"count\" >= 1");
        std::lock_guard lock(st.mutex);
        st.faults.reset_streams = static_cast<int>(count);
        st.faults.reset_after_events = static_cast<int>(after);
        poke();
        return reply(200, "{\"armed\":" + std::to_string(count) + "}");
    }
    if (fault == "stall_keepalives") {
        int64_t ms = number("ms", number("seconds", 0) * 1000);
        if (ms <= 0)
            return bad("give \"seconds\" or \"ms\" (> 0)");
        std::lock_guard lock(st.mutex);
        st.faults.stall_until_ms = steadyNowMs() + ms;
        return reply(200, "{\"stalled_ms\":" + std::to_string(ms) + "}");
    }
    if (fault == "client_limit") {
        int64_t max = number("max", -1);
        if (max < 0)
            return bad("\"max\" (0 = no limit) is required");
        std::lock_guard lock(st.mutex);
        st.faults.max_clients = static_cast<int>(max);
        return reply(200, "{\"max\":" + std::to_string(max) + "}");
    }
    std::string topic_name = text("topic", "");
    if (fault == "change_schema" || fault == "reset_replay_ids") {
        ChannelLog *log = topic(org, topic_name);
        if (!log)
            return reply(404, "{\"error\":" + jsonString("no Pub/Sub topic " + topic_name) + "}");
        if (fault == "reset_replay_ids") {
            std::lock_guard lock(epochs_mutex_);
            int epoch = ++epochs_[{&org, topic_name}];
            return reply(200, "{\"epoch\":" + std::to_string(epoch) + "}");
        }
        FieldType type;
        std::string field = text("field", "");
        if (field.empty() || !fieldType(text("type", "string"), type))
            return bad("\"field\" and \"type\" (string, long, double, boolean, datetime) are required");
        std::lock_guard lock(st.mutex);
        SchemaPtr now = topicSchema(org, st, *log);
        for (auto &f : now->fields())
            if (f.name == field)
                return bad("the schema already has " + field);
        SchemaPtr next = st.schemas.addField(now->recordName(), now->kind(), field, type);
        return reply(200, "{\"schema_id\":" + jsonString(next->id()) + ",\"previous_schema_id\":" +
                              jsonString(now->id()) + "}");
    }
    if (fault == "clear") {
        std::lock_guard lock(st.mutex);
        st.faults = PubSubFaults{};
        return reply(200, "{\"cleared\":true}");
    }
    return bad("unknown Pub/Sub fault " + std::string(fault) +
               " (fail_subscribe, reset_stream, stall_keepalives, client_limit, change_schema, "
               "reset_replay_ids, clear)");
}

} // namespace sfk::emu::pubsub
