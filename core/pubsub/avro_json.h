#pragma once
// One Pub/Sub ConsumerEvent payload (Avro binary) as JSON text.
//
// JsonMode::Json: the record as a JSON object; unions unwrapped (a
//   ["null","string"] field is null or the string), enums as their symbol,
//   bytes and fixed as base64, records as objects, arrays and maps as
//   arrays and objects, longs as numbers (dates stay epoch milliseconds);
//   in a change event's ChangeEventHeader, changedFields, nulledFields and
//   diffFields expanded from bitmaps to field names (bitmap.h).
// JsonMode::CometdCompatible: the record as sfemu's CometD side renders the
//   same event's "payload" object (emulator/channel_log.cpp), as Salesforce's
//   Streaming API carries it: fields in schema order, null fields left out
//   (at every depth: over Pub/Sub unchanged fields are null), date-time
//   fields (doc "...:DateTime") as "2026-03-29T16:40:08.208Z", and in
//   ChangeEventHeader changedFields as names placed last, nulledFields and
//   diffFields left out (CometD carries neither).
//
// Numbers are written as sfemu's CometD side writes them (simdjson's
// shortest round-trip form: 12.5, 100.0, 1e+20). A payload that cannot be
// JSON (invalid UTF-8, NaN or an infinity, a date outside years 0-9999), is
// truncated, has bytes after the record or does not fit the schema is an
// error, never a partial result.

#include <optional>
#include <string>
#include <string_view>

#include "pubsub/writer_schema.h"

namespace sfk::pubsub {

enum class JsonMode { Json, CometdCompatible };

// "json" | "cometd_compatible"
std::optional<JsonMode> jsonModeFromName(std::string_view name);

// Writes the JSON object into `out` (replacing its content) and returns true;
// or returns false with `error` set and `out` unspecified.
bool decodeToJson(const WriterSchema &schema, std::string_view payload, JsonMode mode, std::string &out,
                  std::string &error);

// "2026-03-29T16:40:08.208Z" for epoch milliseconds; false outside the years
// 0000-9999.
bool appendIsoTime(std::string &out, int64_t epoch_ms);

} // namespace sfk::pubsub
