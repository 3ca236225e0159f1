// The config loader: an org's Pub/Sub API endpoint (config/loader_parts.h).
#include <cerrno>
#include <charconv>
#include <cstring>
#include <unistd.h>

#include "config/loader_parts.h"
#include "config/validate.h"

namespace sfk::config::load {

std::optional<std::string> readReadablePath(Context &ctx, const Field &f)
{
    std::optional<std::string> text = readString(ctx, f, "a file path");
    if (text && !text->empty() && ::access(text->c_str(), R_OK) != 0) {
        ctx.error(f.valueMark(), f.path, "cannot read " + *text + ": " + std::strerror(errno));
        return std::nullopt;
    }
    return text;
}

void readPubsub(Context &ctx, const Field &f, Org &org, bool &ok)
{
    MapReader map(ctx, f.value, f.keyMark(), f.path, { "endpoint", "plaintext", "ca_file", "schemas_topic", "stall_timeout_ms" });
    if (!map.valid()) {
        ok = false;
        return;
    }
    PubsubEndpoint &ep = org.pubsub;
    const Field *endpoint = map.find("endpoint");
    if (endpoint) {
        std::optional<std::string> text = readString(ctx, *endpoint, "host:port");
        if (!text) {
            ok = false;
        } else {
            // host:port, or [v6]:port; the port 443 or 7443 at Salesforce.
            std::string_view v = *text;
            size_t colon = v.rfind(':');
            std::string host = colon == std::string_view::npos ? std::string(v) : std::string(v.substr(0, colon));
            if (host.size() > 2 && host.front() == '[' && host.back() == ']')
                host = host.substr(1, host.size() - 2);
            int port = 0;
            bool valid = colon != std::string_view::npos && !host.empty();
            if (valid) {
                auto [stop, ec] = std::from_chars(v.data() + colon + 1, v.data() + v.size(), port);
                valid = ec == std::errc() && stop == v.data() + v.size() && port > 0 && port < 65536;
            }
            if (!valid) {
                ctx.error(endpoint->valueMark(), endpoint->path,
                          "'" + *text + "' is not host:port (e.g. api.pubsub.salesforce.com:7443)");
                ok = false;
            } else {
                ep.host = host;
                ep.port = port;
            }
        }
    }
    if (const Field *p = map.find("plaintext")) {
        std::optional<size_t> index = readEnum(ctx, *p, { "false", "true" });
        if (!index) {
            ok = false;
        } else if (*index == 1 && !isLoopbackHost(ep.host)) {
            ctx.error(p->valueMark(), p->path,
                      "plaintext gRPC is accepted only to a loopback emulator (127.0.0.0/8, ::1, localhost), not " +
                          ep.host);
            ok = false;
        } else {
            ep.plaintext = *index == 1;
        }
    }
    if (const Field *c = map.find("ca_file")) {
        auto path = readReadablePath(ctx, *c);
        ok = ok && path;
        if (path)
            ep.ca_file = *path;
    }
    if (const Field *t = map.find("stall_timeout_ms")) {
        auto v = readInteger(ctx, *t, 1000, 3'600'000);
        ok = ok && v;
        if (v)
            ep.stall_timeout_ms = *v;
    }
    if (const Field *t = map.find("schemas_topic")) {
        std::optional<std::string> text = readString(ctx, *t, "a topic name");
        std::string problem = text ? checkTopicName(*text) : std::string();
        if (!text) {
            ok = false;
        } else if (!problem.empty()) {
            ctx.error(t->valueMark(), t->path, "schemas_topic '" + *text + "': " + problem);
            ok = false;
        } else {
            ep.schemas_topic = *text;
        }
    }
}

} // namespace sfk::config::load
