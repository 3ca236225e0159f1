// /readyz follows Kafka: 503 while the test's own broker is down, 200 again
// when it returns; /healthz stays 200 throughout.
#include <doctest/doctest.h>

#include "../integration/pipeline_support.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;

TEST_CASE("/readyz turns 503 when the broker stops and 200 when it returns")
{
    KafkaBroker broker = KafkaBroker::start();
    SfemuProcess emu = SfemuProcess::start("connect_hold_ms: 500\n");
    TempDir dir;
    const std::string topic = uniqueTopic("ops.readyz");
    DaemonSpec spec{emu.url(), broker.bootstrap(), dir.file("state")};
    OrgSpec org;
    org.channels = {{"/event/Demo__e", topic}};
    spec.orgs = {org};
    int port = freePort();
    emu.generate("default", "/event/Demo__e", 5, 100);
    DaemonProcess daemon = DaemonProcess::start(dir, withListen(daemonConfig(spec), port));

    REQUIRE(waitUntil([&] { return httpGet(port, "/readyz").status == 200; }, 60s));
    CHECK(httpGet(port, "/healthz").status == 200);

    broker.pause();
    CHECK(waitUntil([&] { return httpGet(port, "/readyz").status == 503; }, 60s));
    auto verbose = httpGet(port, "/readyz?verbose");
    CHECK(verbose.body.find("[-] kafka") != std::string::npos);
    CHECK(httpGet(port, "/healthz").status == 200);
    CHECK(metricValue(httpGet(port, "/metrics").body, "sfkafka_kafka_brokers_up") == 0);

    broker.restart();
    CHECK(waitUntil([&] { return httpGet(port, "/readyz").status == 200; }, 90s));
    emu.generate("default", "/event/Demo__e", 5, 100, 2);
    auto landed = awaitLanding(emu, "default", "/event/Demo__e", broker.bootstrap(), topic);
    CHECK_MESSAGE(landed.missing == 0, describe(landed));
    CHECK(daemon.stop() == 0);
}
