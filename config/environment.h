#pragma once
// What the loader reads from outside the file: environment variables and the
// systemd credential and state directories. Injectable for tests.

#include <functional>
#include <optional>
#include <string>

namespace sfk::config {

struct Environment {
    std::function<std::optional<std::string>(const std::string &)> getenv;
    std::string credentials_directory;  // $CREDENTIALS_DIRECTORY
    std::string state_directory;        // $STATE_DIRECTORY (default for state.directory)
    // Reads the file a ${file:...} or ${credential:...} reference names:
    // false with a message naming the file (never its content). Empty: the
    // file system (the fuzzer confines it to files of its own).
    std::function<bool(const std::string &path, std::string &content, std::string &error)> read_file;

    // The process environment.
    static Environment current();
};

} // namespace sfk::config
