#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "replay/ack_tracker.h"

using sfk::replay::AckTracker;
using Ticket = AckTracker::Ticket;
using namespace std::chrono_literals;

TEST_CASE("nothing committed until setCommitted or a success")
{
    AckTracker t(2);
    CHECK_FALSE(t.committed(0));
    t.setCommitted(1, 100);
    CHECK(t.committed(1) == 100);
    CHECK_FALSE(t.committed(0));
    CHECK_FALSE(t.failed(0));
    CHECK(t.inFlightEvents() == 0);
    CHECK(t.inFlightBytes() == 0);
}

TEST_CASE("in-order completions move the watermark event by event")
{
    AckTracker t(1);
    t.setCommitted(0, 10);
    Ticket a = t.track(0, 13, 100);
    Ticket b = t.track(0, 20, 200);
    Ticket c = t.track(0, 21, 300);
    CHECK(t.inFlight(0) == 3);
    CHECK(t.inFlightEvents() == 3);
    CHECK(t.inFlightBytes() == 600);
    CHECK(t.committed(0) == 10);

    t.complete(a, true);
    CHECK(t.committed(0) == 13);
    t.complete(b, true);
    CHECK(t.committed(0) == 20);
    t.complete(c, true);
    CHECK(t.committed(0) == 21);
    CHECK(t.inFlight(0) == 0);
    CHECK(t.inFlightEvents() == 0);
    CHECK(t.inFlightBytes() == 0);
}

TEST_CASE("out-of-order completions never move past a hole; filling it jumps ahead")
{
    AckTracker t(1);
    std::vector<Ticket> k;
    for (int64_t id : { 5, 9, 12, 40, 41 })
        k.push_back(t.track(0, id, 10));
    t.complete(k[2], true);
    t.complete(k[4], true);
    CHECK_FALSE(t.committed(0));
    t.complete(k[1], true);
    CHECK_FALSE(t.committed(0));   // the first event is the hole
    t.complete(k[0], true);
    CHECK(t.committed(0) == 12);   // up to the next hole (40)
    t.complete(k[3], true);
    CHECK(t.committed(0) == 41);
    CHECK(t.inFlightEvents() == 0);
}

TEST_CASE("channels are independent")
{
    AckTracker t(3);
    Ticket a = t.track(0, 1, 1);
    Ticket b = t.track(1, 7, 1);
    Ticket c = t.track(2, 3, 1);
    t.complete(b, true);
    CHECK(t.committed(1) == 7);
    CHECK_FALSE(t.committed(0));
    t.complete(c, false);
    CHECK(t.failed(2));
    CHECK_FALSE(t.failed(0));
    CHECK_FALSE(t.failed(1));
    t.complete(a, true);
    CHECK(t.committed(0) == 1);
    CHECK(t.inFlight(0) == 0);
    CHECK(t.inFlight(2) == 0);
}

TEST_CASE("a failure freezes the watermark before the failed event")
{
    AckTracker t(1);
    t.setCommitted(0, 1);
    Ticket a = t.track(0, 2, 1);
    Ticket b = t.track(0, 3, 1);
    Ticket c = t.track(0, 4, 1);
    Ticket d = t.track(0, 5, 1);

    t.complete(c, false);   // fails while a and b are still pending
    CHECK(t.failed(0));
    CHECK(t.committed(0) == 1);
    t.complete(b, true);
    t.complete(a, true);
    CHECK(t.committed(0) == 3);   // everything before the failed event
    t.complete(d, true);          // success after the failure stays frozen
    CHECK(t.committed(0) == 3);
    CHECK(t.failed(0));

    // New events of the same epoch stay frozen too.
    Ticket e = t.track(0, 6, 1);
    t.complete(e, true);
    CHECK(t.committed(0) == 3);
    CHECK(t.inFlight(0) == 0);
}

TEST_CASE("the first failure in sequence order wins, whatever the report order")
{
    AckTracker t(1);
    Ticket a = t.track(0, 1, 1);
    Ticket b = t.track(0, 2, 1);
    Ticket c = t.track(0, 3, 1);
    Ticket d = t.track(0, 4, 1);
    t.complete(d, false);
    t.complete(b, false);
    t.complete(c, true);
    t.complete(a, true);
    CHECK(t.committed(0) == 1);
}

TEST_CASE("resetChannel starts a new epoch: stale reports only settle counts")
{
    AckTracker t(1);
    t.setCommitted(0, 100);
    Ticket a = t.track(0, 101, 10);
    Ticket b = t.track(0, 102, 20);
    Ticket c = t.track(0, 103, 30);
    t.complete(a, true);
    t.complete(b, false);
    CHECK(t.committed(0) == 101);
    CHECK(t.failed(0));

    t.resetChannel(0);
    CHECK_FALSE(t.failed(0));
    CHECK(t.committed(0) == 101);        // committed stays
    CHECK(t.inFlight(0) == 1);           // c is still out there
    CHECK(t.inFlightBytes() == 30);

    // The resubscribe replays from 101: the same replay ids come again.
    Ticket b2 = t.track(0, 102, 20);
    Ticket c2 = t.track(0, 103, 30);
    CHECK(b2.epoch == a.epoch + 1);
    CHECK(t.inFlightEvents() == 3);
    t.complete(b2, true);
    CHECK(t.committed(0) == 102);        // does not wait for the stale c
    t.complete(c, true);                 // stale: counts only
    CHECK(t.committed(0) == 102);
    CHECK(t.inFlightEvents() == 1);
    CHECK(t.inFlightBytes() == 30);
    t.complete(c2, true);
    CHECK(t.committed(0) == 103);
    CHECK(t.inFlightEvents() == 0);
    CHECK(t.inFlightBytes() == 0);
    CHECK(t.inFlight(0) == 0);
}

TEST_CASE("a stale failure does not fail the new epoch")
{
    AckTracker t(1);
    Ticket a = t.track(0, 1, 5);
    t.resetChannel(0);
    Ticket b = t.track(0, 1, 5);
    t.complete(a, false);
    CHECK_FALSE(t.failed(0));
    t.complete(b, true);
    CHECK(t.committed(0) == 1);
    CHECK(t.inFlightEvents() == 0);
}

TEST_CASE("repeated and unknown reports are ignored")
{
    AckTracker t(2);
    Ticket a = t.track(0, 1, 5);
    Ticket b = t.track(0, 2, 5);
    t.complete(b, true);
    t.complete(b, true);
    t.complete(b, false);
    CHECK(t.inFlightEvents() == 1);
    CHECK_FALSE(t.failed(0));
    t.complete(a, true);
    t.complete(a, true);
    CHECK(t.committed(0) == 2);
    CHECK(t.inFlightEvents() == 0);
    t.complete(Ticket{ 0, 0, 999 }, true);
    t.complete(Ticket{ 7, 0, 1 }, true);
    CHECK(t.inFlightEvents() == 0);
    CHECK(t.committed(0) == 2);
}

TEST_CASE("commitVersion moves with committed ids")
{
    AckTracker t(1);
    const uint64_t v0 = t.commitVersion();
    Ticket a = t.track(0, 1, 1);
    Ticket b = t.track(0, 2, 1);
    t.complete(b, true);
    CHECK(t.commitVersion() == v0);
    t.complete(a, true);
    const uint64_t v1 = t.commitVersion();
    CHECK(v1 > v0);
    t.setCommitted(0, 2);   // same value: no move
    CHECK(t.commitVersion() == v1);
    t.setCommitted(0, 50);
    CHECK(t.commitVersion() > v1);
}

TEST_CASE("tickets pack into a pointer and back")
{
    AckTracker t(3);
    Ticket a = t.track(2, 77, 1);
    void *p = AckTracker::pack(a);
    CHECK(p != nullptr);
    Ticket u = AckTracker::unpack(p);
    CHECK(u.channel == 2);
    CHECK(u.seq == a.seq);
    t.complete(u, true);
    CHECK(t.committed(2) == 77);

    Ticket big{ 65535, 9, (uint64_t(1) << 48) - 1 };
    Ticket ub = AckTracker::unpack(AckTracker::pack(big));
    CHECK(ub.channel == 65535);
    CHECK(ub.seq == big.seq);
}

TEST_CASE("the ring grows and wraps without losing order")
{
    AckTracker t(1);
    std::vector<Ticket> pending;
    int64_t id = 0;
    // Keep a window of ~300 events sliding forward many times (wraps the
    // ring), completing the newest half first.
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 300; ++i)
            pending.push_back(t.track(0, ++id, 1));
        for (size_t i = pending.size(); i-- > pending.size() / 2;)
            t.complete(pending[i], true);
        for (size_t i = 0; i < pending.size() / 2; ++i)
            t.complete(pending[i], true);
        CHECK(t.committed(0) == id);
        pending.clear();
    }
    CHECK(t.inFlightEvents() == 0);
}

TEST_CASE("waitInFlightBelow waits for reports")
{
    AckTracker t(1);
    std::vector<Ticket> k;
    for (int i = 0; i < 10; ++i)
        k.push_back(t.track(0, i, 100));
    CHECK_FALSE(t.waitInFlightBelow(5, 1 << 20, 10ms));
    CHECK(t.waitInFlightBelow(11, 1001, 0ms));
    std::thread reporter([&] {
        std::this_thread::sleep_for(20ms);
        for (const Ticket &x : k)
            t.complete(x, true);
    });
    CHECK(t.waitInFlightBelow(1, 1, 5s));
    reporter.join();
    CHECK(t.committed(0) == 9);
}

TEST_CASE("stress: one tracking thread, two completing threads in random order")
{
    constexpr int kChannels = 4;
    constexpr int kEvents = 200000;
    AckTracker t(kChannels);
    std::mutex qm;
    std::vector<Ticket> queue;
    std::atomic<bool> done{ false };
    std::vector<int64_t> last(kChannels, -1);

    auto completer = [&](unsigned seed) {
        std::mt19937 rng(seed);
        std::vector<Ticket> mine;
        for (;;) {
            const bool finished = done.load();   // read before taking the queue
            {
                std::lock_guard lock(qm);
                mine.swap(queue);
            }
            if (mine.empty()) {
                if (finished)
                    break;
                std::this_thread::yield();
                continue;
            }
            std::shuffle(mine.begin(), mine.end(), rng);
            for (const Ticket &x : mine)
                t.complete(AckTracker::unpack(AckTracker::pack(x)), true);
            mine.clear();
        }
    };

    std::thread c1(completer, 1), c2(completer, 2);
    std::mt19937 rng(3);
    int64_t replay = 1000;
    for (int i = 0; i < kEvents; ++i) {
        // Back-pressure like the session: bound the in-flight window.
        if (t.inFlightEvents() >= 5000)
            REQUIRE(t.waitInFlightBelow(2500, INT64_MAX, 10s));
        const uint32_t ch = rng() % kChannels;
        replay += 1 + rng() % 3;   // increasing, not contiguous
        last[ch] = replay;
        Ticket x = t.track(ch, replay, 1 + rng() % 2000);
        std::lock_guard lock(qm);
        queue.push_back(x);
    }
    done = true;
    c1.join();
    c2.join();
    REQUIRE(t.waitInFlightBelow(1, 1, 10s));
    for (uint32_t ch = 0; ch < kChannels; ++ch) {
        CHECK(t.committed(ch) == last[ch]);
        CHECK(t.inFlight(ch) == 0);
        CHECK_FALSE(t.failed(ch));
    }
    CHECK(t.inFlightBytes() == 0);
}

TEST_CASE("tracked and retired count the window a crash could replay")
{
    sfk::replay::AckTracker t(2);
    auto a = t.track(0, 10, 1);
    auto b = t.track(0, 20, 1);
    auto c = t.track(1, 5, 1);
    CHECK(t.tracked() == 3);
    CHECK(t.retired() == 0);
    t.complete(b, true);             // behind a hole: not retired yet
    CHECK(t.retired() == 0);
    t.complete(a, true);
    CHECK(t.retired() == 2);
    t.complete(c, false);            // a failure retires (and freezes) too
    CHECK(t.retired() == 3);
    auto d = t.track(1, 6, 1);
    (void)d;
    t.resetChannel(1);               // dropped entries leave the window
    CHECK(t.retired() == 4);
    CHECK(t.tracked() == 4);
}
