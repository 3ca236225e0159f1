#pragma once
// Established TCP connections to a local port, for tests that count a
// client's HTTP/2 connections.

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace sfk::test {

// Connections of any process of this network namespace (/proc/net/tcp and
// tcp6: the remote address column is hex "ADDR:PORT", state 01 is
// ESTABLISHED).
inline size_t establishedTo(int port)
{
    char want[8];
    std::snprintf(want, sizeof want, ":%04X", port);
    size_t n = 0;
    for (const char *table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line); // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state;
            fields >> slot >> local >> remote >> state;
            if (state == "01" && remote.size() > 5 && remote.compare(remote.size() - 5, 5, want) == 0)
                ++n;
        }
    }
    return n;
}

} // namespace sfk::test
