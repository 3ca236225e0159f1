#include "replay/replay_store.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include "decode/base64.h"
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
// Pub/Sub API positions live in their own section, "pubsub_orgs", of the
// same shape, their replay_id base64 text (or a marker): an older sfkafkad
// skips the section and its CometD ids stay as they were.
constexpr int64_t kVersion = 1;
constexpr const char *kPubsubSection = "pubsub_orgs";

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
    out = list(ids);
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
        } else if (key == "orgs" || key == kPubsubSection) {
            const Transport transport = key == "orgs" ? Transport::Cometd : Transport::Pubsub;
            od::object orgs;
            if (f.value().get_object().get(orgs))
                return corrupt(std::string(key) + " is not an object");
            haveOrgs = haveOrgs || transport == Transport::Cometd;
            for (auto orf : orgs) {
                od::field of;
                std::string_view orgView;
                if (auto e = std::move(orf).get(of); e || (e = of.unescaped_key().get(orgView)))
                    return jsonError(e);
                const std::string org(orgView);
                od::object channels;
                if (of.value().get_object().get(channels))
                    return corrupt("org " + org + " is not an object");
                auto &orgIds = ids[transport][org];
                for (auto crf : channels) {
                    od::field cf;
                    std::string_view channelView;
                    if (auto e = std::move(crf).get(cf); e || (e = cf.unescaped_key().get(channelView)))
                        return jsonError(e);
                    const std::string channel(channelView);
                    const std::string where = "org " + org + " channel " + channel +
                                              (transport == Transport::Pubsub ? " (pubsub)" : "");
                    od::object entry;
                    if (cf.value().get_object().get(entry))
                        return corrupt(where + " is not an object");
                    std::optional<Position> replay;
                    std::optional<int64_t> updated;
                    for (auto erf : entry) {
                        od::field ef;
                        std::string_view ek;
                        if (auto e = std::move(erf).get(ef); e || (e = ef.unescaped_key().get(ek)))
                            return jsonError(e);
                        int64_t v;
                        std::string_view text;
                        if (ek == "updated_ms") {
                            if (ef.value().get_int64().get(v))
                                return corrupt(where + ": updated_ms is not an integer");
                            updated = v;
                        } else if (ek == "replay_id") {
                            // CometD: an integer. Pub/Sub: base64 bytes, or a resume marker.
                            od::value val = ef.value();
                            od::json_type type;
                            if (auto e = val.type().get(type))
                                return jsonError(e);
                            if (type == od::json_type::number && !val.get_int64().get(v) &&
                                (transport == Transport::Cometd || v < 0)) {
                                replay = Position(v);
                            } else if (type == od::json_type::string && transport == Transport::Pubsub &&
                                       !val.get_string().get(text)) {
                                std::string bytes;
                                if (!decode::base64Decode(text, bytes) || bytes.empty())
                                    return corrupt(where + ": replay_id is not base64");
                                replay = Position::bytes(bytes);
                            } else {
                                return corrupt(where + ": replay_id is not " +
                                               (transport == Transport::Pubsub ? "base64 text or a marker"
                                                                               : "an integer"));
                            }
                        }
                        // Other fields (a later minor addition) are skipped.
                    }
                    if (!replay)
                        return corrupt(where + ": no replay_id");
                    orgIds[channel] = Value{ std::move(*replay), updated.value_or(0) };
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
    auto section = [&](Transport transport, std::string &out) {
        auto t = ids.find(transport);
        bool firstOrg = true;
        if (t != ids.end()) {
            for (const auto &[org, channels] : t->second) {
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
                    out += ": {\"replay_id\": ";
                    if (v.position.isOpaque())
                        decode::appendJsonString(out, positionText(v.position));
                    else
                        out += std::to_string(v.position.id);
                    out += ", \"updated_ms\": " + std::to_string(v.updated_ms) + "}";
                }
                out += "\n    }";
            }
        }
        out += firstOrg ? "}" : "\n  }";
    };
    std::string out = "{\n  \"version\": 1,\n  \"orgs\": {";
    section(Transport::Cometd, out);
    auto p = ids.find(Transport::Pubsub);
    if (p != ids.end() && !p->second.empty()) {
        out += ",\n  \"" + std::string(kPubsubSection) + "\": {";
        section(Transport::Pubsub, out);
    }
    out += "\n}\n";
    return out;
}

std::optional<Position> ReplayStore::get(const std::string &org, const std::string &channel,
                                         Transport transport) const
{
    std::lock_guard lock(mutex_);
    auto t = ids_.find(transport);
    if (t == ids_.end())
        return std::nullopt;
    auto o = t->second.find(org);
    if (o == t->second.end())
        return std::nullopt;
    auto c = o->second.find(channel);
    if (c == o->second.end())
        return std::nullopt;
    return c->second.position;
}

void ReplayStore::set(const std::string &org, const std::string &channel, Transport transport,
                      const Position &position)
{
    std::lock_guard lock(mutex_);
    auto &channels = ids_[transport][org];
    auto it = channels.find(channel);
    if (it != channels.end() && it->second.position == position)
        return;
    channels[channel] = Value{ position, nowMs() };
    dirty_ = true;
}

void ReplayStore::erase(const std::string &org, const std::string &channel, Transport transport)
{
    std::lock_guard lock(mutex_);
    auto t = ids_.find(transport);
    if (t == ids_.end())
        return;
    auto o = t->second.find(org);
    if (o == t->second.end())
        return;
    if (o->second.erase(channel) == 0)
        return;
    if (o->second.empty())
        t->second.erase(o);
    dirty_ = true;
}

std::vector<StoredId> ReplayStore::list(const Ids &ids)
{
    std::vector<StoredId> out;
    for (const auto &[transport, orgs] : ids)
        for (const auto &[org, channels] : orgs)
            for (const auto &[channel, v] : channels)
                out.push_back(StoredId{ org, channel, transport, v.position, v.updated_ms });
    std::sort(out.begin(), out.end(), [](const StoredId &a, const StoredId &b) {
        return std::tie(a.org, a.channel, a.transport) < std::tie(b.org, b.channel, b.transport);
    });
    return out;
}

std::vector<StoredId> ReplayStore::all() const
{
    std::lock_guard lock(mutex_);
    return list(ids_);
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
