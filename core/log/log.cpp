#include "log/log.h"

#include <systemd/sd-journal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace sfk::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};  // the default level
std::atomic<int> g_min{static_cast<int>(Level::Info)};    // lowest of default and overrides
std::shared_mutex g_overridesMutex;
std::vector<std::pair<std::string, int>> g_overrides;     // module -> level
std::mutex g_mutex;
std::string g_program = "sfkafka";
std::atomic<int> g_journal{-1};  // -1: decide from $JOURNAL_STREAM
std::atomic<bool> g_hasOverrides{false};

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

int syslogPriority(Level l)
{
    switch (l) {
    case Level::Debug: return 7;
    case Level::Info: return 6;
    case Level::Warn: return 4;
    case Level::Error: return 3;
    }
    return 6;
}

void recomputeMin()
{
    int m = g_level.load();
    for (const auto &[mod, l] : g_overrides)
        m = std::min(m, l);
    g_min.store(m);
    g_hasOverrides.store(!g_overrides.empty());
}

bool useJournal()
{
    int j = g_journal.load(std::memory_order_relaxed);
    if (j < 0) {
        // systemd sets it to "device:inode" of the journal stream it gave
        // us; only when stderr is still that stream do we talk to journald.
        const char *s = std::getenv("JOURNAL_STREAM");
        unsigned long long dev = 0, ino = 0;
        struct stat st{};
        j = (s && std::sscanf(s, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
             st.st_dev == static_cast<dev_t>(dev) && st.st_ino == static_cast<ino_t>(ino)) ? 1 : 0;
        g_journal.store(j);
    }
    return j == 1;
}

std::string journalKey(std::string_view key)
{
    std::string out;
    out.reserve(key.size());
    for (char c : key) {
        unsigned char u = static_cast<unsigned char>(c);
        out += std::isalnum(u) ? static_cast<char>(std::toupper(u)) : '_';
    }
    while (!out.empty() && out[0] == '_')
        out.erase(0, 1);
    if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
        out.insert(0, "F_");
    return out;
}

void writeJournal(Level l, std::string_view message_id, std::string_view module,
                  std::string_view message, std::initializer_list<Field> fields,
                  const std::source_location &loc)
{
    std::vector<std::string> parts;
    parts.reserve(5 + fields.size());
    parts.push_back("MESSAGE=" + std::string(module) + ": " + std::string(message));
    parts.push_back("PRIORITY=" + std::to_string(syslogPriority(l)));
    parts.push_back("SYSLOG_IDENTIFIER=" + g_program);
    parts.push_back("MODULE=" + std::string(module));
    if (!message_id.empty())
        parts.push_back("MESSAGE_ID=" + std::string(message_id));
    for (const auto &f : fields)
        parts.push_back(journalKey(f.key) + "=" + f.value);
    std::vector<iovec> iov(parts.size());
    for (size_t i = 0; i < parts.size(); ++i)
        iov[i] = {parts[i].data(), parts[i].size()};
    std::string file = std::string("CODE_FILE=") + loc.file_name();
    std::string line = "CODE_LINE=" + std::to_string(loc.line());
    sd_journal_sendv_with_location(file.c_str(), line.c_str(), loc.function_name(), iov.data(),
                                   static_cast<int>(iov.size()));
}

void writeLine(Level l, std::string_view message_id, std::string_view module,
               std::string_view message, std::initializer_list<Field> fields,
               const std::source_location &loc)
{
    if (!enabled(l, module))
        return;
    if (useJournal()) {
        writeJournal(l, message_id, module, message, fields, loc);
        return;
    }
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
} // namespace

void setLevel(Level l)
{
    std::unique_lock lock(g_overridesMutex);
    g_level.store(static_cast<int>(l));
    g_overrides.clear();
    recomputeMin();
}

bool knownModule(std::string_view module)
{
    return std::find(kModules.begin(), kModules.end(), module) != kModules.end();
}

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

namespace {
bool parseSpec(std::string_view spec, Level &def, std::vector<std::pair<std::string, int>> &over,
               std::string *error)
{
    bool haveDefault = false;
    def = Level::Info;
    size_t pos = 0;
    while (pos <= spec.size()) {
        size_t comma = spec.find(',', pos);
        std::string_view item = spec.substr(pos, comma == spec.npos ? spec.npos : comma - pos);
        pos = comma == spec.npos ? spec.size() + 1 : comma + 1;
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty()) {
            if (error) *error = "empty item in log level '" + std::string(spec) + "'";
            return false;
        }
        Level l{};
        auto eq = item.find('=');
        if (eq == item.npos) {
            if (haveDefault || !parseLevel(item, l)) {
                if (error)
                    *error = haveDefault ? "two default levels in '" + std::string(spec) + "'"
                                         : "unknown log level '" + std::string(item) +
                                               "' (debug, info, warn, error)";
                return false;
            }
            def = l;
            haveDefault = true;
            continue;
        }
        std::string_view mod = item.substr(0, eq), lv = item.substr(eq + 1);
        if (mod.empty() || !parseLevel(lv, l)) {
            if (error)
                *error = "invalid module level '" + std::string(item) + "' (module=debug|info|warn|error)";
            return false;
        }
        if (!knownModule(mod)) {
            if (error) {
                *error = "unknown module '" + std::string(mod) + "' in log level '" + std::string(spec) +
                         "' (modules:";
                for (std::string_view m : kModules)
                    *error += " " + std::string(m);
                *error += ")";
            }
            return false;
        }
        over.emplace_back(std::string(mod), static_cast<int>(l));
    }
    return true;
}
} // namespace

bool parseLevelSpec(std::string_view spec, std::string *error)
{
    Level def{};
    std::vector<std::pair<std::string, int>> over;
    return parseSpec(spec, def, over, error);
}

bool setLevelSpec(std::string_view spec, std::string *error)
{
    Level def{};
    std::vector<std::pair<std::string, int>> over;
    if (!parseSpec(spec, def, over, error))
        return false;
    std::unique_lock lock(g_overridesMutex);
    g_level.store(static_cast<int>(def));
    g_overrides = std::move(over);
    recomputeMin();
    return true;
}

Level levelFor(std::string_view module)
{
    std::shared_lock lock(g_overridesMutex);
    for (auto it = g_overrides.rbegin(); it != g_overrides.rend(); ++it)
        if (it->first == module)
            return static_cast<Level>(it->second);
    return static_cast<Level>(g_level.load());
}

bool enabled(Level l, std::string_view module)
{
    int li = static_cast<int>(l);
    if (li < g_min.load(std::memory_order_relaxed))
        return false;
    if (!g_hasOverrides.load(std::memory_order_relaxed))
        return li >= g_level.load(std::memory_order_relaxed);
    return li >= static_cast<int>(levelFor(module));
}

void setProgram(std::string_view name)
{
    std::lock_guard lock(g_mutex);
    g_program = name;
}

void setJournal(bool on) { g_journal.store(on ? 1 : 0); }

namespace {
std::atomic<ProblemObserver> g_problemObserver{nullptr};

void observe(Level l, std::string_view module, std::string_view message, std::initializer_list<Field> fields)
{
    if (l < Level::Warn)
        return;
    if (ProblemObserver o = g_problemObserver.load(std::memory_order_relaxed))
        o(l, module, message, fields);
}
} // namespace

void setProblemObserver(ProblemObserver observer) { g_problemObserver.store(observer); }

void write(Level l, std::string_view module, std::string_view message,
           std::initializer_list<Field> fields, std::source_location loc)
{
    observe(l, module, message, fields);
    writeLine(l, {}, module, message, fields, loc);
}

void event(Level l, std::string_view message_id, std::string_view module,
           std::string_view message, std::initializer_list<Field> fields,
           std::source_location loc)
{
    observe(l, module, message, fields);
    writeLine(l, message_id, module, message, fields, loc);
}

} // namespace sfk::log
