// sfkafkad: Salesforce Streaming API events into Kafka, nothing lost.
#include <systemd/sd-daemon.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "config/loader.h"
#include "log/log.h"
#include "session/supervisor.h"
#include "sfkafka_build_config.h"

namespace {

void printUsage(FILE *out)
{
    std::fprintf(out,
        "Usage: sfkafkad --config FILE [OPTIONS]\n"
        "       sfkafkad --check-config --config FILE\n"
        "\n"
        "Streams Salesforce events (PushTopic, platform events, Change Data Capture,\n"
        "generic channels) from one or more orgs into Kafka topics. A channel's replay\n"
        "id is committed only after Kafka acknowledged every event up to it.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE          configuration file (YAML, version: 1)\n"
        "      --check-config         validate the configuration, print a summary or\n"
        "                             every problem, and exit (0: valid)\n"
        "      --log-level LEVEL      debug | info | warn | error (overrides log.level)\n"
        "      --shutdown-timeout S   seconds to wait for Kafka on SIGTERM (default 30)\n"
        "  -h, --help                 show this help and exit\n"
        "  -V, --version              show the version and exit\n"
        "\n"
        "Exit status: 0 clean stop, 1 invalid configuration, 2 usage error,\n"
        "3 start-up failure (state directory, Kafka producer).\n");
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

} // namespace

int main(int argc, char **argv)
{
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

    sfk::log::Level level = sfk::log::Level::Info;
    std::string levelText = opt.log_level.empty() ? cfg.log_level : opt.log_level;
    if (!sfk::log::parseLevel(levelText, level))
        return usageError("unknown log level '" + levelText + "'");
    sfk::log::setLevel(level);

    // Signals are taken synchronously by this thread; every other thread
    // inherits the blocked mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    std::string error;
    auto supervisor = sfk::session::Supervisor::create(cfg, error);
    if (!supervisor) {
        sfk::log::error("main", "cannot start: " + error);
        return 3;
    }
    sfk::log::info("main", std::string("sfkafkad ") + SFKAFKA_VERSION + " started: " +
                               sfk::config::summary(cfg));
    supervisor->start();
    sd_notify(0, "READY=1");

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            sfk::log::warn("main", "SIGHUP: configuration reload is not supported yet; restart to apply changes");
            continue;
        }
        sfk::log::info("main", std::string("received ") + strsignal(sig) + ", stopping");
        break;
    }
    sd_notify(0, "STOPPING=1");
    bool flushed = supervisor->stop(std::chrono::seconds(opt.shutdown_timeout_s));
    sfk::log::info("main", flushed ? "stopped cleanly" : "stopped; some events will be replayed on restart");
    return 0;
}
