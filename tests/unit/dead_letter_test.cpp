#include <doctest/doctest.h>

#include <librdkafka/rdkafka.h>

#include <string>

#include "decode/batch_decoder.h"
#include "decode/poison_guard.h"
#include "session/dead_letters.h"

using sfk::decode::Batch;
using sfk::decode::BatchDecoder;
using sfk::decode::PoisonGuard;
using sfk::session::DeadLetterReason;
using sfk::session::permanentRefusal;

namespace {

// Decodes into `batch` (the body must outlive it).
void decode(std::string &body, Batch &batch)
{
    BatchDecoder decoder;
    BatchDecoder::reservePadding(body);
    std::string error;
    REQUIRE_MESSAGE(decoder.decode(body, batch, error), error);
}

const std::string kGood = R"({"channel":"/u/N","data":{"event":{"replayId":1},"payload":"p"}})";
const std::string kPoison = R"({"channel":"/u/N","data":{"event":{"replayId":"x"},"payload":"p"}})";
const std::string kOtherPoison = R"({"channel":"/u/N","data":{"event":{"replayId":"y"},"payload":"q"}})";

} // namespace

TEST_CASE("the same undecodable message is admitted on its third consecutive response")
{
    PoisonGuard guard;
    std::string good = "[" + kGood + "]", bad = "[" + kGood + "," + kPoison + "]";
    Batch clean, poisoned;
    decode(good, clean);
    decode(bad, poisoned);
    CHECK(guard.admit(clean));
    CHECK_FALSE(guard.admit(poisoned));
    CHECK(guard.failures() == 1);
    CHECK(guard.admit(clean));   // a clean response in between does not reset the count
    CHECK_FALSE(guard.admit(poisoned));
    CHECK(guard.failures() == 2);
    CHECK(guard.admit(poisoned));
    // The count starts over once admitted.
    CHECK_FALSE(guard.admit(poisoned));
    CHECK(guard.failures() == 1);
}

TEST_CASE("a different undecodable message restarts the count")
{
    PoisonGuard guard;
    std::string a = "[" + kPoison + "]", b = "[" + kOtherPoison + "]";
    Batch ba, bb;
    decode(a, ba);
    decode(b, bb);
    CHECK_FALSE(guard.admit(ba));
    CHECK_FALSE(guard.admit(ba));
    CHECK_FALSE(guard.admit(bb));
    CHECK(guard.failures() == 1);
    CHECK_FALSE(guard.admit(bb));
    CHECK(guard.admit(bb));
}

TEST_CASE("the same raw bytes have the same signature in another response")
{
    std::string a = "[" + kGood + "," + kPoison + "]", b = "[" + kPoison + "]";
    Batch ba, bb;
    decode(a, ba);
    decode(b, bb);
    REQUIRE(ba.undecodable.size() == 1);
    REQUIRE(bb.undecodable.size() == 1);
    CHECK(PoisonGuard::signature(ba.undecodable[0]) == PoisonGuard::signature(bb.undecodable[0]));
    std::string c = "[" + kOtherPoison + "]";
    Batch bc;
    decode(c, bc);
    CHECK(PoisonGuard::signature(bc.undecodable[0]) != PoisonGuard::signature(bb.undecodable[0]));
}

TEST_CASE("permanent Kafka refusals are told from transient failures")
{
    CHECK(permanentRefusal(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) == DeadLetterReason::TooLarge);
    CHECK(permanentRefusal(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE) == DeadLetterReason::TooLarge);
    CHECK(permanentRefusal(RD_KAFKA_RESP_ERR_INVALID_RECORD) == DeadLetterReason::KafkaRejected);
    CHECK(permanentRefusal(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) == DeadLetterReason::KafkaRejected);
    CHECK(permanentRefusal(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) == DeadLetterReason::KafkaRejected);
    CHECK_FALSE(permanentRefusal(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    CHECK_FALSE(permanentRefusal(RD_KAFKA_RESP_ERR__TRANSPORT));
    CHECK_FALSE(permanentRefusal(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
    CHECK_FALSE(permanentRefusal(RD_KAFKA_RESP_ERR__PURGE_QUEUE));
    CHECK_FALSE(permanentRefusal(RD_KAFKA_RESP_ERR_NO_ERROR));

    // produce() errors carry librdkafka's text.
    CHECK(permanentRefusal(std::string("Failed to produce: ") + rd_kafka_err2str(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)) ==
          DeadLetterReason::TooLarge);
    CHECK_FALSE(permanentRefusal(std::string_view(rd_kafka_err2str(RD_KAFKA_RESP_ERR__QUEUE_FULL))));
    CHECK_FALSE(permanentRefusal(std::string_view("the Kafka sink is stopping")));
}

TEST_CASE("reason names match the dead-letter header contract")
{
    CHECK(std::string(sfk::session::reasonName(DeadLetterReason::KafkaRejected)) == "kafka_rejected");
    CHECK(std::string(sfk::session::reasonName(DeadLetterReason::Undecodable)) == "undecodable");
    CHECK(std::string(sfk::session::reasonName(DeadLetterReason::TooLarge)) == "too_large");
}
