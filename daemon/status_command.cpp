#include "status_command.h"

#include <httplib.h>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.h"
#include "config/loader.h"
#include "metrics/http_server.h"

namespace sfk::daemon {

namespace {

constexpr const char *kDefaultConfig = "/etc/sfkafka/sfkafkad.yaml";

void usage(FILE *out)
{
    std::fprintf(out,
        "Usage: sfkafkad status [--config FILE | --url URL] [--json]\n"
        "\n"
        "Shows a running sfkafkad's state: per org its state and since when, the\n"
        "last warning or error, in-flight events and delivery lag; per channel the\n"
        "committed replay id, events received and delivered, the last event's age,\n"
        "gaps and dead letters. It reads GET /status from the daemon's HTTP\n"
        "listener: the one http.listen names in FILE (default %s), or URL\n"
        "(e.g. http://127.0.0.1:9464). --json prints the document unchanged.\n"
        "\n"
        "Exit status: 0 every org streaming, 1 the daemon cannot be reached or\n"
        "answers badly, 2 usage error, 3 reached but some org is not streaming.\n",
        kDefaultConfig);
}

int usageError(const std::string &msg)
{
    std::fprintf(stderr, "sfkafkad status: %s\nTry 'sfkafkad status --help'.\n", msg.c_str());
    return 2;
}

int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
}

// "5s", "3m", "2h", "4d" since a wall-clock time; "-" when unknown.
std::string ago(int64_t at_ms)
{
    if (at_ms <= 0)
        return "-";
    int64_t s = std::max<int64_t>(0, (nowMs() - at_ms) / 1000);
    if (s < 120)
        return std::to_string(s) + "s";
    if (s < 7200)
        return std::to_string(s / 60) + "m";
    if (s < 172800)
        return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

// The listener's URL from the configuration's http.listen.
bool urlFromConfig(const std::string &path, std::string &url, std::string &error)
{
    auto result = config::loadFile(path);
    if (!result.ok()) {
        error = "invalid configuration " + path;
        for (const auto &e : result.errors)
            error += "\n" + e.str();
        return false;
    }
    const std::string &listen = result.config->http_listen;
    if (listen.empty()) {
        error = path + ": http.listen is \"\" (disabled): the daemon has no status endpoint to read";
        return false;
    }
    std::string host;
    int port = 0;
    std::string problem = metrics::splitListen(listen, host, port);
    if (!problem.empty() || port == 0) {
        error = path + ": http.listen '" + listen + "': " + (problem.empty() ? "port 0 cannot be reached" : problem);
        return false;
    }
    if (host == "0.0.0.0" || host.empty())
        host = "127.0.0.1";
    else if (host == "::")
        host = "::1";
    if (host.find(':') != std::string::npos)
        host = "[" + host + "]";
    url = "http://" + host + ":" + std::to_string(port);
    return true;
}

std::string text(simdjson::dom::element e, const char *key)
{
    std::string_view v;
    return e[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string("-");
}

std::string number(simdjson::dom::element e, const char *key)
{
    int64_t v = 0;
    if (e[key].get(v) == simdjson::SUCCESS)
        return std::to_string(v);
    uint64_t u = 0;
    return e[key].get(u) == simdjson::SUCCESS ? std::to_string(u) : std::string("-");
}

bool flag(simdjson::dom::element e, const char *key)
{
    bool v = false;
    return e[key].get(v) == simdjson::SUCCESS && v;
}

int64_t integer(simdjson::dom::element e, const char *key)
{
    int64_t v = 0;
    return e[key].get(v) == simdjson::SUCCESS ? v : 0;
}

std::string lag(simdjson::dom::element org, const char *key)
{
    int64_t ms = integer(org, key);
    return ms < 0 ? "-" : std::to_string(ms) + "ms";
}

// "1200", or "1200/5000 (warning)" when the org's allocation is watched.
std::string allocation(simdjson::dom::element org)
{
    std::string used = number(org, "delivered_24h");
    std::string state = text(org, "allocation_state");
    if (state == "unwatched" || state == "-")
        return used;
    return used + "/" + number(org, "delivery_allocation") + " (" + state + ")";
}

// Prints rows as columns padded to the widest cell.
void printTable(const std::vector<std::vector<std::string>> &rows, const std::string &indent)
{
    std::vector<size_t> width;
    for (const auto &r : rows)
        for (size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i)
                width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    for (const auto &r : rows) {
        std::string line = indent;
        for (size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size())
                line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        std::printf("%s\n", line.c_str());
    }
}

} // namespace

int statusCommand(int argc, char **argv)
{
    std::string configPath, url;
    bool json = false;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::string &out) { return optionValue(argc, argv, i, arg, out); };
        if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        } else if (arg == "-c" || arg.rfind("--config", 0) == 0) {
            if (!value(configPath))
                return usageError("--config needs a file");
        } else if (arg.rfind("--url", 0) == 0) {
            if (!value(url))
                return usageError("--url needs a URL such as http://127.0.0.1:9464");
        } else if (arg == "--json") {
            json = true;
        } else {
            return usageError("unknown argument '" + arg + "'");
        }
    }
    if (!configPath.empty() && !url.empty())
        return usageError("give --config FILE or --url URL, not both");
    std::string error;
    if (url.empty() && !urlFromConfig(configPath.empty() ? kDefaultConfig : configPath, url, error)) {
        std::fprintf(stderr, "sfkafkad status: %s\n", error.c_str());
        return 1;
    }
    while (!url.empty() && url.back() == '/')
        url.pop_back();
    if (url.rfind("http://", 0) != 0) {
        // The listener serves plain HTTP on a local or management address.
        return usageError("--url must start with http:// (got '" + url + "')");
    }

    httplib::Client client(url);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(10));
    auto res = client.Get("/status");
    if (!res) {
        std::fprintf(stderr, "sfkafkad status: cannot reach %s/status: %s (is sfkafkad running?)\n", url.c_str(),
                     httplib::to_string(res.error()).c_str());
        return 1;
    }
    if (res->status != 200) {
        std::fprintf(stderr, "sfkafkad status: %s/status answered HTTP %d\n", url.c_str(), res->status);
        return 1;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(res->body).get(doc) != simdjson::SUCCESS) {
        std::fprintf(stderr, "sfkafkad status: %s/status is not JSON\n", url.c_str());
        return 1;
    }
    simdjson::dom::array orgs;
    if (doc["orgs"].get(orgs) != simdjson::SUCCESS) {
        std::fprintf(stderr, "sfkafkad status: %s/status has no orgs list\n", url.c_str());
        return 1;
    }
    bool allStreaming = true;
    for (simdjson::dom::element org : orgs)
        allStreaming = allStreaming && text(org, "state") == "streaming";
    if (json) {
        std::fwrite(res->body.data(), 1, res->body.size(), stdout);
        return allStreaming ? 0 : 3;
    }

    simdjson::dom::element kafka;
    if (doc["kafka"].get(kafka) != simdjson::SUCCESS || !kafka.is_object()) {
        std::fprintf(stderr, "sfkafkad status: %s/status has no kafka section\n", url.c_str());
        return 1;
    }
    bool brokersUp = flag(kafka, "brokers_up");
    std::printf("kafka: %s, producer queue %s, control topic %s\n", brokersUp ? "reachable" : "UNREACHABLE",
                number(kafka, "queue_depth").c_str(), text(kafka, "control_topic").c_str());
    for (simdjson::dom::element org : orgs) {
        std::printf("\n");
        std::vector<std::vector<std::string>> head = {
            {"ORG", "STATE", "SINCE", "ORG ID", "TRANSPORT", "IN FLIGHT", "LAG P50", "LAG P99", "TOKEN AGE",
             "24H EVENTS"},
            {text(org, "name"), text(org, "state"), ago(integer(org, "state_since_ms")), text(org, "org_id"),
             text(org, "transport"), number(org, "in_flight_events"), lag(org, "delivery_lag_p50_ms"),
             lag(org, "delivery_lag_p99_ms"), ago(integer(org, "token_obtained_ms")), allocation(org)}};
        printTable(head, "");
        simdjson::dom::element problem;
        if (org["last_problem"].get(problem) == simdjson::SUCCESS && problem.is_object())
            std::printf("last %s (%s ago): %s: %s\n", text(problem, "level").c_str(),
                        ago(integer(problem, "at_ms")).c_str(), text(problem, "module").c_str(),
                        text(problem, "message").c_str());
        std::vector<std::vector<std::string>> rows = {
            {"CHANNEL", "TOPIC", "COMMITTED", "IN FLIGHT", "RECEIVED", "DELIVERED", "FAILED", "LAST EVENT", "GAPS",
             "DEAD LETTERS"}};
        simdjson::dom::array channels;
        if (org["channels"].get(channels) == simdjson::SUCCESS)
            for (simdjson::dom::element ch : channels) {
                bool stopped = flag(ch, "stopped");
                rows.push_back({text(ch, "name") + (stopped ? " (stopped)" : ""), text(ch, "topic"),
                                number(ch, "committed_replay_id"), number(ch, "in_flight"), number(ch, "received"),
                                number(ch, "delivered"), number(ch, "failed"),
                                integer(ch, "last_event_ms") > 0 ? ago(integer(ch, "last_event_ms")) + " ago" : "-",
                                number(ch, "gaps"), number(ch, "dead_letters")});
            }
        printTable(rows, "  ");
    }
    return allStreaming ? 0 : 3;
}

} // namespace sfk::daemon
