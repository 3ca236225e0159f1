// Per-module log levels from the configuration file, as seen on stderr:
// only the named module logs at debug, a reload switches levels at once and
// --log-level wins over the file.
#include <doctest/doctest.h>

#include <csignal>

#include <set>
#include <sstream>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// Modules of the "TIME debug MODULE: message" lines in text.
std::set<std::string> debugModules(const std::string &text)
{
    std::set<std::string> modules;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string time, level, module;
        if (words >> time >> level >> module && level == "debug" && module.ends_with(":"))
            modules.insert(module.substr(0, module.size() - 1));
    }
    return modules;
}

} // namespace

TEST_CASE("log.modules: session=debug prints session debug lines only; SIGHUP switches at once; --log-level wins")
{
    const auto &broker = KafkaBroker::shared();
    EmuOrg emuOrg{"acme", "00D000000000001AAA", {"/event/Log__e"}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig({emuOrg}, 500));
    TempDir dir;
    const std::string topic = uniqueTopic("ops.loglevels");
    DaemonSpec spec = singleChannelSpec(emu.url(), broker.bootstrap(), dir.file("state"), emuOrg, topic);
    auto withModules = [&](const std::string &modules) {
        return daemonConfig(spec) + "log:\n  level: info\n  modules: " + modules + "\n";
    };
    auto land = [&](int seed) {
        emu.generate("acme", emuOrg.channels[0], 5, 100, seed);
        auto landed = awaitLanding(emu, "acme", emuOrg.channels[0], broker.bootstrap(), topic);
        REQUIRE_MESSAGE(landed.missing == 0, describe(landed));
    };

    DaemonProcess daemon = DaemonProcess::start(dir, withModules("{session: debug}"));
    land(1);
    REQUIRE(waitUntil([&] { return daemon.log().find("debug session: events received org=acme") != std::string::npos; }, 30s));
    std::string log = daemon.log();
    INFO(log);
    // main would log "log levels in force" at debug, kafka librdkafka's debug lines.
    CHECK(debugModules(log) == std::set<std::string>{"session"});

    // Reload: session back to info, main to debug, applied before the reload is logged.
    writeFile(dir.file("sfkafkad.yaml"), withModules("{main: debug}"));
    REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
    const std::string inForce = "debug main: log levels in force levels=info,main=debug";
    REQUIRE(waitUntil([&] { return daemon.log().find(inForce) != std::string::npos; }, 30s));
    REQUIRE(waitUntil([&] { return daemon.log().find("configuration reloaded") != std::string::npos; }, 30s));
    size_t reloadedAt = daemon.log().find(inForce);
    reloadedAt = daemon.log().rfind('\n', reloadedAt) + 1;  // that line's start
    land(2);  // events after the reload: no session debug line for them
    log = daemon.log();
    CHECK(debugModules(log.substr(reloadedAt)) == std::set<std::string>{"main"});
    REQUIRE(daemon.stop() == 0);

    // --log-level wins over the file, at start and across reloads.
    size_t restartAt = daemon.log().size();
    writeFile(dir.file("sfkafkad.yaml"), withModules("{session: debug, main: debug}"));
    DaemonProcess cli = DaemonProcess::start(dir, withModules("{session: debug, main: debug}"), {"--log-level", "info"});
    REQUIRE(waitUntil([&] { return cli.log().find("handshake complete", restartAt) != std::string::npos; }, 30s));
    REQUIRE(::kill(cli.pid(), SIGHUP) == 0);
    REQUIRE(waitUntil([&] { return cli.log().find("configuration reloaded", restartAt) != std::string::npos; }, 30s));
    land(3);
    log = cli.log();
    CHECK(debugModules(log.substr(restartAt)).empty());
    CHECK(cli.stop() == 0);
}
