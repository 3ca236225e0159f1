// Reloads that restart an org retire its old session: once its last
// delivery report arrived it must be freed (buffers, its Salesforce socket),
// not kept until the daemon stops.
#include <doctest/doctest.h>

#include <dirent.h>

#include <csignal>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

int openFds(pid_t pid)
{
    DIR *d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!d)
        return -1;
    int n = 0;
    while (dirent *e = ::readdir(d))
        n += e->d_name[0] != '.';
    ::closedir(d);
    return n;
}

} // namespace

TEST_CASE("sessions retired by reloads are freed once drained: no growth in fds, metric back to 0")
{
    const auto &broker = KafkaBroker::shared();
    EmuOrg emuOrg{"acme", "00D000000000001AAA", {"/event/Retire__e"}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig({emuOrg}, 300));
    TempDir dir;
    const std::string topic = uniqueTopic("ops.retire");
    DaemonSpec spec = singleChannelSpec(emu.url(), broker.bootstrap(), dir.file("state"), emuOrg, topic);
    const int port = freePort();
    emu.generate("acme", "/event/Retire__e", 20, 100, 1);
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port));
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), topic) >= 20; }, 60s));
    auto metric = [&] { return metricValue(httpGet(port, "/metrics").body, "sfkafka_retired_sessions"); };
    REQUIRE(waitUntil([&] { return metric() == 0; }, 10s));
    const int fdsBefore = openFds(daemon.pid());

    constexpr int kReloads = 8;
    for (int i = 1; i <= kReloads; ++i) {
        // A changed setting restarts the org: its old session is retired.
        spec.orgs[0].max_in_flight_events = 10000 + i;
        writeFile(dir.file("sfkafkad.yaml"), withListen(daemonConfig(spec), port));
        emu.generate("acme", "/event/Retire__e", 5, 100, 100 + i);
        REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
        REQUIRE(waitUntil([&] { return countOf(daemon.log(), "configuration reloaded") == size_t(i); }, 60s));
    }
    REQUIRE(waitUntil([&] { return topicSize(broker.bootstrap(), topic) >= 20 + 5 * kReloads; }, 60s));

    CHECK(waitUntil([&] { return metric() == 0; }, 30s));
    // One socket per retired session would add kReloads descriptors.
    int fdsAfter = -1;
    CHECK(waitUntil([&] { return (fdsAfter = openFds(daemon.pid())) <= fdsBefore + 2; }, 30s));
    MESSAGE("fds before " << fdsBefore << ", after " << kReloads << " reloads " << fdsAfter);
    CHECK(daemon.stop() == 0);
}
