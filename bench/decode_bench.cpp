// Decode throughput: one Bayeux response of 1,000 events of about 1 KB
// (a mix of the four channel families plus the connect reply), decoded
// many times. Usage: decode_bench [iterations] (default 2000).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "decode/batch_decoder.h"

using namespace sfk::decode;

namespace {

std::string filler(size_t n, int seed)
{
    std::string s;
    for (size_t i = 0; i < n; ++i)
        s.push_back(static_cast<char>('a' + (i * 7 + seed) % 26));
    return s;
}

std::string event(int i)
{
    const std::string replay = std::to_string(1000000 + i * 3);
    const std::string pad = filler(760, i);
    switch (i % 4) {
    case 0:
        return R"({"channel":"/topic/InvoiceUpdates","data":{"event":{"createdDate":"2026-03-29T16:40:08.208Z","replayId":)" +
               replay + R"(,"type":"updated"},"sobject":{"Id":"a00D0000008o6y8IAA","Name":"INV-)" + std::to_string(i) +
               R"(","Status__c":"Open","Amount__c":1234.5,"Description__c":")" + pad + R"("}}})";
    case 1:
        return R"({"channel":"/u/Notifications","data":{"event":{"createdDate":"2026-03-29T19:05:28.334Z","replayId":)" +
               replay + R"(},"payload":"Build )" + std::to_string(i) + " finished " + pad + R"("}})";
    case 2:
        return R"({"channel":"/event/Order_Placed__e","data":{"schema":"dffQ2QLzDNHqwB8_sHMxdA","payload":{"CreatedDate":"2026-04-09T18:31:40.517Z",)"
               R"("CreatedById":"005D0000001cSZs","Order_Number__c":"A-)" + std::to_string(i) +
               R"(","Amount__c":42.5,"Notes__c":")" + pad + R"("},"event":{"EventUuid":"2ec0e371-1395-457f-9275-be1b527a72f7","replayId":)" +
               replay + "}}}";
    default:
        return R"({"channel":"/data/AccountChangeEvent","data":{"schema":"IeRuaY6cbI_HsV8Rv1Mc5g","payload":{"ChangeEventHeader":)"
               R"({"entityName":"Account","recordIds":["0015g00000AbCdEAAZ"],"changeType":"UPDATE","changeOrigin":"com/salesforce/api/rest/62.0",)"
               R"("transactionKey":"0002343d-9d90-e395-ed20-cf416ba652ad","sequenceNumber":1,"commitTimestamp":1743355200000,)"
               R"("commitNumber":10585193272713,"commitUser":"0055g00000Axxxx","changedFields":["Name","Description"]},)"
               R"("Name":"Acme Corp","Description":")" + filler(580, i) + R"("},"event":{"replayId":)" + replay + "}}}";
    }
}

} // namespace

int main(int argc, char **argv)
{
    const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
    constexpr int kEvents = 1000;

    std::string body = "[";
    for (int i = 0; i < kEvents; ++i) {
        body += event(i);
        body += ",";
    }
    body += R"({"channel":"/meta/connect","clientId":"4wx1","id":"2","successful":true,"advice":{"reconnect":"retry","interval":0,"timeout":110000}}])";
    BatchDecoder::reservePadding(body);

    BatchDecoder decoder;
    Batch batch;
    std::string error;
    if (!decoder.decode(body, batch, error) || batch.events.size() != kEvents) {
        std::fprintf(stderr, "decode failed: %s\n", error.c_str());
        return 1;
    }

    const auto start = std::chrono::steady_clock::now();
    size_t keys = 0;
    for (int i = 0; i < iterations; ++i) {
        if (!decoder.decode(body, batch, error)) {
            std::fprintf(stderr, "decode failed: %s\n", error.c_str());
            return 1;
        }
        keys += batch.events.back().key.has_value();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double events = double(iterations) * kEvents;
    std::printf("decode: %d batches x %d events, %.0f bytes/event: %.0f events/s, %.1f MB/s (%zu)\n",
                iterations, kEvents, double(body.size()) / kEvents, events / seconds,
                double(body.size()) * iterations / seconds / 1e6, keys);
    return 0;
}
