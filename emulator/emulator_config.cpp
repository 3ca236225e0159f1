#include "emulator_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "util.h"

namespace sfk::emu {

EmulatorConfig defaultConfig()
{
    OrgConfig org;
    org.name = "default";
    org.org_id = "00D000000000001AAA";
    org.users.push_back({"user@example.com", "password", "005000000000001AAA"});
    org.apps.push_back({"sfemu-client", "sfemu-secret", "", "user@example.com"});
    org.channels = {"/topic/Demo", "/u/Demo", "/event/Demo__e", "/data/AccountChangeEvent"};
    EmulatorConfig config;
    config.orgs.push_back(std::move(org));
    return config;
}

namespace {

class Parser {
public:
    explicit Parser(std::string file) : file_(std::move(file)) {}

    void fail(const YAML::Node &node, const std::string &message)
    {
        std::ostringstream out;
        auto mark = node.Mark();
        out << file_ << ":" << (mark.line + 1) << ":" << (mark.column + 1) << ": " << message;
        errors_.push_back(out.str());
    }

    // Calls handle(key, value) for each entry; unknown keys are errors.
    void forEach(const YAML::Node &map, const std::set<std::string> &known,
                 const std::function<void(const std::string &, const YAML::Node &)> &handle)
    {
        if (!map.IsMap()) {
            fail(map, "expected a mapping");
            return;
        }
        for (auto it = map.begin(); it != map.end(); ++it) {
            std::string key = it->first.as<std::string>("");
            if (!known.count(key)) {
                fail(it->first, "unknown key '" + key + "'");
                continue;
            }
            handle(key, it->second);
        }
    }

    std::string str(const YAML::Node &node, const std::string &what)
    {
        if (!node.IsScalar()) {
            fail(node, what + ": expected a string");
            return {};
        }
        return node.as<std::string>();
    }

    int64_t num(const YAML::Node &node, const std::string &what, int64_t min)
    {
        int64_t v = 0;
        if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, v)) {
            fail(node, what + ": expected an integer");
            return min;
        }
        if (v < min) {
            fail(node, what + ": must be at least " + std::to_string(min));
            return min;
        }
        return v;
    }

    std::vector<std::string> strList(const YAML::Node &node, const std::string &what)
    {
        std::vector<std::string> out;
        if (!node.IsSequence()) {
            fail(node, what + ": expected a list");
            return out;
        }
        for (const auto &item : node)
            out.push_back(str(item, what));
        return out;
    }

    static const std::set<std::string> &knobKeys()
    {
        static const std::set<std::string> keys = {
            "token_lifetime_seconds", "connect_hold_ms", "client_timeout_ms",
            "max_events_per_response", "retention", "limits"};
        return keys;
    }

    void knob(Knobs &k, const std::string &key, const YAML::Node &v)
    {
        if (key == "token_lifetime_seconds")
            k.token_lifetime_seconds = num(v, key, 1);
        else if (key == "connect_hold_ms")
            k.connect_hold_ms = num(v, key, 0);
        else if (key == "client_timeout_ms")
            k.client_timeout_ms = num(v, key, 1);
        else if (key == "max_events_per_response")
            k.max_events_per_response = num(v, key, 1);
        else if (key == "retention")
            forEach(v, {"topic_seconds", "u_seconds", "event_seconds", "data_seconds", "max_events"},
                    [&](const std::string &rk, const YAML::Node &rv) {
                        if (rk == "topic_seconds") k.retention_topic_seconds = num(rv, rk, 1);
                        else if (rk == "u_seconds") k.retention_u_seconds = num(rv, rk, 1);
                        else if (rk == "event_seconds") k.retention_event_seconds = num(rv, rk, 1);
                        else if (rk == "data_seconds") k.retention_data_seconds = num(rv, rk, 1);
                        else if (rk == "max_events") k.retention_max_events = num(rv, rk, 0);
                    });
        else if (key == "limits")
            forEach(v, {"daily_delivered_events", "concurrent_clients", "window_seconds"},
                    [&](const std::string &lk, const YAML::Node &lv) {
                        if (lk == "daily_delivered_events") k.limits.daily_delivered_events = num(lv, lk, 0);
                        else if (lk == "concurrent_clients") k.limits.concurrent_clients = num(lv, lk, 0);
                        else if (lk == "window_seconds") k.limits.window_seconds = num(lv, lk, 1);
                    });
    }

    std::string readFile(const YAML::Node &node, const std::string &path)
    {
        std::ifstream in(path);
        if (!in) {
            fail(node, "cannot read " + path);
            return {};
        }
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    // Checked against the org's channels once all its keys are read.
    void managedSubscriptions(OrgConfig &o, const YAML::Node &v, std::vector<YAML::Node> &nodes)
    {
        if (!v.IsSequence()) {
            fail(v, "managed_subscriptions: expected a list");
            return;
        }
        for (const auto &m : v) {
            ManagedSubscriptionConfig ms;
            forEach(m, {"developer_name", "topic_name", "label", "default_replay", "error_recovery_replay", "state"},
                    [&](const std::string &mk, const YAML::Node &mv) {
                        std::string text = str(mv, mk);
                        if (mk == "developer_name") ms.developer_name = text;
                        else if (mk == "topic_name") ms.topic_name = text;
                        else if (mk == "label") ms.label = text;
                        else if (mk == "state") ms.state = text;
                        else if (mk == "default_replay") ms.default_replay = text;
                        else ms.error_recovery_replay = text;
                    });
            if (!isDeveloperName(ms.developer_name))
                fail(m, "managed_subscriptions: developer_name '" + ms.developer_name +
                            "' is not a developer name (a letter first, letters, digits, single underscores)");
            for (const auto &p : {ms.default_replay, ms.error_recovery_replay})
                if (p != "LATEST" && p != "EARLIEST")
                    fail(m, "managed_subscriptions: replay presets are LATEST or EARLIEST, not " + p);
            if (ms.state != "RUN" && ms.state != "STOP")
                fail(m, "managed_subscriptions: state is RUN or STOP, not " + ms.state);
            for (const auto &other : o.managed_subscriptions)
                if (other.developer_name == ms.developer_name)
                    fail(m, "managed_subscriptions: duplicate developer_name " + ms.developer_name);
            o.managed_subscriptions.push_back(ms);
            nodes.push_back(m);
        }
    }

    OrgConfig org(const YAML::Node &node, const Knobs &defaults, size_t index)
    {
        OrgConfig o;
        o.knobs = defaults;
        std::vector<YAML::Node> managed_nodes;
        std::set<std::string> keys = {"name", "org_id", "users", "apps", "refresh_tokens",
                                      "channels", "jwt_audiences", "managed_subscriptions"};
        keys.insert(knobKeys().begin(), knobKeys().end());
        forEach(node, keys, [&](const std::string &key, const YAML::Node &v) {
            if (key == "name") o.name = str(v, key);
            else if (key == "org_id") {
                o.org_id = str(v, key);
                if (o.org_id.size() != 18 || o.org_id.rfind("00D", 0) != 0)
                    fail(v, "org_id: expected an 18-character id starting with 00D");
            } else if (key == "users") {
                if (!v.IsSequence()) { fail(v, "users: expected a list"); return; }
                for (const auto &u : v) {
                    UserConfig user;
                    forEach(u, {"username", "password", "user_id"},
                            [&](const std::string &uk, const YAML::Node &uv) {
                                if (uk == "username") user.username = str(uv, uk);
                                else if (uk == "password") user.password = str(uv, uk);
                                else user.user_id = str(uv, uk);
                            });
                    if (user.username.empty())
                        fail(u, "users: username is required");
                    o.users.push_back(user);
                }
            } else if (key == "apps") {
                if (!v.IsSequence()) { fail(v, "apps: expected a list"); return; }
                for (const auto &a : v) {
                    AppConfig app;
                    forEach(a, {"client_id", "client_secret", "certificate", "certificate_file",
                                "run_as"},
                            [&](const std::string &ak, const YAML::Node &av) {
                                if (ak == "client_id") app.client_id = str(av, ak);
                                else if (ak == "client_secret") app.client_secret = str(av, ak);
                                else if (ak == "certificate") app.certificate_pem = str(av, ak);
                                else if (ak == "certificate_file")
                                    app.certificate_pem = readFile(av, str(av, ak));
                                else app.run_as = str(av, ak);
                            });
                    if (app.client_id.empty())
                        fail(a, "apps: client_id is required");
                    o.apps.push_back(app);
                }
            } else if (key == "refresh_tokens") {
                if (!v.IsSequence()) { fail(v, "refresh_tokens: expected a list"); return; }
                for (const auto &r : v) {
                    RefreshTokenConfig rt;
                    forEach(r, {"token", "client_id", "username"},
                            [&](const std::string &rk, const YAML::Node &rv) {
                                if (rk == "token") rt.token = str(rv, rk);
                                else if (rk == "client_id") rt.client_id = str(rv, rk);
                                else rt.username = str(rv, rk);
                            });
                    if (rt.token.empty() || rt.client_id.empty() || rt.username.empty())
                        fail(r, "refresh_tokens: token, client_id and username are required");
                    o.refresh_tokens.push_back(rt);
                }
            } else if (key == "channels") {
                for (const auto &c : strList(v, key)) {
                    static const char *families[] = {"/topic/", "/u/", "/event/", "/data/"};
                    bool ok = false;
                    for (auto f : families)
                        ok = ok || (c.rfind(f, 0) == 0 && c.size() > std::string(f).size());
                    if (!ok || c.find('*') != std::string::npos)
                        fail(v, "channels: '" + c + "' is not a /topic/, /u/, /event/ or /data/ channel");
                    o.channels.push_back(c);
                }
            } else if (key == "jwt_audiences") {
                o.jwt_audiences = strList(v, key);
            } else if (key == "managed_subscriptions") {
                managedSubscriptions(o, v, managed_nodes);
            } else {
                knob(o.knobs, key, v);
            }
        });
        if (o.name.empty())
            o.name = index == 0 ? "default" : "org" + std::to_string(index + 1);
        if (o.org_id.empty()) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "00D%012zuAAA", index + 1);
            o.org_id = buf;
        }
        uint64_t n = 1;
        for (auto &u : o.users)
            if (u.user_id.empty())
                u.user_id = salesforceId("005", n++ + index * 1000);
        std::set<std::string> usernames;
        for (auto &u : o.users)
            usernames.insert(u.username);
        for (auto &a : o.apps)
            if (!a.run_as.empty() && !usernames.count(a.run_as))
                fail(node, "apps: run_as user '" + a.run_as + "' is not a user of org " + o.name);
        for (auto &r : o.refresh_tokens)
            if (!usernames.count(r.username))
                fail(node, "refresh_tokens: user '" + r.username + "' is not a user of org " + o.name);
        for (size_t i = 0; i < o.managed_subscriptions.size(); ++i) {
            const std::string &t = o.managed_subscriptions[i].topic_name;
            bool pubsub = t.rfind("/event/", 0) == 0 || t.rfind("/data/", 0) == 0;
            if (!pubsub || std::find(o.channels.begin(), o.channels.end(), t) == o.channels.end())
                fail(managed_nodes[i],
                     "managed_subscriptions: topic_name '" + t + "' is not an /event/ or /data/ channel of org " +
                         o.name);
        }
        return o;
    }

    EmulatorConfig parse(const std::string &text)
    {
        EmulatorConfig config;
        YAML::Node root;
        try {
            root = YAML::Load(text);
        } catch (const YAML::Exception &e) {
            std::ostringstream out;
            out << file_ << ":" << (e.mark.line + 1) << ":" << (e.mark.column + 1) << ": "
                << e.msg;
            throw ConfigError(out.str());
        }
        if (root.IsNull())
            return defaultConfig();
        Knobs defaults;
        YAML::Node orgs;
        bool has_orgs = false;
        std::set<std::string> keys = {"version", "orgs"};
        keys.insert(knobKeys().begin(), knobKeys().end());
        forEach(root, keys, [&](const std::string &key, const YAML::Node &v) {
            if (key == "version") {
                if (num(v, key, 1) != 1)
                    fail(v, "version: only 1 is supported");
            } else if (key == "orgs") {
                orgs = v;
                has_orgs = true;
            } else {
                knob(defaults, key, v);
            }
        });
        if (!has_orgs) {
            config = defaultConfig();
            config.orgs[0].knobs = defaults;
        } else if (!orgs.IsSequence() || orgs.size() == 0) {
            fail(orgs, "orgs: expected a non-empty list");
        } else {
            for (size_t i = 0; i < orgs.size(); ++i)
                config.orgs.push_back(org(orgs[i], defaults, i));
        }
        std::set<std::string> names, ids, clients;
        for (auto &o : config.orgs) {
            if (!names.insert(o.name).second)
                fail(root, "orgs: duplicate name " + o.name);
            if (!ids.insert(o.org_id).second)
                fail(root, "orgs: duplicate org_id " + o.org_id);
            for (auto &a : o.apps)
                if (!clients.insert(a.client_id).second)
                    fail(root, "apps: client_id " + a.client_id + " is used twice");
        }
        if (!errors_.empty()) {
            std::string all;
            for (auto &e : errors_)
                all += e + "\n";
            all.pop_back();
            throw ConfigError(all);
        }
        return config;
    }

private:
    std::string file_;
    std::vector<std::string> errors_;
};

} // namespace

EmulatorConfig parseConfig(const std::string &yaml_text, const std::string &file_name)
{
    return Parser(file_name).parse(yaml_text);
}

EmulatorConfig loadConfigFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw ConfigError(path + ": cannot open file");
    std::stringstream ss;
    ss << in.rdbuf();
    return parseConfig(ss.str(), path);
}

} // namespace sfk::emu
