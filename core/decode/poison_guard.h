#pragma once
// Decides when a response carrying an undecodable message may be produced
// without it. One bad response may be a transient corruption: it is discarded
// whole and the session resumes from its committed replay ids. Once the same
// message has come back kThreshold times in a row it is poison: its raw
// bytes are dead-lettered and the rest of the response is produced (README:
// How sfkafkad delivers events).

#include <cstdint>
#include <optional>

#include "decode/batch_decoder.h"

namespace sfk::decode {

class PoisonGuard {
public:
    static constexpr int kThreshold = 3;

    // True when `batch` can be produced: it has no undecodable message, or
    // its first one failed kThreshold times in a row (the count then starts
    // over). False: discard the response (this is failure number failures()).
    bool admit(const Batch &batch);
    int failures() const { return count_; }

    // What identifies an undecodable message across replays: its channel and
    // replay id when both are known, else a hash of its raw bytes.
    static uint64_t signature(const Undecodable &u);

private:
    std::optional<uint64_t> last_;
    int count_ = 0;
};

} // namespace sfk::decode
