// sfemu: a local emulator of Salesforce's OAuth and Streaming endpoints.
#include <cstdio>
#include <string>

#include "sfkafka_build_config.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--version") {
            std::printf("sfemu %s\n", SFKAFKA_VERSION);
            return 0;
        }
    }
    std::printf("sfemu %s: emulator not implemented yet\n", SFKAFKA_VERSION);
    return 0;
}
