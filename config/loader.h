#pragma once
// Loads and validates sfkafkad's YAML configuration (`version: 1`).
//
// Every problem is collected before returning, each positioned at the node
// it is about ("file:line:column: path: message"). A Config is returned only
// when there is no error; warnings never prevent loading. No diagnostic and
// no summary ever contains a secret value.

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/diagnostics.h"
#include "config/environment.h"

namespace sfk::config {

struct LoadResult {
    std::optional<Config> config;       // set only when errors is empty
    std::vector<Diagnostic> errors;     // in file order
    std::vector<Diagnostic> warnings;   // in file order

    bool ok() const { return config.has_value() && errors.empty(); }
};

LoadResult loadFile(const std::string &path, const Environment &env = Environment::current());
LoadResult loadString(const std::string &yaml, const std::string &file_name,
                      const Environment &env = Environment::current());

// log.level and log.modules as a log::setLevelSpec() string, e.g.
// "info,kafka=warn,session=debug".
std::string logLevelSpec(const Config &config);

// One line for logs and --check-config, e.g.
// "config OK: 3 orgs, 7 channels, brokers 127.0.0.1:9092". Never prints secrets.
std::string summary(const Config &config);

} // namespace sfk::config
