#include "config/interpolate.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace sfk::config {

namespace {

bool isEnvNameStart(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool isEnvNameChar(char c)
{
    return isEnvNameStart(c) || (c >= '0' && c <= '9');
}

// Reads a referenced file; on failure returns false with a message that
// names the file but never its content.
bool readReferencedFile(const std::string &path, std::string &out, std::string &error)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error = "cannot read " + path + ": not a regular file";
        return false;
    }
    if (static_cast<size_t>(st.st_size) > kMaxReferencedFileSize) {
        error = "cannot read " + path + ": larger than 1 MiB";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    std::ostringstream content;
    content << in.rdbuf();
    out = content.str();
    return true;
}

void resolveEnv(std::string_view body, const Environment &env, Interpolation &result)
{
    size_t n = 0;
    while (n < body.size() && isEnvNameChar(body[n]))
        ++n;
    std::string name(body.substr(0, n));
    std::string shown = "${env:" + name + "}";
    if (name.empty() || !isEnvNameStart(name[0])) {
        result.errors.push_back("invalid reference '${env:...}': a variable name is [A-Za-z_][A-Za-z0-9_]*");
        return;
    }

    std::string_view rest = body.substr(n);
    enum class Op { None, Default, DefaultIfUnset, Require, RequireIfSet } op = Op::None;
    std::string_view arg;
    if (rest.empty()) {
        op = Op::None;
    } else if (rest.starts_with(":-")) {
        op = Op::Default;
        arg = rest.substr(2);
    } else if (rest.starts_with(":?")) {
        op = Op::Require;
        arg = rest.substr(2);
    } else if (rest[0] == '-') {
        op = Op::DefaultIfUnset;
        arg = rest.substr(1);
    } else if (rest[0] == '?') {
        op = Op::RequireIfSet;
        arg = rest.substr(1);
    } else {
        result.errors.push_back("invalid reference '" + shown.substr(0, shown.size() - 1) +
                                "...}': after the name only :-default, -default, :?message or ?message may follow");
        return;
    }

    std::optional<std::string> value = env.getenv ? env.getenv(name) : std::nullopt;
    bool unsetOrEmpty = !value || value->empty();
    switch (op) {
    case Op::None:
        if (!value) {
            result.errors.push_back("environment variable " + name + " is not set (referenced as " + shown + ")");
            return;
        }
        break;
    case Op::Default:
    case Op::DefaultIfUnset:
        if (op == Op::Default ? unsetOrEmpty : !value) {
            value = std::string(arg);
            if (!arg.empty())
                result.has_inline_text = true;
        }
        break;
    case Op::Require:
    case Op::RequireIfSet:
        if (op == Op::Require ? unsetOrEmpty : !value) {
            std::string message = "environment variable " + name +
                                  (op == Op::Require ? " is not set or empty" : " is not set");
            if (!arg.empty())
                message += ": " + std::string(arg);
            result.errors.push_back(message);
            return;
        }
        break;
    }
    result.value += *value;
}

void resolveFile(const std::string &path, const std::string &shown, const Environment &env,
                 Interpolation &result)
{
    std::string content, error;
    if (!(env.read_file ? env.read_file(path, content, error) : readReferencedFile(path, content, error))) {
        result.errors.push_back(shown + ": " + error);
        return;
    }
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
        content.pop_back();
    result.files.push_back(path);
    result.value += content;
}

void resolveReference(std::string_view body, const Environment &env, Interpolation &result)
{
    result.has_reference = true;
    size_t colon = body.find(':');
    std::string_view kind = colon == std::string_view::npos ? std::string_view{} : body.substr(0, colon);
    std::string_view arg = colon == std::string_view::npos ? body : body.substr(colon + 1);

    if (kind == "env") {
        resolveEnv(arg, env, result);
    } else if (kind == "file") {
        std::string path(arg);
        std::string shown = "${file:" + path + "}";
        if (path.empty() || path[0] != '/') {
            result.errors.push_back(shown + ": the path must be absolute");
            return;
        }
        resolveFile(path, shown, env, result);
    } else if (kind == "credential") {
        std::string name(arg);
        std::string shown = "${credential:" + name + "}";
        if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
            result.errors.push_back(shown + ": a credential name is a file name in $CREDENTIALS_DIRECTORY (no '/')");
            return;
        }
        if (env.credentials_directory.empty()) {
            result.errors.push_back(shown + ": $CREDENTIALS_DIRECTORY is not set (run under systemd with "
                                    "LoadCredential=" + name + ":/path, or use ${file:/path})");
            return;
        }
        resolveFile(env.credentials_directory + "/" + name, shown, env, result);
    } else {
        // Only the kind and name are echoed, never what follows.
        std::string name(arg.substr(0, std::min(arg.find_first_of(":-?"), arg.size())));
        if (kind.empty() && !name.empty() && isEnvNameStart(name[0]))
            result.errors.push_back("unknown reference '${" + name + "...}': write ${env:" + name +
                                    "} for an environment variable");
        else
            result.errors.push_back("unknown reference kind '" + std::string(kind) +
                                    "': use ${env:NAME}, ${file:/path} or ${credential:NAME}");
    }
}

} // namespace

Interpolation interpolate(std::string_view text, const Environment &env)
{
    Interpolation result;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c != '$' || i + 1 >= text.size()) {
            result.value += c;
            result.has_inline_text = true;
            ++i;
            continue;
        }
        char next = text[i + 1];
        if (next == '$') {
            result.value += '$';
            result.has_inline_text = true;
            i += 2;
            continue;
        }
        if (next != '{') {
            result.value += c;
            result.has_inline_text = true;
            ++i;
            continue;
        }
        size_t close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            result.errors.push_back("unterminated '${' (write '$$' for a literal '$')");
            return result;
        }
        resolveReference(text.substr(i + 2, close - i - 2), env, result);
        i = close + 1;
    }
    return result;
}

} // namespace sfk::config
