#include "replay_command.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli_args.h"
#include "config/loader.h"
#include "decode/base64.h"
#include "replay/replay_store.h"

namespace sfk::daemon {

namespace {

void usage(FILE *out)
{
    std::fprintf(out,
        "Usage: sfkafkad replay show  (--config FILE | --state-dir DIR)\n"
        "       sfkafkad replay set   (--config FILE | --state-dir DIR) [--yes] [--transport T] ORG CHANNEL REPLAY_ID\n"
        "       sfkafkad replay reset (--config FILE | --state-dir DIR) [--yes] [--transport T] ORG CHANNEL\n"
        "\n"
        "show lists the committed replay id of every org, channel and transport with\n"
        "its age. set stores REPLAY_ID as the channel's committed id (the next start\n"
        "resumes after it); reset removes it (the channel's `start` applies next time).\n"
        "Positions are kept per transport (--transport cometd, the default, or pubsub):\n"
        "a CometD replay id is an integer, a Pub/Sub one base64 text (as show prints it).\n"
        "set and reset ask for confirmation on a terminal (--yes skips it) and\n"
        "refuse while a running sfkafkad holds the state directory.\n"
        "\n"
        "Exit status: 0 done, 1 error or refused, 2 usage error.\n");
}

int usageError(const std::string &msg)
{
    std::fprintf(stderr, "sfkafkad replay: %s\nTry 'sfkafkad replay --help'.\n", msg.c_str());
    return 2;
}

std::string age(int64_t updated_ms)
{
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    int64_t s = (now - updated_ms) / 1000;
    if (updated_ms <= 0)
        return "?";
    if (s < 0)
        s = 0;
    char buf[64];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                      static_cast<long long>(s % 60));
    else if (s < 86400)
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                      static_cast<long long>(s % 3600 / 60));
    else
        std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                      static_cast<long long>(s % 86400 / 3600));
    return buf;
}

std::string lockedMessage(const std::string &dir)
{
    int pid = 0;
    replay::ReplayStore::isLocked(dir, &pid);
    return "sfkafkad replay: refusing: a running sfkafkad" +
           (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
           " holds the lock of state directory " + dir + "; stop it first\n";
}

bool confirm(const std::string &question, bool yes)
{
    if (yes)
        return true;
    if (!isatty(STDIN_FILENO)) {
        std::fprintf(stderr, "sfkafkad replay: refusing without confirmation: stdin is not a terminal "
                             "(pass --yes)\n");
        return false;
    }
    std::fprintf(stderr, "%s [y/N] ", question.c_str());
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer))
        return false;
    if (answer == "y" || answer == "Y" || answer == "yes")
        return true;
    std::fprintf(stderr, "sfkafkad replay: not changed\n");
    return false;
}

} // namespace

int replayCommand(int argc, char **argv)
{
    std::string configPath, stateDir, transportName = "cometd";
    bool yes = false;
    std::vector<std::string> positional;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::string &out) { return optionValue(argc, argv, i, arg, out); };
        if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        } else if (arg == "-c" || arg.rfind("--config", 0) == 0) {
            if (!value(configPath))
                return usageError("--config needs a file");
        } else if (arg.rfind("--state-dir", 0) == 0) {
            if (!value(stateDir))
                return usageError("--state-dir needs a directory");
        } else if (arg.rfind("--transport", 0) == 0) {
            if (!value(transportName))
                return usageError("--transport needs cometd or pubsub");
            if (transportName != "cometd" && transportName != "pubsub")
                return usageError("--transport is cometd or pubsub, not '" + transportName + "'");
        } else if (arg == "-y" || arg == "--yes") {
            yes = true;
        } else if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && std::isdigit(static_cast<unsigned char>(arg[1])))) {
            return usageError("unknown option '" + arg + "'");
        } else {
            positional.push_back(arg);
        }
    }
    if (positional.empty())
        return usageError("expected show, set or reset");
    std::string action = positional[0];
    positional.erase(positional.begin());
    if (configPath.empty() == stateDir.empty())
        return usageError("give exactly one of --config FILE and --state-dir DIR");
    if (!configPath.empty()) {
        auto result = config::loadFile(configPath);
        if (!result.ok()) {
            for (const auto &e : result.errors)
                std::fprintf(stderr, "%s\n", e.str().c_str());
            return 1;
        }
        stateDir = result.config->state_directory;
    }

    if (action == "show") {
        if (!positional.empty())
            return usageError("show takes no arguments");
        std::vector<replay::StoredId> ids;
        std::string error;
        if (!replay::ReplayStore::readSnapshot(stateDir, ids, error)) {
            std::fprintf(stderr, "sfkafkad replay: %s\n", error.c_str());
            return 1;
        }
        if (ids.empty()) {
            std::printf("no committed replay ids in %s\n", stateDir.c_str());
            return 0;
        }
        size_t wo = 3, wc = 7;
        for (const auto &id : ids) {
            wo = std::max(wo, id.org.size());
            wc = std::max(wc, id.channel.size());
        }
        std::printf("%-*s  %-*s  %-9s  %20s  %s\n", static_cast<int>(wo), "ORG", static_cast<int>(wc), "CHANNEL",
                    "TRANSPORT", "REPLAY_ID", "AGE");
        for (const auto &id : ids)
            std::printf("%-*s  %-*s  %-9s  %20s  %s\n", static_cast<int>(wo), id.org.c_str(),
                        static_cast<int>(wc), id.channel.c_str(), config::transportName(id.transport),
                        replay::positionText(id.replay_id).c_str(), age(id.updated_ms).c_str());
        return 0;
    }

    if (action != "set" && action != "reset")
        return usageError("unknown action '" + action + "' (show, set, reset)");
    size_t want = action == "set" ? 3 : 2;
    if (positional.size() != want)
        return usageError(action == "set" ? "set needs ORG CHANNEL REPLAY_ID" : "reset needs ORG CHANNEL");
    const std::string &org = positional[0], &channel = positional[1];
    const auto transport = transportName == "pubsub" ? config::Transport::Pubsub : config::Transport::Cometd;
    replay::Position replayId;
    if (action == "set" && transport == config::Transport::Pubsub) {
        std::string bytes;
        if (!decode::base64Decode(positional[2], bytes) || bytes.empty())
            return usageError("a Pub/Sub REPLAY_ID is base64 text (as `replay show` prints it), not '" +
                              positional[2] + "'");
        replayId = replay::Position::bytes(bytes);
    } else if (action == "set") {
        try {
            size_t used = 0;
            replayId = std::stoll(positional[2], &used);
            if (used != positional[2].size() || replayId.id < 0)
                throw std::invalid_argument("");
        } catch (...) {
            return usageError("REPLAY_ID must be a non-negative integer, not '" + positional[2] + "'");
        }
    }
    if (replay::ReplayStore::isLocked(stateDir)) {
        std::fputs(lockedMessage(stateDir).c_str(), stderr);
        return 1;
    }
    std::string error;
    auto store = replay::ReplayStore::open(stateDir, error);
    if (!store) {
        if (replay::ReplayStore::isLocked(stateDir))
            std::fputs(lockedMessage(stateDir).c_str(), stderr);
        else
            std::fprintf(stderr, "sfkafkad replay: %s\n", error.c_str());
        return 1;
    }
    auto current = store->get(org, channel, transport);
    std::string was = replay::positionText(current);
    const std::string where = org + " " + channel + (transport == config::Transport::Pubsub ? " (pubsub)" : "");
    std::string question = action == "set"
        ? "Set the committed replay id of " + where + " to " + replay::positionText(replayId) + " (now " + was + ")?"
        : "Reset " + where + " (now " + was + "); its `start` applies at the next start?";
    if (!confirm(question, yes))
        return 1;
    if (action == "set")
        store->set(org, channel, transport, replayId);
    else
        store->erase(org, channel, transport);
    if (!store->flush(error)) {
        std::fprintf(stderr, "sfkafkad replay: %s\n", error.c_str());
        return 1;
    }
    if (action == "set")
        std::printf("%s: %s -> %s\n", where.c_str(), was.c_str(), replay::positionText(replayId).c_str());
    else
        std::printf("%s: %s -> reset\n", where.c_str(), was.c_str());
    return 0;
}

} // namespace sfk::daemon
