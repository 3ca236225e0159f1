#include "kafka/control_topic.h"

#include <algorithm>
#include <chrono>

#include "decode/json_escape.h"
#include "kafka/event_sink.h"
#include "log/log.h"

namespace sfk::kafka {

namespace {

constexpr std::string_view kModule = "kafka";

int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
}

void appendField(std::string &out, std::string_view name, std::string_view value)
{
    out += ",\"";
    out += name;
    out += "\":";
    decode::appendJsonString(out, value);
}

void appendField(std::string &out, std::string_view name, const std::optional<int64_t> &value)
{
    out += ",\"";
    out += name;
    out += "\":";
    out += value ? std::to_string(*value) : "null";
}

void appendField(std::string &out, std::string_view name, const std::optional<replay::Position> &value)
{
    if (value && value->isOpaque())
        appendField(out, name, replay::positionText(*value));
    else
        appendField(out, name, value ? std::optional<int64_t>(value->id) : std::nullopt);
}

} // namespace

struct ControlTopic::Pending {
    std::string key;
    std::string value;
    int attempts = 0;
    std::chrono::steady_clock::time_point not_before{};
};

namespace {

struct ControlDelivery final : DeliveryHandle {
    ControlTopic *owner;
    std::unique_ptr<ControlTopic::Pending> record;
    ControlDelivery(ControlTopic *o, std::unique_ptr<ControlTopic::Pending> r)
        : owner(o), record(std::move(r)) {}
    void delivered(bool ok, int, const char *error) override
    {
        owner->onReport(std::move(record), ok, error);
        delete this;
    }
};

} // namespace

std::string gapRecordJson(const GapRecord &r)
{
    std::string out = "{\"type\":\"gap\"";
    appendField(out, "org", r.org);
    appendField(out, "org_id", r.org_id);
    appendField(out, "channel", r.channel);
    appendField(out, "transport", r.transport);
    appendField(out, "reason", r.reason);
    appendField(out, "policy", r.policy);
    appendField(out, "stored_replay_id", r.stored_replay_id);
    appendField(out, "resumed_from", r.resumed_from);
    appendField(out, "replay_id", r.replay_id);
    appendField(out, "detail", r.detail);
    appendField(out, "time_ms", std::optional<int64_t>(r.time_ms ? r.time_ms : nowMs()));
    out += '}';
    return out;
}

ControlTopic::ControlTopic(EventSink &sink, std::string topic) : sink_(sink), topic_(std::move(topic))
{
    if (!topic_.empty()) {
        sink_.prepareTopics({topic_});
        retrier_ = std::thread([this] { retryLoop(); });
    }
}

ControlTopic::~ControlTopic() { stop(); }

bool ControlTopic::publish(const GapRecord &record)
{
    auto pending = std::make_unique<Pending>();
    pending->key = record.org + "/" + record.channel;
    pending->value = gapRecordJson(record);
    std::lock_guard lock(mutex_);
    ++counts_[{record.org, record.channel, record.reason}];
    if (topic_.empty())
        return true;
    if (stopping_) {
        log::error(kModule, "gap record not written to the control topic (stopping): " + pending->value);
        return false;
    }
    retries_.push_back(std::move(pending));
    wake_.notify_all();
    return true;
}

void ControlTopic::stop()
{
    {
        std::lock_guard lock(mutex_);
        if (stopping_)
            return;
        stopping_ = true;
        for (const auto &p : retries_)
            log::error(kModule, "gap record not written to the control topic (stopping): " + p->value);
        retries_.clear();
    }
    wake_.notify_all();
    if (retrier_.joinable())
        retrier_.join();
}

void ControlTopic::onReport(std::unique_ptr<Pending> record, bool ok, const char *error)
{
    std::lock_guard lock(mutex_);
    --inSink_;
    wake_.notify_all();
    if (ok) {
        ++delivered_;
        return;
    }
    if (stopping_) {
        log::error(kModule, std::string("gap record not written to the control topic: ") +
                                (error ? error : "unknown error") + ": " + record->value);
        return;
    }
    // Kafka refused or timed out: try again later, never drop it silently.
    ++record->attempts;
    auto delay = std::chrono::milliseconds(std::min<int64_t>(30000, 500LL << std::min(record->attempts, 6)));
    record->not_before = std::chrono::steady_clock::now() + delay;
    log::warn(kModule, std::string("control topic write failed, retrying: ") + (error ? error : "unknown error"),
              {{"topic", topic_}, {"retry_ms", std::to_string(delay.count())}});
    retries_.push_back(std::move(record));
    wake_.notify_all();
}

void ControlTopic::retryLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        auto now = std::chrono::steady_clock::now();
        auto it = std::find_if(retries_.begin(), retries_.end(),
                               [&](const auto &p) { return p->not_before <= now; });
        if (it == retries_.end()) {
            auto next = now + std::chrono::seconds(1);
            for (const auto &p : retries_)
                next = std::min(next, p->not_before);
            wake_.wait_until(lock, next);
            continue;
        }
        // produce() would wait while the producer queue is full, and stop()
        // must never wait for Kafka: try again shortly instead.
        if (!sink_.hasRoom()) {
            wake_.wait_for(lock, std::chrono::milliseconds(100));
            continue;
        }
        std::unique_ptr<Pending> record = std::move(*it);
        retries_.erase(it);
        ++inSink_;
        lock.unlock();
        send(std::move(record));
        lock.lock();
    }
}

void ControlTopic::send(std::unique_ptr<Pending> record)
{
    OutRecord out;
    out.topic = topic_;
    out.key = record->key;
    out.value = record->value;
    auto *handle = new ControlDelivery(this, std::move(record));
    std::string error;
    if (sink_.produce(out, handle, error))
        return;
    // Not queued (stopping, or a produce error): the handle was not used.
    std::unique_ptr<Pending> back = std::move(handle->record);
    delete handle;
    onReport(std::move(back), false, error.c_str());
}

bool ControlTopic::drain(std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock lock(mutex_);
    for (auto &p : retries_)
        p->not_before = {};
    wake_.notify_all();
    // onReport() and the retrier notify on every change.
    return wake_.wait_until(lock, deadline, [this] { return inSink_ == 0 && retries_.empty(); });
}

int64_t ControlTopic::pending() const
{
    std::lock_guard lock(mutex_);
    return inSink_ + static_cast<int64_t>(retries_.size());
}

uint64_t ControlTopic::delivered() const
{
    std::lock_guard lock(mutex_);
    return delivered_;
}

std::map<ControlTopic::CountKey, uint64_t> ControlTopic::counts() const
{
    std::lock_guard lock(mutex_);
    return counts_;
}

} // namespace sfk::kafka
