#include "log/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sfk::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;
std::string g_program = "sfkafka";

const char *levelName(Level l)
{
    switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
    }
    return "?";
}
} // namespace

void setLevel(Level l) { g_level.store(static_cast<int>(l)); }
Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool parseLevel(std::string_view text, Level &out)
{
    if (text == "debug") out = Level::Debug;
    else if (text == "info") out = Level::Info;
    else if (text == "warn" || text == "warning") out = Level::Warn;
    else if (text == "error") out = Level::Error;
    else return false;
    return true;
}

void setProgram(std::string_view name)
{
    std::lock_guard lock(g_mutex);
    g_program = name;
}

void write(Level l, std::string_view module, std::string_view message,
           std::initializer_list<Field> fields)
{
    if (static_cast<int>(l) < g_level.load(std::memory_order_relaxed))
        return;
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    std::string line;
    line.reserve(128 + message.size());
    line += ts;
    char msbuf[8];
    std::snprintf(msbuf, sizeof msbuf, ".%03dZ", static_cast<int>(ms));
    line += msbuf;
    line += ' ';
    line += levelName(l);
    line += ' ';
    line += module;
    line += ": ";
    line += message;
    for (const auto &f : fields) {
        line += ' ';
        line += f.key;
        line += '=';
        line += f.value;
    }
    line += '\n';
    std::lock_guard lock(g_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace sfk::log
