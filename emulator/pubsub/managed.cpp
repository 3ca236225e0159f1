// Managed subscriptions through the admin API (Salesforce creates them as
// ManagedEventSubscription metadata): POST /admin/orgs/{org}/pubsub/managed
// creates one or, for a developer name that exists, updates it (a metadata
// deploy); GET .../managed lists them and GET .../managed/{id or name}
// shows one, with the replay id its clients committed. Those an org's config
// declares (managed_subscriptions:) exist from the start.
#include <simdjson.h>

#include "core.h"
#include "log/log.h"
#include "results.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

bool presetByName(std::string_view name, v1::ReplayPreset &out)
{
    if (name == "LATEST")
        out = v1::LATEST;
    else if (name == "EARLIEST")
        out = v1::EARLIEST;
    else
        return false;
    return true;
}

const char *presetName(v1::ReplayPreset p) { return p == v1::EARLIEST ? "EARLIEST" : "LATEST"; }

// A subscription as declared (config file or admin API): "" when valid.
std::string declared(const ManagedSubscriptionConfig &c, ManagedSubscription &out)
{
    if (!isDeveloperName(c.developer_name))
        return "developer_name must start with a letter and hold only letters, digits and single underscores "
               "(at most 80, no trailing underscore)";
    if (!presetByName(c.default_replay, out.default_replay) ||
        !presetByName(c.error_recovery_replay, out.error_recovery_replay))
        return "default_replay and error_recovery_replay are LATEST or EARLIEST";
    if (c.state != "RUN" && c.state != "STOP")
        return "state is RUN or STOP";
    out.running = c.state == "RUN";
    out.developer_name = c.developer_name;
    out.label = c.label.empty() ? c.developer_name : c.label;
    out.topic = c.topic_name;
    return {};
}

ManagedSubscription &addManaged(OrgState &st, ManagedSubscription m)
{
    // 18 characters like Salesforce ids; the 18x prefix is sfemu's choice.
    m.id = salesforceId("18x", static_cast<uint64_t>(++st.managed_created));
    return st.managed.emplace(m.id, std::move(m)).first->second;
}

std::string toJson(const ManagedSubscription &m)
{
    std::string committed = m.committed ? std::to_string(m.committed_id) : "null";
    return "{\"id\":" + jsonString(m.id) + ",\"developer_name\":" + jsonString(m.developer_name) +
           ",\"label\":" + jsonString(m.label) + ",\"topic_name\":" + jsonString(m.topic) +
           ",\"default_replay\":\"" + presetName(m.default_replay) + "\",\"error_recovery_replay\":\"" +
           presetName(m.error_recovery_replay) + "\",\"state\":\"" + (m.running ? "RUN" : "STOP") +
           "\",\"committed_replay_id\":" + committed + ",\"committed_ms\":" + std::to_string(m.committed_ms) +
           ",\"commits\":" + std::to_string(m.commits) + ",\"active_rpc_id\":" +
           (m.active_rpc_id.empty() ? std::string("null") : jsonString(m.active_rpc_id)) + "}";
}

} // namespace

void seedManaged(const OrgConfig &config, OrgState &st)
{
    for (const auto &c : config.managed_subscriptions) {
        ManagedSubscription m;
        if (declared(c, m).empty()) // the config parser checked them
            addManaged(st, std::move(m));
    }
}

ManagedSubscription *Core::findManaged(OrgState &st, const std::string &id, const std::string &name)
{
    if (!id.empty()) {
        auto it = st.managed.find(id);
        return it == st.managed.end() ? nullptr : &it->second;
    }
    for (auto &[key, m] : st.managed)
        if (m.developer_name == name)
            return &m;
    return nullptr;
}

HttpResult Core::adminManaged(Org &org, const std::string &method, const std::string &path, const std::string &body)
{
    OrgState &st = state(org);
    if (method == "GET") {
        std::lock_guard lock(st.mutex);
        if (path == "managed") {
            std::string out = "{\"managed_subscriptions\":[";
            bool first = true;
            for (auto &[id, m] : st.managed) {
                out += (first ? "" : ",") + toJson(m);
                first = false;
            }
            return jsonResult(200, out + "]}");
        }
        std::string key = path.substr(8);
        ManagedSubscription *m = findManaged(st, st.managed.count(key) ? key : "", key);
        if (!m)
            return adminError(404, "no managed subscription " + key + " in org " + org.config.name);
        return jsonResult(200, toJson(*m));
    }
    if (method != "POST" || path != "managed")
        return adminError(404, "no Pub/Sub admin route " + method + " " + path);

    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (parser.parse(body).get_object().get(root) != simdjson::SUCCESS)
        return adminError(400, "the body must be a JSON object");
    ManagedSubscriptionConfig given;
    bool has_topic = false;
    for (auto field : root) {
        std::string_view key = field.key;
        std::string *target = key == "developer_name"          ? &given.developer_name
                              : key == "topic_name"            ? &given.topic_name
                              : key == "label"                 ? &given.label
                              : key == "state"                 ? &given.state
                              : key == "default_replay"        ? &given.default_replay
                              : key == "error_recovery_replay" ? &given.error_recovery_replay
                                                               : nullptr;
        if (!target)
            return adminError(400, "unknown key " + std::string(key) +
                                       " (developer_name, topic_name, label, default_replay, "
                                       "error_recovery_replay, state)");
        std::string_view text;
        if (field.value.get_string().get(text) != simdjson::SUCCESS)
            return adminError(400, std::string(key) + " must be a string");
        *target = std::string(text);
        has_topic = has_topic || key == "topic_name";
    }
    ManagedSubscription wanted;
    std::string why = declared(given, wanted);
    if (!why.empty())
        return adminError(400, why);

    std::lock_guard lock(st.mutex);
    ManagedSubscription *existing = findManaged(st, "", wanted.developer_name);
    if (!existing && !has_topic)
        return adminError(400, "topic_name is required");
    if (has_topic) {
        if (!topic(org, wanted.topic))
            return adminError(404, "no Pub/Sub topic " + wanted.topic + " in org " + org.config.name);
        if (existing && existing->topic != wanted.topic)
            return adminError(400, "the topic_name of " + existing->developer_name + " can't change");
    }
    int status = 200;
    if (!existing) {
        existing = &addManaged(st, std::move(wanted));
        status = 201;
    } else {
        existing->label = wanted.label;
        existing->default_replay = wanted.default_replay;
        existing->error_recovery_replay = wanted.error_recovery_replay;
        existing->running = wanted.running;
    }
    log::info("pubsub", status == 201 ? "managed subscription created" : "managed subscription updated",
              {{"org", org.config.name}, {"developer_name", existing->developer_name}, {"topic", existing->topic}});
    return jsonResult(status, toJson(*existing));
}

} // namespace sfk::emu::pubsub
