#pragma once
// Decodes one Bayeux response body (a JSON array of messages) into meta
// replies and events. Invalid JSON fails the whole body; a valid message that
// is not a decodable Bayeux message is set aside with its raw bytes (the
// caller decides: discard the response, or produce the rest and dead-letter
// it; docs/architecture.md, step 4).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace sfk::decode {

struct Advice {
    // interval and timeout: milliseconds from 0 to one day (fractions cut);
    // other values are left absent.
    std::optional<std::string> reconnect;   // retry | handshake | none
    std::optional<int64_t> interval_ms;
    std::optional<int64_t> timeout_ms;
};

// Any message whose channel starts with /meta/. Absent strings are empty.
struct MetaMessage {
    std::string channel, id, client_id, error, subscription;
    std::string failure_reason;   // ext.sfdc.failureReason
    std::optional<bool> successful;
    Advice advice;
};

// Every other message. The views point into the response buffer passed to
// decode() or into the Batch's own storage: they stay valid while both live
// and the Batch is neither cleared nor decoded into again.
struct Event {
    std::string_view channel;
    int64_t replay_id = 0;
    // Pub/Sub API events: the opaque replay id bytes (replay_id is then 0).
    std::string_view opaque_replay_id;
    // The raw bytes of the "data" object exactly as received (no trailing
    // whitespace): the Kafka record value.
    std::string_view data;
    // Creation time (epoch ms): /topic/, /u/: data.event.createdDate;
    // /event/: data.payload.CreatedDate; /data/: ChangeEventHeader.commitTimestamp.
    // Other channels: the first of these present. Absent if unparsable.
    std::optional<int64_t> timestamp_ms;
    std::optional<std::string_view> key;   // per KeyPolicy
    // Header values; empty = absent.
    std::string_view event_uuid;    // data.event.EventUuid
    std::string_view schema;        // data.schema
    std::string_view change_type;   // CDC ChangeEventHeader.changeType
    std::string_view entity;        // CDC ChangeEventHeader.entityName
    std::string_view event_type;    // PushTopic data.event.type
    // The ISO date string the timestamp came from; for CDC the
    // commitTimestamp as decimal text.
    std::string_view created_date;
};

// A message that is valid JSON but cannot be decoded (no channel, an event
// without a data object or an integer data.event.replayId, ...).
struct Undecodable {
    size_t position = 0;            // how many of Batch::events come before it
    size_t message = 0;             // its index in the response (from 0)
    std::string_view raw;           // the whole message, exactly as received
    std::string_view channel;       // empty when unknown
    std::optional<int64_t> replay_id;
    std::string_view opaque_replay_id;   // Pub/Sub: the replay id bytes
    std::string error;              // "message 3: event without data object"
};

// The decoded messages of one response plus storage for the strings that
// had to be unescaped. Reuse one Batch across responses: its vectors and
// storage keep their capacity, so steady state does not allocate per event.
class Batch
{
public:
    Batch() = default;
    Batch(const Batch &) = delete;
    Batch &operator=(const Batch &) = delete;
    Batch(Batch &&) noexcept = default;   // views stay valid (storage is on the heap)
    Batch &operator=(Batch &&) noexcept = default;

    std::vector<MetaMessage> meta;
    std::vector<Event> events;
    std::vector<Undecodable> undecodable;   // usually empty

    void clear();
    // Gives back memory a much larger earlier batch left behind. Call
    // before clear(), while the contents still tell how much was used.
    void trim();
    // Copies s into storage owned by the batch; the view stays valid until clear().
    std::string_view store(std::string_view s);

private:
    struct Chunk {
        std::unique_ptr<char[]> data;
        size_t size = 0;
        size_t used = 0;
    };
    std::vector<Chunk> chunks_;
    size_t current_ = 0;
};

// Returns the key policy of a channel; nullptr (or an empty KeyLookup)
// means the default, RecordId.
using KeyLookup = std::function<const config::KeyPolicy *(std::string_view channel)>;

class BatchDecoder
{
public:
    // Bytes of readable capacity the decoder needs after the body
    // (simdjson::SIMDJSON_PADDING).
    static constexpr size_t kPadding = 64;

    BatchDecoder();
    ~BatchDecoder();
    BatchDecoder(const BatchDecoder &) = delete;
    BatchDecoder &operator=(const BatchDecoder &) = delete;

    // Makes sure `body` has kPadding bytes of capacity after its current
    // size. Call it once the body is complete (a later append may reallocate).
    static void reservePadding(std::string &body);

    // Decodes the whole response into `out` (replacing its contents). The
    // memory of `body` must extend at least kPadding readable bytes past
    // body.size(). When the body is not valid JSON (or not an array) returns
    // false, sets `error` to what went wrong and where ("message 3: invalid
    // JSON in data (...)"; messages are numbered from 0; never payload
    // contents) and leaves `out` empty. A valid message that cannot be
    // decoded goes to out.undecodable (its error in the same form) and the
    // other messages decode as usual.
    bool decode(std::string_view body, Batch &out, std::string &error,
                const KeyLookup &keys = {});

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Parses an ISO 8601 date-time such as 2026-03-29T16:40:08.208Z (offsets
// +hh:mm, +hhmm, Z or none = UTC; any number of fraction digits) into epoch
// milliseconds.
std::optional<int64_t> parseIsoDateMs(std::string_view s);

} // namespace sfk::decode
