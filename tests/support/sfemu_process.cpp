#include "sfemu_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "sfkafka_build_config.h"

namespace sfk::test {

namespace {

std::string sfemuBinary()
{
    if (const char *env = std::getenv("SFEMU_BINARY"))
        return env;
    if (const char *root = std::getenv("SFKAFKA_BUILD_ROOT"))
        return std::string(root) + "/emulator/sfemu";
    return std::string(SFKAFKA_SOURCE_ROOT) + "/build/emulator/sfemu";
}

std::unique_ptr<httplib::Client> client(const std::string &base)
{
    auto c = std::make_unique<httplib::Client>(base);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(10, 0);
    c->set_read_timeout(120, 0);
    c->set_write_timeout(30, 0);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    c->enable_server_certificate_verification(false);
#endif
    return c;
}

std::string jsonQuote(const std::string &s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string urlEncode(const std::string &s)
{
    std::string out;
    char buf[4];
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

std::vector<int64_t> replayIds(const std::string &body)
{
    simdjson::dom::parser parser;
    simdjson::dom::array ids;
    if (parser.parse(body)["replay_ids"].get_array().get(ids) != simdjson::SUCCESS)
        throw std::runtime_error("sfemu: unexpected answer " + body.substr(0, 200));
    std::vector<int64_t> out;
    for (auto id : ids)
        out.push_back(id.get_int64().value());
    return out;
}

} // namespace

SfemuProcess SfemuProcess::start(const std::string &config_yaml, std::vector<std::string> extra_args)
{
    SfemuProcess p;
    std::vector<std::string> args = {sfemuBinary(), "--listen", "127.0.0.1:0", "--admin-listen",
                                     "127.0.0.1:0"};
    if (!config_yaml.empty()) {
        const char *tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sfemu-config-XXXXXX";
        std::vector<char> name(pattern.begin(), pattern.end());
        name.push_back('\0');
        int fd = mkstemp(name.data());
        if (fd < 0)
            throw std::runtime_error("sfemu: cannot create a temporary config file");
        p.config_path_ = name.data();
        size_t off = 0;
        while (off < config_yaml.size()) {
            ssize_t n = ::write(fd, config_yaml.data() + off, config_yaml.size() - off);
            if (n <= 0)
                break;
            off += static_cast<size_t>(n);
        }
        ::close(fd);
        args.push_back("--config");
        args.push_back(p.config_path_);
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        throw std::runtime_error("sfemu: pipe failed");
    pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error("sfemu: fork failed");
    if (pid == 0) {
        // Dies with the test, even when the test crashes.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(pipefd[1], STDOUT_FILENO);
        std::vector<char *> argv;
        for (auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        std::fprintf(stderr, "sfemu: cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    ::close(pipefd[1]);
    p.pid_ = pid;

    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (p.url_.empty() || p.admin_url_.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0)
            break;
        pollfd pfd{pipefd[0], POLLIN, 0};
        if (poll(&pfd, 1, static_cast<int>(left)) <= 0)
            break;
        char buf[512];
        ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
        size_t pos;
        while ((pos = out.find('\n')) != std::string::npos) {
            std::string line = out.substr(0, pos);
            out.erase(0, pos + 1);
            if (line.rfind("SFEMU_URL=", 0) == 0)
                p.url_ = line.substr(10);
            else if (line.rfind("SFEMU_ADMIN_URL=", 0) == 0)
                p.admin_url_ = line.substr(16);
            else if (line.rfind("SFEMU_PUBSUB=", 0) == 0)
                p.pubsub_address_ = line.substr(13);
            else if (line.rfind("SFEMU_PUBSUB_CA=", 0) == 0)
                p.pubsub_ca_ = line.substr(16);
        }
    }
    ::close(pipefd[0]);
    if (p.url_.empty() || p.admin_url_.empty()) {
        p.kill();
        throw std::runtime_error("sfemu did not start (see its stderr above)");
    }
    return p;
}

SfemuProcess::SfemuProcess(SfemuProcess &&other) noexcept { *this = std::move(other); }

SfemuProcess &SfemuProcess::operator=(SfemuProcess &&other) noexcept
{
    if (this != &other) {
        stop();
        pid_ = other.pid_;
        url_ = std::move(other.url_);
        admin_url_ = std::move(other.admin_url_);
        pubsub_address_ = std::move(other.pubsub_address_);
        pubsub_ca_ = std::move(other.pubsub_ca_);
        config_path_ = std::move(other.config_path_);
        other.pid_ = -1;
        other.config_path_.clear();
    }
    return *this;
}

SfemuProcess::~SfemuProcess()
{
    stop();
}

int SfemuProcess::stop()
{
    int status = -1;
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (true) {
            pid_t r = waitpid(pid_, &status, WNOHANG);
            if (r == pid_ || r < 0)
                break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
    }
    if (!config_path_.empty()) {
        ::unlink(config_path_.c_str());
        config_path_.clear();
    }
    return status;
}

void SfemuProcess::kill()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status;
        waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

std::string SfemuProcess::adminPost(const std::string &path, const std::string &body)
{
    auto c = client(admin_url_);
    auto res = c->Post(path, body, "application/json");
    if (!res)
        throw std::runtime_error("sfemu admin POST " + path + ": " + httplib::to_string(res.error()));
    if (res->status < 200 || res->status > 299)
        throw std::runtime_error("sfemu admin POST " + path + ": HTTP " +
                                 std::to_string(res->status) + " " + res->body);
    return res->body;
}

std::string SfemuProcess::adminGet(const std::string &path)
{
    auto c = client(admin_url_);
    auto res = c->Get(path);
    if (!res)
        throw std::runtime_error("sfemu admin GET " + path + ": " + httplib::to_string(res.error()));
    if (res->status < 200 || res->status > 299)
        throw std::runtime_error("sfemu admin GET " + path + ": HTTP " +
                                 std::to_string(res->status) + " " + res->body);
    return res->body;
}

std::vector<int64_t> SfemuProcess::publish(const std::string &org, const std::string &channel,
                                           const std::string &events_json_array)
{
    return replayIds(adminPost("/admin/orgs/" + urlEncode(org) + "/events",
                               "{\"channel\":" + jsonQuote(channel) +
                                   ",\"events\":" + events_json_array + "}"));
}

std::vector<int64_t> SfemuProcess::publishRaw(const std::string &org, const std::string &channel,
                                              const std::string &raw_json_array)
{
    return replayIds(adminPost("/admin/orgs/" + urlEncode(org) + "/events",
                               "{\"channel\":" + jsonQuote(channel) + ",\"raw\":" + raw_json_array + "}"));
}

std::vector<int64_t> SfemuProcess::generate(const std::string &org, const std::string &channel,
                                            int count, int payload_bytes, int seed)
{
    return replayIds(adminPost("/admin/orgs/" + urlEncode(org) + "/events",
                               "{\"channel\":" + jsonQuote(channel) + ",\"generate\":{\"count\":" +
                                   std::to_string(count) + ",\"payload_bytes\":" +
                                   std::to_string(payload_bytes) +
                                   ",\"seed\":" + std::to_string(seed) + "}}"));
}

void SfemuProcess::arm(const std::string &org, const std::string &fault_json)
{
    adminPost("/admin/orgs/" + urlEncode(org) + "/faults", fault_json);
}

std::string SfemuProcess::armPubSub(const std::string &org, const std::string &fault_json)
{
    return adminPost("/admin/orgs/" + urlEncode(org) + "/pubsub/faults", fault_json);
}

std::vector<PublishedEvent> SfemuProcess::published(const std::string &org,
                                                    const std::string &channel)
{
    std::string body = adminGet("/admin/orgs/" + urlEncode(org) +
                                "/published?channel=" + urlEncode(channel));
    simdjson::dom::parser parser;
    simdjson::dom::array events;
    if (parser.parse(body)["events"].get_array().get(events) != simdjson::SUCCESS)
        throw std::runtime_error("sfemu: unexpected answer " + body.substr(0, 200));
    std::vector<PublishedEvent> out;
    for (auto e : events) {
        PublishedEvent p;
        p.replay_id = e["replay_id"].get_int64().value();
        p.event_uuid = std::string(e["event_uuid"].get_string().value());
        p.time_ms = e["time_ms"].get_int64().value();
        out.push_back(std::move(p));
    }
    return out;
}

std::string SfemuProcess::clients(const std::string &org)
{
    return adminGet("/admin/orgs/" + urlEncode(org) + "/clients");
}

std::string SfemuProcess::usage(const std::string &org)
{
    return adminGet("/admin/orgs/" + urlEncode(org) + "/usage");
}

std::string SfemuProcess::setLimits(const std::string &org, const std::string &limits_json)
{
    return adminPost("/admin/orgs/" + urlEncode(org) + "/limits", limits_json);
}

} // namespace sfk::test
