#include "daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "kafka_harness.h"
#include "sfkafka_build_config.h"

namespace sfk::test {

TempDir::TempDir()
{
    std::string tmpl = (std::filesystem::temp_directory_path() / "sfkafka-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::TempDir(TempDir &&other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir::~TempDir()
{
    if (!path_.empty() && !std::getenv("SFKAFKA_KEEP_TEMP")) {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
}

void writeFile(const std::string &path, const std::string &content)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string daemonPath()
{
    const char *build = std::getenv("SFKAFKA_BUILD_ROOT");
    return std::string(build && *build ? build : SFKAFKA_BUILD_ROOT) + "/daemon/sfkafkad";
}

namespace {

pid_t spawn(const std::vector<std::string> &args, const std::vector<std::string> &extra_env,
            int out_fd, const ChildSetup &setup = {})
{
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(out_fd, STDERR_FILENO);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, STDIN_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (const auto &e : extra_env)
            ::putenv(const_cast<char *>(e.c_str()));
        if (setup) {
            std::string problem = setup();
            if (!problem.empty()) {
                std::fprintf(stderr, "child setup failed: %s\n", problem.c_str());
                ::_exit(126);
            }
        }
        std::vector<char *> argv;
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::fprintf(stderr, "exec %s failed: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

} // namespace

DaemonProcess DaemonProcess::start(const TempDir &dir, const std::string &config_yaml,
                                   std::vector<std::string> extra_args,
                                   std::vector<std::string> extra_env, const ChildSetup &setup)
{
    std::string configPath = dir.file("sfkafkad.yaml");
    writeFile(configPath, config_yaml);
    std::string logPath = dir.file("sfkafkad.log");
    int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        throw std::runtime_error("cannot open " + logPath);
    std::vector<std::string> args{daemonPath(), "--config", configPath};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_t pid = spawn(args, extra_env, fd, setup);
    ::close(fd);
    DaemonProcess daemon(pid, logPath);
    // A daemon that cannot start says why at once: fail the test here.
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    if (!daemon.running())
        throw std::runtime_error("sfkafkad exited at start:\n" + daemon.log());
    return daemon;
}

DaemonProcess::DaemonProcess(DaemonProcess &&other) noexcept
    : pid_(other.pid_), logPath_(std::move(other.logPath_))
{
    other.pid_ = -1;
}

DaemonProcess::~DaemonProcess()
{
    if (pid_ > 0)
        kill();
}

bool DaemonProcess::running()
{
    if (pid_ <= 0)
        return false;
    int status;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

int DaemonProcess::wait(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (std::chrono::steady_clock::now() > deadline)
            return -2;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
}

int DaemonProcess::stop(std::chrono::milliseconds timeout)
{
    if (pid_ <= 0)
        return -1;
    ::kill(pid_, SIGTERM);
    int rc = wait(timeout);
    if (rc == -2) {
        kill();
        return -1;
    }
    return rc;
}

void DaemonProcess::kill()
{
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string DaemonProcess::log() const { return readFile(logPath_); }

long DaemonProcess::rssBytes() const
{
    if (pid_ <= 0)
        return 0;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::atol(line.c_str() + 6) * 1024;
    return 0;
}

int runDaemon(const std::vector<std::string> &args, std::string &output,
              const std::vector<std::string> &extra_env, const ChildSetup &setup)
{
    TempDir dir;
    std::string outPath = dir.file("out");
    int fd = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> full{daemonPath()};
    full.insert(full.end(), args.begin(), args.end());
    pid_t pid = spawn(full, extra_env, fd, setup);
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    output = readFile(outPath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace sfk::test
