#pragma once
// Where a channel's stream stands (docs/architecture.md, "Positions"). A
// CometD replay id is an integer; a Pub/Sub API replay id is opaque bytes,
// only ever compared for equality and handed back to Salesforce. Both
// transports share the presets: -1 new events only, -2 everything retained
// (the resume marker stored after a subscribe from a preset).

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sfk::replay {

struct Position {
    int64_t id = 0;        // CometD's replay id or a preset; 0 when opaque
    std::string opaque;    // Pub/Sub: the replay id bytes (at most 15 stay in the string itself)

    Position() = default;
    // Implicit: a number is a CometD replay id or a preset.
    Position(int64_t numeric) : id(numeric) {}
    static Position bytes(std::string_view b)
    {
        Position p;
        p.opaque.assign(b.data(), b.size());
        return p;
    }

    bool isOpaque() const { return !opaque.empty(); }
    // -1 or -2, never opaque.
    bool isPreset() const { return opaque.empty() && id < 0; }
    auto operator<=>(const Position &) const = default;
    bool operator==(const Position &) const = default;
};

// "1234", "-2", or the opaque bytes as standard base64.
std::string positionText(const Position &p);
std::string positionText(const std::optional<Position> &p);   // "none" when empty
// The preset's name, for logs: "-1 (new events only)", "-2 (earliest retained)".
std::string positionDescription(const Position &p);

} // namespace sfk::replay
