#pragma once
// Small text helpers shared by the session's source files.

#include <string_view>

namespace sfk::session {

constexpr std::string_view kSessionModule = "session";

inline bool contains(std::string_view s, std::string_view part) { return s.find(part) != s.npos; }

} // namespace sfk::session
