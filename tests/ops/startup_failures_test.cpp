// Start-up failures: each cause prints one clear line and exits with its
// documented status (README "Exit status") instead of crashing. No broker or
// Salesforce is needed: every case fails before either is contacted.
#include <doctest/doctest.h>

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "../integration/pipeline_support.h"
#include "ops_support.h"
#include "silent_listener.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

// Nothing listens on port 1: sessions retry, Kafka never answers.
std::string configFor(const std::string &state_dir, std::map<std::string, std::string> librdkafka = {})
{
    DaemonSpec spec{"http://127.0.0.1:1", "127.0.0.1:1", state_dir};
    spec.librdkafka = std::move(librdkafka);
    OrgSpec org;
    org.channels = {{"/event/Startup__e", "startup.test"}};
    spec.orgs.push_back(org);
    return daemonConfig(spec);
}

// Exactly one "cannot start" line, and no trace of a crash or a sanitizer.
void checkCleanFailure(const std::string &output)
{
    CHECK(countOf(output, "cannot start") == 1);
    CHECK(output.find("AddressSanitizer") == std::string::npos);
    CHECK(output.find("runtime error") == std::string::npos);
    CHECK(output.find("Segmentation") == std::string::npos);
}

int runWith(const TempDir &dir, const std::string &yaml, std::string &output, const ChildSetup &setup = {})
{
    writeFile(dir.file("sfkafkad.yaml"), yaml);
    return runDaemon({"--config", dir.file("sfkafkad.yaml")}, output, {}, setup);
}

} // namespace

TEST_CASE("a second instance on the same state directory exits 4 naming the holder's pid")
{
    TempDir dir;
    const std::string yaml = configFor(dir.file("state"));
    DaemonProcess first = DaemonProcess::start(dir, yaml);
    REQUIRE(waitUntil([&] { return first.log().find("started") != std::string::npos; }, 30s));

    TempDir second;
    std::string output;
    int rc = runWith(second, yaml, output);
    CHECK(rc == 4);
    CHECK(output.find("locked by another process (pid " + std::to_string(first.pid()) + ")") !=
          std::string::npos);
    checkCleanFailure(output);
    CHECK(first.running());
    CHECK(first.stop() == 0);
}

TEST_CASE("a corrupt replay-id file exits 5 naming the file and what is wrong")
{
    TempDir dir;
    ::mkdir(dir.file("state").c_str(), 0700);
    const std::string file = dir.file("state") + "/replay-ids.json";
    writeFile(file, "{\"version\": 1, \"orgs\": {\"default\": ");
    std::string output;
    int rc = runWith(dir, configFor(dir.file("state")), output);
    CHECK(rc == 5);
    CHECK(output.find(file + ": corrupt replay id file") != std::string::npos);
    checkCleanFailure(output);
    // Never reset: the operator decides (sfkafkad replay).
    CHECK(readFile(file) == "{\"version\": 1, \"orgs\": {\"default\": ");
}

TEST_CASE("a state directory that cannot be written exits 3 naming it")
{
    TempDir dir;
    const std::string state = dir.file("state");
    ::mkdir(state.c_str(), 0700);
    // A read-only bind mount of the directory (as under ProtectSystem=strict
    // without StateDirectory=), in a mount namespace of the child only.
    auto readOnly = [&]() -> std::string {
        auto failed = [](const std::string &what) {
            return what + " failed: " + std::strerror(errno) + " (this test needs root, or CAP_SYS_ADMIN)";
        };
        if (::unshare(CLONE_NEWNS) != 0)
            return failed("unshare(CLONE_NEWNS)");
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return failed("making mounts private");
        if (::mount(state.c_str(), state.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
            ::mount(nullptr, state.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
            return failed("read-only bind mount of " + state);
        return {};
    };
    std::string output;
    int rc = runWith(dir, configFor(state), output, readOnly);
    CHECK(rc == 3);
    CHECK(output.find(state) != std::string::npos);
    CHECK(output.find("Read-only file system") != std::string::npos);
    checkCleanFailure(output);
}

TEST_CASE("a Kafka producer librdkafka refuses to create exits 6 with librdkafka's reason")
{
    // --check-config cannot see this one: it never starts SASL (no
    // credentials are needed to validate the other settings).
    TempDir dir;
    std::string output;
    int rc = runWith(dir, configFor(dir.file("state"), {{"security.protocol", "sasl_plaintext"},
                                                        {"sasl.mechanisms", "PLAIN"}}),
                     output);
    CHECK(rc == 6);
    CHECK(output.find("cannot create the Kafka producer") != std::string::npos);
    CHECK(output.find("sasl.username and sasl.password must be set") != std::string::npos);
    checkCleanFailure(output);
}

TEST_CASE("an HTTP listener that cannot bind exits 7")
{
    TempDir dir;
    SilentListener taken;
    std::string output;
    int rc = runWith(dir, withListen(configFor(dir.file("state")), taken.port()), output);
    CHECK(rc == 7);
    checkCleanFailure(output);
}

TEST_CASE("the units do not restart after the exit statuses a restart cannot heal")
{
    const char *root = std::getenv("SFKAFKA_SOURCE_ROOT");
    REQUIRE(root);
    for (const char *unit : {"/systemd/sfkafkad.service.in", "/systemd/sfkafkad@.service.in"}) {
        std::string text = readFile(std::string(root) + unit);
        INFO(unit);
        CHECK(text.find("\nRestart=on-failure\n") != std::string::npos);
        CHECK(text.find("\nRestartPreventExitStatus=1 2 5 6\n") != std::string::npos);
    }
}
