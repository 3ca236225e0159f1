// What sfkafkad really sends to journald, captured without systemd: the
// daemon runs in a private mount namespace whose /run/systemd/journal is a
// test directory holding a datagram socket this test bound. The entries are
// decoded from the native journal protocol (and from a memfd passed with
// SCM_RIGHTS, which libsystemd uses for entries too large for a datagram).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <map>
#include <set>

#include "../integration/pipeline_support.h"
#include "log/log.h"
#include "ops_support.h"

using namespace sfk::test;
using namespace std::chrono_literals;
namespace logid = sfk::log::id;

namespace {

struct JournalEntry {
    std::map<std::string, std::string> fields;
    std::set<std::string> binary;  // fields sent as KEY\n<length><data>\n (values with newlines)
    pid_t pid = -1;                // the sender, from SCM_CREDENTIALS
    bool via_fd = false;           // came as a memfd (SCM_RIGHTS), not in the datagram
    std::string problem;           // why the entry could not be decoded, if it could not

    std::string get(const std::string &key) const
    {
        auto it = fields.find(key);
        return it == fields.end() ? std::string() : it->second;
    }
};

// Decodes one entry of the native protocol: KEY=value\n, or for values that
// may hold newlines KEY\n followed by a 64-bit little-endian length, the
// data and \n.
JournalEntry parseEntry(std::string_view data)
{
    JournalEntry e;
    size_t pos = 0;
    while (pos < data.size()) {
        size_t end = data.find_first_of("=\n", pos);
        if (end == std::string_view::npos) {
            e.problem = "field without '=' or newline at byte " + std::to_string(pos);
            return e;
        }
        std::string key(data.substr(pos, end - pos));
        if (data[end] == '=') {
            size_t nl = data.find('\n', end + 1);
            if (nl == std::string_view::npos) {
                e.problem = "field " + key + " does not end with a newline";
                return e;
            }
            e.fields[key] = std::string(data.substr(end + 1, nl - end - 1));
            pos = nl + 1;
            continue;
        }
        if (end + 1 + 8 > data.size()) {
            e.problem = "binary field " + key + " is cut short";
            return e;
        }
        uint64_t length = 0;
        for (int i = 7; i >= 0; --i)
            length = (length << 8) | static_cast<unsigned char>(data[end + 1 + i]);
        size_t at = end + 1 + 8;
        if (length > data.size() - at || at + length >= data.size() || data[at + length] != '\n') {
            e.problem = "binary field " + key + " has a bad length or no closing newline";
            return e;
        }
        e.fields[key] = std::string(data.substr(at, length));
        e.binary.insert(key);
        pos = at + length + 1;
    }
    return e;
}

// Plays journald's side of /run/systemd/journal/socket.
class JournalSocket {
public:
    explicit JournalSocket(const std::string &dir) : dir_(dir)
    {
        ::mkdir(dir.c_str(), 0755);
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = dir + "/socket";
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        int on = 1;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
            throw std::runtime_error("cannot bind the journal socket " + path + ": " + std::strerror(errno));
        reader_ = std::thread([this] { readLoop(); });
    }
    ~JournalSocket()
    {
        stop_ = true;
        reader_.join();
        ::close(fd_);
    }
    const std::string &dir() const { return dir_; }

    std::vector<JournalEntry> entries()
    {
        std::lock_guard lock(mutex_);
        return entries_;
    }
    std::vector<JournalEntry> from(pid_t pid)
    {
        std::vector<JournalEntry> out;
        for (auto &e : entries())
            if (e.pid == pid)
                out.push_back(e);
        return out;
    }
    // The first entry of pid with field key=value, waiting for it.
    std::optional<JournalEntry> waitFor(pid_t pid, const std::string &key, const std::string &value,
                                        std::chrono::milliseconds timeout = 30s)
    {
        std::optional<JournalEntry> found;
        waitUntil([&] {
            for (auto &e : from(pid)) {
                if (e.get(key) == value) {
                    found = e;
                    return true;
                }
            }
            return false;
        }, timeout);
        return found;
    }

private:
    void readLoop()
    {
        std::vector<char> buf(4 << 20);
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0)
                continue;
            iovec iov{buf.data(), buf.size()};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
            if (n < 0)
                continue;
            pid_t pid = -1;
            std::vector<int> fds;
            for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
                    pid = reinterpret_cast<ucred *>(CMSG_DATA(c))->pid;
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                    for (size_t i = 0; i < count; ++i)
                        fds.push_back(reinterpret_cast<int *>(CMSG_DATA(c))[i]);
                }
            }
            JournalEntry e;
            if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                e.problem = "datagram or its control data truncated";
            } else if (!fds.empty()) {
                // journald accepts one sealed memfd (or file) holding the entry, with an empty datagram.
                e = fds.size() == 1 && n == 0 ? parseEntry(readFd(fds[0]))
                                              : JournalEntry{{}, {}, -1, false, "unexpected fds with the datagram"};
                e.via_fd = true;
            } else {
                e = parseEntry(std::string_view(buf.data(), static_cast<size_t>(n)));
            }
            for (int fd : fds)
                ::close(fd);
            e.pid = pid;
            std::lock_guard lock(mutex_);
            entries_.push_back(std::move(e));
        }
    }
    static std::string readFd(int fd)
    {
        std::string data;
        char chunk[65536];
        for (off_t off = 0;;) {
            ssize_t n = ::pread(fd, chunk, sizeof chunk, off);
            if (n <= 0)
                return data;
            data.append(chunk, static_cast<size_t>(n));
            off += n;
        }
    }

    std::string dir_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<JournalEntry> entries_;
    std::thread reader_;
};

// In the child: a private mount namespace where /run is an empty tmpfs and
// /run/systemd/journal is journal_dir, so libsystemd's fixed socket path
// reaches the test's socket. Needs CAP_SYS_ADMIN; without it the test fails.
std::string enterJournalNamespace(const std::string &journal_dir)
{
    auto failed = [](const std::string &what) {
        return what + " failed: " + std::strerror(errno) + " (the journald test needs root, or CAP_SYS_ADMIN)";
    };
    if (::unshare(CLONE_NEWNS) != 0)
        return failed("unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return failed("making mounts private");
    if (::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0)
        return failed("mounting a tmpfs on /run");
    if (::mkdir("/run/systemd", 0755) != 0 || ::mkdir("/run/systemd/journal", 0755) != 0)
        return failed("creating /run/systemd/journal");
    if (::mount(journal_dir.c_str(), "/run/systemd/journal", nullptr, MS_BIND, nullptr) != 0)
        return failed("bind-mounting " + journal_dir + " on /run/systemd/journal");
    return {};
}

// "JOURNAL_STREAM=dev:ino" naming the file at path (the daemon's stderr).
std::string journalStreamFor(const std::string &path)
{
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0)
        throw std::runtime_error("cannot stat " + path);
    return "JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

} // namespace

TEST_CASE("with $JOURNAL_STREAM naming stderr, sfkafkad sends native journal entries with fields and MESSAGE_IDs")
{
    const auto &broker = KafkaBroker::shared();
    EmuOrg emuOrg{"acme", "00D000000000001AAA", {"/event/Journal__e"}};
    SfemuProcess emu = SfemuProcess::start(emulatorConfig({emuOrg}, 500));
    TempDir dir;
    JournalSocket journal(dir.file("journal"));
    const std::string topic = uniqueTopic("ops.journald");
    DaemonSpec spec = singleChannelSpec(emu.url(), broker.bootstrap(), dir.file("state"), emuOrg, topic);
    const std::string yaml = daemonConfig(spec);
    auto setup = [&] { return enterJournalNamespace(journal.dir()); };

    // stderr is dir/sfkafkad.log (appended to): create it first so that
    // JOURNAL_STREAM can name its device and inode.
    writeFile(dir.file("sfkafkad.log"), "");
    DaemonProcess daemon = DaemonProcess::start(dir, yaml, {}, {journalStreamFor(dir.file("sfkafkad.log"))}, setup);
    const pid_t pid = daemon.pid();

    auto started = journal.waitFor(pid, "MESSAGE_ID", std::string(logid::kStarted));
    REQUIRE_MESSAGE(started, "no 'started' entry reached the journal socket; stderr:\n" << daemon.log());
    CHECK(started->problem.empty());
    CHECK(started->get("PRIORITY") == "6");
    CHECK(started->get("MODULE") == "main");
    CHECK(started->get("SYSLOG_IDENTIFIER") == "sfkafkad");
    CHECK(started->get("MESSAGE").starts_with("main: sfkafkad "));
    CHECK(started->get("MESSAGE").find(" started: config OK: 1 org, 1 channel") != std::string::npos);
    CHECK(started->get("CODE_FILE").ends_with("daemon/main.cpp"));
    CHECK(std::atoi(started->get("CODE_LINE").c_str()) > 0);
    CHECK(started->get("CODE_FUNC").find("main") != std::string::npos);

    auto handshake = journal.waitFor(pid, "MESSAGE_ID", std::string(logid::kHandshake));
    REQUIRE(handshake);
    CHECK(handshake->get("MESSAGE") == "session: handshake complete");
    CHECK(handshake->get("MODULE") == "session");
    CHECK(handshake->get("ORG") == "acme");
    CHECK(handshake->get("PRIORITY") == "6");
    CHECK(handshake->get("CODE_FILE").ends_with("core/cometd/cometd_transport.cpp"));
    CHECK(handshake->get("CODE_LINE") != started->get("CODE_LINE"));

    auto subscribed = journal.waitFor(pid, "MESSAGE", "session: subscribed");
    REQUIRE(subscribed);
    CHECK(subscribed->get("ORG") == "acme");
    CHECK(subscribed->get("CHANNEL") == "/event/Journal__e");
    CHECK(subscribed->get("REPLAY_FROM") == "-2");
    CHECK_FALSE(subscribed->fields.count("MESSAGE_ID"));

    // Events still flow to Kafka while logging to the journal.
    emu.generate("acme", emuOrg.channels[0], 5, 100, 1);
    auto landed = awaitLanding(emu, "acme", emuOrg.channels[0], broker.bootstrap(), topic);
    CHECK_MESSAGE(landed.missing == 0, describe(landed));

    // A good reload: its warnings (inline secrets on loopback) at PRIORITY=4.
    REQUIRE(::kill(pid, SIGHUP) == 0);
    auto reloaded = journal.waitFor(pid, "MESSAGE_ID", std::string(logid::kReloaded));
    REQUIRE(reloaded);
    CHECK(reloaded->get("MESSAGE").starts_with("main: configuration reloaded"));
    auto warning = journal.waitFor(pid, "MODULE", "config");
    REQUIRE(warning);
    CHECK(warning->get("PRIORITY") == "4");

    // A refused reload whose error quotes a value with a newline: that
    // MESSAGE travels in the binary form.
    writeFile(dir.file("sfkafkad.yaml"), yaml + "log:\n  level: \"loud\\nlouder\"\n");
    REQUIRE(::kill(pid, SIGHUP) == 0);
    auto refused = journal.waitFor(pid, "MESSAGE_ID", std::string(logid::kReloadFailed));
    REQUIRE(refused);
    CHECK(refused->get("PRIORITY") == "3");
    std::optional<JournalEntry> multiLine;
    for (auto &e : journal.from(pid))
        if (e.get("MESSAGE").find("'loud\nlouder' is not one of") != std::string::npos)
            multiLine = e;
    REQUIRE_MESSAGE(multiLine, "no entry quoting the two-line value");
    CHECK(multiLine->binary.count("MESSAGE") == 1);
    CHECK(multiLine->get("PRIORITY") == "3");
    CHECK(multiLine->get("MODULE") == "config");

    writeFile(dir.file("sfkafkad.yaml"), yaml);
    REQUIRE(daemon.stop() == 0);
    auto stopped = journal.waitFor(pid, "MESSAGE_ID", std::string(logid::kStopped));
    REQUIRE(stopped);
    CHECK(stopped->get("MESSAGE") == "main: stopped cleanly");

    for (const auto &e : journal.from(pid)) {
        CHECK_MESSAGE(e.problem.empty(), e.problem);
        CHECK_FALSE(e.via_fd);  // nothing this daemon logs is that large
        CHECK(!e.get("MESSAGE").empty());
        CHECK(!e.get("PRIORITY").empty());
        CHECK(!e.get("MODULE").empty());
        CHECK(!e.get("CODE_FILE").empty());
        CHECK(!e.get("CODE_LINE").empty());
    }
    // Leveled lines went to the journal only; stderr holds just what is
    // printed before logging starts (the configuration's warnings).
    std::string stderrText = readFile(dir.file("sfkafkad.log"));
    CHECK(stderrText.find("handshake complete") == std::string::npos);
    CHECK(stderrText.find(" info main: ") == std::string::npos);

    // $JOURNAL_STREAM naming another file, and unset: stderr as usual,
    // though the socket is right there.
    for (const std::string env : {"JOURNAL_STREAM=1:1", ""}) {
        CAPTURE(env);
        size_t logAt = readFile(dir.file("sfkafkad.log")).size();
        auto unsetting = [&] {
            ::unsetenv("JOURNAL_STREAM");  // whatever the test runner had
            return enterJournalNamespace(journal.dir());
        };
        DaemonProcess plain = env.empty() ? DaemonProcess::start(dir, yaml, {}, {}, unsetting)
                                          : DaemonProcess::start(dir, yaml, {}, {env}, setup);
        REQUIRE(waitUntil([&] { return plain.log().find("info session: handshake complete org=acme", logAt) != std::string::npos; }, 30s));
        CHECK(plain.stop() == 0);
        CHECK(plain.log().find("info main: stopped cleanly", logAt) != std::string::npos);
        CHECK(journal.from(plain.pid()).empty());
    }
}

TEST_CASE("the journal socket decodes an entry libsystemd passes as a memfd")
{
    TempDir dir;
    JournalSocket journal(dir.file("journal"));
    // A field larger than any datagram the socket takes (8 MiB send buffer
    // at most): libsystemd falls back to a sealed memfd sent with SCM_RIGHTS.
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::string problem = enterJournalNamespace(journal.dir());
        if (!problem.empty()) {
            std::fprintf(stderr, "%s\n", problem.c_str());
            ::_exit(126);
        }
        std::string big = "BIG=" + std::string(9 << 20, 'x');
        std::string message = "MESSAGE=two\nlines";
        iovec iov[] = {{message.data(), message.size()}, {big.data(), big.size()}};
        ::_exit(sd_journal_sendv(iov, 2) == 0 ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), "sd_journal_sendv in the namespace failed");
    REQUIRE(waitUntil([&] { return !journal.entries().empty(); }, 10s));
    JournalEntry e = journal.entries().front();
    CHECK(e.problem.empty());
    CHECK(e.via_fd);
    CHECK(e.pid == child);
    CHECK(e.get("MESSAGE") == "two\nlines");
    CHECK(e.binary.count("MESSAGE") == 1);
    CHECK(e.get("BIG").size() == (9u << 20));
}
