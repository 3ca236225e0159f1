// Fuzzes the Bayeux meta-message parsing (handshake, subscribe, connect,
// disconnect replies: the fields the session acts on).
//   first byte even: the rest is a response body; every meta reply decoded
//     from it is written back as JSON (the client's own escaping) and must
//     decode to the same fields;
//   first byte odd: the rest is one string; it goes through the client's
//     escaping into each field of a /meta/subscribe reply and must come back
//     unchanged (or be refused, for text that is not UTF-8).
#include <string>

#include <simdjson.h>

#include "decode/json_escape.h"
#include "fuzz_support.h"

using namespace sfk;

namespace {

std::string encode(const decode::MetaMessage &m)
{
    std::string out = "{\"channel\":";
    decode::appendJsonString(out, m.channel);
    auto field = [&](const char *name, const std::string &v) {
        out += ",\"";
        out += name;
        out += "\":";
        decode::appendJsonString(out, v);
    };
    field("id", m.id);
    field("clientId", m.client_id);
    field("error", m.error);
    field("subscription", m.subscription);
    if (m.successful)
        out += *m.successful ? ",\"successful\":true" : ",\"successful\":false";
    out += ",\"advice\":{";
    bool first = true;
    auto sep = [&] { if (!first) out += ','; first = false; };
    if (m.advice.reconnect) {
        sep();
        out += "\"reconnect\":";
        decode::appendJsonString(out, *m.advice.reconnect);
    }
    if (m.advice.interval_ms) {
        sep();
        out += "\"interval\":" + std::to_string(*m.advice.interval_ms);
    }
    if (m.advice.timeout_ms) {
        sep();
        out += "\"timeout\":" + std::to_string(*m.advice.timeout_ms);
    }
    out += "},\"ext\":{\"sfdc\":{\"failureReason\":";
    decode::appendJsonString(out, m.failure_reason);
    return out + "}}}";
}

bool same(const decode::MetaMessage &a, const decode::MetaMessage &b)
{
    return a.channel == b.channel && a.id == b.id && a.client_id == b.client_id &&
           a.error == b.error && a.subscription == b.subscription &&
           a.failure_reason == b.failure_reason && a.successful == b.successful &&
           a.advice.reconnect == b.advice.reconnect && a.advice.interval_ms == b.advice.interval_ms &&
           a.advice.timeout_ms == b.advice.timeout_ms;
}

bool decodeText(decode::BatchDecoder &decoder, const std::string &text, decode::Batch &out,
                std::string &error)
{
    fuzz::PaddedInput body(reinterpret_cast<const uint8_t *>(text.data()), text.size());
    return decoder.decode(body.view(), out, error);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static decode::BatchDecoder decoder;
    if (size == 0)
        return 0;
    const bool roundTripBody = (data[0] & 1) == 0;
    ++data;
    --size;
    std::string error;

    if (roundTripBody) {
        fuzz::PaddedInput body(data, size);
        decode::Batch batch;
        if (!decoder.decode(body.view(), batch, error) || batch.meta.empty())
            return 0;
        std::string again = "[";
        for (const auto &m : batch.meta) {
            if (again.size() > 1)
                again += ',';
            again += encode(m);
        }
        again += ']';
        decode::Batch back;
        FUZZ_CHECK(decodeText(decoder, again, back, error));
        FUZZ_CHECK(back.meta.size() == batch.meta.size() && back.events.empty());
        for (size_t i = 0; i < batch.meta.size(); ++i)
            FUZZ_CHECK(same(batch.meta[i], back.meta[i]));
        return 0;
    }

    const std::string text(reinterpret_cast<const char *>(data), size);
    decode::MetaMessage m;
    m.channel = "/meta/subscribe";
    m.id = m.client_id = m.error = m.subscription = m.failure_reason = text;
    m.successful = false;
    m.advice.reconnect = text.empty() ? std::nullopt : std::optional<std::string>(text);
    decode::Batch back;
    const bool ok = decodeText(decoder, "[" + encode(m) + "]", back, error);
    FUZZ_CHECK(ok == simdjson::validate_utf8(text.data(), text.size()));
    if (ok) {
        FUZZ_CHECK(back.meta.size() == 1);
        FUZZ_CHECK(same(m, back.meta[0]));
    }
    return 0;
}
