#pragma once
// Runs build/daemon/sfkafkad as a child process for integration tests.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace sfk::test {

// A fresh temporary directory, removed by the destructor.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(TempDir &&other) noexcept;
    TempDir(const TempDir &) = delete;
    const std::string &path() const { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void writeFile(const std::string &path, const std::string &content);
std::string readFile(const std::string &path);

// Runs in the forked child just before exec, after stdio and the
// environment are set up (e.g. to enter a mount namespace). A non-empty
// result is written to the child's stderr and the child exits with 126.
using ChildSetup = std::function<std::string()>;

class DaemonProcess {
public:
    // Writes config_yaml to dir/sfkafkad.yaml and starts sfkafkad on it;
    // stderr goes to dir/sfkafkad.log (appended across restarts).
    static DaemonProcess start(const TempDir &dir, const std::string &config_yaml,
                               std::vector<std::string> extra_args = {},
                               std::vector<std::string> extra_env = {},
                               const ChildSetup &setup = {});
    DaemonProcess(DaemonProcess &&other) noexcept;
    DaemonProcess(const DaemonProcess &) = delete;
    ~DaemonProcess();

    pid_t pid() const { return pid_; }
    bool running();
    // SIGTERM and wait; returns the exit status (-1 if killed by a signal or
    // not stopped within timeout, after which it is SIGKILLed).
    int stop(std::chrono::milliseconds timeout = std::chrono::seconds(60));
    void kill();   // SIGKILL and reap
    int wait(std::chrono::milliseconds timeout);
    std::string log() const;
    // Resident set size in bytes (from /proc), 0 if not running.
    long rssBytes() const;

private:
    DaemonProcess(pid_t pid, std::string log_path) : pid_(pid), logPath_(std::move(log_path)) {}
    pid_t pid_ = -1;
    std::string logPath_;
};

// Runs sfkafkad with args to completion; returns exit code, fills output
// with stdout+stderr (-1 if killed by a signal).
int runDaemon(const std::vector<std::string> &args, std::string &output,
              const std::vector<std::string> &extra_env = {}, const ChildSetup &setup = {});

std::string daemonPath();

// Polls pred every 50 ms until it holds or timeout passes.
template <typename Pred>
bool waitUntil(Pred pred, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        struct timespec ts{0, 50 * 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
    return true;
}

} // namespace sfk::test
