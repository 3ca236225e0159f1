// The config loader's YAML reading primitives (config/yaml_fields.h).
#include "config/yaml_fields.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <sys/stat.h>

#include "config/interpolate.h"
#include "config/validate.h"

namespace sfk::config::load {


const char *const kInlineSecret =
    "secrets must not be inline; use ${credential:...}, ${file:...} or ${env:...}";

std::string joinList(const std::vector<std::string> &items)
{
    std::string out;
    for (const std::string &item : items) {
        if (!out.empty())
            out += ", ";
        out += item;
    }
    return out;
}

const char *describe(const YAML::Node &node)
{
    switch (node.Type()) {
    case YAML::NodeType::Null:
        return "nothing";
    case YAML::NodeType::Scalar:
        return "a scalar";
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Map:
        return "a mapping";
    default:
        return "an undefined node";
    }
}

// ---------------------------------------------------------------- scalars

std::optional<std::string> rawScalar(Context &ctx, const Field &f, const char *what)
{
    if (f.value.IsScalar())
        return f.value.Scalar();
    if (f.value.IsNull())
        ctx.error(f.keyMark(), f.path, std::string("missing value: expected ") + what);
    else
        ctx.error(f.value.Mark(), f.path, std::string("expected ") + what + ", found " + describe(f.value));
    return std::nullopt;
}

// A non-secret string, references resolved.
std::optional<std::string> readString(Context &ctx, const Field &f, const char *what)
{
    std::optional<std::string> raw = rawScalar(ctx, f, what);
    if (!raw)
        return std::nullopt;
    Interpolation result = interpolate(*raw, ctx.env);
    for (const std::string &error : result.errors)
        ctx.error(f.valueMark(), f.path, error);
    if (!result.ok())
        return std::nullopt;
    return result.value;
}

std::optional<int64_t> readInteger(Context &ctx, const Field &f, int64_t min, int64_t max)
{
    std::optional<std::string> text = readString(ctx, f, "an integer");
    if (!text)
        return std::nullopt;
    int64_t value = 0;
    const char *begin = text->data();
    const char *end = begin + text->size();
    if (begin != end && *begin == '+')
        ++begin;
    auto [stop, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && stop == end && (value < min || value > max))) {
        ctx.error(f.valueMark(), f.path,
                  "'" + *text + "' is out of range: must be between " + std::to_string(min) + " and " +
                      std::to_string(max));
        return std::nullopt;
    }
    if (ec != std::errc() || stop != end || begin == end) {
        ctx.error(f.valueMark(), f.path, "expected an integer, found '" + *text + "'");
        return std::nullopt;
    }
    return value;
}

// Index of the value in `choices`, or nullopt (reported).
std::optional<size_t> readEnum(Context &ctx, const Field &f, const std::vector<std::string> &choices,
                               const std::string &hint)
{
    std::optional<std::string> text = readString(ctx, f, "one of the listed words");
    if (!text)
        return std::nullopt;
    auto it = std::find(choices.begin(), choices.end(), *text);
    if (it != choices.end())
        return static_cast<size_t>(it - choices.begin());
    std::string message = "'" + *text + "' is not one of: " + joinList(choices);
    std::string close = closestMatch(*text, choices);
    if (!close.empty())
        message += " (did you mean '" + close + "'?)";
    ctx.error(f.valueMark(), f.path, message + hint);
    return std::nullopt;
}

// A secret: must come from references. Inline text is an error, or only a
// warning when `inlineAllowed` (loopback test setups).
std::optional<Secret> readSecret(Context &ctx, const Field &f, bool inlineAllowed, const std::string &why)
{
    std::optional<std::string> raw = rawScalar(ctx, f, "a reference such as ${credential:NAME}");
    if (!raw)
        return std::nullopt;
    Interpolation result = interpolate(*raw, ctx.env);
    for (const std::string &error : result.errors)
        ctx.error(f.valueMark(), f.path, error);
    if (result.has_inline_text) {
        if (!inlineAllowed) {
            ctx.error(f.valueMark(), f.path, kInlineSecret);
            return std::nullopt;
        }
        ctx.warning(f.valueMark(), f.path, "inline secret accepted because " + why +
                                               "; outside tests use ${credential:...}, ${file:...} or ${env:...}");
    }
    if (!result.ok())
        return std::nullopt;
    for (const std::string &file : result.files) {
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH))) {
            char mode[8];
            std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
            ctx.warning(f.valueMark(), f.path,
                        "secret file " + file + " is readable by group or others (mode " + mode +
                            "); chmod 600 it");
        }
    }
    if (result.value.empty()) {
        ctx.error(f.valueMark(), f.path, "the secret is empty");
        return std::nullopt;
    }
    return Secret(std::move(result.value));
}

MapReader::MapReader(Context &ctx, const YAML::Node &node, const YAML::Mark &owner, std::string path,
                     std::vector<std::string> allowed)
    : owner_(owner), path_(std::move(path))
{
    if (node.IsNull())
        return;
    if (!node.IsMap()) {
        ctx.error(node.Mark(), path_, std::string("expected a mapping, found ") + describe(node));
        valid_ = false;
        return;
    }
    std::map<std::string, YAML::Mark> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
        YAML::Node key = it->first;
        if (!key.IsScalar()) {
            ctx.error(key.Mark(), path_, "keys must be plain strings");
            continue;
        }
        std::string name = key.Scalar();
        auto [prev, inserted] = seen.emplace(name, key.Mark());
        if (!inserted) {
            ctx.error(key.Mark(), joinPath(path_, name),
                      "duplicate key '" + name + "' (first defined at line " +
                          std::to_string(prev->second.line + 1) + ")");
            continue;
        }
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            std::string message = "unknown key '" + name + "'";
            std::string close = closestMatch(name, allowed);
            if (!close.empty())
                message += " (did you mean '" + close + "'?)";
            message += "; allowed keys: " + joinList(allowed);
            ctx.error(key.Mark(), joinPath(path_, name), message);
            continue;
        }
        fields_.push_back({ name, key, it->second, joinPath(path_, name) });
    }
}

} // namespace sfk::config::load
