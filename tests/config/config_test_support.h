#pragma once
// Helpers for the configuration loader tests: a fake environment, a
// temporary directory, and lookups of diagnostics by position.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <sys/stat.h>

#include <doctest/doctest.h>

#include "config/loader.h"

namespace sfk::config::test {

struct FakeEnv {
    std::map<std::string, std::string> vars;
    std::string credentials_directory;
    std::string state_directory;

    Environment env() const
    {
        Environment e;
        auto copy = vars;
        e.getenv = [copy](const std::string &name) -> std::optional<std::string> {
            auto it = copy.find(name);
            if (it == copy.end())
                return std::nullopt;
            return it->second;
        };
        e.credentials_directory = credentials_directory;
        e.state_directory = state_directory;
        return e;
    }
};

class TempDir {
public:
    TempDir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "sfk-config-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::string &path() const { return path_; }

    std::string write(const std::string &name, const std::string &content, mode_t mode = 0600) const
    {
        std::string file = path_ + "/" + name;
        std::ofstream(file, std::ios::binary) << content;
        ::chmod(file.c_str(), mode);
        return file;
    }

private:
    std::string path_;
};

inline LoadResult load(const std::string &yaml, const FakeEnv &env = {})
{
    return loadString(yaml, "test.yaml", env.env());
}

// Every diagnostic as text, one a line, for failure messages.
inline std::string dump(const LoadResult &r)
{
    std::string out;
    for (const Diagnostic &d : r.errors)
        out += d.str() + "\n";
    for (const Diagnostic &d : r.warnings)
        out += d.str() + "\n";
    return out;
}

inline const Diagnostic *find(const std::vector<Diagnostic> &list, int line, int column, const std::string &text)
{
    for (const Diagnostic &d : list)
        if (d.line == line && d.column == column && d.str().find(text) != std::string::npos)
            return &d;
    return nullptr;
}

// Warnings other than the legacy username-password flow's, which every
// fixture that uses that flow gets.
inline std::vector<Diagnostic> otherWarnings(const LoadResult &r)
{
    std::vector<Diagnostic> out;
    for (const Diagnostic &d : r.warnings)
        if (d.str().find("the username-password flow is legacy") == std::string::npos)
            out.push_back(d);
    return out;
}

inline bool hasError(const LoadResult &r, int line, int column, const std::string &text)
{
    return find(r.errors, line, column, text) != nullptr;
}

inline bool hasWarning(const LoadResult &r, int line, int column, const std::string &text)
{
    return find(r.warnings, line, column, text) != nullptr;
}

inline bool anyErrorContains(const LoadResult &r, const std::string &text)
{
    for (const Diagnostic &d : r.errors)
        if (d.str().find(text) != std::string::npos)
            return true;
    return false;
}

} // namespace sfk::config::test
