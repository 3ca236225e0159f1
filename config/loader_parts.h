#pragma once
// The config loader's readers for the parts of an org (loader.cpp reads the
// rest): its channels (read_channels.cpp), its auth (read_auth.cpp) and its
// Pub/Sub endpoint (read_pubsub.cpp).

#include <map>
#include <optional>
#include <string>

#include "config/yaml_fields.h"

namespace sfk::config::load {

struct ChannelDefaults {
    std::optional<std::string> topic;  // a template
    std::optional<StartPosition> start;
    std::optional<InvalidReplayPolicy> on_invalid_replay;
    std::optional<KeyPolicy> key;
    std::optional<std::string> dead_letter_topic;  // a template
    std::optional<Transport> transport;
    std::optional<ValueFormat> value_format;
    std::optional<TransportSwitchPolicy> on_transport_switch;
};


// Where each topic came from, to warn when orgs share one.
struct TopicUse {
    std::string org;
    std::string channel;
};


// `defaults:` at the root: what every channel inherits.
ChannelDefaults readDefaults(Context &ctx, const Field &f);
// orgTransport: the org's `transport:` (a channel's own wins over it, it
// wins over defaults.transport).
void readChannels(Context &ctx, const Field &f, Org &org, const ChannelDefaults &defaults,
                  std::optional<Transport> orgTransport, std::map<std::string, TopicUse> &topics);
std::optional<Transport> readTransport(Context &ctx, const Field &f);
// A file path that must be readable (empty: none), e.g. a CA bundle.
std::optional<std::string> readReadablePath(Context &ctx, const Field &f);
// The org's `pubsub:` map (read_pubsub.cpp); ok turns false on an error.
void readPubsub(Context &ctx, const Field &f, Org &org, bool &ok);
// `auth:` of an org; ok turns false on an error.
void readAuth(Context &ctx, const Field &f, Org &org, bool loopback, bool &ok);

} // namespace sfk::config::load
