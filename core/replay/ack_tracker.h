#pragma once
// Per-channel delivery watermarks of one org (docs/architecture.md): the committed
// position of a channel moves forward only when the event and every earlier
// tracked event of that channel have a successful delivery report.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "replay/position.h"

namespace sfk::replay {

class AckTracker
{
public:
    explicit AckTracker(size_t channels);

    // Identifies one tracked event. It travels through librdkafka as the
    // message's msg_opaque: pack() encodes (channel, seq) into the pointer
    // value itself (no heap, nothing to free; channel < 2^16, seq < 2^48,
    // never null); unpack() restores them. An event is identified by
    // (channel, seq) alone: seq is unique per channel for the tracker's
    // whole life (epochs do not restart it), so `epoch` is informational
    // and unpack() leaves it 0.
    struct Ticket {
        uint32_t channel;
        uint32_t epoch;
        uint64_t seq;
    };
    static void *pack(const Ticket &t) noexcept;
    static Ticket unpack(void *opaque) noexcept;

    // Tracks the next event of a channel, in decode order.
    Ticket track(uint32_t channel, Position position, size_t bytes);
    // A delivery report, in any order, from any thread. Unknown or repeated
    // tickets are ignored.
    void complete(const Ticket &t, bool ok);

    // The position of the last event such that it and every earlier tracked
    // event of the channel succeeded; starts at what setCommitted gave.
    std::optional<Position> committed(uint32_t channel) const;
    void setCommitted(uint32_t channel, std::optional<Position> position);

    // A failed report was seen in the current epoch: committed is frozen
    // before the first failed event, even if later events succeed.
    bool failed(uint32_t channel) const;

    // Events of the channel without a report yet, stale epochs included.
    int64_t inFlight(uint32_t channel) const;
    // Whole org, stale epochs included until their reports arrive.
    int64_t inFlightEvents() const;
    int64_t inFlightBytes() const;

    // Starts a new epoch (after a resubscribe): the pending events of the
    // channel no longer count for its watermark (their later reports only
    // decrement in-flight counts); failed is cleared; committed stays.
    void resetChannel(uint32_t channel);

    // Waits until inFlightEvents() < events and inFlightBytes() < bytes;
    // false on timeout. waitInFlightBelow(1, 1, t) waits for a full drain.
    bool waitInFlightBelow(int64_t events, int64_t bytes, std::chrono::milliseconds timeout);

    // Increments whenever any committed id moves (the store flusher polls it).
    uint64_t commitVersion() const;

    // Events ever tracked, and events that left their channel's window: the
    // watermark passed them (or stopped at them), or resetChannel dropped
    // them. Read retired() before committed(): every event it counts is
    // covered by the committed ids read after it, so once those are durable,
    // tracked() - retired-at-that-time bounds what a crash can replay.
    uint64_t tracked() const { return tracked_.load(std::memory_order_relaxed); }
    uint64_t retired() const { return retired_.load(std::memory_order_relaxed); }

    size_t channels() const { return channels_.size(); }

private:
    enum class State : uint8_t { Pending, Ok, Failed };

    struct Entry {
        Position position;
        uint64_t bytes;
        State state;
    };

    // Ring of the entries [base_seq, next_seq) of a channel's current
    // epoch; grows by doubling, never shrinks: no allocation in steady state.
    struct Channel {
        std::vector<Entry> ring;   // capacity: a power of two
        size_t head = 0;           // ring index of base_seq
        uint64_t base_seq = 1;
        uint64_t next_seq = 1;
        uint32_t epoch = 0;
        std::optional<Position> committed;
        bool failed = false;       // a failed report in this epoch
        bool frozen = false;       // the watermark reached the first failed event
        int64_t in_flight = 0;
        // Pending events of earlier epochs: seq -> bytes.
        std::unordered_map<uint64_t, uint64_t> stale;
    };

    Entry &at(Channel &c, uint64_t seq);
    void advance(Channel &c);
    void settle(Channel &c, uint64_t bytes);

    mutable std::mutex mutex_;
    std::condition_variable drained_;
    int waiters_ = 0;
    std::vector<Channel> channels_;
    int64_t inFlightEvents_ = 0;
    int64_t inFlightBytes_ = 0;
    std::atomic<uint64_t> commitVersion_{ 0 };
    std::atomic<uint64_t> tracked_{ 0 };
    std::atomic<uint64_t> retired_{ 0 };
};

} // namespace sfk::replay
