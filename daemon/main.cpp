// sfkafkad: Salesforce Streaming API events into Kafka, nothing lost.
#include <cstdio>
#include <cstring>
#include <string>

#include "sfkafka_build_config.h"

namespace {

void printUsage(FILE *out)
{
    std::fprintf(out,
        "Usage: sfkafkad [OPTIONS]\n"
        "\n"
        "Streams Salesforce events (PushTopic, platform events, Change Data Capture,\n"
        "generic channels) from one or more orgs into Kafka topics. A channel's replay\n"
        "id is committed only after Kafka acknowledged every event up to it.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE     configuration file (YAML, version: 1)\n"
        "      --check-config    validate the configuration and exit\n"
        "      --log-level LVL   debug | info | warn | error (default: info)\n"
        "  -h, --help            show this help and exit\n"
        "  -V, --version         show the version and exit\n");
}

} // namespace

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            printUsage(stdout);
            return 0;
        }
        if (arg == "-V" || arg == "--version") {
            std::printf("sfkafkad %s\n", SFKAFKA_VERSION);
            return 0;
        }
    }
    std::fprintf(stderr, "sfkafkad: the streaming pipeline is not built yet\n");
    printUsage(stderr);
    return 2;
}
