#pragma once
// Shared pieces of the Pub/Sub pipeline tests: events to publish, a daemon
// config streaming sfemu's channels over Pub/Sub, the stored positions, the
// daemon's metrics and its connections to sfemu's Pub/Sub port.

#include <optional>
#include <string>
#include <vector>

#include "../ops/ops_support.h"
#include "pipeline_support.h"
#include "replay/replay_store.h"
#include "tcp_connections.h"

namespace sfk::test {

// `count` Demo__e payloads numbered from `from`.
inline std::string demoPayloads(int from, int count)
{
    std::string out = "[";
    for (int i = from; i < from + count; ++i)
        out += (i > from ? "," : "") + std::string("{\"Order_Number__c\":\"N-") + std::to_string(i) +
               "\",\"Amount__c\":" + std::to_string(i) + ".5}";
    return out + "]";
}

// Publishes `count` payloads to the channel of the default org, 200 at a time.
inline std::vector<int64_t> publishMany(SfemuProcess &emu, const std::string &channel, int from, int count)
{
    std::vector<int64_t> ids;
    for (int at = from; at < from + count; at += 200) {
        auto some = emu.publish("default", channel, demoPayloads(at, std::min(200, from + count - at)));
        ids.insert(ids.end(), some.begin(), some.end());
    }
    return ids;
}

// The Pub/Sub position the state directory holds for a channel.
inline std::optional<replay::Position> storedPubsub(const std::string &state, const std::string &channel)
{
    std::vector<replay::StoredId> ids;
    std::string error;
    REQUIRE_MESSAGE(replay::ReplayStore::readSnapshot(state, ids, error), error);
    for (const auto &id : ids)
        if (id.channel == channel && id.transport == replay::Transport::Pubsub)
            return id.replay_id;
    return std::nullopt;
}

// sfemu's numeric id inside the stored Pub/Sub position (-1: none).
inline int64_t storedPubsubId(const std::string &state, const std::string &channel)
{
    auto p = storedPubsub(state, channel);
    return p && p->isOpaque() ? pubsubReplayId(replay::positionText(*p)) : -1;
}

// One org of the default sfemu org streaming `channels` over Pub/Sub, each
// into the topic of the same index, keyed by the order number.
inline DaemonSpec pubsubSpec(const SfemuProcess &emu, const std::string &brokers, const std::string &state,
                             const std::vector<std::pair<std::string, std::string>> &channels)
{
    DaemonSpec spec{emu.url(), brokers, state};
    OrgSpec org;
    usePubsubOf(org, emu);
    for (const auto &[name, topic] : channels) {
        ChannelSpec ch{name, topic, "earliest", "fail"};
        ch.transport = "pubsub";
        org.channels.push_back(ch);
    }
    spec.orgs = {org};
    return spec;
}

// One test's sfemu, state directory, metrics port and a daemon config
// streaming the default org's /event/Demo__e over Pub/Sub into `topic`.
struct DemoRun {
    SfemuProcess emu;
    TempDir dir;
    std::string topic;
    int port;
    DaemonSpec spec;

    DemoRun(const std::string &prefix, const std::string &emu_config = "connect_hold_ms: 300\n",
            std::vector<std::string> emu_args = {})
        : emu(SfemuProcess::start(emu_config, std::move(emu_args))), topic(uniqueTopic(prefix)), port(freePort()),
          spec(pubsubSpec(emu, KafkaBroker::shared().bootstrap(), dir.file("state"), {{"/event/Demo__e", topic}}))
    {
    }
    // sfkafkad on the spec, serving /metrics on `port`.
    DaemonProcess start() const { return DaemonProcess::start(dir, withListen(daemonConfig(spec), port)); }
    Landing landing(std::chrono::milliseconds timeout = std::chrono::seconds(30))
    {
        return awaitLanding(emu, "default", "/event/Demo__e", KafkaBroker::shared().bootstrap(), topic, timeout);
    }
    // Publishes `events` events, starts the daemon and waits until they landed once each.
    DaemonProcess startStreaming(int events)
    {
        publishMany(emu, "/event/Demo__e", 0, events);
        DaemonProcess daemon = start();
        Landing l = landing();
        INFO(describe(l));
        REQUIRE(l.missing == 0);
        REQUIRE(l.duplicates == 0);
        return daemon;
    }
};

// The daemon's /metrics text ("" when it does not answer).
inline std::string metricsOf(int port) { return httpGet(port, "/metrics").body; }

// sfkafka_reconnects_total of the default org's Pub/Sub session for a reason (-1: absent).
inline double reconnects(int port, const std::string &reason)
{
    return metricValue(metricsOf(port),
                       "sfkafka_reconnects_total{org=\"default\",transport=\"pubsub\",reason=\"" + reason + "\"}");
}

// A series of the default org's Pub/Sub session (-1: absent).
inline double sessionMetric(int port, const std::string &name)
{
    return metricValue(metricsOf(port), name + "{org=\"default\",transport=\"pubsub\"}");
}

inline int portOf(const std::string &address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

} // namespace sfk::test
