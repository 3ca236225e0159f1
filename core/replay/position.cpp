#include "replay/position.h"

#include "decode/base64.h"

namespace sfk::replay {

std::string positionText(const Position &p)
{
    return p.isOpaque() ? decode::base64(p.opaque) : std::to_string(p.id);
}

std::string positionText(const std::optional<Position> &p)
{
    return p ? positionText(*p) : std::string("none");
}

std::string positionDescription(const Position &p)
{
    if (p.isPreset())
        return p.id == -2 ? "-2 (earliest retained)" : "-1 (new events only)";
    return positionText(p);
}

} // namespace sfk::replay
