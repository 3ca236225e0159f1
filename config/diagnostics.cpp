#include "config/diagnostics.h"

#include <algorithm>
#include <cctype>

namespace sfk::config {

std::string Diagnostic::str() const
{
    std::string out = file.empty() ? std::string("<config>") : file;
    if (line > 0) {
        out += ':' + std::to_string(line);
        if (column > 0)
            out += ':' + std::to_string(column);
    }
    out += ": ";
    if (severity == Severity::Warning)
        out += "warning: ";
    if (!path.empty())
        out += path + ": ";
    out += message;
    return out;
}

std::string joinPath(std::string_view parent, std::string_view key)
{
    bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
    });
    std::string out(parent);
    if (plain) {
        if (!out.empty())
            out += '.';
        out += key;
    } else {
        out += "[\"";
        out += key;
        out += "\"]";
    }
    return out;
}

namespace {

size_t editDistance(std::string_view a, std::string_view b)
{
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                  std::tolower(static_cast<unsigned char>(b[j - 1]))
                              ? 0 : 1;
            cur[j] = std::min({ prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost });
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

} // namespace

std::string closestMatch(std::string_view word, const std::vector<std::string> &candidates)
{
    std::string best;
    size_t bestDistance = SIZE_MAX;
    for (const std::string &candidate : candidates) {
        size_t d = editDistance(word, candidate);
        if (d < bestDistance) {
            bestDistance = d;
            best = candidate;
        }
    }
    // A typo changes a few characters, not most of the word.
    size_t limit = std::max<size_t>(2, word.size() / 3);
    if (best.empty() || bestDistance > limit || bestDistance >= std::max(word.size(), best.size()))
        return {};
    return best;
}

void sortByPosition(std::vector<Diagnostic> &diagnostics)
{
    std::stable_sort(diagnostics.begin(), diagnostics.end(), [](const Diagnostic &a, const Diagnostic &b) {
        if (a.line != b.line)
            return a.line < b.line;
        return a.column < b.column;
    });
}

} // namespace sfk::config
