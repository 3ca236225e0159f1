#pragma once
// Faults armed through the admin API for the next N matching requests.

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sfk::emu {

enum class FaultKind {
    Http500,         // HTTP 500, body "Internal Server Error"
    Http503,         // HTTP 503, body "Service Unavailable"
    UnknownClient,   // 403::Unknown client (the client is forgotten)
    AuthInvalid,     // 401::Authentication invalid / 403::Handshake denied
    Reset,           // the connection is closed halfway through the body
    Malformed,       // the body is cut short: invalid JSON, correct length
    TrailingGarbage, // garbage after the closing bracket of the array
    SlowBody,        // the body trickles out in small chunks
    Delay,           // the response is held for delay_ms first
    EventsOnReply,   // a subscribe reply also carries the client's pending events
    Rewind,          // a connect re-sends the later half of what each subscription was sent
    ServerDisconnect, // a connect is answered by a server-initiated /meta/disconnect
    SubscribeError,  // subscribes answered 503::Service Unavailable (a transient refusal)
    DropReply,       // subscribes processed but left out of the reply
};

enum class FaultMatch { Handshake, Connect, Subscribe, Unsubscribe, Disconnect, Token, Any };

struct Fault {
    FaultKind kind = FaultKind::Http503;
    FaultMatch match = FaultMatch::Any;
    int64_t remaining = 1;
    int64_t delay_ms = 1000;
    int64_t chunk_bytes = 16;
    int64_t interval_ms = 20;
};

const char *faultKindName(FaultKind kind);
const char *faultMatchName(FaultMatch match);
std::optional<FaultKind> parseFaultKind(std::string_view name);
std::optional<FaultMatch> parseFaultMatch(std::string_view name);

// The faults of one org, in arming order. Not thread-safe (the org's lock).
class FaultList {
public:
    void arm(const Fault &fault) { faults_.push_back(fault); }
    void clear() { faults_.clear(); }
    // Takes one use of the first fault matching any of the request's kinds.
    std::optional<Fault> take(const std::vector<FaultMatch> &kinds);
    const std::vector<Fault> &armed() const { return faults_; }

private:
    std::vector<Fault> faults_;
};

} // namespace sfk::emu
