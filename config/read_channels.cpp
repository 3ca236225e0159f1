// The config loader: an org's channels and the channel defaults
// (config/loader_parts.h).
#include <algorithm>
#include <charconv>
#include <set>

#include "config/loader_parts.h"
#include "config/validate.h"

namespace sfk::config::load {

namespace {


const std::vector<std::string> kChannelKeys = { "topic", "start", "on_invalid_replay", "key",
                                                "dead_letter_topic", "transport", "value_format",
                                                "on_transport_switch" };

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

std::optional<ValueFormat> readValueFormat(Context &ctx, const Field &f)
{
    std::optional<size_t> index = readEnum(ctx, f, { "json", "cometd_compatible", "avro" });
    if (!index)
        return std::nullopt;
    static constexpr ValueFormat formats[] = { ValueFormat::Json, ValueFormat::CometdCompatible, ValueFormat::Avro };
    return formats[*index];
}

std::optional<TransportSwitchPolicy> readTransportSwitch(Context &ctx, const Field &f)
{
    std::optional<size_t> index = readEnum(ctx, f, { "earliest", "latest", "fail" });
    if (!index)
        return std::nullopt;
    static constexpr TransportSwitchPolicy policies[] = { TransportSwitchPolicy::Earliest,
                                                          TransportSwitchPolicy::Latest, TransportSwitchPolicy::Fail };
    return policies[*index];
}

// A channel's setting: its own value, else the default's, else the
// built-in one already in `out`. False when its own value is invalid.
template <typename T, typename Read>
bool readSetting(Context &ctx, const MapReader &settings, std::string_view key, const std::optional<T> &fallback,
                 Read read, T &out)
{
    if (const Field *f = settings.find(key)) {
        std::optional<T> value = read(ctx, *f);
        if (value)
            out = *value;
        return value.has_value();
    }
    if (fallback)
        out = *fallback;
    return true;
}

// transport, value_format and on_transport_switch; false on an error.
bool readTransportSettings(Context &ctx, const MapReader &settings, const Field &entry,
                           const ChannelDefaults &defaults, std::optional<Transport> orgTransport, Channel &channel)
{
    bool ok = true;
    const Field *own = settings.find("transport");
    if (own) {
        auto t = readTransport(ctx, *own);
        if (!t)
            return false;
        channel.transport = *t;
    } else if (orgTransport) {
        channel.transport = *orgTransport;
    } else if (defaults.transport) {
        channel.transport = *defaults.transport;
    }
    const bool cometdOnly = channel.name.starts_with("/topic/") || channel.name.starts_with("/u/");
    if (channel.transport == Transport::Pubsub && cometdOnly) {
        // Only an explicit setting on the channel is an error; an inherited
        // pubsub leaves PushTopics and generic channels on CometD.
        if (own) {
            ctx.error(own->valueMark(), own->path,
                      "channel " + channel.name + " cannot use transport pubsub: Salesforce serves " +
                          (channel.name.starts_with("/topic/") ? "PushTopic (/topic/)" : "generic streaming (/u/)") +
                          " channels over CometD only; the Pub/Sub API carries /event/ and /data/ channels");
            return false;
        }
        channel.transport = Transport::Cometd;
    }
    ok &= readSetting(ctx, settings, "value_format", defaults.value_format, readValueFormat, channel.value_format);
    if (const Field *v = settings.find("value_format"); v && ok && channel.transport == Transport::Cometd) {
        ctx.error(v->valueMark(), v->path,
                  "value_format applies to Pub/Sub channels; " + channel.name +
                      " uses transport cometd (set transport: pubsub, or remove value_format)");
        ok = false;
    }
    ok &= readSetting(ctx, settings, "on_transport_switch", defaults.on_transport_switch, readTransportSwitch,
                      channel.on_transport_switch);
    if (channel.transport == Transport::Pubsub && channel.start.kind == StartPosition::Kind::ReplayId) {
        const Field *s = settings.find("start");
        ctx.error(s ? s->valueMark() : entry.keyMark(), joinPath(entry.path, "start"),
                  "a numeric start replay id is a CometD position; a Pub/Sub channel starts at latest or "
                  "earliest (or where `sfkafkad replay set` puts it)");
        ok = false;
    }
    return ok;
}

} // namespace

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
    if (const Field *d = map.find("dead_letter_topic"))
        defaults.dead_letter_topic = readTopicTemplate(ctx, *d);
    if (const Field *t = map.find("transport"))
        defaults.transport = readTransport(ctx, *t);
    if (const Field *v = map.find("value_format"))
        defaults.value_format = readValueFormat(ctx, *v);
    if (const Field *p = map.find("on_transport_switch"))
        defaults.on_transport_switch = readTransportSwitch(ctx, *p);
    return defaults;
}


std::optional<Transport> readTransport(Context &ctx, const Field &f)
{
    std::optional<size_t> index = readEnum(ctx, f, { "cometd", "pubsub" });
    if (!index)
        return std::nullopt;
    return *index == 0 ? Transport::Cometd : Transport::Pubsub;
}

void readChannels(Context &ctx, const Field &f, Org &org, const ChannelDefaults &defaults,
                  std::optional<Transport> orgTransport, std::map<std::string, TopicUse> &topics)
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

        ok &= readSetting(ctx, settings, "start", defaults.start, readStart, channel.start);
        ok &= readSetting(ctx, settings, "on_invalid_replay", defaults.on_invalid_replay, readInvalidReplay,
                          channel.on_invalid_replay);
        ok &= readSetting(ctx, settings, "key", defaults.key, readKey, channel.key);
        {
            const Field *d = settings.find("dead_letter_topic");
            std::optional<std::string> dlt = d ? readTopicTemplate(ctx, *d) : defaults.dead_letter_topic;
            if (d && !dlt)
                ok = false;
            if (dlt) {
                channel.dead_letter_topic = expandTopic(*dlt, org.name, channel.name);
                problem = checkTopicName(channel.dead_letter_topic);
                if (!problem.empty()) {
                    ctx.error(d ? d->valueMark() : entry.keyMark(), joinPath(entry.path, "dead_letter_topic"),
                              "dead_letter_topic '" + channel.dead_letter_topic + "'" +
                                  (d ? "" : " (from defaults.dead_letter_topic)") + ": " + problem);
                    ok = false;
                }
            }
        }
        ok &= readTransportSettings(ctx, settings, entry, defaults, orgTransport, channel);
        if (ok)
            org.channels.push_back(std::move(channel));
    }
}

} // namespace sfk::config::load
