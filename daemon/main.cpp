// sfkafkad: Salesforce Streaming API events into Kafka, nothing lost.
#include <systemd/sd-daemon.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "config/loader.h"
#include "log/log.h"
#include "metrics/http_server.h"
#include "metrics/status.h"
#include "replay_command.h"
#include "status_command.h"
#include "session/supervisor.h"
#include "sfkafka_build_config.h"

namespace {

void printUsage(FILE *out)
{
    std::fprintf(out,
        "Usage: sfkafkad --config FILE [OPTIONS]\n"
        "       sfkafkad --check-config --config FILE\n"
        "       sfkafkad replay show|set|reset ...   (see sfkafkad replay --help)\n"
        "       sfkafkad status [--config FILE | --url URL] [--json]\n"
        "\n"
        "Streams Salesforce events (PushTopic, platform events, Change Data Capture,\n"
        "generic channels) from one or more orgs into Kafka topics. A channel's replay\n"
        "id is committed only after Kafka acknowledged every event up to it.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE          configuration file (YAML, version: 1)\n"
        "      --check-config         validate the configuration, print a summary or\n"
        "                             every problem, and exit (0: valid)\n"
        "      --log-level SPEC       debug | info | warn | error, optionally with\n"
        "                             per-module levels: info,session=debug\n"
        "                             (overrides log.level and log.modules)\n"
        "      --shutdown-timeout S   seconds to wait for Kafka on SIGTERM (default 30)\n"
        "  -h, --help                 show this help and exit\n"
        "  -V, --version              show the version and exit\n"
        "\n"
        "Signals: SIGHUP reloads the configuration file, SIGTERM/SIGINT stop.\n"
        "\n"
        "Exit status: 0 clean stop, 1 invalid configuration, 2 usage error,\n"
        "3 start-up failure (state directory, Kafka producer, HTTP listener).\n");
}

struct Options {
    std::string config;
    bool check = false;
    std::string log_level;
    int shutdown_timeout_s = 30;
};

int usageError(const std::string &msg)
{
    std::fprintf(stderr, "sfkafkad: %s\n", msg.c_str());
    std::fprintf(stderr, "Try 'sfkafkad --help'.\n");
    return 2;
}

int64_t monotonicUsec()
{
    struct timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

void logReload(const sfk::session::ReloadSummary &sum)
{
    auto join = [](const std::vector<std::string> &v) {
        std::string out;
        for (const auto &x : v)
            out += (out.empty() ? "" : ",") + x;
        return out.empty() ? std::string("-") : out;
    };
    for (const auto &key : sum.needs_restart)
        sfk::log::warn("main", "configuration key '" + key +
                                   "' changed: it needs a restart; the old value stays in force");
    sfk::log::event(sfk::log::Level::Info, sfk::log::id::kReloaded, "main", "configuration reloaded",
                    {{"added", join(sum.added)},
                     {"removed", join(sum.removed)},
                     {"restarted", join(sum.restarted)},
                     {"unchanged", join(sum.unchanged)}});
}

} // namespace

int main(int argc, char **argv)
{
    if (argc >= 2 && std::string(argv[1]) == "replay")
        return sfk::daemon::replayCommand(argc - 2, argv + 2);
    if (argc >= 2 && std::string(argv[1]) == "status")
        return sfk::daemon::statusCommand(argc - 2, argv + 2);
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::string &out) {
            auto eq = arg.find('=');
            if (eq != std::string::npos) {
                out = arg.substr(eq + 1);
                return true;
            }
            if (i + 1 >= argc)
                return false;
            out = argv[++i];
            return true;
        };
        std::string v;
        if (arg == "-h" || arg == "--help") {
            printUsage(stdout);
            return 0;
        } else if (arg == "-V" || arg == "--version") {
            std::printf("sfkafkad %s\n", SFKAFKA_VERSION);
            return 0;
        } else if (arg == "--check-config") {
            opt.check = true;
        } else if (arg == "-c" || arg.rfind("--config", 0) == 0) {
            if (!value(opt.config))
                return usageError("--config needs a file");
        } else if (arg.rfind("--log-level", 0) == 0) {
            if (!value(opt.log_level))
                return usageError("--log-level needs a level");
        } else if (arg.rfind("--shutdown-timeout", 0) == 0) {
            if (!value(v) || std::atoi(v.c_str()) <= 0)
                return usageError("--shutdown-timeout needs a number of seconds");
            opt.shutdown_timeout_s = std::atoi(v.c_str());
        } else if (!arg.empty() && arg[0] != '-' && opt.config.empty()) {
            opt.config = arg; // `sfkafkad --check-config FILE`
        } else {
            return usageError("unknown argument '" + arg + "'");
        }
    }
    if (opt.config.empty())
        return usageError("no configuration file given (--config FILE)");

    sfk::log::setProgram("sfkafkad");
    sfk::metrics::trackProblems();
    auto result = sfk::config::loadFile(opt.config);
    for (const auto &w : result.warnings)
        std::fprintf(stderr, "%s\n", w.str().c_str());
    if (!result.ok()) {
        for (const auto &e : result.errors)
            std::fprintf(stderr, "%s\n", e.str().c_str());
        std::fprintf(stderr, "sfkafkad: %zu error%s in %s\n", result.errors.size(),
                     result.errors.size() == 1 ? "" : "s", opt.config.c_str());
        return 1;
    }
    const sfk::config::Config &cfg = *result.config;
    if (opt.check) {
        std::printf("%s\n", sfk::config::summary(cfg).c_str());
        return 0;
    }

    std::string levelText = opt.log_level.empty() ? sfk::config::logLevelSpec(cfg) : opt.log_level;
    std::string levelError;
    if (!sfk::log::setLevelSpec(levelText, &levelError))
        return usageError(levelError);
    sfk::log::debug("main", "log levels in force", {{"levels", levelText}});

    // Signals are taken synchronously by this thread; every other thread
    // inherits the blocked mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    // Watchdog: ping every half interval while everything makes progress.
    uint64_t watchdogUsec = 0;
    bool watchdog = sd_watchdog_enabled(0, &watchdogUsec) > 0 && watchdogUsec > 0;
    // A session blocks in its long poll for up to the server's hold time
    // (110 s at Salesforce) plus a margin: never call that a stall.
    auto maxStall = std::max(std::chrono::milliseconds(150000),
                             std::chrono::milliseconds(2 * watchdogUsec / 1000));

    std::string error;
    auto supervisor = sfk::session::Supervisor::create(cfg, error);
    if (!supervisor) {
        sfk::log::error("main", "cannot start: " + error);
        return 3;
    }
    auto healthy = [&](std::string &why) { return supervisor->healthy(maxStall, &why); };
    std::unique_ptr<sfk::metrics::HttpServer> http;
    if (!cfg.http_listen.empty()) {
        http = std::make_unique<sfk::metrics::HttpServer>(*supervisor, healthy);
        if (!http->start(cfg.http_listen, error)) {
            sfk::log::error("main", "cannot start: " + error);
            return 3;
        }
    }
    sfk::log::event(sfk::log::Level::Info, sfk::log::id::kStarted, "main",
                    std::string("sfkafkad ") + SFKAFKA_VERSION + " started: " + sfk::config::summary(cfg));
    supervisor->start();
    sd_notifyf(0, "READY=1\nSTATUS=%s", supervisor->statusLine().c_str());

    using Clock = std::chrono::steady_clock;
    const auto statusEvery = std::chrono::seconds(2);
    const auto pingEvery = std::chrono::microseconds(watchdogUsec / 2);
    auto nextStatus = Clock::now() + statusEvery;
    auto nextPing = Clock::now();
    std::string lastStatus;
    bool wasHealthy = true;
    for (;;) {
        auto now = Clock::now();
        if (watchdog && now >= nextPing) {
            std::string why;
            if (supervisor->healthy(maxStall, &why)) {
                sd_notify(0, "WATCHDOG=1");
                wasHealthy = true;
            } else if (wasHealthy) {
                sfk::log::error("main", "not healthy, withholding watchdog pings: " + why);
                wasHealthy = false;
            }
            nextPing = now + pingEvery;
        }
        if (now >= nextStatus) {
            std::string status = supervisor->statusLine();
            if (status != lastStatus)
                sd_notifyf(0, "STATUS=%s", status.c_str());
            lastStatus = status;
            nextStatus = now + statusEvery;
        }
        auto wake = nextStatus;
        if (watchdog)
            wake = std::min(wake, nextPing);
        auto waitNs = std::max<int64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(wake - Clock::now()).count(), 1000000);
        struct timespec timeout{static_cast<time_t>(waitNs / 1000000000), static_cast<long>(waitNs % 1000000000)};
        int sig = sigtimedwait(&signals, nullptr, &timeout);
        if (sig < 0)
            continue;  // timeout or EINTR
        if (sig == SIGHUP) {
            sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading %s",
                       static_cast<long long>(monotonicUsec()), opt.config.c_str());
            sfk::log::info("main", "SIGHUP: reloading configuration", {{"file", opt.config}});
            auto reloaded = sfk::config::loadFile(opt.config);
            for (const auto &w : reloaded.warnings)
                sfk::log::warn("config", w.str());
            if (!reloaded.ok()) {
                for (const auto &e : reloaded.errors)
                    sfk::log::error("config", e.str());
                sfk::log::event(sfk::log::Level::Error, sfk::log::id::kReloadFailed, "main",
                                "configuration reload failed with " + std::to_string(reloaded.errors.size()) +
                                    " error(s); still running on the previous configuration");
                supervisor->noteReloadFailure();
            } else {
                if (opt.log_level.empty()) {
                    std::string levels = sfk::config::logLevelSpec(*reloaded.config);
                    if (sfk::log::setLevelSpec(levels, &levelError))
                        sfk::log::debug("main", "log levels in force", {{"levels", levels}});
                    else
                        sfk::log::warn("main", "log level not applied: " + levelError);
                }
                logReload(supervisor->reload(*reloaded.config));
            }
            lastStatus = supervisor->statusLine();
            sd_notifyf(0, "READY=1\nSTATUS=%s", lastStatus.c_str());
            continue;
        }
        sfk::log::info("main", std::string("received ") + strsignal(sig) + ", stopping");
        break;
    }
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: flushing Kafka and committing");
    if (http)
        http->stop();
    bool flushed = supervisor->stop(std::chrono::seconds(opt.shutdown_timeout_s));
    sfk::log::event(sfk::log::Level::Info, sfk::log::id::kStopped, "main",
                    flushed ? "stopped cleanly" : "stopped; some events will be replayed on restart");
    return 0;
}
