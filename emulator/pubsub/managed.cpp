// Managed subscriptions through the admin API (Salesforce creates them as
// ManagedEventSubscription metadata): POST /admin/orgs/{org}/pubsub/managed
// creates one or, for a developer name that exists, updates it (a metadata
// deploy); GET .../managed lists them and GET .../managed/{id or name}
// shows one, with the replay id its clients committed.
#include <simdjson.h>

#include <cctype>

#include "core.h"
#include "log/log.h"
#include "results.h"
#include "util.h"

namespace sfk::emu::pubsub {

namespace v1 = eventbus::v1;

namespace {

// Salesforce's developer names: a letter first, then letters, digits and
// single underscores, no underscore at the end, at most 80 characters.
bool developerName(std::string_view s)
{
    if (s.empty() || s.size() > 80 || !std::isalpha(static_cast<unsigned char>(s[0])) || s.back() == '_' ||
        s.find("__") != std::string_view::npos)
        return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
            return false;
    return true;
}

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
    std::string_view name, topic_name, label, state_name = "RUN", default_name = "LATEST", recovery_name = "LATEST";
    for (auto field : root) {
        std::string_view key = field.key;
        std::string_view *target = key == "developer_name"          ? &name
                                   : key == "topic_name"            ? &topic_name
                                   : key == "label"                 ? &label
                                   : key == "state"                 ? &state_name
                                   : key == "default_replay"        ? &default_name
                                   : key == "error_recovery_replay" ? &recovery_name
                                                                    : nullptr;
        if (!target)
            return adminError(400, "unknown key " + std::string(key) +
                                       " (developer_name, topic_name, label, default_replay, "
                                       "error_recovery_replay, state)");
        if (field.value.get_string().get(*target) != simdjson::SUCCESS)
            return adminError(400, std::string(key) + " must be a string");
    }
    if (!developerName(name))
        return adminError(400, "developer_name must start with a letter and hold only letters, digits and "
                               "single underscores (at most 80, no trailing underscore)");
    ManagedSubscription wanted;
    if (!presetByName(default_name, wanted.default_replay) ||
        !presetByName(recovery_name, wanted.error_recovery_replay))
        return adminError(400, "default_replay and error_recovery_replay are LATEST or EARLIEST");
    if (state_name != "RUN" && state_name != "STOP")
        return adminError(400, "state is RUN or STOP");
    wanted.running = state_name == "RUN";
    wanted.developer_name = std::string(name);
    wanted.label = label.empty() ? wanted.developer_name : std::string(label);

    std::lock_guard lock(st.mutex);
    ManagedSubscription *existing = findManaged(st, "", wanted.developer_name);
    if (!existing && topic_name.empty())
        return adminError(400, "topic_name is required");
    if (!topic_name.empty()) {
        if (!topic(org, std::string(topic_name)))
            return adminError(404, "no Pub/Sub topic " + std::string(topic_name) + " in org " + org.config.name);
        if (existing && existing->topic != topic_name)
            return adminError(400, "the topic_name of " + existing->developer_name + " can't change");
    }
    int status = 200;
    if (!existing) {
        // 18 characters like Salesforce ids; the 18x prefix is sfemu's choice.
        std::string n = std::to_string(++st.managed_created);
        wanted.id = "18x" + std::string(12 - n.size(), '0') + n + "AAA";
        wanted.topic = std::string(topic_name);
        existing = &st.managed.emplace(wanted.id, wanted).first->second;
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
