#pragma once
// Builds JSON string literals for requests (Bayeux messages, the replay store).

#include <string>
#include <string_view>

namespace sfk::decode {

// Appends `s` to `out` as a quoted JSON string: '"' and '\\' are escaped,
// control characters become \n, \t, ... or \u00XX; other bytes (UTF-8) are
// copied unchanged.
void appendJsonString(std::string &out, std::string_view s);

} // namespace sfk::decode
