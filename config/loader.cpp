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

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <yaml-cpp/yaml.h>

#include "config/interpolate.h"
#include "config/librdkafka_check.h"
#include "config/validate.h"
#include "log/log.h"

namespace sfk::config {

namespace {

using Severity = Diagnostic::Severity;

const char *const kInlineSecret =
    "secrets must not be inline; use ${credential:...}, ${file:...} or ${env:...}";

std::string joinList(const std::vector<std::string> &items)
{
    std::string out;
    for (const std::string &item : items) {
        if (!out.empty())
            out += ", ";
        out += item;
    }
    return out;
}

const char *describe(const YAML::Node &node)
{
    switch (node.Type()) {
    case YAML::NodeType::Null:
        return "nothing";
    case YAML::NodeType::Scalar:
        return "a scalar";
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Map:
        return "a mapping";
    default:
        return "an undefined node";
    }
}

// The state of one load: where diagnostics go and what the loader may read.
struct Context {
    std::string file;
    const Environment &env;
    std::vector<Diagnostic> errors;
    std::vector<Diagnostic> warnings;

    void report(Severity severity, const YAML::Mark &mark, const std::string &path, std::string message)
    {
        Diagnostic d;
        d.file = file;
        if (!mark.is_null()) {
            d.line = mark.line + 1;
            d.column = mark.column + 1;
        }
        d.path = path;
        d.message = std::move(message);
        d.severity = severity;
        (severity == Severity::Error ? errors : warnings).push_back(std::move(d));
    }
    void error(const YAML::Mark &mark, const std::string &path, std::string message)
    {
        report(Severity::Error, mark, path, std::move(message));
    }
    void warning(const YAML::Mark &mark, const std::string &path, std::string message)
    {
        report(Severity::Warning, mark, path, std::move(message));
    }
};

// One key of a mapping, with its value.
struct Field {
    std::string key;
    YAML::Node keyNode;
    YAML::Node value;
    std::string path;

    YAML::Mark keyMark() const { return keyNode.Mark(); }
    // An empty value's own mark is that of the next token: point at the key.
    YAML::Mark valueMark() const { return value.IsNull() ? keyNode.Mark() : value.Mark(); }
};

// A mapping whose keys have been checked once: not a mapping, non-string
// keys, duplicate keys and (when `allowed` is not empty) unknown keys are
// reported here. An empty value (`state:`) reads as an empty mapping.
class MapReader {
public:
    MapReader(Context &ctx, const YAML::Node &node, const YAML::Mark &owner, std::string path,
              std::vector<std::string> allowed = {})
        : owner_(owner), path_(std::move(path))
    {
        if (node.IsNull())
            return;
        if (!node.IsMap()) {
            ctx.error(node.Mark(), path_, std::string("expected a mapping, found ") + describe(node));
            valid_ = false;
            return;
        }
        std::map<std::string, YAML::Mark> seen;
        for (auto it = node.begin(); it != node.end(); ++it) {
            YAML::Node key = it->first;
            if (!key.IsScalar()) {
                ctx.error(key.Mark(), path_, "keys must be plain strings");
                continue;
            }
            std::string name = key.Scalar();
            auto [prev, inserted] = seen.emplace(name, key.Mark());
            if (!inserted) {
                ctx.error(key.Mark(), joinPath(path_, name),
                          "duplicate key '" + name + "' (first defined at line " +
                              std::to_string(prev->second.line + 1) + ")");
                continue;
            }
            if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
                std::string message = "unknown key '" + name + "'";
                std::string close = closestMatch(name, allowed);
                if (!close.empty())
                    message += " (did you mean '" + close + "'?)";
                message += "; allowed keys: " + joinList(allowed);
                ctx.error(key.Mark(), joinPath(path_, name), message);
                continue;
            }
            fields_.push_back({ name, key, it->second, joinPath(path_, name) });
        }
    }

    bool valid() const { return valid_; }
    const std::vector<Field> &fields() const { return fields_; }
    const std::string &path() const { return path_; }
    const YAML::Mark &owner() const { return owner_; }

    const Field *find(std::string_view key) const
    {
        for (const Field &f : fields_)
            if (f.key == key)
                return &f;
        return nullptr;
    }

    // Reports a missing required key at the key that owns this mapping.
    const Field *require(Context &ctx, std::string_view key, const std::string &hint = {}) const
    {
        const Field *f = find(key);
        if (!f && valid_)
            ctx.error(owner_, path_, "missing required key '" + std::string(key) + "'" + hint);
        return f;
    }

private:
    YAML::Mark owner_;
    std::string path_;
    bool valid_ = true;
    std::vector<Field> fields_;
};

// ---------------------------------------------------------------- scalars

std::optional<std::string> rawScalar(Context &ctx, const Field &f, const char *what = "a string")
{
    if (f.value.IsScalar())
        return f.value.Scalar();
    if (f.value.IsNull())
        ctx.error(f.keyMark(), f.path, std::string("missing value: expected ") + what);
    else
        ctx.error(f.value.Mark(), f.path, std::string("expected ") + what + ", found " + describe(f.value));
    return std::nullopt;
}

// A non-secret string, references resolved.
std::optional<std::string> readString(Context &ctx, const Field &f, const char *what = "a string")
{
    std::optional<std::string> raw = rawScalar(ctx, f, what);
    if (!raw)
        return std::nullopt;
    Interpolation result = interpolate(*raw, ctx.env);
    for (const std::string &error : result.errors)
        ctx.error(f.valueMark(), f.path, error);
    if (!result.ok())
        return std::nullopt;
    return result.value;
}

std::optional<int64_t> readInteger(Context &ctx, const Field &f, int64_t min, int64_t max)
{
    std::optional<std::string> text = readString(ctx, f, "an integer");
    if (!text)
        return std::nullopt;
    int64_t value = 0;
    const char *begin = text->data();
    const char *end = begin + text->size();
    if (begin != end && *begin == '+')
        ++begin;
    auto [stop, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && stop == end && (value < min || value > max))) {
        ctx.error(f.valueMark(), f.path,
                  "'" + *text + "' is out of range: must be between " + std::to_string(min) + " and " +
                      std::to_string(max));
        return std::nullopt;
    }
    if (ec != std::errc() || stop != end || begin == end) {
        ctx.error(f.valueMark(), f.path, "expected an integer, found '" + *text + "'");
        return std::nullopt;
    }
    return value;
}

// Index of the value in `choices`, or nullopt (reported).
std::optional<size_t> readEnum(Context &ctx, const Field &f, const std::vector<std::string> &choices,
                               const std::string &hint = {})
{
    std::optional<std::string> text = readString(ctx, f, "one of the listed words");
    if (!text)
        return std::nullopt;
    auto it = std::find(choices.begin(), choices.end(), *text);
    if (it != choices.end())
        return static_cast<size_t>(it - choices.begin());
    std::string message = "'" + *text + "' is not one of: " + joinList(choices);
    std::string close = closestMatch(*text, choices);
    if (!close.empty())
        message += " (did you mean '" + close + "'?)";
    ctx.error(f.valueMark(), f.path, message + hint);
    return std::nullopt;
}

// A secret: must come from references. Inline text is an error, or only a
// warning when `inlineAllowed` (loopback test setups).
std::optional<Secret> readSecret(Context &ctx, const Field &f, bool inlineAllowed, const std::string &why)
{
    std::optional<std::string> raw = rawScalar(ctx, f, "a reference such as ${credential:NAME}");
    if (!raw)
        return std::nullopt;
    Interpolation result = interpolate(*raw, ctx.env);
    for (const std::string &error : result.errors)
        ctx.error(f.valueMark(), f.path, error);
    if (result.has_inline_text) {
        if (!inlineAllowed) {
            ctx.error(f.valueMark(), f.path, kInlineSecret);
            return std::nullopt;
        }
        ctx.warning(f.valueMark(), f.path, "inline secret accepted because " + why +
                                               "; outside tests use ${credential:...}, ${file:...} or ${env:...}");
    }
    if (!result.ok())
        return std::nullopt;
    for (const std::string &file : result.files) {
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH))) {
            char mode[8];
            std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
            ctx.warning(f.valueMark(), f.path,
                        "secret file " + file + " is readable by group or others (mode " + mode +
                            "); chmod 600 it");
        }
    }
    if (result.value.empty()) {
        ctx.error(f.valueMark(), f.path, "the secret is empty");
        return std::nullopt;
    }
    return Secret(std::move(result.value));
}

// ---------------------------------------------------------------- channels

struct ChannelDefaults {
    std::optional<std::string> topic;  // a template
    std::optional<StartPosition> start;
    std::optional<InvalidReplayPolicy> on_invalid_replay;
    std::optional<KeyPolicy> key;
};

const std::vector<std::string> kChannelKeys = { "topic", "start", "on_invalid_replay", "key" };

// Checks a topic template's placeholders; "" when fine.
std::string checkTopicTemplate(std::string_view tmpl)
{
    for (size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] == '}')
            return "unmatched '}' in topic template";
        if (tmpl[i] != '{')
            continue;
        size_t close = tmpl.find('}', i);
        if (close == std::string_view::npos)
            return "unterminated '{' in topic template";
        std::string_view name = tmpl.substr(i + 1, close - i - 1);
        if (name != "org" && name != "channel")
            return "unknown placeholder '{" + std::string(name) + "}' in topic template; use {org} and {channel}";
        i = close;
    }
    return {};
}

std::string expandTopic(std::string_view tmpl, const std::string &org, const std::string &channel)
{
    std::string out;
    for (size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl.substr(i).starts_with("{org}")) {
            out += org;
            i += 4;
        } else if (tmpl.substr(i).starts_with("{channel}")) {
            out += channelTopicPiece(channel);
            i += 8;
        } else {
            out += tmpl[i];
        }
    }
    return out;
}

std::optional<std::string> readTopicTemplate(Context &ctx, const Field &f)
{
    std::optional<std::string> text = readString(ctx, f, "a topic name or template");
    if (!text)
        return std::nullopt;
    std::string problem = checkTopicTemplate(*text);
    if (!problem.empty()) {
        ctx.error(f.valueMark(), f.path, problem);
        return std::nullopt;
    }
    // Placeholders expand to valid characters; everything else must already be.
    std::string literal = expandTopic(*text, "", "");
    for (char c : literal) {
        unsigned char u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) || c == '.' || c == '_' || c == '-')) {
            ctx.error(f.valueMark(), f.path,
                      "topic '" + *text + "' has the character '" + std::string(1, c) +
                          "'; Kafka topic names are made of [a-zA-Z0-9._-]");
            return std::nullopt;
        }
    }
    return text;
}

std::optional<StartPosition> readStart(Context &ctx, const Field &f)
{
    std::optional<std::string> text = readString(ctx, f, "latest, earliest or a replay id");
    if (!text)
        return std::nullopt;
    StartPosition start;
    if (*text == "latest") {
        start.kind = StartPosition::Kind::Latest;
        return start;
    }
    if (*text == "earliest") {
        start.kind = StartPosition::Kind::Earliest;
        return start;
    }
    int64_t id = 0;
    auto [stop, ec] = std::from_chars(text->data(), text->data() + text->size(), id);
    if (ec == std::errc() && stop == text->data() + text->size() && !text->empty()) {
        if (id == -1 || id == -2) {
            ctx.error(f.valueMark(), f.path,
                      "write " + std::string(id == -1 ? "latest" : "earliest") + " instead of " + *text);
            return std::nullopt;
        }
        if (id < 0) {
            ctx.error(f.valueMark(), f.path, "a replay id is not negative");
            return std::nullopt;
        }
        start.kind = StartPosition::Kind::ReplayId;
        start.replay_id = id;
        return start;
    }
    std::string message = "'" + *text + "' is not latest, earliest or a replay id (an integer)";
    std::string close = closestMatch(*text, { "latest", "earliest" });
    if (!close.empty())
        message += " (did you mean '" + close + "'?)";
    ctx.error(f.valueMark(), f.path, message);
    return std::nullopt;
}

std::optional<InvalidReplayPolicy> readInvalidReplay(Context &ctx, const Field &f)
{
    std::optional<size_t> index = readEnum(ctx, f, { "fail", "earliest", "latest" });
    if (!index)
        return std::nullopt;
    static constexpr InvalidReplayPolicy policies[] = { InvalidReplayPolicy::Fail, InvalidReplayPolicy::Earliest,
                                                        InvalidReplayPolicy::Latest };
    return policies[*index];
}

std::optional<KeyPolicy> readKey(Context &ctx, const Field &f)
{
    std::optional<std::string> text = readString(ctx, f, "record_id, channel, none or a JSON pointer");
    if (!text)
        return std::nullopt;
    KeyPolicy key;
    if (*text == "record_id") {
        key.kind = KeyPolicy::Kind::RecordId;
    } else if (*text == "channel") {
        key.kind = KeyPolicy::Kind::Channel;
    } else if (*text == "none") {
        key.kind = KeyPolicy::Kind::None;
    } else if (text->starts_with('/')) {
        std::string problem = checkJsonPointer(*text);
        if (!problem.empty()) {
            ctx.error(f.valueMark(), f.path, problem);
            return std::nullopt;
        }
        key.kind = KeyPolicy::Kind::Pointer;
        key.pointer = *text;
    } else {
        std::string message = "'" + *text + "' is not record_id, channel, none or a JSON pointer (/payload/Field)";
        std::string close = closestMatch(*text, { "record_id", "channel", "none" });
        if (!close.empty())
            message += " (did you mean '" + close + "'?)";
        ctx.error(f.valueMark(), f.path, message);
        return std::nullopt;
    }
    return key;
}

ChannelDefaults readDefaults(Context &ctx, const Field &f)
{
    ChannelDefaults defaults;
    MapReader map(ctx, f.value, f.keyMark(), f.path, kChannelKeys);
    if (const Field *t = map.find("topic"))
        defaults.topic = readTopicTemplate(ctx, *t);
    if (const Field *s = map.find("start"))
        defaults.start = readStart(ctx, *s);
    if (const Field *p = map.find("on_invalid_replay"))
        defaults.on_invalid_replay = readInvalidReplay(ctx, *p);
    if (const Field *k = map.find("key"))
        defaults.key = readKey(ctx, *k);
    return defaults;
}

// Where each topic came from, to warn when orgs share one.
struct TopicUse {
    std::string org;
    std::string channel;
};

void readChannels(Context &ctx, const Field &f, Org &org, const ChannelDefaults &defaults,
                  std::map<std::string, TopicUse> &topics)
{
    MapReader channels(ctx, f.value, f.keyMark(), f.path);
    if (!channels.valid())
        return;
    if (channels.fields().empty())
        ctx.warning(f.keyMark(), f.path, "no channels: this org will not be subscribed to anything");

    for (const Field &entry : channels.fields()) {
        Channel channel;
        channel.name = entry.key;
        bool ok = true;
        std::string problem = checkChannelName(entry.key);
        if (!problem.empty()) {
            ctx.error(entry.keyMark(), entry.path, "invalid channel '" + entry.key + "': " + problem);
            ok = false;
        }

        MapReader settings(ctx, entry.value, entry.keyMark(), entry.path, kChannelKeys);
        if (!settings.valid())
            continue;

        // Topic: the channel's own, else the defaults' template.
        std::optional<std::string> tmpl;
        YAML::Mark topicMark = entry.keyMark();
        std::string topicPath = joinPath(entry.path, "topic");
        std::string origin;
        if (const Field *t = settings.find("topic")) {
            tmpl = readTopicTemplate(ctx, *t);
            topicMark = t->valueMark();
            if (!tmpl)
                ok = false;
        } else if (defaults.topic) {
            tmpl = defaults.topic;
            origin = " (from defaults.topic)";
        } else {
            ctx.error(entry.keyMark(), entry.path,
                      "missing required key 'topic' (or set defaults.topic, e.g. \"sf.{org}.{channel}\")");
            ok = false;
        }
        if (tmpl) {
            channel.topic = expandTopic(*tmpl, org.name, channel.name);
            problem = checkTopicName(channel.topic);
            if (!problem.empty()) {
                ctx.error(topicMark, topicPath, "topic '" + channel.topic + "'" + origin + ": " + problem);
                ok = false;
            } else {
                auto [use, inserted] = topics.emplace(channel.topic, TopicUse{ org.name, channel.name });
                if (!inserted && use->second.org != org.name)
                    ctx.warning(topicMark, topicPath,
                                "topic '" + channel.topic + "' also receives channel " + use->second.channel +
                                    " of org '" + use->second.org +
                                    "'; both orgs' events share one topic (add {org} to the template to "
                                    "separate them)");
            }
        }

        if (const Field *s = settings.find("start")) {
            auto start = readStart(ctx, *s);
            ok = ok && start;
            if (start)
                channel.start = *start;
        } else if (defaults.start) {
            channel.start = *defaults.start;
        }
        if (const Field *p = settings.find("on_invalid_replay")) {
            auto policy = readInvalidReplay(ctx, *p);
            ok = ok && policy;
            if (policy)
                channel.on_invalid_replay = *policy;
        } else if (defaults.on_invalid_replay) {
            channel.on_invalid_replay = *defaults.on_invalid_replay;
        }
        if (const Field *k = settings.find("key")) {
            auto key = readKey(ctx, *k);
            ok = ok && key;
            if (key)
                channel.key = *key;
        } else if (defaults.key) {
            channel.key = *defaults.key;
        }
        if (ok)
            org.channels.push_back(std::move(channel));
    }
}

// ---------------------------------------------------------------- auth

struct FlowSpec {
    const char *name;
    AuthFlow flow;
    std::vector<std::string> required;
    std::vector<std::string> optional;
};

const std::vector<FlowSpec> &flowSpecs()
{
    static const std::vector<FlowSpec> specs = {
        { "password", AuthFlow::Password, { "client_id", "client_secret", "username", "password" }, {} },
        { "refresh_token", AuthFlow::RefreshToken, { "client_id", "refresh_token" }, { "client_secret" } },
        { "jwt_bearer", AuthFlow::JwtBearer, { "client_id", "username", "private_key" },
          { "private_key_passphrase", "audience" } },
        { "client_credentials", AuthFlow::ClientCredentials, { "client_id", "client_secret" }, {} },
    };
    return specs;
}

const std::vector<std::string> kAuthKeys = { "flow",     "client_id",     "client_secret", "username",
                                             "password", "refresh_token", "private_key",   "private_key_passphrase",
                                             "audience" };

bool isSecretKey(std::string_view key)
{
    return key == "client_secret" || key == "password" || key == "refresh_token" || key == "private_key" ||
           key == "private_key_passphrase";
}

int passphraseCallback(char *buf, int size, int, void *userdata)
{
    const auto *passphrase = static_cast<const std::string *>(userdata);
    if (!passphrase || passphrase->empty() || static_cast<int>(passphrase->size()) > size)
        return -1;
    std::memcpy(buf, passphrase->data(), passphrase->size());
    return static_cast<int>(passphrase->size());
}

// "" when the PEM parses as a private key; the message never shows the key.
std::string checkPrivateKey(const Secret &key, const Secret &passphrase)
{
    BIO *bio = BIO_new_mem_buf(key.reveal().data(), static_cast<int>(key.reveal().size()));
    if (!bio)
        return "cannot check private_key (out of memory)";
    std::string pass = passphrase.reveal();
    ERR_clear_error();
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, nullptr, passphraseCallback, &pass);
    BIO_free(bio);
    if (pkey) {
        EVP_PKEY_free(pkey);
        return {};
    }
    ERR_clear_error();
    if (key.reveal().find("-----BEGIN") == std::string::npos)
        return "private_key is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)";
    if (key.reveal().find("ENCRYPTED") != std::string::npos)
        return passphrase.empty() ? "private_key is encrypted: set private_key_passphrase"
                                  : "cannot decrypt private_key: wrong private_key_passphrase?";
    return "private_key is not a readable PEM private key";
}

void readAuth(Context &ctx, const Field &f, Org &org, bool loopback, bool &ok)
{
    MapReader map(ctx, f.value, f.keyMark(), f.path, kAuthKeys);
    if (!map.valid()) {
        ok = false;
        return;
    }
    std::vector<std::string> flowNames;
    for (const FlowSpec &spec : flowSpecs())
        flowNames.push_back(spec.name);

    const FlowSpec *spec = nullptr;
    if (const Field *flow = map.require(ctx, "flow", " (one of: " + joinList(flowNames) + ")")) {
        if (auto index = readEnum(ctx, *flow, flowNames))
            spec = &flowSpecs()[*index];
        if (spec && spec->flow == AuthFlow::Password)
            ctx.warning(flow->valueMark(), flow->path,
                        "the username-password flow is legacy and Salesforce is retiring it (orgs created "
                        "since Summer '26 cannot use it; enforcement everywhere is announced for February "
                        "2027): use jwt_bearer or client_credentials");
    }
    if (!spec) {
        ok = false;
        return;
    }
    org.auth.flow = spec->flow;

    // Keys that belong to another flow.
    for (const Field &field : map.fields()) {
        if (field.key == "flow")
            continue;
        bool allowed = std::count(spec->required.begin(), spec->required.end(), field.key) ||
                       std::count(spec->optional.begin(), spec->optional.end(), field.key);
        if (allowed)
            continue;
        std::vector<std::string> owners;
        for (const FlowSpec &other : flowSpecs())
            if (std::count(other.required.begin(), other.required.end(), field.key) ||
                std::count(other.optional.begin(), other.optional.end(), field.key))
                owners.push_back(other.name);
        std::vector<std::string> takes = spec->required;
        takes.insert(takes.end(), spec->optional.begin(), spec->optional.end());
        ctx.error(field.keyMark(), field.path,
                  "'" + field.key + "' is not used by the " + spec->name + " flow (it belongs to " +
                      joinList(owners) + "); " + spec->name + " takes: flow, " + joinList(takes));
        ok = false;
    }
    for (const std::string &key : spec->required) {
        if (!map.find(key)) {
            ctx.error(f.keyMark(), f.path,
                      "the " + std::string(spec->name) + " flow needs '" + key + "'" +
                          (isSecretKey(key) ? " (e.g. " + key + ": ${credential:" + org.name + "." + key + "})"
                                            : std::string()));
            ok = false;
        }
    }

    std::string why = "login_url is a loopback address";
    auto secret = [&](const char *key, Secret &out) {
        const Field *field = map.find(key);
        if (!field || !(std::count(spec->required.begin(), spec->required.end(), key) ||
                        std::count(spec->optional.begin(), spec->optional.end(), key)))
            return;
        if (auto value = readSecret(ctx, *field, loopback, why))
            out = std::move(*value);
        else
            ok = false;
    };
    auto plain = [&](const char *key, std::string &out) {
        const Field *field = map.find(key);
        if (!field || !(std::count(spec->required.begin(), spec->required.end(), key) ||
                        std::count(spec->optional.begin(), spec->optional.end(), key)))
            return;
        auto value = readString(ctx, *field);
        if (value && value->empty()) {
            ctx.error(field->valueMark(), field->path, "must not be empty");
            value.reset();
        }
        if (value)
            out = std::move(*value);
        else
            ok = false;
    };
    plain("client_id", org.auth.client_id);
    plain("username", org.auth.username);
    plain("audience", org.auth.audience);
    secret("client_secret", org.auth.client_secret);
    secret("password", org.auth.password);
    secret("refresh_token", org.auth.refresh_token);
    secret("private_key", org.auth.private_key);
    secret("private_key_passphrase", org.auth.private_key_passphrase);

    if (spec->flow == AuthFlow::JwtBearer && !org.auth.private_key.empty()) {
        std::string problem = checkPrivateKey(org.auth.private_key, org.auth.private_key_passphrase);
        if (!problem.empty()) {
            const Field *field = map.find("private_key");
            ctx.error(field->valueMark(), field->path, problem);
            ok = false;
        }
    }
    if (spec->flow == AuthFlow::JwtBearer && org.auth.audience.empty())
        org.auth.audience = org.login_url;
}

// ---------------------------------------------------------------- orgs

bool isOrgName(std::string_view name)
{
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
    });
}

const std::vector<std::string> kOrgKeys = { "login_url",           "api_version",        "ca_file", "proxy", "auth",
                                            "max_in_flight_events", "max_in_flight_bytes", "channels" };

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
        std::optional<std::string> text = readString(ctx, *f, "a file path");
        if (!text) {
            ok = false;
        } else if (!text->empty() && ::access(text->c_str(), R_OK) != 0) {
            ctx.error(f->valueMark(), f->path, "cannot read " + *text + ": " + std::strerror(errno));
            ok = false;
        } else {
            org.ca_file = *text;
        }
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

    if (const Field *f = map.require(ctx, "channels"))
        readChannels(ctx, *f, org, defaults, topics);
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

const std::vector<std::string> kRootKeys = { "version", "kafka", "state", "http", "log", "defaults", "orgs" };

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

LoadResult loadString(const std::string &yaml, const std::string &file_name, const Environment &env)
{
    Context ctx{ file_name, env, {}, {} };
    Config config;
    config.path = file_name;

    std::vector<YAML::Node> documents;
    try {
        documents = YAML::LoadAll(yaml);
    } catch (const YAML::Exception &e) {
        ctx.error(e.mark, "", "YAML syntax error: " + e.msg);
    }
    if (ctx.errors.empty()) {
        if (documents.empty() || documents[0].IsNull()) {
            ctx.error(YAML::Mark::null_mark(), "", "the file is empty; it starts with version: 1");
        } else {
            for (size_t i = 1; i < documents.size(); ++i)
                ctx.error(documents[i].Mark(), "", "only one YAML document is allowed");
            readRoot(ctx, documents[0], config);
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
