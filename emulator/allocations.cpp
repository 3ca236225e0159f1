#include "allocations.h"

#include <algorithm>

#include "util.h"

namespace sfk::emu {

namespace {

// The window is kept as this many buckets: rolling to within 1/240 of it
// (six minutes of a day) without storing every delivery.
constexpr int64_t kBucketsPerWindow = 240;
// Closed clients with nothing left in the window are forgotten beyond this.
constexpr size_t kMaxClosedKept = 1000;

} // namespace

const char *transportName(Transport t)
{
    return t == Transport::CometD ? "cometd" : "pubsub";
}

DeliveryAllocations::DeliveryAllocations(AllocationLimits limits) : limits_(limits) {}

AllocationLimits DeliveryAllocations::limits() const
{
    std::lock_guard lock(mutex_);
    return limits_;
}

void DeliveryAllocations::setLimits(const AllocationLimits &limits)
{
    std::lock_guard lock(mutex_);
    limits_ = limits;
}

void DeliveryAllocations::resetUsage()
{
    std::lock_guard lock(mutex_);
    in_window_ = 0;
    for (auto it = clients_.begin(); it != clients_.end();) {
        it->second.buckets.clear();
        it->second.in_window = 0;
        it->second.total = 0;
        it = it->second.open ? std::next(it) : clients_.erase(it);
    }
}

int64_t DeliveryAllocations::bucketMs() const
{
    return std::max<int64_t>(1, limits_.window_seconds * 1000 / kBucketsPerWindow);
}

void DeliveryAllocations::expireLocked(int64_t now_ms)
{
    int64_t horizon = now_ms - limits_.window_seconds * 1000;
    int64_t width = bucketMs();
    size_t closed = 0;
    for (auto it = clients_.begin(); it != clients_.end();) {
        auto &c = it->second;
        while (!c.buckets.empty() && c.buckets.front().start_ms + width <= horizon) {
            c.in_window -= c.buckets.front().count;
            in_window_ -= c.buckets.front().count;
            c.buckets.pop_front();
        }
        if (!c.open && c.in_window == 0 && ++closed > kMaxClosedKept) {
            it = clients_.erase(it);
            continue;
        }
        ++it;
    }
}

bool DeliveryAllocations::openClient(const std::string &client_id, Transport transport,
                                     int64_t now_ms)
{
    std::lock_guard lock(mutex_);
    expireLocked(now_ms);
    auto it = clients_.find(client_id);
    if (it != clients_.end() && it->second.open)
        return true;
    if (limits_.concurrent_clients > 0 && int64_t(open_) >= limits_.concurrent_clients)
        return false;
    auto &c = clients_[client_id];
    c.transport = transport;
    c.open = true;
    c.closed_ms = 0;
    ++open_;
    return true;
}

void DeliveryAllocations::closeClient(const std::string &client_id, int64_t now_ms)
{
    std::lock_guard lock(mutex_);
    auto it = clients_.find(client_id);
    if (it == clients_.end() || !it->second.open)
        return;
    it->second.open = false;
    it->second.closed_ms = now_ms;
    --open_;
}

size_t DeliveryAllocations::openClients() const
{
    std::lock_guard lock(mutex_);
    return open_;
}

int64_t DeliveryAllocations::remaining(int64_t now_ms)
{
    std::lock_guard lock(mutex_);
    if (limits_.daily_delivered_events <= 0)
        return kUnlimited;
    expireLocked(now_ms);
    return std::max<int64_t>(0, limits_.daily_delivered_events - in_window_);
}

void DeliveryAllocations::recordDelivered(const std::string &client_id, Transport transport,
                                          int64_t count, int64_t now_ms)
{
    if (count <= 0)
        return;
    std::lock_guard lock(mutex_);
    recordLocked(client_id, transport, count, now_ms);
}

int64_t DeliveryAllocations::claim(const std::string &client_id, Transport transport, int64_t wanted,
                                   int64_t now_ms)
{
    if (wanted <= 0)
        return 0;
    std::lock_guard lock(mutex_);
    if (limits_.daily_delivered_events > 0) {
        expireLocked(now_ms);
        wanted = std::min(wanted, std::max<int64_t>(0, limits_.daily_delivered_events - in_window_));
    }
    if (wanted > 0)
        recordLocked(client_id, transport, wanted, now_ms);
    return wanted;
}

void DeliveryAllocations::recordLocked(const std::string &client_id, Transport transport, int64_t count,
                                       int64_t now_ms)
{
    auto [it, added] = clients_.try_emplace(client_id);
    auto &c = it->second;
    if (added)
        c.transport = transport;
    int64_t width = bucketMs();
    int64_t start = now_ms - now_ms % width;
    if (c.buckets.empty() || c.buckets.back().start_ms != start)
        c.buckets.push_back({start, 0});
    c.buckets.back().count += count;
    c.in_window += count;
    c.total += count;
    in_window_ += count;
}

std::string DeliveryAllocations::usageJson(int64_t now_ms)
{
    std::lock_guard lock(mutex_);
    expireLocked(now_ms);
    std::string out = "{\"window_seconds\":" + std::to_string(limits_.window_seconds) +
                      ",\"daily_delivered_events\":" + std::to_string(limits_.daily_delivered_events) +
                      ",\"concurrent_clients\":" + std::to_string(limits_.concurrent_clients) +
                      ",\"delivered\":" + std::to_string(in_window_) + ",\"remaining\":" +
                      (limits_.daily_delivered_events > 0
                           ? std::to_string(std::max<int64_t>(0, limits_.daily_delivered_events - in_window_))
                           : std::string("null")) +
                      ",\"open_clients\":" + std::to_string(open_) + ",\"clients\":[";
    bool first = true;
    for (auto &[id, c] : clients_) {
        if (!first)
            out += ',';
        first = false;
        out += "{\"client_id\":" + jsonString(id) + ",\"transport\":\"" + transportName(c.transport) +
               "\",\"open\":" + (c.open ? "true" : "false") +
               ",\"delivered\":" + std::to_string(c.in_window) +
               ",\"delivered_total\":" + std::to_string(c.total) + "}";
    }
    return out + "]}";
}

} // namespace sfk::emu
