// The shipped alert rules and Grafana dashboard (monitoring/) may only use
// metrics a running daemon exports: otherwise they rot silently.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

namespace {

std::string readSource(const std::string &relative)
{
    std::ifstream in(std::string(std::getenv("SFKAFKA_SOURCE_ROOT")) + "/" + relative);
    REQUIRE_MESSAGE(in.good(), relative);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every sfkafka_* name in the text; histogram series map to their family.
std::set<std::string> metricNames(const std::string &text)
{
    std::set<std::string> names;
    static const std::regex name("sfkafka_[a-z_]+");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
        std::string n = it->str();
        for (const char *suffix : {"_bucket", "_sum", "_count"})
            if (n.ends_with(suffix) && n != "sfkafka_") {
                std::string base = n.substr(0, n.size() - std::string(suffix).size());
                if (base.ends_with("_seconds"))
                    n = base;
            }
        names.insert(n);
    }
    return names;
}

std::set<std::string> exportedFamilies(const std::string &scrape)
{
    std::set<std::string> families;
    std::istringstream lines(scrape);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("# TYPE "))
            families.insert(line.substr(7, line.find(' ', 7) - 7));
    return families;
}

} // namespace

TEST_CASE("every metric the alert rules and the dashboard use is exported by a running daemon")
{
    const auto &broker = KafkaBroker::shared();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string topic = uniqueTopic("ops.monitoring");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};
    int port = freePort();
    emu.generate("default", "/event/Demo__e", 5, 200);
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port));
    auto landed = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
    REQUIRE(landed.missing == 0);

    auto scrape = httpGet(port, "/metrics");
    REQUIRE(scrape.status == 200);
    auto exported = exportedFamilies(scrape.body);
    REQUIRE(exported.size() > 10);

    for (std::string file : {"monitoring/alerts.yaml", "monitoring/dashboard.json"}) {
        auto used = metricNames(readSource(file));
        CHECK_MESSAGE(used.size() >= 5, file);
        for (const auto &name : used)
            CHECK_MESSAGE(exported.count(name) == 1, file << " uses " << name << ", which the daemon does not export");
    }
    CHECK(daemon.stop() == 0);
}
