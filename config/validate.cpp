#include "config/validate.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <charconv>

namespace sfk::config {

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool parsePort(std::string_view text, int &port)
{
    if (text.empty() || text.size() > 5)
        return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    return ec == std::errc() && end == text.data() + text.size() && port >= 0 && port <= 65535;
}

bool isHostChar(unsigned char c)
{
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
}

} // namespace

std::string parseHostPort(std::string_view text, std::string &host, int &port)
{
    std::string_view hostPart, portPart;
    if (text.starts_with('[')) {
        size_t close = text.find(']');
        if (close == std::string_view::npos)
            return "missing ']' after an IPv6 address";
        hostPart = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.starts_with(':'))
            return "expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464";
        portPart = rest.substr(1);
        in6_addr addr{};
        if (inet_pton(AF_INET6, std::string(hostPart).c_str(), &addr) != 1)
            return "'" + std::string(hostPart) + "' is not an IPv6 address";
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return "expected host:port, e.g. 127.0.0.1:9464";
        hostPart = text.substr(0, colon);
        portPart = text.substr(colon + 1);
        if (hostPart.find(':') != std::string_view::npos)
            return "write an IPv6 address in brackets, e.g. [::1]:9464";
        if (hostPart.empty())
            return "the host is missing (use 0.0.0.0 for every interface)";
        if (!std::all_of(hostPart.begin(), hostPart.end(), isHostChar))
            return "'" + std::string(hostPart) + "' is not a host name or address";
    }
    if (!parsePort(portPart, port))
        return "'" + std::string(portPart) + "' is not a port (0-65535)";
    host = lower(hostPart);
    return {};
}

std::string parseLoginUrl(std::string_view text, Url &out)
{
    size_t sep = text.find("://");
    if (sep == std::string_view::npos)
        return "expected a URL such as https://login.salesforce.com or https://acme.my.salesforce.com";
    out.scheme = lower(text.substr(0, sep));
    if (out.scheme != "https" && out.scheme != "http")
        return "the scheme must be https (or http for a loopback emulator), not '" + out.scheme + "'";
    std::string_view rest = text.substr(sep + 3);
    if (rest.ends_with('/'))
        rest.remove_suffix(1);
    if (rest.find('@') != std::string_view::npos)
        return "a login_url must not carry user information; credentials belong in auth:";
    if (rest.find_first_of("/?#") != std::string_view::npos)
        return "a login_url is scheme://host[:port] with no path, query or fragment";
    if (rest.empty())
        return "the host is missing";

    std::string_view host = rest;
    std::string_view port;
    bool hasPort = false;
    if (rest.starts_with('[')) {
        size_t close = rest.find(']');
        if (close == std::string_view::npos)
            return "missing ']' after an IPv6 address";
        host = rest.substr(1, close - 1);
        std::string_view after = rest.substr(close + 1);
        if (!after.empty()) {
            if (!after.starts_with(':'))
                return "unexpected text after the host";
            port = after.substr(1);
            hasPort = true;
        }
        in6_addr addr{};
        if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1)
            return "'" + std::string(host) + "' is not an IPv6 address";
    } else {
        size_t colon = rest.rfind(':');
        if (colon != std::string_view::npos) {
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
            hasPort = true;
        }
        if (host.empty() || !std::all_of(host.begin(), host.end(), isHostChar) || host.front() == '.' ||
            host.front() == '-')
            return "'" + std::string(host) + "' is not a host name";
    }
    out.port = 0;
    if (hasPort) {
        if (!parsePort(port, out.port) || out.port == 0)
            return "'" + std::string(port) + "' is not a port (1-65535)";
    }
    out.host = lower(host);
    return {};
}

bool isLoopbackHost(std::string_view hostText)
{
    std::string host = lower(hostText);
    if (host == "localhost" || host == "localhost.")
        return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

std::string checkChannelName(std::string_view name)
{
    static constexpr std::string_view prefixes[] = { "/topic/", "/event/", "/data/", "/u/" };
    std::string_view prefix;
    for (std::string_view p : prefixes)
        if (name.starts_with(p))
            prefix = p;
    if (prefix.empty())
        return "a channel starts with /topic/ (PushTopic), /event/ (platform event), /data/ (Change Data "
               "Capture) or /u/ (generic streaming)";
    std::string_view rest = name.substr(prefix.size());
    if (rest.empty())
        return "the channel name after " + std::string(prefix) + " is missing";
    bool multi = prefix == "/u/";
    size_t start = 0;
    while (true) {
        size_t slash = rest.find('/', start);
        std::string_view segment = rest.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                                      : slash - start);
        if (segment.empty())
            return "empty segment in channel name";
        if (!std::all_of(segment.begin(), segment.end(),
                         [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
            return "channel names are made of letters, digits and '_' (e.g. /event/Order_Placed__e)";
        if (slash == std::string_view::npos)
            break;
        if (!multi)
            return "only /u/ channels may have more than one segment after the prefix";
        start = slash + 1;
    }
    return {};
}

std::string channelTopicPiece(std::string_view channel)
{
    while (channel.starts_with('/'))
        channel.remove_prefix(1);
    std::string out(channel);
    for (char &c : out) {
        unsigned char u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) || c == '.' || c == '_' || c == '-'))
            c = '.';
    }
    return out;
}

std::string checkTopicName(std::string_view topic)
{
    if (topic.empty())
        return "the topic name is empty";
    if (topic.size() > 249)
        return "the topic name is " + std::to_string(topic.size()) + " characters long; Kafka allows 249";
    if (topic == "." || topic == "..")
        return "'" + std::string(topic) + "' is not a valid Kafka topic name";
    for (char c : topic) {
        unsigned char u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) || c == '.' || c == '_' || c == '-'))
            return "topic '" + std::string(topic) + "' has the character '" + std::string(1, c) +
                   "'; Kafka topic names are made of [a-zA-Z0-9._-]";
    }
    return {};
}

std::string checkJsonPointer(std::string_view pointer)
{
    if (!pointer.starts_with('/'))
        return "a JSON pointer starts with '/', e.g. /payload/Order_Number__c";
    for (size_t i = 0; i < pointer.size(); ++i) {
        if (pointer[i] == '~' && (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')))
            return "in a JSON pointer '~' must be followed by 0 ('~') or 1 ('/')";
    }
    return {};
}

} // namespace sfk::config
