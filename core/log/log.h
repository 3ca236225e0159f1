#pragma once
// Leveled, structured logging. Lines go to journald (sd_journal_sendv with
// the caller's file and line, fields as uppercase journald fields) when
// $JOURNAL_STREAM is set, else to stderr as "time level module: message k=v".

#include <array>
#include <initializer_list>
#include <source_location>
#include <string>
#include <string_view>

namespace sfk::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// A structured field attached to a log line (journald field, or key=value on
// stderr). Values must never be secrets: callers pass redacted values.
struct Field {
    std::string_view key;
    std::string value;
};

// Fixed journald MESSAGE_ID= values (128-bit ids, `journalctl
// MESSAGE_ID=...` finds every occurrence) for the key events.
namespace id {
inline constexpr std::string_view kStarted = "2b6d0c3e8a1f4e5b9c7d1a2e3f405161";
inline constexpr std::string_view kStopped = "2b6d0c3e8a1f4e5b9c7d1a2e3f405162";
inline constexpr std::string_view kHandshake = "2b6d0c3e8a1f4e5b9c7d1a2e3f405163";
inline constexpr std::string_view kGap = "2b6d0c3e8a1f4e5b9c7d1a2e3f405164";
inline constexpr std::string_view kCommitFailure = "2b6d0c3e8a1f4e5b9c7d1a2e3f405165";
inline constexpr std::string_view kReloaded = "2b6d0c3e8a1f4e5b9c7d1a2e3f405166";
inline constexpr std::string_view kReloadFailed = "2b6d0c3e8a1f4e5b9c7d1a2e3f405167";
} // namespace id

// Every module that logs; per-module levels may only name these, so a typo
// ("sesion=debug") is an error instead of a level that silently never applies.
inline constexpr std::array<std::string_view, 7> kModules = {
    "main", "config", "session", "supervisor", "commit", "kafka", "http"};
bool knownModule(std::string_view module);

// The default level for every module.
void setLevel(Level level);
Level level();
bool parseLevel(std::string_view text, Level &out);
// "info" or "info,session=debug,kafka=warn": a default then per-module
// overrides. On error returns false, leaves the levels unchanged and
// describes the problem in *error.
bool setLevelSpec(std::string_view spec, std::string *error = nullptr);
bool parseLevelSpec(std::string_view spec, std::string *error = nullptr);
// The level in force for one module.
Level levelFor(std::string_view module);
bool enabled(Level level, std::string_view module);
// Process-wide tag printed in front of stderr lines (the program name).
void setProgram(std::string_view name);
// Journald instead of stderr ($JOURNAL_STREAM set at the first line by default).
void setJournal(bool on);

// Called for every warning and error line, whatever the levels in force
// (the status endpoint keeps each org's last problem). Set once at start-up,
// before other threads log; the function must be thread-safe.
using ProblemObserver = void (*)(Level level, std::string_view module, std::string_view message,
                                 std::initializer_list<Field> fields);
void setProblemObserver(ProblemObserver observer);

void write(Level level, std::string_view module, std::string_view message,
           std::initializer_list<Field> fields = {},
           std::source_location loc = std::source_location::current());
// A key event: like write() with a fixed MESSAGE_ID (see log::id).
void event(Level level, std::string_view message_id, std::string_view module,
           std::string_view message, std::initializer_list<Field> fields = {},
           std::source_location loc = std::source_location::current());

inline void debug(std::string_view module, std::string_view msg,
                  std::initializer_list<Field> fields = {},
                  std::source_location loc = std::source_location::current())
{
    if (enabled(Level::Debug, module))
        write(Level::Debug, module, msg, fields, loc);
}
inline void info(std::string_view module, std::string_view msg,
                 std::initializer_list<Field> fields = {},
                 std::source_location loc = std::source_location::current())
{
    if (enabled(Level::Info, module))
        write(Level::Info, module, msg, fields, loc);
}
inline void warn(std::string_view module, std::string_view msg,
                 std::initializer_list<Field> fields = {},
                 std::source_location loc = std::source_location::current())
{
    write(Level::Warn, module, msg, fields, loc);
}
inline void error(std::string_view module, std::string_view msg,
                  std::initializer_list<Field> fields = {},
                  std::source_location loc = std::source_location::current())
{
    write(Level::Error, module, msg, fields, loc);
}

} // namespace sfk::log
