// Fuzzes the replay-id file reader: the input is written as
// <dir>/replay-ids.json and read back with ReplayStore::readSnapshot (the
// loader open() uses). A file that loads is then written again by a store in
// a second directory and must read back with the same ids (the writer's
// escaping against the reader's). The directories live under $TMPDIR, or
// /dev/shm when it exists (fsync there costs nothing).
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

#include "fuzz_support.h"
#include "replay/replay_store.h"

using namespace sfk;

namespace {

std::string makeDir(const char *tag)
{
    std::error_code ec;
    std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm"
                                                                        : std::filesystem::temp_directory_path().string();
    std::string tmpl = base + "/sfk-fuzz-" + tag + "-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    return tmpl;
}

struct Dirs {
    std::string in = makeDir("in"), out = makeDir("out");
    ~Dirs()
    {
        std::error_code ec;
        std::filesystem::remove_all(in, ec);
        std::filesystem::remove_all(out, ec);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Dirs dirs;
    {
        std::ofstream f(dirs.in + "/replay-ids.json", std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
        FUZZ_CHECK(f.good());
    }
    std::vector<replay::StoredId> ids;
    std::string error;
    if (!replay::ReplayStore::readSnapshot(dirs.in, ids, error)) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    for (size_t i = 1; i < ids.size(); ++i)
        FUZZ_CHECK(std::tie(ids[i - 1].org, ids[i - 1].channel, ids[i - 1].transport) <
                   std::tie(ids[i].org, ids[i].channel, ids[i].transport));

    ::unlink((dirs.out + "/replay-ids.json").c_str());
    {
        auto store = replay::ReplayStore::open(dirs.out, error);
        FUZZ_CHECK(store != nullptr);
        for (const auto &id : ids)
            store->set(id.org, id.channel, id.transport, id.replay_id);
        FUZZ_CHECK(store->flush(error));
    }
    std::vector<replay::StoredId> back;
    FUZZ_CHECK(replay::ReplayStore::readSnapshot(dirs.out, back, error));
    FUZZ_CHECK(back.size() == ids.size());
    for (size_t i = 0; i < ids.size(); ++i)
        FUZZ_CHECK(back[i].org == ids[i].org && back[i].channel == ids[i].channel &&
                   back[i].transport == ids[i].transport && back[i].replay_id == ids[i].replay_id);
    return 0;
}
