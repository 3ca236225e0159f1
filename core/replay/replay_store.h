#pragma once
// Durable committed replay ids in the state directory (docs/architecture.md):
// <dir>/replay-ids.json, replaced atomically (temp file, fsync, rename,
// fsync directory), guarded by an exclusive flock on <dir>/lock.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "replay/position.h"

namespace sfk::replay {

using config::Transport;

// A channel's position is kept per transport: a CometD replay id means
// nothing to the Pub/Sub API, and the other way round.
struct StoredId {
    std::string org, channel;
    Transport transport;
    Position replay_id;
    int64_t updated_ms;   // wall clock (epoch ms) of the last change
};

class ReplayStore
{
public:
    // Creates the directory if needed and takes an exclusive non-blocking
    // flock on <dir>/lock (our pid is written into it); fails naming the
    // holder's pid if another process (or another open store) holds it.
    // Loads <dir>/replay-ids.json if present: a corrupt file is an error,
    // never silently reset. A leftover temp file is ignored.
    static std::unique_ptr<ReplayStore> open(const std::string &dir, std::string &error);

    // Reads the stored ids without taking the lock (inspection commands).
    // A missing file is an empty snapshot. Sorted by org, channel, transport.
    static bool readSnapshot(const std::string &dir, std::vector<StoredId> &out, std::string &error);

    // Whether some open file description holds the lock; the pid written in
    // the lock file goes to *holder_pid (0 if unreadable).
    static bool isLocked(const std::string &dir, int *holder_pid = nullptr);

    ~ReplayStore();
    ReplayStore(const ReplayStore &) = delete;
    ReplayStore &operator=(const ReplayStore &) = delete;

    const std::string &directory() const { return dir_; }
    std::string path() const;   // <dir>/replay-ids.json

    // Thread-safe: several sessions set, one flusher flushes.
    std::optional<Position> get(const std::string &org, const std::string &channel, Transport transport) const;
    // In memory; marks the store dirty when the value changes.
    void set(const std::string &org, const std::string &channel, Transport transport, const Position &position);
    void erase(const std::string &org, const std::string &channel, Transport transport);
    std::vector<StoredId> all() const;   // sorted by org, channel, transport
    bool dirty() const;

    // If dirty: writes the temp file, fsyncs it, renames it over the file
    // and fsyncs the directory. On failure the store stays dirty.
    bool flush(std::string &error);

private:
    struct Value {
        Position position;
        int64_t updated_ms;
    };
    // transport -> org -> channel -> value
    using Ids = std::map<Transport, std::map<std::string, std::map<std::string, Value>>>;

    ReplayStore(std::string dir, int lock_fd);

    static bool load(const std::string &file, Ids &ids, std::string &error);
    static std::string serialize(const Ids &ids);
    static std::vector<StoredId> list(const Ids &ids);

    const std::string dir_;
    const int lockFd_;
    mutable std::mutex mutex_;
    std::mutex flushMutex_;
    Ids ids_;
    bool dirty_ = false;
};

} // namespace sfk::replay
