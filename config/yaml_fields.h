#pragma once
// The YAML reading primitives the config loader is built from: where
// diagnostics go (Context), one key and its value (Field), checked mappings
// (MapReader), and scalars read with every problem reported at its
// file:line:column.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/diagnostics.h"
#include "config/environment.h"

namespace sfk::config::load {

using Severity = Diagnostic::Severity;

extern const char *const kInlineSecret;

std::string joinList(const std::vector<std::string> &items);
// "a scalar", "a list"...: what a node is, for messages.
const char *describe(const YAML::Node &node);

// The state of one load: where diagnostics go and what the loader may read.
struct Context {
    std::string file;
    const Environment &env;
    std::vector<Diagnostic> errors;
    std::vector<Diagnostic> warnings;

    void report(Severity severity, const YAML::Mark &mark, const std::string &path, std::string message)
    {
        Diagnostic d;
        d.file = file;
        if (!mark.is_null()) {
            d.line = mark.line + 1;
            d.column = mark.column + 1;
        }
        d.path = path;
        d.message = std::move(message);
        d.severity = severity;
        (severity == Severity::Error ? errors : warnings).push_back(std::move(d));
    }
    void error(const YAML::Mark &mark, const std::string &path, std::string message)
    {
        report(Severity::Error, mark, path, std::move(message));
    }
    void warning(const YAML::Mark &mark, const std::string &path, std::string message)
    {
        report(Severity::Warning, mark, path, std::move(message));
    }
};

// One key of a mapping, with its value.
struct Field {
    std::string key;
    YAML::Node keyNode;
    YAML::Node value;
    std::string path;

    YAML::Mark keyMark() const { return keyNode.Mark(); }
    // An empty value's own mark is that of the next token: point at the key.
    YAML::Mark valueMark() const { return value.IsNull() ? keyNode.Mark() : value.Mark(); }
};

// A mapping whose keys have been checked once: not a mapping, non-string
// keys, duplicate keys and (when `allowed` is not empty) unknown keys are
// reported here. An empty value (`state:`) reads as an empty mapping.
class MapReader {
public:
    MapReader(Context &ctx, const YAML::Node &node, const YAML::Mark &owner, std::string path,
              std::vector<std::string> allowed = {});

    bool valid() const { return valid_; }
    const std::vector<Field> &fields() const { return fields_; }
    const std::string &path() const { return path_; }
    const YAML::Mark &owner() const { return owner_; }

    const Field *find(std::string_view key) const
    {
        for (const Field &f : fields_)
            if (f.key == key)
                return &f;
        return nullptr;
    }

    // Reports a missing required key at the key that owns this mapping.
    const Field *require(Context &ctx, std::string_view key, const std::string &hint = {}) const
    {
        const Field *f = find(key);
        if (!f && valid_)
            ctx.error(owner_, path_, "missing required key '" + std::string(key) + "'" + hint);
        return f;
    }

private:
    YAML::Mark owner_;
    std::string path_;
    bool valid_ = true;
    std::vector<Field> fields_;
};

std::optional<std::string> rawScalar(Context &ctx, const Field &f, const char *what = "a string");
// A non-secret string, references resolved.
std::optional<std::string> readString(Context &ctx, const Field &f, const char *what = "a string");
std::optional<int64_t> readInteger(Context &ctx, const Field &f, int64_t min, int64_t max);
// Index of the value in `choices`, or nullopt (reported).
std::optional<size_t> readEnum(Context &ctx, const Field &f, const std::vector<std::string> &choices,
                               const std::string &hint = {});
// A secret: must come from references. Inline text is an error, or only a
// warning when `inlineAllowed` (loopback test setups).
std::optional<Secret> readSecret(Context &ctx, const Field &f, bool inlineAllowed, const std::string &why);

} // namespace sfk::config::load
