#pragma once
// The seam between an org's session and the protocol that brings its events
// (docs/architecture.md, "The transport seam"). The session owns everything
// shared: its thread and states, the token, the delivery path from decoded
// event to Kafka record to acknowledgement to committed marker, back-pressure,
// dead letters, gaps and metrics. A transport (CometD today, in core/cometd/)
// only opens the org's subscriptions and streams their events into the
// session, and says what the session should do when the stream ends. A
// session serves one transport: an org with channels on both has two.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "auth/token_provider.h"
#include "config/config.h"
#include "decode/batch_decoder.h"
#include "replay/position.h"
#include "session/counters.h"

namespace sfk::session {

enum class State { Starting, Authenticating, Handshaking, Streaming, Paused, Backoff, Stopped };
const char *stateName(State s);

// What the session does when a transport's open() or stream() returns.
enum class Next {
    Stream,        // subscribed: stream()
    Reopen,        // open() again (a new Bayeux session), after a backoff
    NewToken,      // the token was refused: a new one, then open()
    Backoff,       // a transient failure: back off, then open()
    LimitBackoff,  // a Salesforce limit: the long limit backoff, then open()
    Stop,          // the session is stopping
};

// Why events were knowingly not delivered (or, for ReplayIdBackwards, may
// have been reordered): the `reason` of a gap record.
enum class GapReason { InvalidReplayId, SubscribeRefused, ReplayIdBackwards, ChannelStopped, DeadLetter,
                       TransportSwitch };
const char *gapReasonName(GapReason r);

struct Gap {
    size_t channel = 0;
    GapReason reason = GapReason::InvalidReplayId;
    std::string policy;                      // fail | earliest | latest | stop | produced | ...
    std::optional<replay::Position> stored_replay_id;
    std::optional<replay::Position> resumed_from;     // none: the channel stopped
    std::optional<replay::Position> replay_id;
    std::string detail;
};

// What the session offers a transport. Channels are the org's configured
// channels by index. Called on the session's thread only.
class TransportHost {
public:
    virtual const config::Org &org() const = 0;
    // The current token (open() and stream() only run with one).
    virtual const auth::Token &token() const = 0;
    virtual bool stopping() const = 0;
    // Sleeps, waking at a stop; false when stopping.
    virtual bool sleepFor(std::chrono::milliseconds d) = 0;
    virtual void setState(State s) = 0;
    // The session's thread is alive (the watchdog's clock).
    virtual void touch() = 0;
    virtual SessionCounters &mutableCounters() = 0;
    virtual ChannelCounters &mutableChannelCounters(size_t channel) = 0;

    virtual bool channelStopped(size_t channel) const = 0;
    // Stops a channel until the next reload (its gap was reported).
    virtual void stopChannel(size_t channel) = 0;
    // Where a subscription of the channel starts: the committed position,
    // or the configured start (-1 new events, -2 all retained).
    virtual replay::Position subscribeFrom(size_t channel) const = 0;
    // A subscription of the channel is being made from this position: only
    // (CometD) events at or below it are duplicates from now on.
    virtual void subscribing(size_t channel, const replay::Position &from) = 0;
    // These channels subscribed from -1/-2: their marker -2 is made durable
    // before any event of the new subscription is received.
    virtual void storeResumeMarkers(const std::vector<size_t> &channels) = 0;
    virtual void reportGap(const Gap &gap) = 0;

    // Waits until the in-flight bounds allow another response; false when stopping.
    virtual bool waitForCapacity() = 0;
    // Events the in-flight bounds allow right now (0 when a bound is
    // reached): what the transport may ask the server for (Pub/Sub credit).
    virtual int64_t eventRoom() const = 0;
    // A keepalive says the channel's stream stands at `p` (Pub/Sub's
    // latest_replay_id). Adopted as committed only when nothing of the
    // channel is in flight or failed, so a quiet channel's stored position
    // does not age out of retention; true when adopted.
    virtual bool adoptIdlePosition(size_t channel, const replay::Position &p) = 0;
    // A delivery failed since the last open(): the session must resubscribe
    // from its committed ids.
    virtual bool deliveryFailed() const = 0;
    // Hands a decoded response to the delivery path, in response order.
    virtual void deliver(const decode::Batch &batch) = 0;
    // Writes a Pub/Sub writer schema to the org's schemas topic (key: the
    // schema id) and waits for Kafka's acknowledgement, before any raw Avro
    // record that needs it is produced; false (logged) when it could not.
    virtual bool publishSchema(const std::string &schema_id, const std::string &schema_json) = 0;
    // The stream is healthy (for the backoff: a long quiet stream is progress).
    virtual void markStreaming() = 0;

protected:
    ~TransportHost() = default;
};

class Transport {
public:
    virtual ~Transport() = default;
    // Opens the subscriptions of every channel not stopped. The session has
    // drained its in-flight events first, so subscribeFrom() is exact.
    virtual Next open() = 0;
    // Streams events into TransportHost::deliver() until something ends the
    // subscriptions, and says why.
    virtual Next stream() = 0;
    // Aborts a request or wait in progress; later ones fail at once. Any
    // thread; may be called again for a request that started in between.
    virtual void stop() = 0;
    // Before an open() that replaces this session's subscriptions: releases
    // the old ones at the server (they count against its client limits).
    virtual void abandon() = 0;
    // At shutdown, after the session's thread ended: best effort goodbye.
    virtual void disconnect() = 0;
};

} // namespace sfk::session
