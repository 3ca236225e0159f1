#include "decode/batch_decoder.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include <cstring>

#include <simdjson.h>

namespace sfk::decode {

namespace od = simdjson::ondemand;

// SIMDJSON_TRY is a bare block: it breaks if/else chains.
#define SFK_TRY(expr)                 \
    do {                              \
        error_code err_ = (expr);     \
        if (err_)                     \
            return err_;              \
    } while (0)
using simdjson::error_code;

static_assert(BatchDecoder::kPadding >= simdjson::SIMDJSON_PADDING,
              "kPadding must cover simdjson's padding");

namespace {

constexpr size_t kChunkSize = 16 * 1024;

bool isSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trimRight(std::string_view s)
{
    while (!s.empty() && isSpace(s.back()))
        s.remove_suffix(1);
    return s;
}

bool hasBackslash(std::string_view s)
{
    return !s.empty() && std::memchr(s.data(), '\\', s.size()) != nullptr;
}

enum class Family { Topic, Generic, Platform, ChangeData, Other };

Family familyOf(std::string_view channel)
{
    if (channel.starts_with("/topic/"))
        return Family::Topic;
    if (channel.starts_with("/u/"))
        return Family::Generic;
    if (channel.starts_with("/event/"))
        return Family::Platform;
    if (channel.starts_with("/data/"))
        return Family::ChangeData;
    return Family::Other;
}

// What the walk over an event's data object picked up, for every family
// (the channel may come after data in the message).
struct Fields {
    bool has_replay = false;
    bool replay_not_integer = false;
    int64_t replay_id = 0;
    std::string_view event_created, event_type, event_uuid, schema;
    std::string_view sobject_id, payload_created;
    std::string_view change_type, entity, commit_text, record_id;
    std::optional<int64_t> commit_ts;
};

int64_t daysFromCivil(int64_t y, int64_t m, int64_t d)
{
    // Days since 1970-01-01 in the proleptic Gregorian calendar; years are
    // counted from March so that the leap day is the last day of a year.
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yearOfEra = y - era * 400;
    const int64_t shiftedMonth = m > 2 ? m - 3 : m + 9;
    const int64_t dayOfYear = (153 * shiftedMonth + 2) / 5 + d - 1;
    const int64_t dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
    return era * 146097 + dayOfEra - 719468;
}

bool digits(std::string_view s, size_t pos, size_t n, int &out)
{
    if (pos + n > s.size())
        return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

} // namespace

std::optional<int64_t> parseIsoDateMs(std::string_view s)
{
    int year, month, day, hour, minute, second;
    if (!digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, month) ||
        s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
        !digits(s, 17, 2, second))
        return std::nullopt;
    static constexpr int kDays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || hour > 23 ||
        minute > 59 || second > 60)
        return std::nullopt;
    if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return std::nullopt;

    size_t pos = 19;
    int millis = 0;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        size_t n = 0;
        for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n) {
            if (n < 3)
                millis = millis * 10 + (s[pos] - '0');
        }
        if (n == 0)
            return std::nullopt;
        for (; n < 3; ++n)
            millis *= 10;
    }

    int64_t offsetMinutes = 0;
    if (pos < s.size()) {
        const char c = s[pos];
        if (c == 'Z' || c == 'z') {
            ++pos;
        } else if (c == '+' || c == '-') {
            int oh, om;
            if (!digits(s, pos + 1, 2, oh))
                return std::nullopt;
            pos += 3;
            if (pos < s.size() && s[pos] == ':')
                ++pos;
            if (!digits(s, pos, 2, om) || oh > 23 || om > 59)
                return std::nullopt;
            pos += 2;
            offsetMinutes = (c == '+' ? 1 : -1) * (oh * 60 + om);
        } else {
            return std::nullopt;
        }
    }
    if (pos != s.size())
        return std::nullopt;

    const int64_t days = daysFromCivil(year, month, day);
    const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
    return secs * 1000 + millis;
}

/* Batch */

void Batch::clear()
{
    meta.clear();
    events.clear();
    undecodable.clear();
    for (Chunk &c : chunks_)
        c.used = 0;
    current_ = 0;
}

void Batch::trim()
{
    // Only when the batch just decoded used a small part of what a burst
    // grew: steady small replies then stop holding a burst's memory.
    if (events.capacity() > 1024 && events.size() * 4 < events.capacity())
        std::vector<Event>().swap(events);
    size_t used = 0;
    for (const Chunk &c : chunks_)
        used += c.used ? 1 : 0;
    if (chunks_.size() > 4 && used * 4 < chunks_.size())
        chunks_.resize(std::max<size_t>(used, 1));
}

std::string_view Batch::store(std::string_view s)
{
    if (s.empty())
        return {};
    while (current_ < chunks_.size() && chunks_[current_].size - chunks_[current_].used < s.size())
        ++current_;
    if (current_ == chunks_.size()) {
        const size_t n = std::max(kChunkSize, s.size());
        chunks_.push_back(Chunk{ std::make_unique_for_overwrite<char[]>(n), n, 0 });
    }
    Chunk &c = chunks_[current_];
    char *p = c.data.get() + c.used;
    std::memcpy(p, s.data(), s.size());
    c.used += s.size();
    return { p, s.size() };
}

/* BatchDecoder */

// simdjson parsers keep buffers sized to the largest document they saw
// (about five bytes per input byte). One per org session added up with many
// orgs, so sessions borrow one for the length of a decode from a pool no
// larger than the number of cores (decoding is CPU-bound: more could not run
// at once anyway).
struct Parsers {
    od::parser parser;
    od::parser pointerParser;   // only for KeyPolicy::Pointer
    od::document doc;
};

class ParserPool {
public:
    static ParserPool &instance()
    {
        static ParserPool pool(std::max(2u, std::thread::hardware_concurrency()));
        return pool;
    }

    Parsers *acquire()
    {
        std::unique_lock lock(mutex_);
        available_.wait(lock, [this] { return !free_.empty() || created_ < limit_; });
        if (free_.empty()) {
            ++created_;
            owned_.push_back(std::make_unique<Parsers>());
            return owned_.back().get();
        }
        Parsers *p = free_.back();
        free_.pop_back();
        return p;
    }

    void release(Parsers *p)
    {
        {
            std::lock_guard lock(mutex_);
            free_.push_back(p);
        }
        available_.notify_one();
    }

private:
    explicit ParserPool(size_t limit) : limit_(limit) {}
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<Parsers>> owned_;
    std::vector<Parsers *> free_;
    size_t created_ = 0;
    const size_t limit_;
};

struct BatchDecoder::Impl {
    Parsers *p = nullptr;       // borrowed from the pool during decode()
    Batch *batch = nullptr;
    std::string what;           // semantic error of the current message
    bool broken = false;        // the current message is not valid JSON
    std::string_view failedChannel;          // what the failed message revealed
    std::optional<int64_t> failedReplay;

    // Key policy cache: batches usually carry one or a few channels.
    std::string_view cachedChannel;
    const config::KeyPolicy *cachedPolicy = nullptr;
    bool cacheValid = false;

    bool decode(std::string_view body, Batch &out, std::string &error, const KeyLookup &keys);
    bool decodeMessage(od::object &message, const KeyLookup &keys);
    error_code validateObject(od::object &o);
    bool readChannel(od::value &v, std::string_view &channel);
    bool decodeMeta(od::object &message, std::string_view channel);
    bool decodeEvent(od::object &message, std::string_view channel, const KeyLookup &keys);

    bool jsonError(error_code e, const char *where);

    error_code readKey(od::field &f, std::string_view &key);
    error_code readString(od::value &v, std::string_view &out);
    error_code optString(od::value &v, std::string_view &out);
    error_code optString(od::value &v, std::string &out);
    error_code optInteger(od::value &v, std::optional<int64_t> &out);
    error_code validate(od::value &v);

    error_code walkData(od::object &data, Fields &f);
    error_code walkEventInfo(od::value &v, Fields &f);
    error_code walkSObject(od::value &v, Fields &f);
    error_code walkPayload(od::value &v, Fields &f);
    error_code walkChangeHeader(od::value &v, Fields &f);

    const config::KeyPolicy *policyFor(std::string_view channel, const KeyLookup &keys);
    std::optional<std::string_view> pointerKey(std::string_view data, const std::string &pointer);
};

bool BatchDecoder::Impl::jsonError(error_code e, const char *where)
{
    broken = true;
    what = std::string("invalid JSON in ") + where + " (" + simdjson::error_message(e) + ")";
    return false;
}

// A field's key: a view into the input when it has no escapes, else the
// unescaped text (in the parser's string buffer, valid during this decode).
error_code BatchDecoder::Impl::readKey(od::field &f, std::string_view &key)
{
    const char *start = f.key().raw();
    const char *p = start;
    while (*p != '"' && *p != '\\')
        ++p;
    if (*p == '"') {
        key = std::string_view(start, static_cast<size_t>(p - start));
        return simdjson::SUCCESS;
    }
    return f.unescaped_key().get(key);
}

// A string value: a view into the input when it has no escapes, else the
// unescaped text copied into the batch's storage.
error_code BatchDecoder::Impl::readString(od::value &v, std::string_view &out)
{
    const std::string_view token = trimRight(v.raw_json_token());
    if (token.size() < 2 || token.front() != '"' || token.back() != '"')
        return simdjson::INCORRECT_TYPE;
    const std::string_view inner = token.substr(1, token.size() - 2);
    if (!hasBackslash(inner)) {
        out = inner;
        return simdjson::SUCCESS;
    }
    std::string_view unescaped;
    SFK_TRY(v.get_string().get(unescaped));
    out = batch->store(unescaped);
    return simdjson::SUCCESS;
}

// A string if it is one; any other (valid) value leaves `out` untouched.
error_code BatchDecoder::Impl::optString(od::value &v, std::string_view &out)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t == od::json_type::string)
        return readString(v, out);
    return validate(v);
}

error_code BatchDecoder::Impl::optString(od::value &v, std::string &out)
{
    std::string_view s;
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t == od::json_type::number) {
        // Message ids are strings, but some clients send numbers.
        od::number n;
        SFK_TRY(v.get_number().get(n));
        s = trimRight(v.raw_json_token());
    } else {
        SFK_TRY(optString(v, s));
    }
    out.assign(s);
    return simdjson::SUCCESS;
}

error_code BatchDecoder::Impl::optInteger(od::value &v, std::optional<int64_t> &out)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t != od::json_type::number)
        return validate(v);
    od::number n;
    SFK_TRY(v.get_number().get(n));
    // Advice durations (ms): beyond a day is not advice a session can act
    // on (and would overflow its clock arithmetic); such values, like 1e300
    // whose conversion to an integer is undefined, stay absent. Found by
    // fuzz/fuzz_bayeux_meta.
    constexpr double kMaxAdviceMs = 24.0 * 3600 * 1000;
    const double ms = n.is_int64() ? static_cast<double>(n.get_int64())
                    : n.is_double() ? n.get_double() : -1;
    if (ms >= 0 && ms <= kMaxAdviceMs)
        out = n.is_int64() ? n.get_int64() : static_cast<int64_t>(ms);
    return simdjson::SUCCESS;
}

// Walks a value completely so that every error in it surfaces (on-demand
// only checks what it is asked for).
error_code BatchDecoder::Impl::validate(od::value &v)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    switch (t) {
    case od::json_type::object: {
        od::object o;
        SFK_TRY(v.get_object().get(o));
        return validateObject(o);
    }
    case od::json_type::array: {
        od::array a;
        SFK_TRY(v.get_array().get(a));
        for (auto r : a) {
            od::value e;
            SFK_TRY(std::move(r).get(e));
            SFK_TRY(validate(e));
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::string: {
        // Without a backslash, stage 1 has already checked everything
        // (UTF-8, the closing quote); escapes need the full parse.
        if (!hasBackslash(v.raw_json_token()))
            return simdjson::SUCCESS;
        std::string_view s;
        return v.get_string().get(s);
    }
    case od::json_type::number: {
        od::number n;
        return v.get_number().get(n);
    }
    case od::json_type::boolean: {
        bool b;
        return v.get_bool().get(b);
    }
    case od::json_type::null: {
        bool isNull;
        SFK_TRY(v.is_null().get(isNull));
        return isNull ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
    }
    return simdjson::TAPE_ERROR;
}

error_code BatchDecoder::Impl::validateObject(od::object &o)
{
    for (auto r : o) {
        od::field f;
        SFK_TRY(std::move(r).get(f));
        std::string_view key;
        SFK_TRY(readKey(f, key));
        SFK_TRY(validate(f.value()));
    }
    return simdjson::SUCCESS;
}

error_code BatchDecoder::Impl::walkData(od::object &data, Fields &f)
{
    for (auto r : data) {
        od::field field;
        SFK_TRY(std::move(r).get(field));
        std::string_view key;
        SFK_TRY(readKey(field, key));
        od::value &v = field.value();
        if (key == "event")
            SFK_TRY(walkEventInfo(v, f));
        else if (key == "payload")
            SFK_TRY(walkPayload(v, f));
        else if (key == "sobject")
            SFK_TRY(walkSObject(v, f));
        else if (key == "schema")
            SFK_TRY(optString(v, f.schema));
        else
            SFK_TRY(validate(v));
    }
    return simdjson::SUCCESS;
}

error_code BatchDecoder::Impl::walkEventInfo(od::value &v, Fields &f)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t != od::json_type::object)
        return validate(v);
    od::object o;
    SFK_TRY(v.get_object().get(o));
    for (auto r : o) {
        od::field field;
        SFK_TRY(std::move(r).get(field));
        std::string_view key;
        SFK_TRY(readKey(field, key));
        od::value &fv = field.value();
        if (key == "replayId") {
            SFK_TRY(fv.type().get(t));
            if (t != od::json_type::number) {
                f.replay_not_integer = true;
                SFK_TRY(validate(fv));
                continue;
            }
            od::number n;
            SFK_TRY(fv.get_number().get(n));
            if (n.is_int64()) {
                f.has_replay = true;
                f.replay_id = n.get_int64();
            } else {
                f.replay_not_integer = true;
            }
        } else if (key == "createdDate") {
            SFK_TRY(optString(fv, f.event_created));
        } else if (key == "EventUuid") {
            SFK_TRY(optString(fv, f.event_uuid));
        } else if (key == "type") {
            SFK_TRY(optString(fv, f.event_type));
        } else {
            SFK_TRY(validate(fv));
        }
    }
    return simdjson::SUCCESS;
}

error_code BatchDecoder::Impl::walkSObject(od::value &v, Fields &f)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t != od::json_type::object)
        return validate(v);
    od::object o;
    SFK_TRY(v.get_object().get(o));
    for (auto r : o) {
        od::field field;
        SFK_TRY(std::move(r).get(field));
        std::string_view key;
        SFK_TRY(readKey(field, key));
        if (key == "Id")
            SFK_TRY(optString(field.value(), f.sobject_id));
        else
            SFK_TRY(validate(field.value()));
    }
    return simdjson::SUCCESS;
}

error_code BatchDecoder::Impl::walkPayload(od::value &v, Fields &f)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t != od::json_type::object)
        return validate(v);   // generic streaming: a string
    od::object o;
    SFK_TRY(v.get_object().get(o));
    for (auto r : o) {
        od::field field;
        SFK_TRY(std::move(r).get(field));
        std::string_view key;
        SFK_TRY(readKey(field, key));
        if (key == "ChangeEventHeader")
            SFK_TRY(walkChangeHeader(field.value(), f));
        else if (key == "CreatedDate")
            SFK_TRY(optString(field.value(), f.payload_created));
        else
            SFK_TRY(validate(field.value()));
    }
    return simdjson::SUCCESS;
}

error_code BatchDecoder::Impl::walkChangeHeader(od::value &v, Fields &f)
{
    od::json_type t;
    SFK_TRY(v.type().get(t));
    if (t != od::json_type::object)
        return validate(v);
    od::object o;
    SFK_TRY(v.get_object().get(o));
    for (auto r : o) {
        od::field field;
        SFK_TRY(std::move(r).get(field));
        std::string_view key;
        SFK_TRY(readKey(field, key));
        od::value &fv = field.value();
        if (key == "commitTimestamp") {
            SFK_TRY(fv.type().get(t));
            if (t != od::json_type::number) {
                SFK_TRY(validate(fv));
                continue;
            }
            const std::string_view text = trimRight(fv.raw_json_token());
            od::number n;
            SFK_TRY(fv.get_number().get(n));
            if (n.is_int64()) {
                f.commit_ts = n.get_int64();
                f.commit_text = text;
            }
        } else if (key == "recordIds") {
            SFK_TRY(fv.type().get(t));
            if (t != od::json_type::array) {
                SFK_TRY(validate(fv));
                continue;
            }
            od::array a;
            SFK_TRY(fv.get_array().get(a));
            bool first = true;
            for (auto er : a) {
                od::value e;
                SFK_TRY(std::move(er).get(e));
                if (first)
                    SFK_TRY(optString(e, f.record_id));
                else
                    SFK_TRY(validate(e));
                first = false;
            }
        } else if (key == "changeType") {
            SFK_TRY(optString(fv, f.change_type));
        } else if (key == "entityName") {
            SFK_TRY(optString(fv, f.entity));
        } else {
            SFK_TRY(validate(fv));
        }
    }
    return simdjson::SUCCESS;
}

const config::KeyPolicy *BatchDecoder::Impl::policyFor(std::string_view channel,
                                                       const KeyLookup &keys)
{
    if (!keys)
        return nullptr;
    if (!cacheValid || cachedChannel != channel) {
        cachedPolicy = keys(channel);
        cachedChannel = channel;
        cacheValid = true;
    }
    return cachedPolicy;
}

// Looks up an RFC 6901 pointer in an event's (already validated) data
// object with a second, small on-demand parse of just those bytes.
std::optional<std::string_view> BatchDecoder::Impl::pointerKey(std::string_view data,
                                                               const std::string &pointer)
{
    // The body's own tail and padding follow `data`, so the padding
    // requirement holds for the slice too.
    od::document pdoc;
    if (p->pointerParser.iterate(data.data(), data.size(), data.size() + kPadding).get(pdoc))
        return std::nullopt;
    od::value v;
    if (pdoc.at_pointer(pointer).get(v))
        return std::nullopt;
    od::json_type t;
    if (v.type().get(t))
        return std::nullopt;
    switch (t) {
    case od::json_type::string: {
        std::string_view s;
        if (readString(v, s))
            return std::nullopt;
        return s;
    }
    case od::json_type::number:
    case od::json_type::boolean:
        return trimRight(v.raw_json_token());
    default:
        return std::nullopt;
    }
}

bool BatchDecoder::Impl::decodeMeta(od::object &message, std::string_view channel)
{
    MetaMessage &m = batch->meta.emplace_back();
    m.channel.assign(channel);
    for (auto r : message) {
        od::field field;
        if (auto e = std::move(r).get(field))
            return jsonError(e, "message");
        std::string_view key;
        if (auto e = readKey(field, key))
            return jsonError(e, "message");
        od::value &v = field.value();
        error_code e = simdjson::SUCCESS;
        if (key == "channel") {
            continue;   // already read
        } else if (key == "id") {
            e = optString(v, m.id);
        } else if (key == "clientId") {
            e = optString(v, m.client_id);
        } else if (key == "error") {
            e = optString(v, m.error);
        } else if (key == "subscription") {
            e = optString(v, m.subscription);
        } else if (key == "successful") {
            od::json_type t;
            e = v.type().get(t);
            if (!e && t == od::json_type::boolean) {
                bool b;
                e = v.get_bool().get(b);
                if (!e)
                    m.successful = b;
            } else if (!e) {
                e = validate(v);
            }
        } else if (key == "advice") {
            od::json_type t;
            e = v.type().get(t);
            if (!e && t == od::json_type::object) {
                od::object o;
                e = v.get_object().get(o);
                for (auto ar : o) {
                    if (e)
                        break;
                    od::field af;
                    std::string_view ak;
                    if ((e = std::move(ar).get(af)) || (e = readKey(af, ak)))
                        break;
                    if (ak == "reconnect") {
                        std::string s;
                        e = optString(af.value(), s);
                        if (!e && !s.empty())
                            m.advice.reconnect = std::move(s);
                    } else if (ak == "interval") {
                        e = optInteger(af.value(), m.advice.interval_ms);
                    } else if (ak == "timeout") {
                        e = optInteger(af.value(), m.advice.timeout_ms);
                    } else {
                        e = validate(af.value());
                    }
                }
            } else if (!e) {
                e = validate(v);
            }
        } else if (key == "ext") {
            // ext.sfdc.failureReason
            od::json_type t;
            e = v.type().get(t);
            if (!e && t == od::json_type::object) {
                od::object o;
                e = v.get_object().get(o);
                for (auto er : o) {
                    if (e)
                        break;
                    od::field ef;
                    std::string_view ek;
                    if ((e = std::move(er).get(ef)) || (e = readKey(ef, ek)))
                        break;
                    od::value &ev = ef.value();
                    if (ek != "sfdc") {
                        e = validate(ev);
                        continue;
                    }
                    e = ev.type().get(t);
                    if (e || t != od::json_type::object) {
                        if (!e)
                            e = validate(ev);
                        continue;
                    }
                    od::object so;
                    e = ev.get_object().get(so);
                    for (auto sr : so) {
                        if (e)
                            break;
                        od::field sf;
                        std::string_view sk;
                        if ((e = std::move(sr).get(sf)) || (e = readKey(sf, sk)))
                            break;
                        if (sk == "failureReason")
                            e = optString(sf.value(), m.failure_reason);
                        else
                            e = validate(sf.value());
                    }
                }
            } else if (!e) {
                e = validate(v);
            }
        } else {
            e = validate(v);
        }
        if (e)
            return jsonError(e, "message");
    }
    return true;
}

bool BatchDecoder::Impl::decodeEvent(od::object &message, std::string_view channel,
                                     const KeyLookup &keys)
{
    Fields f;
    std::string_view data;
    bool hasData = false;
    for (auto r : message) {
        od::field field;
        if (auto e = std::move(r).get(field))
            return jsonError(e, "message");
        std::string_view key;
        if (auto e = readKey(field, key))
            return jsonError(e, "message");
        od::value &v = field.value();
        if (key == "channel")
            continue;   // already read
        if (key != "data" || hasData) {
            if (auto e = validate(v))
                return jsonError(e, "message");
            continue;
        }
        od::json_type t;
        if (auto e = v.type().get(t))
            return jsonError(e, "data");
        if (t != od::json_type::object) {
            what = "event data is not an object";
            return false;
        }
        const char *start = v.raw_json_token().data();
        od::object o;
        if (auto e = v.get_object().get(o))
            return jsonError(e, "data");
        if (auto e = walkData(o, f))
            return jsonError(e, "data");
        // The iterator now stands on the token after the closing brace.
        const char *end = nullptr;
        if (auto e = p->doc.current_location().get(end))
            return jsonError(e, "data");
        data = trimRight(std::string_view(start, static_cast<size_t>(end - start)));
        if (data.empty() || data.back() != '}') {
            what = "event data: cannot delimit the object";
            return false;
        }
        hasData = true;
    }
    if (f.has_replay)
        failedReplay = f.replay_id;   // only read if this event fails below
    if (!hasData) {
        what = "event without data object";
        return false;
    }
    if (!f.has_replay) {
        what = f.replay_not_integer ? "event data.event.replayId is not an integer"
                                    : "event without data.event.replayId";
        return false;
    }

    Event &ev = batch->events.emplace_back();
    ev.channel = channel;
    ev.replay_id = f.replay_id;
    ev.data = data;
    ev.event_uuid = f.event_uuid;
    ev.schema = f.schema;
    ev.change_type = f.change_type;
    ev.entity = f.entity;
    ev.event_type = f.event_type;

    const Family family = familyOf(channel);
    switch (family) {
    case Family::Topic:
    case Family::Generic:
        ev.created_date = f.event_created;
        break;
    case Family::Platform:
        ev.created_date = f.payload_created;
        break;
    case Family::ChangeData:
        ev.created_date = f.commit_text;
        break;
    case Family::Other:
        ev.created_date = !f.event_created.empty() ? f.event_created
                        : !f.payload_created.empty() ? f.payload_created
                        : f.commit_text;
        break;
    }
    if (family == Family::ChangeData || (family == Family::Other && ev.created_date == f.commit_text))
        ev.timestamp_ms = f.commit_ts;
    else if (!ev.created_date.empty())
        ev.timestamp_ms = parseIsoDateMs(ev.created_date);

    const config::KeyPolicy *policy = policyFor(channel, keys);
    const auto kind = policy ? policy->kind : config::KeyPolicy::Kind::RecordId;
    switch (kind) {
    case config::KeyPolicy::Kind::RecordId:
        if (family == Family::Topic && !f.sobject_id.empty())
            ev.key = f.sobject_id;
        else if (family == Family::ChangeData && !f.record_id.empty())
            ev.key = f.record_id;
        break;
    case config::KeyPolicy::Kind::Channel:
        ev.key = channel;
        break;
    case config::KeyPolicy::Kind::None:
        break;
    case config::KeyPolicy::Kind::Pointer:
        ev.key = pointerKey(data, policy->pointer);
        break;
    }
    return true;
}

bool BatchDecoder::Impl::readChannel(od::value &v, std::string_view &channel)
{
    od::json_type t;
    if (auto e = v.type().get(t))
        return jsonError(e, "channel");
    if (t != od::json_type::string || readString(v, channel)) {
        what = "channel is not a string";
        return false;
    }
    return true;
}

bool BatchDecoder::Impl::decodeMessage(od::object &o, const KeyLookup &keys)
{

    // The channel decides how the rest is read; it usually comes first.
    std::string_view channel;
    bool found = false;
    od::value cv;
    if (auto e = o.find_field_unordered("channel").get(cv); !e) {
        if (!readChannel(cv, channel))
            return false;
        found = true;
    } else if (e != simdjson::NO_SUCH_FIELD) {
        return jsonError(e, "message");
    }
    bool ignored;
    if (!found) {
        // Maybe the key is written with escapes: compare unescaped keys.
        if (auto e = o.reset().get(ignored))
            return jsonError(e, "message");
        for (auto r : o) {
            od::field field;
            std::string_view key;
            if (auto e = std::move(r).get(field); e || (e = readKey(field, key)))
                return jsonError(e, "message");
            if (key == "channel") {
                if (!readChannel(field.value(), channel))
                    return false;
                found = true;
                break;
            }
        }
        if (!found) {
            what = "message without channel";
            return false;
        }
    }
    if (channel.empty()) {
        what = "empty channel";
        return false;
    }
    failedChannel = channel;
    if (auto e = o.reset().get(ignored))
        return jsonError(e, "message");

    if (channel.starts_with("/meta/"))
        return decodeMeta(o, channel);
    return decodeEvent(o, channel, keys);
}

bool BatchDecoder::Impl::decode(std::string_view body, Batch &out, std::string &error,
                                const KeyLookup &keys)
{
    struct Lease {
        Impl &impl;
        explicit Lease(Impl &i) : impl(i) { impl.p = ParserPool::instance().acquire(); }
        ~Lease()
        {
            ParserPool::instance().release(impl.p);
            impl.p = nullptr;
        }
    } lease(*this);
    od::document &doc = p->doc;
    out.clear();
    batch = &out;
    cacheValid = false;
    what.clear();

    auto fail = [&](std::string message) {
        out.clear();
        error = std::move(message);
        return false;
    };

    if (auto e = p->parser.iterate(body.data(), body.size(), body.size() + kPadding).get(doc))
        return fail(std::string("invalid JSON (") + simdjson::error_message(e) + ")");
    od::json_type t;
    if (auto e = doc.type().get(t))
        return fail(std::string("invalid JSON (") + simdjson::error_message(e) + ")");
    if (t != od::json_type::array)
        return fail("body is not a JSON array");
    od::array messages;
    if (auto e = doc.get_array().get(messages))
        return fail(std::string("invalid JSON (") + simdjson::error_message(e) + ")");

    size_t index = 0;
    for (auto r : messages) {
        od::value message;
        auto invalid = [&](error_code e) {
            return fail("message " + std::to_string(index) + ": invalid JSON (" +
                        simdjson::error_message(e) + ")");
        };
        if (auto e = std::move(r).get(message))
            return invalid(e);
        od::json_type t;
        if (auto e = message.type().get(t))
            return invalid(e);
        const char *start = message.raw_json_token().data();
        broken = false;
        failedChannel = {};
        failedReplay.reset();
        bool decoded = false;
        if (t == od::json_type::object) {
            od::object o;
            if (auto e = message.get_object().get(o))
                return invalid(e);
            decoded = decodeMessage(o, keys);
            if (!decoded && broken)
                return fail("message " + std::to_string(index) + ": " + what);
            // Undecodable but maybe valid JSON: walk it all again so that a
            // JSON error anywhere in it still fails the whole body.
            bool ignored;
            if (!decoded) {
                if (auto e = o.reset().get(ignored))
                    return invalid(e);
                if (auto e = validateObject(o))
                    return invalid(e);
            }
        } else {
            what = "not an object";
            if (auto e = validate(message))
                return invalid(e);
        }
        if (!decoded) {
            const char *end = nullptr;
            if (t == od::json_type::object || t == od::json_type::array) {
                if (auto e = doc.current_location().get(end))
                    return invalid(e);
            } else {
                // A scalar: the iterator has not moved past it yet.
                end = start + message.raw_json_token().size();
            }
            Undecodable &u = out.undecodable.emplace_back();
            u.position = out.events.size();
            u.message = index;
            u.raw = trimRight(std::string_view(start, static_cast<size_t>(end - start)));
            u.channel = failedChannel;
            u.replay_id = failedReplay;
            u.error = "message " + std::to_string(index) + ": " + what;
        }
        ++index;
    }

    // simdjson 3.0.1 does not reject content after the root array.
    const char *rest = nullptr;
    if (!doc.current_location().get(rest))
        return fail("trailing content after the root array");
    return true;
}

BatchDecoder::BatchDecoder()
    : impl_(std::make_unique<Impl>())
{
}

BatchDecoder::~BatchDecoder() = default;

void BatchDecoder::reservePadding(std::string &body)
{
    body.reserve(body.size() + kPadding);
}

bool BatchDecoder::decode(std::string_view body, Batch &out, std::string &error,
                          const KeyLookup &keys)
{
    return impl_->decode(body, out, error, keys);
}

} // namespace sfk::decode
