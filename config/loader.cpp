#include "config/loader.h"
#include "net/http_client.h"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config/interpolate.h"
#include "config/loader_parts.h"
#include "config/librdkafka_check.h"
#include "config/validate.h"
#include "log/log.h"

namespace sfk::config {

namespace {

using namespace load;
// ---------------------------------------------------------------- orgs

bool isOrgName(std::string_view name)
{
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
    });
}

const std::vector<std::string> kOrgKeys = { "login_url",           "api_version",        "ca_file", "proxy", "auth",
                                            "max_in_flight_events", "max_in_flight_bytes", "max_response_bytes",
                                            "allocation", "transport", "pubsub", "channels" };

void readOrg(Context &ctx, const Field &entry, const ChannelDefaults &defaults,
             std::map<std::string, TopicUse> &topics, Config &config)
{
    Org org;
    org.name = entry.key;
    bool ok = true;
    if (!isOrgName(entry.key)) {
        ctx.error(entry.keyMark(), entry.path,
                  "invalid org name '" + entry.key + "': use 1 to 64 of [A-Za-z0-9_-]");
        ok = false;
    }
    MapReader map(ctx, entry.value, entry.keyMark(), entry.path, kOrgKeys);
    if (!map.valid())
        return;

    bool loopback = false;
    if (const Field *f = map.require(ctx, "login_url", " (e.g. https://acme.my.salesforce.com)")) {
        std::optional<std::string> text = readString(ctx, *f, "a URL");
        Url url;
        std::string problem = text ? parseLoginUrl(*text, url) : std::string();
        if (!text) {
            ok = false;
        } else if (!problem.empty()) {
            ctx.error(f->valueMark(), f->path, "invalid URL '" + *text + "': " + problem);
            ok = false;
        } else {
            loopback = isLoopbackHost(url.host);
            if (url.scheme != "https" && !loopback) {
                ctx.error(f->valueMark(), f->path,
                          "login_url must use https (http is accepted only for a loopback emulator: "
                          "127.0.0.0/8, ::1, localhost)");
                ok = false;
            }
            org.login_url = *text;
            while (org.login_url.ends_with('/'))
                org.login_url.pop_back();
        }
    } else {
        ok = false;
    }

    if (const Field *f = map.find("api_version")) {
        std::optional<std::string> text = readString(ctx, *f, "a version such as \"62.0\"");
        int major = 0;
        bool valid = false;
        if (text) {
            std::string_view v = *text;
            if (v.ends_with(".0"))
                v.remove_suffix(2);
            auto [stop, ec] = std::from_chars(v.data(), v.data() + v.size(), major);
            valid = ec == std::errc() && stop == v.data() + v.size() && !v.empty();
            if (!valid)
                ctx.error(f->valueMark(), f->path, "'" + *text + "' is not an API version such as \"62.0\"");
            else if (major < 37) {
                ctx.error(f->valueMark(), f->path,
                          "API version " + *text + " is too old: durable streaming (replay ids) needs 37.0 or later");
                valid = false;
            }
        }
        if (valid)
            org.api_version = std::to_string(major) + ".0";
        else
            ok = false;
    }

    if (const Field *f = map.find("ca_file")) {
        auto path = readReadablePath(ctx, *f);
        ok = ok && path;
        if (path)
            org.ca_file = *path;
    }
    if (const Field *f = map.find("proxy")) {
        std::optional<std::string> text = readString(ctx, *f, "a proxy URL such as http://proxy.example:3128");
        if (!text) {
            ok = false;
        } else if (!text->empty()) {
            net::Proxy parsed;
            std::string problem;
            if (!net::Proxy::parse(*text, parsed, problem)) {
                // Never echo the value: it may carry a password.
                ctx.error(f->valueMark(), f->path, "invalid proxy URL: " + problem);
                ok = false;
            } else {
                org.proxy = Secret(*text);
            }
        }
    }
    if (const Field *f = map.find("allocation")) {
        MapReader allocation(ctx, f->value, f->keyMark(), f->path, { "daily_events", "warn_percent" });
        ok = ok && allocation.valid();
        if (const Field *d = allocation.find("daily_events")) {
            auto v = readInteger(ctx, *d, 0, INT64_C(1'000'000'000'000));
            ok = ok && v;
            if (v)
                org.daily_event_allocation = *v;
        }
        if (const Field *w = allocation.find("warn_percent")) {
            auto v = readInteger(ctx, *w, 1, 100);
            ok = ok && v;
            if (v)
                org.allocation_warning_percent = *v;
        }
    }
    if (const Field *f = map.find("max_in_flight_events")) {
        auto v = readInteger(ctx, *f, 1, 10'000'000);
        ok = ok && v;
        if (v)
            org.max_in_flight_events = *v;
    }
    if (const Field *f = map.find("max_in_flight_bytes")) {
        auto v = readInteger(ctx, *f, 64 * 1024, int64_t(16) << 30);
        ok = ok && v;
        if (v)
            org.max_in_flight_bytes = *v;
    }
    if (const Field *f = map.find("max_response_bytes")) {
        auto v = readInteger(ctx, *f, int64_t(1) << 20, int64_t(4) << 30);
        ok = ok && v;
        if (v)
            org.max_response_bytes = *v;
    }

    if (const Field *f = map.require(ctx, "auth")) {
        readAuth(ctx, *f, org, loopback, ok);
        if (org.auth.flow == AuthFlow::ClientCredentials && !org.login_url.empty()) {
            Url url;
            parseLoginUrl(org.login_url, url);
            if (url.host == "login.salesforce.com" || url.host == "test.salesforce.com") {
                const Field *login = map.find("login_url");
                ctx.error(login->valueMark(), login->path,
                          "the client_credentials flow works only against the org's My Domain host (e.g. "
                          "https://acme.my.salesforce.com); " + url.host +
                              " does not issue client-credentials tokens");
                ok = false;
            }
        }
    } else {
        ok = false;
    }

    if (const Field *f = map.find("pubsub"))
        readPubsub(ctx, *f, org, ok);
    std::optional<Transport> transport;
    if (const Field *f = map.find("transport")) {
        transport = readTransport(ctx, *f);
        ok = ok && transport;
    }
    if (const Field *f = map.require(ctx, "channels"))
        readChannels(ctx, *f, org, defaults, transport, topics);
    else
        ok = false;

    if (ok)
        config.orgs.push_back(std::move(org));
}

// ---------------------------------------------------------------- kafka

void readKafka(Context &ctx, const Field &f, Config &config)
{
    MapReader map(ctx, f.value, f.keyMark(), f.path, { "brokers", "librdkafka", "control_topic" });
    if (!map.valid())
        return;

    bool brokersLoopback = false;
    if (const Field *b = map.require(ctx, "brokers", " (e.g. brokers: 127.0.0.1:9092)")) {
        // A comma-separated string or a list.
        std::vector<std::string> brokers;
        bool ok = true;
        if (b->value.IsSequence()) {
            for (const YAML::Node &item : b->value) {
                Field itemField{ b->key, b->keyNode, item, b->path };
                if (auto text = readString(ctx, itemField, "host:port"))
                    brokers.push_back(*text);
                else
                    ok = false;
            }
        } else if (auto text = readString(ctx, *b, "host:port[,host:port...]")) {
            std::stringstream in(*text);
            std::string item;
            while (std::getline(in, item, ','))
                brokers.push_back(item);
        } else {
            ok = false;
        }
        std::string joined;
        brokersLoopback = true;
        for (std::string broker : brokers) {
            broker.erase(0, broker.find_first_not_of(" \t"));
            broker.erase(broker.find_last_not_of(" \t") + 1);
            std::string hostPort = broker;
            if (size_t scheme = hostPort.find("://"); scheme != std::string::npos)
                hostPort = hostPort.substr(scheme + 3);
            std::string host;
            int port = 0;
            std::string problem = parseHostPort(hostPort, host, port);
            if (problem.empty() && port == 0)
                problem = "port 0 is not a broker port";
            if (!problem.empty()) {
                ctx.error(b->valueMark(), b->path, "invalid broker '" + broker + "': " + problem);
                ok = false;
                continue;
            }
            brokersLoopback = brokersLoopback && isLoopbackHost(host);
            if (!joined.empty())
                joined += ',';
            joined += broker;
        }
        if (ok && joined.empty()) {
            ctx.error(b->valueMark(), b->path, "no brokers given (e.g. 127.0.0.1:9092)");
            ok = false;
        }
        if (ok)
            config.kafka.brokers = joined;
    }

    // The control topic: a literal name (no template), "" disables it.
    if (const Field *c = map.find("control_topic")) {
        if (auto name = readString(ctx, *c, "a Kafka topic name or \"\" to disable")) {
            std::string problem = name->empty() ? "" : checkTopicName(*name);
            if (problem.empty())
                config.kafka.control_topic = *name;
            else
                ctx.error(c->valueMark(), c->path, problem);
        }
    }

    const Field *lib = map.find("librdkafka");
    if (!lib)
        return;
    MapReader props(ctx, lib->value, lib->keyMark(), lib->path);
    if (!props.valid())
        return;
    std::vector<std::pair<std::string, std::string>> entries;
    std::vector<const Field *> entryFields;
    bool ok = true;
    for (const Field &p : props.fields()) {
        std::optional<std::string> value;
        if (p.value.IsMap()) {
            ctx.error(p.value.Mark(), p.path,
                      "librdkafka values are scalars; write dotted property names as one key, e.g. "
                      "compression.type: zstd");
            ok = false;
            continue;
        }
        if (isSensitiveLibrdkafkaProperty(p.key)) {
            if (auto secret = readSecret(ctx, p, brokersLoopback, "every broker is a loopback address"))
                value = secret->reveal();
        } else {
            value = readString(ctx, p, "a scalar value");
        }
        if (!value) {
            ok = false;
            continue;
        }
        entries.emplace_back(p.key, *value);
        entryFields.push_back(&p);
    }
    for (const LibrdkafkaProblem &problem : checkLibrdkafka(entries)) {
        YAML::Mark mark = lib->keyMark();
        std::string path = lib->path;
        if (problem.entry != LibrdkafkaProblem::kWholeMap) {
            const Field *p = entryFields[problem.entry];
            mark = problem.where == LibrdkafkaProblem::Where::Key ? p->keyMark() : p->valueMark();
            path = p->path;
        }
        if (problem.warning) {
            ctx.warning(mark, path, problem.message);
        } else {
            ctx.error(mark, path, problem.message);
            ok = false;
        }
    }
    if (ok)
        for (auto &[key, value] : entries)
            config.kafka.librdkafka[key] = value;
}

// ---------------------------------------------------------------- root

// log.level is the default; log.modules maps a module to its own level.
// A mapping rather than the command line's "info,session=debug" string so
// that a misspelt module or level is reported at its own line and column.
void readLog(Context &ctx, const Field &f, Config &config)
{
    static const std::vector<std::string> levels = { "debug", "info", "warn", "error" };
    MapReader log(ctx, f.value, f.keyMark(), f.path, { "level", "modules" });
    if (const Field *l = log.find("level")) {
        bool looksLikeSpec = l->value.IsScalar() && l->value.Scalar().find_first_of(",=") != std::string::npos;
        if (auto index = readEnum(ctx, *l, levels,
                                  looksLikeSpec ? "; per-module levels go under log.modules, e.g. "
                                                  "modules: {session: debug}"
                                                : ""))
            config.log_level = levels[*index];
    }
    if (const Field *m = log.find("modules")) {
        MapReader modules(ctx, m->value, m->keyMark(), m->path,
                          std::vector<std::string>(sfk::log::kModules.begin(), sfk::log::kModules.end()));
        for (const Field &entry : modules.fields())
            if (auto index = readEnum(ctx, entry, levels))
                config.log_modules[entry.key] = levels[*index];
    }
}

const std::vector<std::string> kRootKeys = { "version", "kafka", "state", "http", "log", "pacing", "defaults", "orgs" };

void readRoot(Context &ctx, const YAML::Node &root, Config &config)
{
    YAML::Mark start = root.Mark();
    if (start.is_null())
        start = YAML::Mark();
    MapReader map(ctx, root, start, "", kRootKeys);
    if (!map.valid())
        return;

    if (const Field *f = map.require(ctx, "version", " (write version: 1 at the top)")) {
        if (auto v = readInteger(ctx, *f, INT64_MIN, INT64_MAX); v && *v != 1)
            ctx.error(f->valueMark(), f->path,
                      "unsupported version " + std::to_string(*v) + "; this sfkafkad reads version 1");
    }

    if (const Field *f = map.require(ctx, "kafka"))
        readKafka(ctx, *f, config);

    config.state_directory = ctx.env.state_directory.empty() ? "./state" : ctx.env.state_directory;
    if (const Field *f = map.find("state")) {
        MapReader state(ctx, f->value, f->keyMark(), f->path, { "directory", "commit_interval_ms" });
        if (const Field *d = state.find("directory")) {
            if (auto text = readString(ctx, *d, "a directory path")) {
                if (text->empty())
                    ctx.error(d->valueMark(), d->path, "must not be empty");
                else
                    config.state_directory = *text;
            }
        }
        if (const Field *c = state.find("commit_interval_ms"))
            if (auto v = readInteger(ctx, *c, 10, 3'600'000))
                config.commit_interval = std::chrono::milliseconds(*v);
    }

    if (const Field *f = map.find("http")) {
        MapReader http(ctx, f->value, f->keyMark(), f->path, { "listen" });
        if (const Field *l = http.find("listen")) {
            if (auto text = readString(ctx, *l, "host:port, or \"\" to disable")) {
                std::string host;
                int port = 0;
                std::string problem = text->empty() ? std::string() : parseHostPort(*text, host, port);
                if (!problem.empty())
                    ctx.error(l->valueMark(), l->path, "invalid listen address '" + *text + "': " + problem);
                else
                    config.http_listen = *text;
            }
        }
    }

    if (const Field *f = map.find("log"))
        readLog(ctx, *f, config);

    if (const Field *f = map.find("pacing")) {
        MapReader pacing(ctx, f->value, f->keyMark(), f->path, { "logins_per_second", "handshakes_per_second" });
        if (const Field *l = pacing.find("logins_per_second"))
            if (auto v = readInteger(ctx, *l, 1, 10'000))
                config.pacing.logins_per_second = *v;
        if (const Field *h = pacing.find("handshakes_per_second"))
            if (auto v = readInteger(ctx, *h, 1, 10'000))
                config.pacing.handshakes_per_second = *v;
    }

    ChannelDefaults defaults;
    if (const Field *f = map.find("defaults"))
        defaults = readDefaults(ctx, *f);

    if (const Field *f = map.require(ctx, "orgs")) {
        MapReader orgs(ctx, f->value, f->keyMark(), f->path);
        if (orgs.valid() && orgs.fields().empty())
            ctx.warning(f->keyMark(), f->path, "no orgs: sfkafkad will have nothing to do");
        std::map<std::string, TopicUse> topics;
        for (const Field &entry : orgs.fields())
            readOrg(ctx, entry, defaults, topics, config);
    }
}

} // namespace

namespace {

// Where each document of a YAML stream starts (nothing else is kept).
class DocumentStarts : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> marks;
    void OnDocumentStart(const YAML::Mark &mark) override { marks.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark &, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark &, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark &, const std::string &, YAML::anchor_t, const std::string &) override {}
    void OnSequenceStart(const YAML::Mark &, const std::string &, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark &, const std::string &, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

} // namespace

LoadResult loadString(const std::string &yaml, const std::string &file_name, const Environment &env)
{
    Context ctx{ file_name, env, {}, {} };
    Config config;
    config.path = file_name;

    // yaml-cpp 0.7.0's LoadAll never returns when a document starts with a
    // stray ',' (it yields empty documents forever, without moving on; found
    // by fuzz/fuzz_config_loader). Load reads the first document; the event
    // parser then only looks for a second one.
    YAML::Node root;
    std::optional<YAML::Mark> second;
    try {
        root = YAML::Load(yaml);
        std::istringstream in(yaml);
        YAML::Parser parser(in);
        DocumentStarts starts;
        while (starts.marks.size() < 2 && parser.HandleNextDocument(starts)) {
        }
        if (starts.marks.size() >= 2)
            second = starts.marks[1];
    } catch (const YAML::Exception &e) {
        ctx.error(e.mark, "", "YAML syntax error: " + e.msg);
    }
    if (ctx.errors.empty()) {
        if (!root || root.IsNull()) {
            ctx.error(YAML::Mark::null_mark(), "", "the file is empty; it starts with version: 1");
        } else {
            if (second)
                ctx.error(*second, "", "only one YAML document is allowed");
            readRoot(ctx, root, config);
        }
    }

    LoadResult result;
    sortByPosition(ctx.errors);
    sortByPosition(ctx.warnings);
    result.errors = std::move(ctx.errors);
    result.warnings = std::move(ctx.warnings);
    if (result.errors.empty())
        result.config = std::move(config);
    return result;
}

LoadResult loadFile(const std::string &path, const Environment &env)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult result;
        Diagnostic d;
        d.file = path;
        d.message = std::string("cannot read the configuration: ") + std::strerror(errno);
        result.errors.push_back(std::move(d));
        return result;
    }
    std::ostringstream content;
    content << in.rdbuf();
    return loadString(content.str(), path, env);
}

std::string logLevelSpec(const Config &config)
{
    std::string spec = config.log_level;
    for (const auto &[module, level] : config.log_modules)
        spec += "," + module + "=" + level;
    return spec;
}

std::string summary(const Config &config)
{
    size_t channels = 0;
    for (const Org &org : config.orgs)
        channels += org.channels.size();
    auto count = [](size_t n, const char *one, const char *many) {
        return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    return "config OK: " + count(config.orgs.size(), "org", "orgs") + ", " +
           count(channels, "channel", "channels") + ", brokers " + config.kafka.brokers;
}

} // namespace sfk::config
