#include "replay/replay_store.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include "decode/json_escape.h"

namespace sfk::replay {

namespace od = simdjson::ondemand;

namespace {

constexpr const char *kFileName = "replay-ids.json";
constexpr const char *kTempName = "replay-ids.json.tmp";
constexpr const char *kLockName = "lock";
// Version 1 also carries resume markers: a negative replay_id (-2) means
// "replay everything retained" (a position reached from -1/-2 before any id
// was committed). Files written before markers existed load unchanged, and
// a marker reads as an id an older sfkafkad subscribes from as is.
constexpr int64_t kVersion = 1;

std::string errnoText(int err)
{
    return std::strerror(err);
}

int64_t nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Reads a whole file; false with errno set on failure.
bool readFile(const std::string &path, std::string &out)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    out.clear();
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            ::close(fd);
            errno = err;
            return false;
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return true;
}

bool writeAll(int fd, const std::string &data)
{
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        off += static_cast<size_t>(n);
    }
    return true;
}

int readPid(int fd)
{
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    return std::atoi(buf);
}

} // namespace

ReplayStore::ReplayStore(std::string dir, int lock_fd)
    : dir_(std::move(dir)), lockFd_(lock_fd)
{
}

ReplayStore::~ReplayStore()
{
    if (lockFd_ >= 0)
        ::close(lockFd_);   // releases the flock
}

std::string ReplayStore::path() const
{
    return dir_ + "/" + kFileName;
}

std::unique_ptr<ReplayStore> ReplayStore::open(const std::string &dir, std::string &error)
{
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        error = "state directory " + dir + ": cannot create: " + ec.message();
        return nullptr;
    }

    const std::string lockPath = dir + "/" + kLockName;
    const int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = lockPath + ": " + errnoText(errno);
        return nullptr;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err == EWOULDBLOCK) {
            const int pid = readPid(fd);
            error = "state directory " + dir + " is locked by another process (pid " +
                    (pid > 0 ? std::to_string(pid) : std::string("unknown")) + ")";
        } else {
            error = lockPath + ": cannot lock: " + errnoText(err);
        }
        ::close(fd);
        return nullptr;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
        error = lockPath + ": cannot write pid: " + errnoText(errno);
        ::close(fd);
        return nullptr;
    }

    std::unique_ptr<ReplayStore> store(new ReplayStore(dir, fd));
    if (!load(store->path(), store->ids_, error))
        return nullptr;   // closes the lock
    return store;
}

bool ReplayStore::readSnapshot(const std::string &dir, std::vector<StoredId> &out, std::string &error)
{
    Ids ids;
    if (!load(dir + "/" + kFileName, ids, error))
        return false;
    out.clear();
    for (const auto &[org, channels] : ids)
        for (const auto &[channel, v] : channels)
            out.push_back(StoredId{ org, channel, v.replay_id, v.updated_ms });
    return true;
}

bool ReplayStore::isLocked(const std::string &dir, int *holder_pid)
{
    if (holder_pid)
        *holder_pid = 0;
    const std::string lockPath = dir + "/" + kLockName;
    const int fd = ::open(lockPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool locked = false;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
        locked = errno == EWOULDBLOCK;
        if (locked && holder_pid)
            *holder_pid = readPid(fd);
    } else {
        ::flock(fd, LOCK_UN);
    }
    ::close(fd);
    return locked;
}

bool ReplayStore::load(const std::string &file, Ids &ids, std::string &error)
{
    ids.clear();
    std::string text;
    if (!readFile(file, text)) {
        if (errno == ENOENT)
            return true;   // nothing stored yet
        error = file + ": " + errnoText(errno);
        return false;
    }
    text.reserve(text.size() + simdjson::SIMDJSON_PADDING);

    auto corrupt = [&](const std::string &what) {
        ids.clear();
        error = file + ": corrupt replay id file: " + what;
        return false;
    };
    auto jsonError = [&](simdjson::error_code e) {
        return corrupt(std::string("invalid JSON (") + simdjson::error_message(e) + ")");
    };

    od::parser parser;
    od::document doc;
    if (auto e = parser.iterate(text.data(), text.size(), text.capacity()).get(doc))
        return jsonError(e);
    od::object root;
    if (auto e = doc.get_object().get(root))
        return jsonError(e);

    std::optional<int64_t> version;
    bool haveOrgs = false;
    for (auto rf : root) {
        od::field f;
        std::string_view key;
        if (auto e = std::move(rf).get(f); e || (e = f.unescaped_key().get(key)))
            return jsonError(e);
        if (key == "version") {
            int64_t v;
            if (f.value().get_int64().get(v))
                return corrupt("version is not an integer");
            version = v;
        } else if (key == "orgs") {
            od::object orgs;
            if (f.value().get_object().get(orgs))
                return corrupt("orgs is not an object");
            haveOrgs = true;
            for (auto orf : orgs) {
                od::field of;
                std::string_view orgView;
                if (auto e = std::move(orf).get(of); e || (e = of.unescaped_key().get(orgView)))
                    return jsonError(e);
                const std::string org(orgView);
                od::object channels;
                if (of.value().get_object().get(channels))
                    return corrupt("org " + org + " is not an object");
                auto &orgIds = ids[org];
                for (auto crf : channels) {
                    od::field cf;
                    std::string_view channelView;
                    if (auto e = std::move(crf).get(cf); e || (e = cf.unescaped_key().get(channelView)))
                        return jsonError(e);
                    const std::string channel(channelView);
                    od::object entry;
                    if (cf.value().get_object().get(entry))
                        return corrupt("org " + org + " channel " + channel + " is not an object");
                    std::optional<int64_t> replay, updated;
                    for (auto erf : entry) {
                        od::field ef;
                        std::string_view ek;
                        if (auto e = std::move(erf).get(ef); e || (e = ef.unescaped_key().get(ek)))
                            return jsonError(e);
                        int64_t v;
                        if (ek == "replay_id" || ek == "updated_ms") {
                            if (ef.value().get_int64().get(v))
                                return corrupt("org " + org + " channel " + channel + ": " +
                                               std::string(ek) + " is not an integer");
                            (ek == "replay_id" ? replay : updated) = v;
                        }
                        // Other fields (a later minor addition) are skipped.
                    }
                    if (!replay)
                        return corrupt("org " + org + " channel " + channel + ": no replay_id");
                    orgIds[channel] = Value{ *replay, updated.value_or(0) };
                }
            }
        }
        // Other top-level fields are skipped.
    }
    const char *rest = nullptr;
    if (!doc.current_location().get(rest))
        return corrupt("trailing content");
    if (!version)
        return corrupt("no version");
    if (*version != kVersion)
        return corrupt("unsupported version " + std::to_string(*version));
    if (!haveOrgs)
        return corrupt("no orgs");
    return true;
}

std::string ReplayStore::serialize(const Ids &ids)
{
    std::string out = "{\n  \"version\": 1,\n  \"orgs\": {";
    bool firstOrg = true;
    for (const auto &[org, channels] : ids) {
        if (channels.empty())
            continue;
        out += firstOrg ? "\n    " : ",\n    ";
        firstOrg = false;
        decode::appendJsonString(out, org);
        out += ": {";
        bool firstChannel = true;
        for (const auto &[channel, v] : channels) {
            out += firstChannel ? "\n      " : ",\n      ";
            firstChannel = false;
            decode::appendJsonString(out, channel);
            out += ": {\"replay_id\": " + std::to_string(v.replay_id) +
                   ", \"updated_ms\": " + std::to_string(v.updated_ms) + "}";
        }
        out += "\n    }";
    }
    out += firstOrg ? "}\n}\n" : "\n  }\n}\n";
    return out;
}

std::optional<int64_t> ReplayStore::get(const std::string &org, const std::string &channel) const
{
    std::lock_guard lock(mutex_);
    auto o = ids_.find(org);
    if (o == ids_.end())
        return std::nullopt;
    auto c = o->second.find(channel);
    if (c == o->second.end())
        return std::nullopt;
    return c->second.replay_id;
}

void ReplayStore::set(const std::string &org, const std::string &channel, int64_t replay_id)
{
    std::lock_guard lock(mutex_);
    auto &channels = ids_[org];
    auto it = channels.find(channel);
    if (it != channels.end() && it->second.replay_id == replay_id)
        return;
    channels[channel] = Value{ replay_id, nowMs() };
    dirty_ = true;
}

void ReplayStore::erase(const std::string &org, const std::string &channel)
{
    std::lock_guard lock(mutex_);
    auto o = ids_.find(org);
    if (o == ids_.end())
        return;
    if (o->second.erase(channel) == 0)
        return;
    if (o->second.empty())
        ids_.erase(o);
    dirty_ = true;
}

std::vector<StoredId> ReplayStore::all() const
{
    std::lock_guard lock(mutex_);
    std::vector<StoredId> out;
    for (const auto &[org, channels] : ids_)
        for (const auto &[channel, v] : channels)
            out.push_back(StoredId{ org, channel, v.replay_id, v.updated_ms });
    return out;
}

bool ReplayStore::dirty() const
{
    std::lock_guard lock(mutex_);
    return dirty_;
}

bool ReplayStore::flush(std::string &error)
{
    std::lock_guard flushLock(flushMutex_);
    std::string text;
    {
        std::lock_guard lock(mutex_);
        if (!dirty_)
            return true;
        text = serialize(ids_);
        dirty_ = false;   // a set() from now on marks it again
    }

    const std::string tmp = dir_ + "/" + kTempName;
    auto fail = [&](const std::string &what, int err) {
        error = what + ": " + errnoText(err);
        std::lock_guard lock(mutex_);
        dirty_ = true;
        return false;
    };

    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(tmp, errno);
    if (!writeAll(fd, text) || ::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(tmp, err);
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return fail(tmp, err);
    }
    if (::rename(tmp.c_str(), path().c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return fail("rename to " + path(), err);
    }
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return fail(dir_, errno);
    if (::fsync(dfd) != 0) {
        const int err = errno;
        ::close(dfd);
        return fail("fsync " + dir_, err);
    }
    ::close(dfd);
    return true;
}

} // namespace sfk::replay
