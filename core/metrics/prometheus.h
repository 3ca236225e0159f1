#pragma once
// /metrics in the Prometheus text exposition format 0.0.4. Labels come only
// from bounded sets: org and channel names from the configuration, session
// states, reconnect reasons.

#include <string>
#include <string_view>

namespace sfk::session {
class Supervisor;
}

namespace sfk::metrics {

// Escapes a label value (backslash, double quote, newline).
std::string escapeLabel(std::string_view value);

std::string render(const session::Supervisor &supervisor);

} // namespace sfk::metrics
