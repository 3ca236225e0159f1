#pragma once
// `sfkafkad status`: a running daemon's GET /status as a compact table (or
// the JSON itself), the way `kafka-consumer-groups --describe` is used.

namespace sfk::daemon {

// args start after "status". Returns the exit code.
int statusCommand(int argc, char **argv);

} // namespace sfk::daemon
