#pragma once
// Shared pieces of the pipeline tests: sfemu and sfkafkad configs, and
// checks of what landed in Kafka against sfemu's `published` oracle.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_process.h"
#include "kafka_harness.h"
#include "sfemu_process.h"

namespace sfk::test {

struct ChannelSpec {
    std::string name;
    std::string topic;
    std::string start = "earliest";
    std::string on_invalid_replay = "fail";
    std::string key;  // empty: default
    std::string dead_letter_topic;  // empty: default
    std::string transport;          // empty: the org's (cometd)
    std::string value_format;       // pubsub only; empty: json
};

struct OrgSpec {
    std::string name = "default";
    std::string client_id = "sfemu-client";
    std::string client_secret = "sfemu-secret";
    std::string username = "user@example.com";
    std::string password = "password";
    std::vector<ChannelSpec> channels;
    long max_in_flight_events = 10000;
    long daily_event_allocation = 0;   // allocation.daily_events; 0: not set
    long allocation_warn_percent = 0;  // allocation.warn_percent; 0: not set
    // pubsub.endpoint (host:port) and pubsub.ca_file; empty: not set.
    std::string pubsub_endpoint;
    std::string pubsub_ca_file;
    long pubsub_stall_timeout_ms = 0;    // 0: not set
    std::string pubsub_schemas_topic;    // empty: not set
};

struct DaemonSpec {
    std::string login_url;
    std::string brokers;
    std::string state_dir;
    long commit_interval_ms = 100;
    std::vector<OrgSpec> orgs;
    std::map<std::string, std::string> librdkafka;
    std::string control_topic;  // empty: the default
};

inline std::string daemonConfig(const DaemonSpec &d)
{
    std::ostringstream y;
    y << "version: 1\n"
      << "kafka:\n  brokers: " << d.brokers << "\n";
    if (!d.control_topic.empty())
        y << "  control_topic: " << d.control_topic << "\n";
    if (!d.librdkafka.empty()) {
        y << "  librdkafka:\n";
        for (auto &[k, v] : d.librdkafka)
            y << "    " << k << ": \"" << v << "\"\n";
    }
    y << "state:\n  directory: " << d.state_dir << "\n  commit_interval_ms: " << d.commit_interval_ms
      << "\nhttp:\n  listen: \"\"\n"
      << "orgs:\n";
    for (const auto &o : d.orgs) {
        y << "  " << o.name << ":\n"
          << "    login_url: " << d.login_url << "\n"
          << "    max_in_flight_events: " << o.max_in_flight_events << "\n";
        if (o.daily_event_allocation > 0) {
            y << "    allocation:\n      daily_events: " << o.daily_event_allocation << "\n";
            if (o.allocation_warn_percent > 0)
                y << "      warn_percent: " << o.allocation_warn_percent << "\n";
        }
        if (!o.pubsub_endpoint.empty()) {
            y << "    pubsub:\n      endpoint: \"" << o.pubsub_endpoint << "\"\n";
            if (!o.pubsub_ca_file.empty())
                y << "      ca_file: " << o.pubsub_ca_file << "\n";
            if (o.pubsub_stall_timeout_ms > 0)
                y << "      stall_timeout_ms: " << o.pubsub_stall_timeout_ms << "\n";
            if (!o.pubsub_schemas_topic.empty())
                y << "      schemas_topic: " << o.pubsub_schemas_topic << "\n";
        }
        y << "    auth:\n      flow: password\n"
          << "      client_id: " << o.client_id << "\n"
          << "      client_secret: " << o.client_secret << "\n"
          << "      username: " << o.username << "\n"
          << "      password: " << o.password << "\n"
          << "    channels:\n";
        for (const auto &c : o.channels) {
            y << "      " << c.name << ":\n"
              << "        topic: " << c.topic << "\n"
              << "        start: " << c.start << "\n"
              << "        on_invalid_replay: " << c.on_invalid_replay << "\n";
            if (!c.key.empty())
                y << "        key: " << c.key << "\n";
            if (!c.dead_letter_topic.empty())
                y << "        dead_letter_topic: " << c.dead_letter_topic << "\n";
            if (!c.transport.empty())
                y << "        transport: " << c.transport << "\n";
            if (!c.value_format.empty())
                y << "        value_format: " << c.value_format << "\n";
        }
    }
    return y.str();
}

// sfemu config with several orgs, each with its own app and user.
struct EmuOrg {
    std::string name;
    std::string org_id;
    std::vector<std::string> channels;
};

inline std::string emulatorConfig(const std::vector<EmuOrg> &orgs, long hold_ms = 500,
                                  long max_per_response = 1000)
{
    std::ostringstream y;
    y << "version: 1\nconnect_hold_ms: " << hold_ms
      << "\nmax_events_per_response: " << max_per_response << "\norgs:\n";
    for (const auto &o : orgs) {
        y << "  - name: " << o.name << "\n    org_id: " << o.org_id << "\n"
          << "    users:\n      - username: user@" << o.name << ".example\n        password: pw-" << o.name << "\n"
          << "    apps:\n      - client_id: app-" << o.name << "\n        client_secret: secret-" << o.name << "\n"
          << "    channels:\n";
        for (const auto &c : o.channels)
            y << "      - " << c << "\n";
    }
    return y.str();
}

inline OrgSpec orgFor(const EmuOrg &e)
{
    OrgSpec o;
    o.name = e.name;
    o.client_id = "app-" + e.name;
    o.client_secret = "secret-" + e.name;
    o.username = "user@" + e.name + ".example";
    o.password = "pw-" + e.name;
    return o;
}

// sfkafkad streaming the first channel of one sfemu org into topic.
inline DaemonSpec singleChannelSpec(const std::string &login_url, const std::string &brokers,
                                    const std::string &state_dir, const EmuOrg &emu_org,
                                    const std::string &topic)
{
    DaemonSpec spec{login_url, brokers, state_dir};
    OrgSpec org = orgFor(emu_org);
    org.channels = {{emu_org.channels.at(0), topic}};
    spec.orgs.push_back(org);
    return spec;
}

// sfemu's Pub/Sub replay ids are 10 bytes: the numeric id big-endian, then
// a check (emulator/pubsub/core.h). Only the tests look inside them.
inline int64_t pubsubReplayId(const std::string &base64)
{
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : base64) {
        auto at = alphabet.find(c);
        if (at == std::string::npos)
            break;
        acc = (acc << 6) | static_cast<uint32_t>(at);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    if (bytes.size() < 8)
        return -1;
    int64_t id = 0;
    for (int i = 0; i < 8; ++i)
        id = (id << 8) | static_cast<unsigned char>(bytes[i]);
    return id;
}

inline int64_t replayIdOf(const Record &r)
{
    auto h = r.header("sf.replay_id");
    if (!h)
        return -1;
    if (r.header("sf.transport") == std::optional<std::string>("pubsub"))
        return pubsubReplayId(*h);
    return std::stoll(*h);
}

// sfkafkad's Pub/Sub settings for an sfemu (TLS to its own CA, by the
// name its certificate carries).
inline void usePubsubOf(OrgSpec &o, const SfemuProcess &emu)
{
    const std::string &address = emu.pubsubAddress();
    o.pubsub_endpoint = "localhost:" + address.substr(address.rfind(':') + 1);
    o.pubsub_ca_file = emu.pubsubCa();
}

// What landed for one channel compared with what sfemu published.
struct Landing {
    size_t published = 0;
    size_t records = 0;
    size_t missing = 0;
    size_t duplicates = 0;
    size_t order_errors = 0;  // a replay id lower than an earlier one (first copies only)
    std::string firstMissing;
};

inline Landing compareLanding(const std::vector<PublishedEvent> &published,
                              const std::vector<Record> &records, const std::string &channel = "")
{
    Landing l;
    l.published = published.size();
    std::map<int64_t, int> seen;
    int64_t lastFirst = -1;
    std::map<int32_t, int64_t> lastByPartition;
    for (const auto &r : records) {
        if (!channel.empty() && r.header("sf.channel") != std::optional<std::string>(channel))
            continue;
        ++l.records;
        int64_t id = replayIdOf(r);
        if (seen[id]++ > 0) {
            ++l.duplicates;
            continue;
        }
        auto it = lastByPartition.find(r.partition);
        if (it != lastByPartition.end() && id < it->second)
            ++l.order_errors;
        lastByPartition[r.partition] = id;
        lastFirst = id;
    }
    for (const auto &p : published) {
        if (!seen.count(p.replay_id)) {
            if (l.missing++ == 0)
                l.firstMissing = std::to_string(p.replay_id);
        }
    }
    (void)lastFirst;
    return l;
}

// Waits until every published event of the channel is in the topic (or the
// timeout passes), then returns the comparison.
inline Landing awaitLanding(SfemuProcess &emu, const std::string &org, const std::string &channel,
                            const std::string &bootstrap, const std::string &topic,
                            std::chrono::milliseconds timeout = std::chrono::seconds(90))
{
    auto published = emu.published(org, channel);
    Landing l;
    waitUntil([&] {
        if (topicSize(bootstrap, topic) < static_cast<int64_t>(published.size()))
            return false;
        l = compareLanding(published, consumeAll(bootstrap, topic), channel);
        return l.missing == 0;
    }, timeout);
    if (l.published == 0 && !published.empty())
        l = compareLanding(published, consumeAll(bootstrap, topic), channel);
    return l;
}

inline std::string describe(const Landing &l)
{
    return "published " + std::to_string(l.published) + ", records " + std::to_string(l.records) +
           ", missing " + std::to_string(l.missing) + (l.missing ? " (first " + l.firstMissing + ")" : "") +
           ", duplicates " + std::to_string(l.duplicates) + ", order errors " + std::to_string(l.order_errors);
}

} // namespace sfk::test
