// Fuzzes BatchDecoder::decode with whole /meta/connect response bodies
// (meta replies and events of every channel family), under each key policy.
// Checks what callers rely on: all or nothing, event data delimited inside
// the body, and the same result when a Batch is reused.
#include <string>
#include <vector>

#include "fuzz_support.h"

using namespace sfk;

namespace {

const config::KeyPolicy *policyFor(std::string_view channel)
{
    static const config::KeyPolicy channelKey{ config::KeyPolicy::Kind::Channel, {} };
    static const config::KeyPolicy noKey{ config::KeyPolicy::Kind::None, {} };
    static const config::KeyPolicy payloadId{ config::KeyPolicy::Kind::Pointer, "/payload/Id" };
    static const config::KeyPolicy escaped{ config::KeyPolicy::Kind::Pointer, "/payload/a~1b~0c/0" };
    if (channel.starts_with("/event/"))
        return channel.size() % 2 ? &payloadId : &escaped;
    if (channel.starts_with("/u/"))
        return &noKey;
    if (channel.starts_with("/topic/") && channel.ends_with("ByChannel"))
        return &channelKey;
    return nullptr;   // RecordId
}

struct Summary {
    std::vector<std::string> meta;
    std::vector<std::string> events;
};

Summary summarize(const decode::Batch &b)
{
    Summary s;
    for (const auto &m : b.meta)
        s.meta.push_back(m.channel + '|' + m.id + '|' + m.client_id + '|' + m.error + '|' +
                         m.subscription + '|' + m.failure_reason + '|' +
                         (m.successful ? (*m.successful ? "t" : "f") : "-") + '|' +
                         m.advice.reconnect.value_or("-") + '|' +
                         std::to_string(m.advice.interval_ms.value_or(-7)) + '|' +
                         std::to_string(m.advice.timeout_ms.value_or(-7)));
    for (const auto &e : b.events)
        s.events.push_back(std::string(e.channel) + '|' + std::to_string(e.replay_id) + '|' +
                           std::string(e.data) + '|' + std::string(e.key.value_or("<none>")) + '|' +
                           std::to_string(e.timestamp_ms.value_or(-7)) + '|' +
                           std::string(e.event_uuid) + '|' + std::string(e.schema) + '|' +
                           std::string(e.change_type) + '|' + std::string(e.entity) + '|' +
                           std::string(e.event_type) + '|' + std::string(e.created_date));
    return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static decode::BatchDecoder decoder;
    static decode::Batch reused;
    fuzz::PaddedInput body(data, size);
    const decode::KeyLookup keys = policyFor;

    decode::Batch fresh;
    std::string error;
    const bool ok = decoder.decode(body.view(), fresh, error, keys);
    if (!ok) {
        FUZZ_CHECK(!error.empty());
        FUZZ_CHECK(fresh.meta.empty() && fresh.events.empty());
    } else {
        for (const auto &m : fresh.meta)
            FUZZ_CHECK(m.channel.starts_with("/meta/"));
        for (const auto &e : fresh.events) {
            FUZZ_CHECK(!e.channel.empty() && !e.channel.starts_with("/meta/"));
            FUZZ_CHECK(body.contains(e.data));
            FUZZ_CHECK(e.data.size() >= 2 && e.data.front() == '{' && e.data.back() == '}');
        }
    }

    // The session reuses one Batch: leftovers of the previous response must
    // not change the result.
    std::string error2;
    const bool ok2 = decoder.decode(body.view(), reused, error2, keys);
    FUZZ_CHECK(ok == ok2);
    FUZZ_CHECK(error == error2);
    if (ok) {
        Summary a = summarize(fresh), b = summarize(reused);
        FUZZ_CHECK(a.meta == b.meta);
        FUZZ_CHECK(a.events == b.events);
    }
    reused.trim();
    return 0;
}
