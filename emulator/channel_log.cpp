#include "channel_log.h"

#include <algorithm>

#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kDefaultUserId = "005000000000001AAA";

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool endsWith(std::string_view s, std::string_view p)
{
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// A stable 22-character schema id derived from the channel name.
std::string schemaFor(const std::string &channel)
{
    uint64_t a = 1469598103934665603ULL, b = 0x9e3779b97f4a7c15ULL;
    for (unsigned char c : channel) {
        a = (a ^ c) * 1099511628211ULL;
        b = (b + c) * 0xff51afd7ed558ccdULL;
        b ^= b >> 29;
    }
    std::string raw;
    for (int i = 0; i < 8; ++i)
        raw += static_cast<char>((a >> (8 * i)) & 0xff);
    for (int i = 0; i < 8; ++i)
        raw += static_cast<char>((b >> (8 * i)) & 0xff);
    return base64Url(raw).substr(0, 22);
}

std::string entityFor(const std::string &channel)
{
    std::string_view rest = std::string_view(channel).substr(6); // after "/data/"
    if (endsWith(rest, "__ChangeEvent"))
        return std::string(rest.substr(0, rest.size() - 13)) + "__c";
    if (endsWith(rest, "ChangeEvent") && rest.size() > 11)
        return std::string(rest.substr(0, rest.size() - 11));
    return "Account";
}

// Appends `"key":<raw value>` with a leading comma when needed.
void appendField(std::string &out, bool &first, std::string_view key, std::string_view raw)
{
    if (!first)
        out += ',';
    first = false;
    appendJsonString(out, key);
    out += ':';
    out += raw;
}

std::string fillerText(size_t n, std::mt19937_64 &rng)
{
    static constexpr std::string_view words = "abcdefghijklmnopqrstuvwxyz     ";
    std::string out(n, ' ');
    uint64_t bits = 0;
    int left = 0;
    for (auto &c : out) {
        if (left == 0) {
            bits = rng();
            left = 12;
        }
        c = words[(bits & 31) % words.size()];
        bits >>= 5;
        --left;
    }
    return out;
}

} // namespace

std::optional<Family> channelFamily(std::string_view channel)
{
    auto longer = [&](std::string_view p) { return startsWith(channel, p) && channel.size() > p.size(); };
    if (longer("/topic/")) return Family::Topic;
    if (longer("/u/")) return Family::Generic;
    if (longer("/event/")) return Family::Event;
    if (longer("/data/")) return Family::Data;
    return std::nullopt;
}

ChannelLog::ChannelLog(std::string name, Family family, int64_t retention_ms, int64_t max_events,
                       uint64_t seed)
    : name_(std::move(name)), family_(family), retention_ms_(retention_ms),
      max_events_(max_events), rng_(seed)
{
    schema_ = schemaFor(name_);
    quoted_name_ = jsonString(name_);
    if (family_ == Family::Data)
        entity_ = entityFor(name_);
}

int64_t ChannelLog::nextReplayId()
{
    // Increasing and deliberately not contiguous: steps of 1 to 3.
    last_replay_id_ += 1 + static_cast<int64_t>(rng_() % 3);
    return last_replay_id_;
}

std::string ChannelLog::renderPayload(const simdjson::dom::element &payload, int64_t replay_id,
                                      const std::string &uuid, int64_t now_ms, int64_t &time_ms)
{
    using simdjson::dom::element_type;
    std::string out;
    out.reserve(256);
    out += "{\"channel\":";
    out += quoted_name_;
    out += ",\"data\":{";
    time_ms = now_ms;

    switch (family_) {
    case Family::Topic: {
        if (payload.type() != element_type::OBJECT)
            throw PayloadError("a /topic/ event payload must be an object of sobject fields");
        simdjson::dom::object obj = payload.get_object();
        std::string type = "created";
        std::string_view type_view;
        if (obj["type"].get_string().get(type_view) == simdjson::SUCCESS)
            type = std::string(type_view);
        simdjson::dom::object sobject = obj;
        simdjson::dom::object nested;
        bool use_nested = obj["sobject"].get_object().get(nested) == simdjson::SUCCESS;
        if (use_nested)
            sobject = nested;
        std::string fields;
        bool first = true;
        bool has_id = false;
        for (auto field : sobject) {
            if (!use_nested && (field.key == "type" || field.key == "event"))
                continue;
            if (field.key == "Id")
                has_id = true;
            appendField(fields, first, field.key, simdjson::minify(field.value));
        }
        if (!has_id) {
            std::string id = jsonString(salesforceId("a00", ++record_counter_));
            fields = "\"Id\":" + id + (fields.empty() ? "" : ",") + fields;
        }
        out += "\"event\":{\"createdDate\":\"";
        out += isoTime(now_ms);
        out += "\",\"replayId\":";
        out += std::to_string(replay_id);
        out += ",\"type\":";
        appendJsonString(out, type);
        out += "},\"sobject\":{";
        out += fields;
        out += "}";
        break;
    }
    case Family::Generic: {
        std::string_view text;
        if (payload.get_string().get(text) != simdjson::SUCCESS) {
            simdjson::dom::object obj;
            if (payload.get_object().get(obj) != simdjson::SUCCESS ||
                obj["payload"].get_string().get(text) != simdjson::SUCCESS)
                throw PayloadError("a /u/ event payload must be a string");
        }
        out += "\"event\":{\"createdDate\":\"";
        out += isoTime(now_ms);
        out += "\",\"replayId\":";
        out += std::to_string(replay_id);
        out += "},\"payload\":";
        appendJsonString(out, text);
        break;
    }
    case Family::Event: {
        if (payload.type() != element_type::OBJECT)
            throw PayloadError("an /event/ event payload must be an object of fields");
        simdjson::dom::object obj = payload.get_object();
        std::string fields;
        bool first = true;
        std::string_view created;
        if (obj["CreatedDate"].get_string().get(created) == simdjson::SUCCESS) {
            if (auto t = parseIsoTime(created))
                time_ms = *t;
        } else {
            appendField(fields, first, "CreatedDate", "\"" + isoTime(now_ms) + "\"");
        }
        if (obj["CreatedById"].error() != simdjson::SUCCESS)
            appendField(fields, first, "CreatedById", jsonString(kDefaultUserId));
        for (auto field : obj)
            appendField(fields, first, field.key, simdjson::minify(field.value));
        out += "\"schema\":\"";
        out += schema_;
        out += "\",\"payload\":{";
        out += fields;
        out += "},\"event\":{\"EventUuid\":\"";
        out += uuid;
        out += "\",\"replayId\":";
        out += std::to_string(replay_id);
        out += "}";
        break;
    }
    case Family::Data: {
        if (payload.type() != element_type::OBJECT)
            throw PayloadError("a /data/ event payload must be an object (ChangeEventHeader and fields)");
        simdjson::dom::object obj = payload.get_object();
        simdjson::dom::object header;
        bool has_header = obj["ChangeEventHeader"].get_object().get(header) == simdjson::SUCCESS;
        if (!has_header && obj["ChangeEventHeader"].error() == simdjson::SUCCESS)
            throw PayloadError("ChangeEventHeader must be an object");
        auto given = [&](const char *key, std::string &raw) {
            simdjson::dom::element v;
            if (!has_header || header[key].get(v) != simdjson::SUCCESS)
                return false;
            raw = simdjson::minify(v);
            return true;
        };
        std::string h;
        bool first = true;
        std::string raw;
        static const char *known[] = {"entityName", "recordIds", "changeType", "changeOrigin",
                                      "transactionKey", "sequenceNumber", "commitTimestamp",
                                      "commitNumber", "commitUser", "changedFields"};
        appendField(h, first, "entityName", given("entityName", raw) ? raw : jsonString(entity_));
        if (!given("recordIds", raw)) {
            std::string prefix = entity_ == "Account" ? "001" : "a01";
            raw = "[" + jsonString(salesforceId(prefix, ++record_counter_)) + "]";
        }
        appendField(h, first, "recordIds", raw);
        appendField(h, first, "changeType", given("changeType", raw) ? raw : "\"UPDATE\"");
        appendField(h, first, "changeOrigin",
                    given("changeOrigin", raw) ? raw : "\"com/salesforce/api/rest/62.0\"");
        appendField(h, first, "transactionKey",
                    given("transactionKey", raw) ? raw : jsonString(uuid4(rng_)));
        appendField(h, first, "sequenceNumber", given("sequenceNumber", raw) ? raw : "1");
        int64_t commit_ts = now_ms;
        if (has_header && header["commitTimestamp"].get_int64().get(commit_ts) == simdjson::SUCCESS)
            time_ms = commit_ts;
        else
            commit_ts = now_ms;
        appendField(h, first, "commitTimestamp", std::to_string(commit_ts));
        appendField(h, first, "commitNumber",
                    given("commitNumber", raw) ? raw : std::to_string(++commit_number_));
        appendField(h, first, "commitUser",
                    given("commitUser", raw) ? raw : jsonString(kDefaultUserId));
        appendField(h, first, "changedFields", given("changedFields", raw) ? raw : "[]");
        if (has_header) {
            for (auto field : header) {
                bool is_known = false;
                for (auto k : known)
                    is_known = is_known || field.key == k;
                if (!is_known)
                    appendField(h, first, field.key, simdjson::minify(field.value));
            }
        }
        std::string fields;
        bool ffirst = true;
        appendField(fields, ffirst, "ChangeEventHeader", "{" + h + "}");
        for (auto field : obj)
            if (field.key != "ChangeEventHeader")
                appendField(fields, ffirst, field.key, simdjson::minify(field.value));
        out += "\"schema\":\"";
        out += schema_;
        out += "\",\"payload\":{";
        out += fields;
        out += "},\"event\":{\"replayId\":";
        out += std::to_string(replay_id);
        out += "}";
        break;
    }
    }
    out += "}}";
    return out;
}

int64_t ChannelLog::push(std::string json, std::string uuid, int64_t replay_id, int64_t time_ms,
                         int64_t now_ms)
{
    auto ev = std::make_shared<Event>();
    ev->replay_id = replay_id;
    ev->uuid = std::move(uuid);
    ev->time_ms = time_ms;
    ev->appended_ms = now_ms;
    ev->json = std::move(json);
    published_.push_back({replay_id, ev->uuid, time_ms});
    events_.push_back(std::move(ev));
    expire(now_ms);
    return replay_id;
}

int64_t ChannelLog::append(const simdjson::dom::element &payload, int64_t now_ms)
{
    std::string uuid = uuid4(rng_);
    int64_t saved_last = last_replay_id_;
    int64_t replay_id = nextReplayId();
    int64_t time_ms = now_ms;
    std::string json;
    try {
        json = renderPayload(payload, replay_id, uuid, now_ms, time_ms);
    } catch (...) {
        last_replay_id_ = saved_last;
        throw;
    }
    return push(std::move(json), std::move(uuid), replay_id, time_ms, now_ms);
}

int64_t ChannelLog::appendRaw(std::string message, int64_t now_ms)
{
    int64_t replay_id = nextReplayId();
    const std::string id = std::to_string(replay_id);
    for (size_t at = message.find("{replayId}"); at != std::string::npos; at = message.find("{replayId}", at))
        message.replace(at, 10, id);
    return push(std::move(message), uuid4(rng_), replay_id, now_ms, now_ms);
}

std::string ChannelLog::generatedPayload(uint64_t index, size_t filler, std::mt19937_64 &rng) const
{
    std::string text = fillerText(filler, rng);
    std::string out;
    switch (family_) {
    case Family::Topic:
        out = "{\"type\":\"";
        out += index % 4 == 0 ? "created" : "updated";
        out += "\",\"Id\":\"" + salesforceId("a00", 1000000 + index % 5000) + "\",";
        out += "\"Name\":\"GEN-" + std::to_string(index) + "\",\"Status__c\":\"Open\",";
        out += "\"Description__c\":\"" + text + "\"}";
        break;
    case Family::Generic:
        out = "\"" + text + "\"";
        break;
    case Family::Event:
        out = "{\"Sequence__c\":" + std::to_string(index) + ",\"Data__c\":\"" + text + "\"}";
        break;
    case Family::Data: {
        std::string prefix = entity_ == "Account" ? "001" : "a01";
        out = "{\"ChangeEventHeader\":{\"recordIds\":[\"" +
              salesforceId(prefix, 2000000 + index % 5000) + "\"],\"changeType\":\"" +
              (index % 4 == 0 ? "CREATE" : "UPDATE") +
              "\",\"changedFields\":[\"Name\",\"Description\"]},\"Name\":\"GEN-" +
              std::to_string(index) + "\",\"Description\":\"" + text + "\"}";
        break;
    }
    }
    return out;
}

int64_t ChannelLog::appendGenerated(uint64_t index, int64_t payload_bytes, std::mt19937_64 &rng,
                                    int64_t now_ms)
{
    // Measure the message size without filler once, then pad to the target.
    if (generated_overhead_ < 0 || generated_overhead_for_ != payload_bytes) {
        std::mt19937_64 probe(1);
        std::string text = generatedPayload(index, 0, probe);
        simdjson::dom::element el;
        if (parser_.parse(text).get(el) != simdjson::SUCCESS)
            throw PayloadError("internal: generated payload did not parse");
        int64_t t = 0;
        std::string json = renderPayload(el, last_replay_id_ + 1, uuid4(probe), now_ms, t);
        generated_overhead_ = static_cast<int64_t>(json.size()) + 4;
        generated_overhead_for_ = payload_bytes;
    }
    size_t filler = payload_bytes > generated_overhead_
                        ? static_cast<size_t>(payload_bytes - generated_overhead_)
                        : 0;
    std::string text = generatedPayload(index, filler, rng);
    simdjson::dom::element el;
    if (parser_.parse(text).get(el) != simdjson::SUCCESS)
        throw PayloadError("internal: generated payload did not parse");
    return append(el, now_ms);
}

void ChannelLog::expire(int64_t now_ms)
{
    while (!events_.empty() && events_.front()->appended_ms + retention_ms_ < now_ms)
        events_.pop_front();
    if (max_events_ > 0)
        while (events_.size() > static_cast<size_t>(max_events_))
            events_.pop_front();
}

void ChannelLog::purgeUpTo(int64_t replay_id)
{
    while (!events_.empty() && events_.front()->replay_id <= replay_id)
        events_.pop_front();
}

namespace {
struct ReplayLess {
    bool operator()(const EventPtr &e, int64_t id) const { return e->replay_id < id; }
    bool operator()(int64_t id, const EventPtr &e) const { return id < e->replay_id; }
};
} // namespace

bool ChannelLog::retains(int64_t replay_id) const
{
    auto it = std::lower_bound(events_.begin(), events_.end(), replay_id, ReplayLess{});
    return it != events_.end() && (*it)->replay_id == replay_id;
}

bool ChannelLog::hasAfter(int64_t after) const
{
    return !events_.empty() && events_.back()->replay_id > after;
}

size_t ChannelLog::collectAfter(int64_t after, size_t max, std::vector<EventPtr> &out) const
{
    auto it = std::upper_bound(events_.begin(), events_.end(), after, ReplayLess{});
    size_t n = 0;
    for (; it != events_.end() && n < max; ++it, ++n)
        out.push_back(*it);
    return n;
}

} // namespace sfk::emu
