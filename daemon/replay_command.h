#pragma once
// `sfkafkad replay show|set|reset`: inspects and edits the committed replay
// ids of a stopped daemon's state directory.

namespace sfk::daemon {

// argv[0] is "replay"'s caller; args start after "replay". Returns the exit code.
int replayCommand(int argc, char **argv);

} // namespace sfk::daemon
