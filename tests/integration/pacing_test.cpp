// Pacing against sfemu and a real broker: many orgs starting at once, or
// losing their tokens at once, reach the login endpoint at the configured
// rate (a burst of one second's worth, then spread), and still stream.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>

#include "pipeline_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

constexpr int kOrgs = 12;
constexpr int kLoginsPerSecond = 4;

// Milliseconds since midnight of every "access token obtained" line after `from`.
std::vector<int64_t> loginTimes(const std::string &log, size_t from = 0)
{
    std::vector<int64_t> out;
    std::istringstream lines(log.substr(from));
    for (std::string line; std::getline(lines, line);) {
        if (line.find("access token obtained") == std::string::npos || line.size() < 23)
            continue;
        // 2026-12-03T18:43:29.667Z ...
        int h = std::stoi(line.substr(11, 2)), m = std::stoi(line.substr(14, 2)), s = std::stoi(line.substr(17, 2)),
            ms = std::stoi(line.substr(20, 3));
        out.push_back(((h * 60 + m) * 60 + s) * 1000LL + ms);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The most logins in any one-second window.
size_t busiestSecond(const std::vector<int64_t> &times)
{
    size_t most = 0;
    for (size_t i = 0; i < times.size(); ++i) {
        size_t j = i;
        while (j < times.size() && times[j] < times[i] + 1000)
            ++j;
        most = std::max(most, j - i);
    }
    return most;
}

void checkPaced(const std::vector<int64_t> &times)
{
    REQUIRE(times.size() == static_cast<size_t>(kOrgs));
    // A burst of kLoginsPerSecond, then one every 1/kLoginsPerSecond s
    // (each jittered by at most half an interval).
    const int64_t interval = 1000 / kLoginsPerSecond;
    CHECK(times.back() - times.front() >= (kOrgs - kLoginsPerSecond) * interval - interval / 2);
    CHECK(busiestSecond(times) <= static_cast<size_t>(2 * kLoginsPerSecond + 1));
}

} // namespace

TEST_CASE("a start and a mass token revocation of many orgs are paced, and every org streams")
{
    const auto &broker = KafkaBroker::shared();
    const std::string tag = uniqueTopic("pacing");
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 300\n");
    TempDir dir;
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    spec.control_topic = tag + ".control";
    for (int i = 0; i < kOrgs; ++i) {
        OrgSpec org;   // every daemon org logs in to sfemu's default org
        org.name = "o" + std::to_string(i);
        org.channels = {ChannelSpec{"/topic/Demo", tag + "." + org.name}};
        spec.orgs.push_back(org);
    }
    std::string yaml = daemonConfig(spec) + "pacing:\n  logins_per_second: " + std::to_string(kLoginsPerSecond) +
                       "\n  handshakes_per_second: 1000\n";
    DaemonProcess daemon = DaemonProcess::start(dir, yaml, {"--log-level", "info"});

    REQUIRE(waitUntil([&] { return loginTimes(daemon.log()).size() >= static_cast<size_t>(kOrgs); }, 60s));
    {
        INFO(daemon.log().substr(0, 4000));
        checkPaced(loginTimes(daemon.log()));
    }

    // Every org streams: each topic gets the events published from now on.
    emu.generate("default", "/topic/Demo", 20, 100, 3);
    for (const auto &o : spec.orgs) {
        CAPTURE(o.name);
        CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), tag + "." + o.name) >= 20; }, 60s));
    }

    // A mass failure: every token revoked at once; the new logins are paced too.
    const size_t mark = daemon.log().size();
    emu.arm("default", R"({"fault":"revoke_tokens"})");
    emu.generate("default", "/topic/Demo", 5, 100, 4);
    REQUIRE(waitUntil([&] { return loginTimes(daemon.log(), mark).size() >= static_cast<size_t>(kOrgs); }, 60s));
    checkPaced(loginTimes(daemon.log(), mark));
    for (const auto &o : spec.orgs) {
        CAPTURE(o.name);
        CHECK(waitUntil([&] { return topicSize(broker.bootstrap(), tag + "." + o.name) >= 25; }, 60s));
    }
    CHECK(daemon.stop() == 0);
}
