#include "pubsub/event_values.h"

#include "decode/json_escape.h"
#include "pubsub/avro_json.h"

namespace sfk::pubsub {

namespace od = simdjson::ondemand;

namespace {

// A scalar as CometD's key extraction gives it: a string unescaped, a
// number or boolean as its JSON text; nullopt for anything else.
std::optional<std::string_view> scalarText(od::value v)
{
    od::json_type t;
    if (v.type().get(t))
        return std::nullopt;
    if (t == od::json_type::string) {
        std::string_view s;
        if (v.get_string().get(s))
            return std::nullopt;
        return s;
    }
    if (t == od::json_type::number || t == od::json_type::boolean) {
        std::string_view raw = v.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
            raw.remove_suffix(1);
        return raw;
    }
    return std::nullopt;
}

} // namespace

bool EventValues::build(const config::Channel &channel, const WriterSchema &schema,
                        const eventbus::v1::ConsumerEvent &ev, decode::Batch &batch, decode::Event &out,
                        std::string &error)
{
    const auto &pe = ev.event();
    const JsonMode mode =
        channel.value_format == config::ValueFormat::CometdCompatible ? JsonMode::CometdCompatible : JsonMode::Json;
    if (!decodeToJson(schema, pe.payload(), mode, json_, error))
        return false;
    out = decode::Event{};
    out.channel = channel.name;
    out.opaque_replay_id = ev.replay_id();
    out.event_uuid = pe.id();
    out.schema = pe.schema_id();
    readFields(channel, batch, out);

    switch (channel.value_format) {
    case config::ValueFormat::Json:
        out.data = batch.store(json_);
        break;
    case config::ValueFormat::CometdCompatible:
        value_.assign("{\"schema\":");
        decode::appendJsonString(value_, pe.schema_id());
        value_.append(",\"payload\":");
        value_.append(json_);
        if (channel.name.starts_with("/event/")) {
            value_.append(",\"event\":{\"EventUuid\":");
            decode::appendJsonString(value_, pe.id());
            value_.append("}}");
        } else {
            value_.append(",\"event\":{}}");
        }
        out.data = batch.store(value_);
        break;
    case config::ValueFormat::Avro:
        out.data = pe.payload();
        break;
    }
    return true;
}

void EventValues::readFields(const config::Channel &channel, decode::Batch &batch, decode::Event &out)
{
    const size_t size = json_.size();
    json_.reserve(size + simdjson::SIMDJSON_PADDING);
    const bool change = channel.name.starts_with("/data/");
    auto parse = [&](od::document &doc) { return !parser_.iterate(json_.data(), size, json_.capacity()).get(doc); };

    od::document doc;
    if (change && parse(doc)) {
        od::object header;
        if (!doc["ChangeEventHeader"].get_object().get(header)) {
            for (auto f : header) {
                std::string_view key;
                if (f.unescaped_key().get(key))
                    break;
                if (key == "changeType" || key == "entityName") {
                    std::string_view s;
                    if (!f.value().get_string().get(s))
                        (key == "changeType" ? out.change_type : out.entity) = batch.store(s);
                } else if (key == "commitTimestamp") {
                    int64_t ms;
                    if (!f.value().get_int64().get(ms)) {
                        out.timestamp_ms = ms;
                        out.created_date = batch.store(std::to_string(ms));
                    }
                } else if (key == "recordIds" && channel.key.kind == config::KeyPolicy::Kind::RecordId) {
                    od::array ids;
                    if (!f.value().get_array().get(ids))
                        for (auto id : ids) {
                            std::string_view s;
                            if (!id.get_string().get(s))
                                out.key = batch.store(s);
                            break;
                        }
                }
            }
        }
    } else if (!change && parse(doc)) {
        od::value created;
        if (!doc["CreatedDate"].get(created)) {
            od::json_type t;
            int64_t ms;
            std::string_view s;
            if (!created.type().get(t) && t == od::json_type::number && !created.get_int64().get(ms)) {
                out.timestamp_ms = ms;
                std::string iso;
                if (appendIsoTime(iso, ms))
                    out.created_date = batch.store(iso);
            } else if (!created.get_string().get(s)) {
                out.created_date = batch.store(s);
                out.timestamp_ms = decode::parseIsoDateMs(s);
            }
        }
    }

    switch (channel.key.kind) {
    case config::KeyPolicy::Kind::RecordId:
        break;   // CDC: above; platform events have none
    case config::KeyPolicy::Kind::Channel:
        out.key = channel.name;
        break;
    case config::KeyPolicy::Kind::None:
        out.key.reset();
        break;
    case config::KeyPolicy::Kind::Pointer: {
        // Pointers name fields of CometD's data object: /payload/... is the record.
        std::string_view pointer = channel.key.pointer;
        if (!pointer.starts_with("/payload/") || !parse(doc))
            break;
        od::value v;
        if (!doc.at_pointer(pointer.substr(8)).get(v))
            if (auto text = scalarText(v))
                out.key = batch.store(*text);
        break;
    }
    }
}

} // namespace sfk::pubsub
