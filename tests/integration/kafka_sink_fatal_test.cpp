// A fatal producer error replaces the producer: every record the old one
// held must still get exactly one delivery report (failed), or its channel
// would wait for it forever. librdkafka's own mock cluster (loopback,
// in-process) stands in for Kafka.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "daemon_process.h"
#include "kafka/event_sink.h"

using namespace std::chrono_literals;

namespace {

struct Counted : sfk::kafka::DeliveryHandle {
    std::atomic<int> calls{0};
    std::atomic<bool> ok{false};
    void delivered(bool success, int, const char *) override
    {
        ok.store(success);
        calls.fetch_add(1);
    }
};

} // namespace

TEST_CASE("after a fatal producer error every queued record is reported once and the new producer delivers")
{
    sfk::config::Kafka cfg;
    cfg.brokers = "";
    cfg.librdkafka = {{"test.mock.num.brokers", "1"}, {"linger.ms", "50"}};
    std::string error;
    // Declared first: the sink (and its last reports) goes before them.
    std::vector<std::unique_ptr<Counted>> handles;
    auto sink = sfk::kafka::EventSink::create(cfg, error);
    REQUIRE_MESSAGE(sink, error);

    constexpr int kRecords = 20000;
    const std::string value(200, 'v');
    auto produce = [&](int n) {
        for (int i = 0; i < n; ++i) {
            handles.push_back(std::make_unique<Counted>());
            sfk::kafka::OutRecord r;
            r.topic = "fatal.test";
            r.value = value;
            REQUIRE_MESSAGE(sink->produce(r, handles.back().get(), error), error);
        }
    };
    produce(kRecords);
    sink->raiseFatalError("fenced by the test");
    auto allReported = [&] {
        for (const auto &h : handles)
            if (h->calls.load() == 0)
                return false;
        return true;
    };
    CHECK(sfk::test::waitUntil(allReported, 120s));
    CHECK(sfk::test::waitUntil([&] { return sink->stats().producer_restarts == 1; }, 30s));
    int failed = 0;
    for (const auto &h : handles) {
        CHECK(h->calls.load() == 1);
        failed += h->ok.load() ? 0 : 1;
    }
    MESSAGE(failed << " of " << kRecords << " records failed with the old producer");
    CHECK(sink->queueDepth() == 0);

    // The replacement delivers.
    handles.clear();
    produce(100);
    CHECK(sfk::test::waitUntil(allReported, 60s));
    for (const auto &h : handles)
        CHECK(h->ok.load());
    CHECK(sink->flush(10s));
    sink->stop();
}
