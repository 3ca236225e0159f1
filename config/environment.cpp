#include "config/environment.h"

#include <cstdlib>

namespace sfk::config {

Environment Environment::current()
{
    Environment env;
    env.getenv = [](const std::string &name) -> std::optional<std::string> {
        const char *value = std::getenv(name.c_str());
        if (!value)
            return std::nullopt;
        return std::string(value);
    };
    if (auto dir = env.getenv("CREDENTIALS_DIRECTORY"))
        env.credentials_directory = *dir;
    // systemd joins several StateDirectory= entries with ':'; the first is ours.
    if (auto dir = env.getenv("STATE_DIRECTORY"))
        env.state_directory = dir->substr(0, dir->find(':'));
    return env;
}

} // namespace sfk::config
