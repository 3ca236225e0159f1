#pragma once
// Checks on single values (URLs, host:port, channel and topic names, JSON
// pointers). Each returns "" when valid, else a message for the user.

#include <string>
#include <string_view>

namespace sfk::config {

struct Url {
    std::string scheme;  // lower case
    std::string host;    // lower case, without [] for IPv6
    int port = 0;        // 0 when absent
};

// scheme://host[:port][/]; no user info, path, query or fragment.
std::string parseLoginUrl(std::string_view text, Url &out);

// 127.0.0.0/8, ::1 and localhost.
bool isLoopbackHost(std::string_view host);

// host:port or [v6]:port; port 0..65535. host is returned without brackets.
std::string parseHostPort(std::string_view text, std::string &host, int &port);

// /topic/Name, /event/Name, /data/Name, /u/Name[/More].
std::string checkChannelName(std::string_view name);

// The channel as a piece of a Kafka topic name: leading '/' stripped, every
// character Kafka does not allow replaced by '.'.
std::string channelTopicPiece(std::string_view channel);

// At most 249 characters of [a-zA-Z0-9._-], not "." or "..".
std::string checkTopicName(std::string_view topic);

// RFC 6901 pointer, non-empty: "/a/b~1c".
std::string checkJsonPointer(std::string_view pointer);

} // namespace sfk::config
