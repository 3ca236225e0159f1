#pragma once
// The config loader's readers for the parts of an org (loader.cpp reads the
// rest): its channels (read_channels.cpp) and its auth (read_auth.cpp).

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
};


// Where each topic came from, to warn when orgs share one.
struct TopicUse {
    std::string org;
    std::string channel;
};


// `defaults:` at the root: what every channel inherits.
ChannelDefaults readDefaults(Context &ctx, const Field &f);
void readChannels(Context &ctx, const Field &f, Org &org, const ChannelDefaults &defaults,
                  std::map<std::string, TopicUse> &topics);
// `auth:` of an org; ok turns false on an error.
void readAuth(Context &ctx, const Field &f, Org &org, bool loopback, bool &ok);

} // namespace sfk::config::load
