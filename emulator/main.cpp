// sfemu: a local emulator of Salesforce's OAuth and Streaming endpoints.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "emulator.h"
#include "emulator_config.h"
#include "http_front.h"
#include "log/log.h"
#include "pubsub/pubsub_server.h"
#include "sfkafka_build_config.h"

namespace {

void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: sfemu [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT]\n"
                 "             [--tls-cert FILE --tls-key FILE] [--threads N] [--log-level LEVEL]\n"
                 "             [--pubsub-listen HOST:PORT] [--pubsub-plaintext] [--no-pubsub]\n"
                 "             [--pubsub-tls-cert FILE --pubsub-tls-key FILE [--pubsub-tls-ca FILE]]\n"
                 "             [--pubsub-tls-dir DIR] [--pubsub-keepalive-ms N] [--pubsub-idle-ms N]\n"
                 "             [--public-url URL] [--version]\n"
                 "\n"
                 "Emulates Salesforce's OAuth token endpoint and Streaming API (CometD long\n"
                 "polling with replay) on HOST:PORT (default 127.0.0.1:0, a free port), with an\n"
                 "admin API on a second loopback port. Without --config it serves one default\n"
                 "org (see README, section \"sfemu: the Salesforce emulator\").\n"
                 "\n"
                 "--threads N  worker threads of the main listener (default 256, 8..4096): each\n"
                 "             held /meta/connect occupies one, so serve at least two per client.\n"
                 "\n"
                 "The Pub/Sub API (gRPC eventbus.v1) listens on --pubsub-listen (default\n"
                 "127.0.0.1:0) over TLS with a CA made at start (its path printed as\n"
                 "SFEMU_PUBSUB_CA=); --pubsub-plaintext (loopback only) serves h2c instead.\n"
                 "--public-url URL  the instance_url (and identity URL base) handed out with\n"
                 "             tokens, e.g. http://sfemu.test:8080 behind a proxy; by default the\n"
                 "             host the client named in its Host header.\n");
}

} // namespace

int main(int argc, char **argv)
{
    using namespace sfk;
    log::setProgram("sfemu");
    std::string config_path;
    std::string public_url;
    emu::ListenOptions listen;
    emu::pubsub::PubSubOptions pubsub;
    auto millis = [](const std::string &name, const std::string &text) {
        char *end = nullptr;
        long long n = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end || n < 1 || n > 86400000LL) {
            std::fprintf(stderr, "sfemu: %s wants milliseconds from 1 to 86400000, not '%s'\n", name.c_str(),
                         text.c_str());
            std::exit(2);
        }
        return static_cast<int64_t>(n);
    };
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](const char *name) -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "sfemu: %s needs a value\n", name);
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--version") {
            std::printf("sfemu %s\n", SFKAFKA_VERSION);
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else if (arg == "--config") {
            config_path = value("--config");
        } else if (arg == "--listen") {
            listen.listen = value("--listen");
        } else if (arg == "--admin-listen") {
            listen.admin_listen = value("--admin-listen");
        } else if (arg == "--public-url") {
            public_url = value("--public-url");
            while (!public_url.empty() && public_url.back() == '/')
                public_url.pop_back();
            bool scheme = public_url.rfind("http://", 0) == 0 || public_url.rfind("https://", 0) == 0;
            if (!scheme || public_url.find('/', public_url.find("//") + 2) != std::string::npos ||
                public_url.size() <= public_url.find("//") + 2) {
                std::fprintf(stderr, "sfemu: --public-url wants http(s)://HOST[:PORT], not '%s'\n",
                             public_url.c_str());
                return 2;
            }
        } else if (arg == "--tls-cert") {
            listen.tls_cert = value("--tls-cert");
        } else if (arg == "--tls-key") {
            listen.tls_key = value("--tls-key");
        } else if (arg == "--pubsub-listen") {
            pubsub.listen = value("--pubsub-listen");
        } else if (arg == "--pubsub-plaintext") {
            pubsub.plaintext = true;
        } else if (arg == "--no-pubsub") {
            pubsub.enabled = false;
        } else if (arg == "--pubsub-tls-cert") {
            pubsub.tls_cert = value("--pubsub-tls-cert");
        } else if (arg == "--pubsub-tls-key") {
            pubsub.tls_key = value("--pubsub-tls-key");
        } else if (arg == "--pubsub-tls-ca") {
            pubsub.tls_ca = value("--pubsub-tls-ca");
        } else if (arg == "--pubsub-tls-dir") {
            pubsub.tls_dir = value("--pubsub-tls-dir");
        } else if (arg == "--pubsub-keepalive-ms") {
            pubsub.keepalive_ms = millis(arg, value("--pubsub-keepalive-ms"));
        } else if (arg == "--pubsub-idle-ms") {
            pubsub.idle_ms = millis(arg, value("--pubsub-idle-ms"));
        } else if (arg == "--threads") {
            std::string text = value("--threads");
            char *end = nullptr;
            unsigned long n = std::strtoul(text.c_str(), &end, 10);
            if (text.empty() || *end || n < 8 || n > 4096) {
                std::fprintf(stderr, "sfemu: --threads wants a number from 8 to 4096, not '%s'\n", text.c_str());
                return 2;
            }
            listen.threads = n;
        } else if (arg == "--log-level") {
            log::Level level;
            if (!log::parseLevel(value("--log-level"), level)) {
                std::fprintf(stderr, "sfemu: bad --log-level\n");
                return 2;
            }
            log::setLevel(level);
        } else {
            std::fprintf(stderr, "sfemu: unknown argument %s\n", arg.c_str());
            usage(stderr);
            return 2;
        }
    }

    emu::EmulatorConfig config;
    try {
        config = config_path.empty() ? emu::defaultConfig() : emu::loadConfigFile(config_path);
    } catch (const emu::ConfigError &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }

    // Signals are taken by sigwait() below; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    emu::Emulator emulator(std::move(config));
    std::unique_ptr<emu::HttpFront> front;
    try {
        front = std::make_unique<emu::HttpFront>(emulator, listen);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sfemu: %s\n", e.what());
        return 1;
    }
    if (!public_url.empty())
        emulator.setPublicUrl(public_url);
    // Before the admin listener serves: it routes the Pub/Sub faults.
    std::unique_ptr<emu::pubsub::PubSubServer> pubsub_server;
    if (pubsub.enabled) {
        try {
            pubsub_server = std::make_unique<emu::pubsub::PubSubServer>(emulator, pubsub);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "sfemu: Pub/Sub API: %s\n", e.what());
            return 1;
        }
    }
    front->start();

    if (pubsub_server)
        std::printf("SFEMU_PUBSUB=%s\nSFEMU_PUBSUB_CA=%s\n", pubsub_server->address().c_str(),
                    pubsub_server->caPath().c_str());
    std::printf("SFEMU_URL=%s\nSFEMU_ADMIN_URL=%s\n", front->url().c_str(), front->adminUrl().c_str());
    std::fflush(stdout);
    for (auto &org : emulator.orgs())
        log::info("sfemu", "serving org",
                  {{"org", org->config.name}, {"org_id", org->config.org_id},
                   {"login_url", front->url()}, {"cometd", front->url() + "/cometd/62.0"},
                   {"admin", front->adminUrl() + "/admin/orgs/" + org->config.name}});
    if (config_path.empty())
        log::info("sfemu", "default org: client id sfemu-client, user user@example.com, "
                           "channels /topic/Demo /u/Demo /event/Demo__e /data/AccountChangeEvent "
                           "(credentials in the README)");

    int sig = 0;
    sigwait(&signals, &sig);
    log::info("sfemu", "stopping", {{"signal", strsignal(sig)}});
    // Stopping must not hang on a stuck connection: give it a few seconds.
    std::thread watchdog([] {
        std::this_thread::sleep_for(std::chrono::seconds(5));
        std::_Exit(0);
    });
    watchdog.detach();
    if (pubsub_server)
        pubsub_server->stop();
    front->stop();
    return 0;
}
