#pragma once
// Leveled, structured logging. Lines go to journald (sd_journal_sendv with
// the caller's file and line, fields as uppercase journald fields) when
// $JOURNAL_STREAM is set, else to stderr as "time level module: message k=v".

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace sfk::log {

// Where a log call was written. clang 14 with libstdc++ 12 (the fuzz build,
// fuzz/) has no std::source_location; the same compiler builtins stand in.
#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
struct SourceLocation {
    static constexpr SourceLocation current(const char *file = __builtin_FILE(),
                                            const char *function = __builtin_FUNCTION(),
                                            unsigned line = __builtin_LINE()) noexcept
    {
        SourceLocation l;
        l.file_ = file;
        l.function_ = function;
        l.line_ = line;
        return l;
    }
    constexpr const char *file_name() const noexcept { return file_; }
    constexpr const char *function_name() const noexcept { return function_; }
    constexpr unsigned line() const noexcept { return line_; }
    constexpr unsigned column() const noexcept { return 0; }

private:
    const char *file_ = "";
    const char *function_ = "";
    unsigned line_ = 0;
};
#endif

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
           SourceLocation loc = SourceLocation::current());
// A key event: like write() with a fixed MESSAGE_ID (see log::id).
void event(Level level, std::string_view message_id, std::string_view module,
           std::string_view message, std::initializer_list<Field> fields = {},
           SourceLocation loc = SourceLocation::current());

inline void debug(std::string_view module, std::string_view msg,
                  std::initializer_list<Field> fields = {},
                  SourceLocation loc = SourceLocation::current())
{
    if (enabled(Level::Debug, module))
        write(Level::Debug, module, msg, fields, loc);
}
inline void info(std::string_view module, std::string_view msg,
                 std::initializer_list<Field> fields = {},
                 SourceLocation loc = SourceLocation::current())
{
    if (enabled(Level::Info, module))
        write(Level::Info, module, msg, fields, loc);
}
inline void warn(std::string_view module, std::string_view msg,
                 std::initializer_list<Field> fields = {},
                 SourceLocation loc = SourceLocation::current())
{
    write(Level::Warn, module, msg, fields, loc);
}
inline void error(std::string_view module, std::string_view msg,
                  std::initializer_list<Field> fields = {},
                  SourceLocation loc = SourceLocation::current())
{
    write(Level::Error, module, msg, fields, loc);
}

} // namespace sfk::log
