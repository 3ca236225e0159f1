#pragma once
// Positioned configuration diagnostics: "file:line:column: path: message".

#include <string>
#include <string_view>
#include <vector>

namespace sfk::config {

struct Diagnostic {
    enum class Severity { Error, Warning };

    std::string file;
    int line = 0;      // 1-based; 0 when unknown
    int column = 0;    // 1-based; 0 when unknown
    std::string path;  // e.g. orgs.acme.auth.client_id; empty for the whole file
    std::string message;
    Severity severity = Severity::Error;

    // "file:line:column: path: message"; warnings read
    // "file:line:column: warning: path: message". Never contains a secret.
    std::string str() const;
};

// Joins a key to a dotted path. Keys made only of [A-Za-z0-9_-] are appended
// with a dot, others (channel names, librdkafka properties) as ["key"].
std::string joinPath(std::string_view parent, std::string_view key);

// The candidate closest to `word` by edit distance, or "" when none is close
// enough to be a plausible typo.
std::string closestMatch(std::string_view word, const std::vector<std::string> &candidates);

// Stable sort by line, then column (file order).
void sortByPosition(std::vector<Diagnostic> &diagnostics);

} // namespace sfk::config
