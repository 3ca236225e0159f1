#include "faults.h"

#include <algorithm>

namespace sfk::emu {

namespace {
struct KindName {
    FaultKind kind;
    const char *name;
};
constexpr KindName kKinds[] = {
    {FaultKind::Http500, "http_500"},
    {FaultKind::Http503, "http_503"},
    {FaultKind::UnknownClient, "unknown_client"},
    {FaultKind::AuthInvalid, "auth_invalid"},
    {FaultKind::Reset, "reset"},
    {FaultKind::Malformed, "malformed_json"},
    {FaultKind::TrailingGarbage, "trailing_garbage"},
    {FaultKind::SlowBody, "slow_body"},
    {FaultKind::Delay, "delay"},
    {FaultKind::EventsOnReply, "events_on_reply"},
    {FaultKind::Rewind, "rewind"},
    {FaultKind::ServerDisconnect, "server_disconnect"},
    {FaultKind::SubscribeError, "subscribe_error"},
    {FaultKind::DropReply, "drop_reply"},
};
struct MatchName {
    FaultMatch match;
    const char *name;
};
constexpr MatchName kMatches[] = {
    {FaultMatch::Handshake, "handshake"},     {FaultMatch::Connect, "connect"},
    {FaultMatch::Subscribe, "subscribe"},     {FaultMatch::Unsubscribe, "unsubscribe"},
    {FaultMatch::Disconnect, "disconnect"},   {FaultMatch::Token, "token"},
    {FaultMatch::Any, "any"},
};
} // namespace

const char *faultKindName(FaultKind kind)
{
    for (auto &k : kKinds)
        if (k.kind == kind)
            return k.name;
    return "?";
}

const char *faultMatchName(FaultMatch match)
{
    for (auto &m : kMatches)
        if (m.match == match)
            return m.name;
    return "?";
}

std::optional<FaultKind> parseFaultKind(std::string_view name)
{
    for (auto &k : kKinds)
        if (name == k.name)
            return k.kind;
    return std::nullopt;
}

std::optional<FaultMatch> parseFaultMatch(std::string_view name)
{
    for (auto &m : kMatches)
        if (name == m.name)
            return m.match;
    return std::nullopt;
}

std::optional<Fault> FaultList::take(const std::vector<FaultMatch> &kinds)
{
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
        bool hit = it->match == FaultMatch::Any ||
                   std::find(kinds.begin(), kinds.end(), it->match) != kinds.end();
        if (!hit)
            continue;
        Fault f = *it;
        if (--it->remaining <= 0)
            faults_.erase(it);
        return f;
    }
    return std::nullopt;
}

} // namespace sfk::emu
