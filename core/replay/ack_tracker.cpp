#include "replay/ack_tracker.h"

#include <cassert>
#include <stdexcept>
#include <type_traits>

namespace sfk::replay {

namespace {

constexpr size_t kInitialRing = 64;
constexpr unsigned kSeqBits = 48;
constexpr uint64_t kSeqMask = (uint64_t(1) << kSeqBits) - 1;

static_assert(sizeof(void *) == sizeof(uint64_t), "tickets are packed into 64-bit pointers");
static_assert(std::is_trivially_copyable_v<AckTracker::Ticket>);

} // namespace

AckTracker::AckTracker(size_t channels)
    : channels_(channels)
{
    if (channels > (size_t(1) << (64 - kSeqBits)))
        throw std::invalid_argument("AckTracker: too many channels");
}

void *AckTracker::pack(const Ticket &t) noexcept
{
    assert(t.seq != 0 && t.seq <= kSeqMask);
    const uint64_t v = (uint64_t(t.channel) << kSeqBits) | (t.seq & kSeqMask);
    return reinterpret_cast<void *>(static_cast<uintptr_t>(v));
}

AckTracker::Ticket AckTracker::unpack(void *opaque) noexcept
{
    const uint64_t v = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(opaque));
    return Ticket{ static_cast<uint32_t>(v >> kSeqBits), 0, v & kSeqMask };
}

AckTracker::Entry &AckTracker::at(Channel &c, uint64_t seq)
{
    return c.ring[(c.head + (seq - c.base_seq)) & (c.ring.size() - 1)];
}

AckTracker::Ticket AckTracker::track(uint32_t channel, Position position, size_t bytes)
{
    std::lock_guard lock(mutex_);
    if (channel >= channels_.size())
        throw std::out_of_range("AckTracker::track: unknown channel");
    Channel &c = channels_[channel];

    const uint64_t count = c.next_seq - c.base_seq;
    if (count == c.ring.size()) {
        // Grow (rare): unroll the ring into a vector twice as large.
        std::vector<Entry> bigger(c.ring.empty() ? kInitialRing : c.ring.size() * 2);
        for (uint64_t i = 0; i < count; ++i)
            bigger[i] = std::move(c.ring[(c.head + i) & (c.ring.size() - 1)]);
        c.ring = std::move(bigger);
        c.head = 0;
    }

    const uint64_t seq = c.next_seq++;
    assert(seq <= kSeqMask);
    tracked_.fetch_add(1, std::memory_order_relaxed);
    at(c, seq) = Entry{ std::move(position), bytes, State::Pending };
    c.in_flight++;
    inFlightEvents_++;
    inFlightBytes_ += static_cast<int64_t>(bytes);
    return Ticket{ channel, c.epoch, seq };
}

void AckTracker::settle(Channel &c, uint64_t bytes)
{
    c.in_flight--;
    inFlightEvents_--;
    inFlightBytes_ -= static_cast<int64_t>(bytes);
    if (waiters_ > 0)
        drained_.notify_all();
}

// Pops the settled prefix of the channel's ring, moving the watermark over
// successes until the first failure of the epoch.
void AckTracker::advance(Channel &c)
{
    bool moved = false;
    const size_t mask = c.ring.size() - 1;
    while (c.base_seq < c.next_seq) {
        const Entry &e = c.ring[c.head];
        if (e.state == State::Pending)
            break;
        if (e.state == State::Failed) {
            c.frozen = true;
        } else if (!c.frozen) {
            c.committed = e.position;
            moved = true;
        }
        c.head = (c.head + 1) & mask;
        c.base_seq++;
        retired_.fetch_add(1, std::memory_order_relaxed);
    }
    if (moved)
        commitVersion_.fetch_add(1, std::memory_order_release);
}

void AckTracker::complete(const Ticket &t, bool ok)
{
    std::lock_guard lock(mutex_);
    if (t.channel >= channels_.size())
        return;
    Channel &c = channels_[t.channel];

    if (t.seq >= c.base_seq && t.seq < c.next_seq) {
        Entry &e = at(c, t.seq);
        if (e.state != State::Pending)
            return;   // a repeated report
        e.state = ok ? State::Ok : State::Failed;
        if (!ok)
            c.failed = true;
        settle(c, e.bytes);
        advance(c);
        return;
    }

    // A report of an earlier epoch only settles the counts.
    auto it = c.stale.find(t.seq);
    if (it == c.stale.end())
        return;
    const uint64_t bytes = it->second;
    c.stale.erase(it);
    settle(c, bytes);
}

std::optional<Position> AckTracker::committed(uint32_t channel) const
{
    std::lock_guard lock(mutex_);
    if (channel >= channels_.size())
        return std::nullopt;
    return channels_[channel].committed;
}

void AckTracker::setCommitted(uint32_t channel, std::optional<Position> position)
{
    std::lock_guard lock(mutex_);
    if (channel >= channels_.size())
        return;
    Channel &c = channels_[channel];
    if (c.committed == position)
        return;
    c.committed = std::move(position);
    commitVersion_.fetch_add(1, std::memory_order_release);
}

bool AckTracker::failed(uint32_t channel) const
{
    std::lock_guard lock(mutex_);
    return channel < channels_.size() && channels_[channel].failed;
}

int64_t AckTracker::inFlight(uint32_t channel) const
{
    std::lock_guard lock(mutex_);
    return channel < channels_.size() ? channels_[channel].in_flight : 0;
}

int64_t AckTracker::inFlightEvents() const
{
    std::lock_guard lock(mutex_);
    return inFlightEvents_;
}

int64_t AckTracker::inFlightBytes() const
{
    std::lock_guard lock(mutex_);
    return inFlightBytes_;
}

void AckTracker::resetChannel(uint32_t channel)
{
    std::lock_guard lock(mutex_);
    if (channel >= channels_.size())
        return;
    Channel &c = channels_[channel];
    for (uint64_t seq = c.base_seq; seq < c.next_seq; ++seq) {
        const Entry &e = at(c, seq);
        if (e.state == State::Pending)
            c.stale.emplace(seq, e.bytes);
    }
    retired_.fetch_add(c.next_seq - c.base_seq, std::memory_order_relaxed);
    c.head = 0;
    c.base_seq = c.next_seq;
    c.epoch++;
    c.failed = false;
    c.frozen = false;
}

bool AckTracker::waitInFlightBelow(int64_t events, int64_t bytes, std::chrono::milliseconds timeout)
{
    std::unique_lock lock(mutex_);
    ++waiters_;
    const bool ok = drained_.wait_for(lock, timeout, [&] {
        return inFlightEvents_ < events && inFlightBytes_ < bytes;
    });
    --waiters_;
    return ok;
}

uint64_t AckTracker::commitVersion() const
{
    return commitVersion_.load(std::memory_order_acquire);
}

} // namespace sfk::replay
