#pragma once

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

void setLevel(Level level);
Level level();
bool parseLevel(std::string_view text, Level &out);
// Process-wide tag printed in front of stderr lines (the program name).
void setProgram(std::string_view name);

void write(Level level, std::string_view module, std::string_view message,
           std::initializer_list<Field> fields = {});

inline void debug(std::string_view module, std::string_view msg,
                  std::initializer_list<Field> fields = {})
{
    if (level() <= Level::Debug)
        write(Level::Debug, module, msg, fields);
}
inline void info(std::string_view module, std::string_view msg,
                 std::initializer_list<Field> fields = {})
{
    if (level() <= Level::Info)
        write(Level::Info, module, msg, fields);
}
inline void warn(std::string_view module, std::string_view msg,
                 std::initializer_list<Field> fields = {})
{
    write(Level::Warn, module, msg, fields);
}
inline void error(std::string_view module, std::string_view msg,
                  std::initializer_list<Field> fields = {})
{
    write(Level::Error, module, msg, fields);
}

} // namespace sfk::log
