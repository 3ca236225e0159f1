#pragma once
// Checks that a payload is one well-formed Avro binary value of a schema
// before avro-c reads it. avro-c trusts the lengths and counts it reads: a
// few bytes can ask it for a multi-gigabyte string or billions of array
// items, and it does not notice bytes left after the value. This walk
// allocates nothing and gives the precise error a dead letter carries.

#include <string>
#include <string_view>

#include "pubsub/writer_schema.h"

namespace sfk::pubsub {

// Nested records, arrays, maps and unions deeper than this are refused (a
// recursive schema could otherwise nest until the stack ends).
constexpr int kMaxNesting = 64;

// True when `bytes` is exactly one value of `root`; else false with `error`
// ("truncated at byte 12", "3 bytes after the record", ...).
bool checkEncoding(const SchemaNode &root, std::string_view bytes, std::string &error);

} // namespace sfk::pubsub
