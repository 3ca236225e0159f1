#include "decode/poison_guard.h"

#include <functional>
#include <string>

namespace sfk::decode {

uint64_t PoisonGuard::signature(const Undecodable &u)
{
    if (!u.channel.empty() && u.replay_id)
        return std::hash<std::string>{}(std::string(u.channel) + '\n' + std::to_string(*u.replay_id));
    return std::hash<std::string_view>{}(u.raw) ^ 0x9e3779b97f4a7c15ULL;
}

bool PoisonGuard::admit(const Batch &batch)
{
    if (batch.undecodable.empty())
        return true;
    const uint64_t sig = signature(batch.undecodable.front());
    count_ = last_ == sig ? count_ + 1 : 1;
    last_ = sig;
    if (count_ < kThreshold)
        return false;
    last_.reset();
    count_ = 0;
    return true;
}

} // namespace sfk::decode
