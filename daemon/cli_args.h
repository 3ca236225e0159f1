#pragma once
// Command-line option values, shared by sfkafkad and its subcommands:
// `--name=value` or `--name value`.

#include <string>

namespace sfk::daemon {

// The value of the option argv[i] (== arg): after '=' in a long option, else
// the next argument (i then moves past it). False when there is none.
inline bool optionValue(int argc, char **argv, int &i, const std::string &arg, std::string &out)
{
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        out = arg.substr(eq + 1);
        return true;
    }
    if (i + 1 >= argc)
        return false;
    out = argv[++i];
    return true;
}

} // namespace sfk::daemon
