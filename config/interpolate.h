#pragma once
// ${...} references in scalar values, resolved after parsing:
//   ${env:NAME}              environment variable (error when unset)
//   ${env:NAME:-default}     default when unset or empty (${env:NAME-default}: when unset)
//   ${env:NAME:?message}     error with message when unset or empty (${env:NAME?message}: when unset)
//   ${file:/absolute/path}   file content, trailing newlines trimmed
//   ${credential:NAME}       file NAME in $CREDENTIALS_DIRECTORY (systemd LoadCredential=)
//   $$                       a literal '$'
// Messages never contain a resolved value or a default, so that secrets
// cannot leak through them.

#include <string>
#include <string_view>
#include <vector>

#include "config/environment.h"

namespace sfk::config {

struct Interpolation {
    std::string value;
    std::vector<std::string> errors;  // one message per bad reference
    std::vector<std::string> files;   // files read (for permission checks)
    bool has_reference = false;       // at least one ${...}
    bool has_inline_text = false;     // text that came from the file itself (literal or default)

    bool ok() const { return errors.empty(); }
};

Interpolation interpolate(std::string_view text, const Environment &env);

// Largest file a reference may read.
constexpr size_t kMaxReferencedFileSize = 1024 * 1024;

} // namespace sfk::config
