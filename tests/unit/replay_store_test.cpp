#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <chrono>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay/replay_store.h"

using sfk::replay::ReplayStore;
using sfk::replay::StoredId;
namespace fs = std::filesystem;
constexpr auto kCometd = sfk::replay::Transport::Cometd;

namespace {

// A fresh directory under the system temp dir, removed at the end.
struct TempDir {
    std::string path;
    TempDir()
    {
        std::string tmpl = (fs::temp_directory_path() / "sfk-replay-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string readText(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void writeText(const std::string &path, const std::string &text)
{
    std::ofstream out(path, std::ios::trunc);
    out << text;
}

ino_t inodeOf(const std::string &path)
{
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
}

} // namespace

TEST_CASE("a new directory opens empty and is created if needed")
{
    TempDir tmp;
    const std::string dir = tmp.path + "/state/nested";
    std::string error;
    auto store = ReplayStore::open(dir, error);
    REQUIRE_MESSAGE(store, error);
    CHECK(fs::is_directory(dir));
    CHECK(store->all().empty());
    CHECK_FALSE(store->get("acme", "/topic/X", kCometd));
    CHECK_FALSE(store->dirty());
    // Nothing to write yet: no file appears.
    CHECK(store->flush(error));
    CHECK_FALSE(fs::exists(store->path()));
}

TEST_CASE("round trip through the file, with names that need escaping")
{
    TempDir tmp;
    std::string error;
    {
        auto store = ReplayStore::open(tmp.path, error);
        REQUIRE_MESSAGE(store, error);
        store->set("acme", "/topic/InvoiceUpdates", kCometd, 123);
        store->set("acme", "/data/AccountChangeEvent", kCometd, 456);
        store->set("org \"two\"\\", "/event/Order_Placed__e", kCometd, -1);
        store->set("beta", "/u/N", kCometd, 9223372036854775807);
        store->erase("beta", "/u/N", kCometd);
        CHECK(store->dirty());
        REQUIRE_MESSAGE(store->flush(error), error);
        CHECK_FALSE(store->dirty());
    }
    const std::string text = readText(tmp.path + "/replay-ids.json");
    CHECK(text.find("\"version\": 1") != std::string::npos);
    CHECK(text.find("\"/topic/InvoiceUpdates\": {\"replay_id\": 123, \"updated_ms\": ") != std::string::npos);
    CHECK(text.find("beta") == std::string::npos);

    auto store = ReplayStore::open(tmp.path, error);
    REQUIRE_MESSAGE(store, error);
    CHECK(store->get("acme", "/topic/InvoiceUpdates", kCometd) == 123);
    CHECK(store->get("acme", "/data/AccountChangeEvent", kCometd) == 456);
    CHECK(store->get("org \"two\"\\", "/event/Order_Placed__e", kCometd) == -1);
    CHECK_FALSE(store->get("beta", "/u/N", kCometd));
    const auto all = store->all();
    REQUIRE(all.size() == 3);
    CHECK(all[0].org == "acme");
    CHECK(all[0].channel == "/data/AccountChangeEvent");
    CHECK(all[1].channel == "/topic/InvoiceUpdates");
    CHECK(all[2].org == "org \"two\"\\");
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(all[0].updated_ms > now - 60000);
    CHECK(all[0].updated_ms <= now);
    CHECK_FALSE(store->dirty());
}

TEST_CASE("readSnapshot reads without the lock, even while a store holds it")
{
    TempDir tmp;
    std::string error;
    std::vector<StoredId> ids;
    CHECK(ReplayStore::readSnapshot(tmp.path, ids, error));
    CHECK(ids.empty());

    auto store = ReplayStore::open(tmp.path, error);
    REQUIRE(store);
    store->set("acme", "/topic/X", kCometd, 5);
    REQUIRE(store->flush(error));
    store->set("acme", "/topic/X", kCometd, 6);   // not flushed yet
    REQUIRE_MESSAGE(ReplayStore::readSnapshot(tmp.path, ids, error), error);
    REQUIRE(ids.size() == 1);
    CHECK(ids[0].org == "acme");
    CHECK(ids[0].channel == "/topic/X");
    CHECK(ids[0].replay_id == 5);
}

TEST_CASE("flush writes only when dirty, and replaces the file atomically")
{
    TempDir tmp;
    std::string error;
    auto store = ReplayStore::open(tmp.path, error);
    REQUIRE(store);
    store->set("acme", "/topic/X", kCometd, 1);
    REQUIRE(store->flush(error));
    const ino_t first = inodeOf(store->path());

    // Nothing changed: the file stays the same file.
    REQUIRE(store->flush(error));
    CHECK(inodeOf(store->path()) == first);
    store->set("acme", "/topic/X", kCometd, 1);   // the same value is no change
    CHECK_FALSE(store->dirty());
    REQUIRE(store->flush(error));
    CHECK(inodeOf(store->path()) == first);

    // A change: a new file renamed over the old one, no temp file left.
    store->set("acme", "/topic/X", kCometd, 2);
    REQUIRE(store->flush(error));
    CHECK(inodeOf(store->path()) != first);
    CHECK_FALSE(fs::exists(tmp.path + "/replay-ids.json.tmp"));
    CHECK(readText(store->path()).find("\"replay_id\": 2") != std::string::npos);
}

TEST_CASE("a leftover temp file from a crash is ignored and then replaced")
{
    TempDir tmp;
    std::string error;
    {
        auto store = ReplayStore::open(tmp.path, error);
        REQUIRE(store);
        store->set("acme", "/topic/X", kCometd, 10);
        REQUIRE(store->flush(error));
    }
    // A crash between writing the temp file and renaming it.
    writeText(tmp.path + "/replay-ids.json.tmp", "{\"version\":1,\"orgs\":{\"acme\":{\"/topic/X\":{\"repl");
    auto store = ReplayStore::open(tmp.path, error);
    REQUIRE_MESSAGE(store, error);
    CHECK(store->get("acme", "/topic/X", kCometd) == 10);
    store->set("acme", "/topic/X", kCometd, 11);
    REQUIRE(store->flush(error));
    CHECK_FALSE(fs::exists(tmp.path + "/replay-ids.json.tmp"));
    std::vector<StoredId> ids;
    REQUIRE(ReplayStore::readSnapshot(tmp.path, ids, error));
    CHECK(ids.at(0).replay_id == 11);
}

TEST_CASE("a corrupt file is an error, never silently reset")
{
    const char *bad[] = {
        "",
        "{",
        "not json",
        "[]",
        "{\"version\":1,\"orgs\":{\"acme\":{\"/topic/X\":{\"replay_id\":1}}}} trailing",
        "{\"orgs\":{}}",
        "{\"version\":2,\"orgs\":{}}",
        "{\"version\":1}",
        "{\"version\":1,\"orgs\":{\"acme\":{\"/topic/X\":{\"updated_ms\":1}}}}",
        "{\"version\":1,\"orgs\":{\"acme\":{\"/topic/X\":{\"replay_id\":\"1\"}}}}",
        "{\"version\":1,\"orgs\":{\"acme\":{\"/topic/X\":{\"replay_id\":1.5}}}}",
        "{\"version\":1,\"orgs\":{\"acme\":[]}}",
    };
    for (const char *text : bad) {
        CAPTURE(text);
        TempDir tmp;
        writeText(tmp.path + "/replay-ids.json", text);
        std::string error;
        auto store = ReplayStore::open(tmp.path, error);
        CHECK_FALSE(store);
        CHECK(error.find("replay-ids.json") != std::string::npos);
        std::vector<StoredId> ids;
        CHECK_FALSE(ReplayStore::readSnapshot(tmp.path, ids, error));
        // The file is left alone for a human to look at.
        CHECK(readText(tmp.path + "/replay-ids.json") == text);
        // And the failed open released the lock.
        CHECK_FALSE(ReplayStore::isLocked(tmp.path));
    }
}

TEST_CASE("a file with extra fields and an empty org map loads")
{
    TempDir tmp;
    writeText(tmp.path + "/replay-ids.json",
              "{\"comment\":[1,{\"x\":null}],\"version\":1,\"orgs\":{\"acme\":{\"/topic/X\":"
              "{\"updated_ms\":5,\"replay_id\":42,\"note\":\"hi\"}},\"empty\":{}}}\n");
    std::string error;
    auto store = ReplayStore::open(tmp.path, error);
    REQUIRE_MESSAGE(store, error);
    CHECK(store->get("acme", "/topic/X", kCometd) == 42);
    CHECK(store->all().size() == 1);
    CHECK(store->all()[0].updated_ms == 5);
}

TEST_CASE("a second open in the same process fails while the first holds the lock")
{
    TempDir tmp;
    std::string error;
    auto first = ReplayStore::open(tmp.path, error);
    REQUIRE(first);
    int pid = 0;
    CHECK(ReplayStore::isLocked(tmp.path, &pid));
    CHECK(pid == ::getpid());

    auto second = ReplayStore::open(tmp.path, error);
    CHECK_FALSE(second);
    CHECK(error.find("locked by another process (pid " + std::to_string(::getpid()) + ")") != std::string::npos);

    first.reset();
    CHECK_FALSE(ReplayStore::isLocked(tmp.path));
    auto third = ReplayStore::open(tmp.path, error);
    CHECK_MESSAGE(third, error);
}

TEST_CASE("a lock held by another process names that process")
{
    TempDir tmp;
    int ready[2], release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::string err;
        auto store = ReplayStore::open(tmp.path, err);
        const char ok = store ? '1' : '0';
        (void)!::write(ready[1], &ok, 1);
        char c;
        (void)!::read(release[0], &c, 1);
        ::_exit(0);
    }
    char ok = 0;
    REQUIRE(::read(ready[0], &ok, 1) == 1);
    REQUIRE(ok == '1');

    std::string error;
    auto store = ReplayStore::open(tmp.path, error);
    CHECK_FALSE(store);
    CHECK(error.find("(pid " + std::to_string(child) + ")") != std::string::npos);
    int holder = 0;
    CHECK(ReplayStore::isLocked(tmp.path, &holder));
    CHECK(holder == child);

    // The lock goes away with the process.
    (void)!::write(release[1], "x", 1);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK_FALSE(ReplayStore::isLocked(tmp.path));
    store = ReplayStore::open(tmp.path, error);
    CHECK_MESSAGE(store, error);
    for (int fd : { ready[0], ready[1], release[0], release[1] })
        ::close(fd);
}

TEST_CASE("sets from several threads while flushing")
{
    TempDir tmp;
    std::string error;
    auto store = ReplayStore::open(tmp.path, error);
    REQUIRE(store);
    std::vector<std::thread> setters;
    for (int t = 0; t < 3; ++t) {
        setters.emplace_back([&, t] {
            for (int i = 1; i <= 2000; ++i)
                store->set("org" + std::to_string(t), "/topic/X", kCometd, i);
        });
    }
    std::string flushError;
    bool flushed = true;
    for (int i = 0; i < 20; ++i)
        flushed = store->flush(flushError) && flushed;
    for (auto &th : setters)
        th.join();
    CHECK_MESSAGE(flushed, flushError);
    REQUIRE(store->flush(error));
    std::vector<StoredId> ids;
    REQUIRE(ReplayStore::readSnapshot(tmp.path, ids, error));
    REQUIRE(ids.size() == 3);
    for (const auto &id : ids)
        CHECK(id.replay_id == 2000);
}
