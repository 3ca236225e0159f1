#include "session/supervisor.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cstring>

#include <algorithm>
#include <map>

#include "log/log.h"

namespace sfk::session {

namespace {

bool sameChannel(const config::Channel &a, const config::Channel &b)
{
    return a.name == b.name && a.topic == b.topic && a.start.kind == b.start.kind &&
           a.start.replay_id == b.start.replay_id && a.on_invalid_replay == b.on_invalid_replay &&
           a.key.kind == b.key.kind && a.key.pointer == b.key.pointer && a.transport == b.transport &&
           a.value_format == b.value_format && a.on_transport_switch == b.on_transport_switch &&
           a.dead_letter_topic == b.dead_letter_topic;
}

bool samePubsub(const config::PubsubEndpoint &a, const config::PubsubEndpoint &b)
{
    return a.host == b.host && a.port == b.port && a.plaintext == b.plaintext && a.ca_file == b.ca_file &&
           a.schemas_topic == b.schemas_topic && a.stall_timeout_ms == b.stall_timeout_ms;
}

bool sameAuth(const config::Auth &a, const config::Auth &b)
{
    return a.flow == b.flow && a.client_id == b.client_id && a.client_secret == b.client_secret &&
           a.username == b.username && a.password == b.password &&
           a.refresh_token == b.refresh_token && a.private_key == b.private_key &&
           a.private_key_passphrase == b.private_key_passphrase && a.audience == b.audience;
}

int64_t nowNs() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

} // namespace

std::vector<config::Org> splitByTransport(const std::vector<config::Org> &orgs)
{
    std::vector<config::Org> out;
    for (const auto &org : orgs) {
        config::Org pubsub = org;
        pubsub.channels.clear();
        config::Org cometd = pubsub;
        for (const auto &ch : org.channels)
            (ch.transport == config::Transport::Pubsub ? pubsub : cometd).channels.push_back(ch);
        if (!cometd.channels.empty() || pubsub.channels.empty())
            out.push_back(std::move(cometd));
        if (!pubsub.channels.empty())
            out.push_back(std::move(pubsub));
    }
    return out;
}

std::string sessionName(const config::Org &org)
{
    bool pubsub = !org.channels.empty() && org.channels[0].transport == config::Transport::Pubsub;
    return pubsub ? org.name + " (pubsub)" : org.name;
}

bool sameOrg(const config::Org &a, const config::Org &b)
{
    if (a.name != b.name || a.login_url != b.login_url || a.api_version != b.api_version ||
        !sameAuth(a.auth, b.auth) || a.max_in_flight_events != b.max_in_flight_events ||
        a.max_in_flight_bytes != b.max_in_flight_bytes || a.ca_file != b.ca_file ||
        a.max_response_bytes != b.max_response_bytes ||
        !(a.proxy == b.proxy) || !samePubsub(a.pubsub, b.pubsub) ||
        a.daily_event_allocation != b.daily_event_allocation ||
        a.allocation_warning_percent != b.allocation_warning_percent ||
        a.channels.size() != b.channels.size())
        return false;
    for (size_t i = 0; i < a.channels.size(); ++i)
        if (!sameChannel(a.channels[i], b.channels[i]))
            return false;
    return true;
}

namespace {

// Whether a file can be created in dir: the store writes its file only at
// the first commit, which would otherwise be the first to find out.
bool writable(const std::string &dir, std::string &error)
{
    const std::string probe = dir + "/.sfkafkad-write-test";
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = "state directory " + dir + " is not writable: " + std::strerror(errno);
        return false;
    }
    ::close(fd);
    ::unlink(probe.c_str());
    return true;
}

// The store's open() failed: tell a second instance and a corrupt file
// (which need the operator) from a directory that cannot be used.
StartFailure classifyStoreFailure(const std::string &dir)
{
    if (replay::ReplayStore::isLocked(dir))
        return StartFailure::StateDirectoryLocked;
    std::vector<replay::StoredId> ids;
    std::string ignored;
    const std::string file = dir + "/replay-ids.json";
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ::close(fd);
        if (!replay::ReplayStore::readSnapshot(dir, ids, ignored))
            return StartFailure::ReplayFileCorrupt;
    }
    return StartFailure::StateDirectoryUnusable;
}

} // namespace

std::unique_ptr<Supervisor> Supervisor::create(const config::Config &cfg, std::string &error,
                                               SessionOptions options, StartFailure *failure)
{
    StartFailure ignored;
    StartFailure &why = failure ? *failure : ignored;
    why = StartFailure::None;
    std::unique_ptr<Supervisor> s(new Supervisor());
    // Nothing to stop if it fails half-way (the destructor sees stopped_).
    s->stopped_ = true;
    s->cfg_ = cfg;
    s->options_ = options;
    s->loginPacer_ = std::make_unique<Pacer>(cfg.pacing.logins_per_second);
    s->handshakePacer_ = std::make_unique<Pacer>(cfg.pacing.handshakes_per_second);
    s->options_.logins = s->loginPacer_.get();
    s->options_.handshakes = s->handshakePacer_.get();
    s->commitIntervalMs_.store(cfg.commit_interval.count());
    s->store_ = replay::ReplayStore::open(cfg.state_directory, error);
    if (!s->store_) {
        why = classifyStoreFailure(cfg.state_directory);
        return nullptr;
    }
    if (!writable(cfg.state_directory, error)) {
        why = StartFailure::StateDirectoryUnusable;
        return nullptr;
    }
    s->sink_ = kafka::EventSink::create(cfg.kafka, error);
    if (!s->sink_) {
        why = StartFailure::KafkaProducer;
        return nullptr;
    }
    s->control_ = std::make_unique<kafka::ControlTopic>(*s->sink_, cfg.kafka.control_topic);
    s->stopped_ = false;
    for (const auto &org : splitByTransport(s->cfg_.orgs))
        s->sessions_.push_back(s->makeSession(org));
    s->touch();
    return s;
}

std::unique_ptr<OrgSession> Supervisor::makeSession(const config::Org &org)
{
    auto session = std::make_unique<OrgSession>(org, *sink_, *store_, *control_, options_);
    session->setCommitRequester([this] {
        {
            std::lock_guard lock(wakeMutex_);
            commitRequested_ = true;
        }
        wake_.notify_all();
    });
    return session;
}

Supervisor::~Supervisor()
{
    if (!stopped_)
        stop(std::chrono::seconds(5));
    // Destroying the sink purges what Kafka never acknowledged, and each
    // purged record's delivery report still calls its session: the sink must
    // go before the sessions (members die in reverse order, sessions first).
    // The control topic stops retrying first; its purged records are logged.
    if (control_)
        control_->stop();
    sink_.reset();
}

void Supervisor::touch() { progressNs_.store(nowNs()); }

void Supervisor::start()
{
    {
        std::lock_guard lock(sessionsMutex_);
        for (auto &session : sessions_)
            session->start();
        started_ = true;
    }
    touch();
    committer_ = std::thread([this] { commitLoop(); });
}

void Supervisor::commitLoop()
{
    auto lastCommit = std::chrono::steady_clock::now();
    auto lastTrim = lastCommit;
    std::unique_lock lock(wakeMutex_);
    while (!stopping_.load()) {
        touch();
        // Every org's thread allocates from its own malloc arena, where
        // freed buffers (a burst's replies, say) stay resident: with 100 orgs
        // streaming, 81-93 MB instead of 36 MB (bench, scenario multi).
        // Handing free pages back every few seconds costs a few milliseconds;
        // doing it per allocation (a low M_MMAP_THRESHOLD) cost 25% of
        // throughput.
        if (std::chrono::steady_clock::now() - lastTrim >= std::chrono::seconds(5)) {
            lastTrim = std::chrono::steady_clock::now();
            lock.unlock();
            malloc_trim(0);
            lock.lock();
        }
        if (!retiredEmpty()) {
            lock.unlock();
            reapRetired();
            lock.lock();
        }
        auto interval = std::chrono::milliseconds(commitIntervalMs_.load());
        wake_.wait_for(lock, std::min(interval, std::chrono::milliseconds(1000)),
                       [this] { return stopping_.load() || commitRequested_; });
        if (stopping_.load())
            break;
        touch();
        // Wake at least every second for the watchdog; commit on schedule.
        if (!commitRequested_ && std::chrono::steady_clock::now() - lastCommit < interval)
            continue;
        lastCommit = std::chrono::steady_clock::now();
        commitRequested_ = false;
        lock.unlock();
        std::string error;
        bool ok = commit(error);
        lock.lock();
        if (!ok)
            log::event(log::Level::Error, log::id::kCommitFailure, "commit",
                       "could not write committed replay ids: " + error,
                       {{"directory", store_->directory()}});
    }
}

bool Supervisor::commit(std::string &error)
{
    std::lock_guard lock(commitMutex_);
    std::lock_guard sessionsLock(sessionsMutex_);
    for (auto &session : sessions_)
        session->commitTo(*store_);
    if (!store_->flush(error))
        return false;
    for (auto &session : sessions_)
        session->markDurable();
    return true;
}

void Supervisor::retire(std::vector<std::unique_ptr<OrgSession>> sessions,
                        std::chrono::milliseconds drain_timeout)
{
    if (sessions.empty())
        return;
    for (auto &s : sessions)
        s->requestStop();
    for (auto &s : sessions)
        s->join();
    // Their events already queued in Kafka: wait for the acknowledgements so
    // the committed ids cover them.
    auto deadline = std::chrono::steady_clock::now() + drain_timeout;
    for (auto &s : sessions) {
        while (s->inFlightEvents() > 0 && std::chrono::steady_clock::now() < deadline && !stopAsked_.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (s->inFlightEvents() > 0)
            log::warn("supervisor", "org stopped with unacknowledged events; they will be replayed",
                      {{"org", s->org().name}, {"in_flight", std::to_string(s->inFlightEvents())}});
    }
    {
        std::lock_guard lock(commitMutex_);
        for (auto &s : sessions)
            s->commitTo(*store_);
        std::string error;
        if (!store_->flush(error))
            log::event(log::Level::Error, log::id::kCommitFailure, "commit",
                       "could not write committed replay ids: " + error,
                       {{"directory", store_->directory()}});
        else
            for (auto &s : sessions)
                s->markDurable();
    }
    for (auto &s : sessions) {
        s->disconnect();
        log::info("supervisor", "org stopped", {{"org", s->org().name}});
        std::lock_guard lock(retiredMutex_);
        retired_.push_back(std::move(s));
    }
    reapRetired();
}

void Supervisor::reapRetired()
{
    std::vector<std::unique_ptr<OrgSession>> done;
    {
        std::lock_guard lock(retiredMutex_);
        for (auto &s : retired_)
            if (s->inFlightEvents() == 0)
                done.push_back(std::move(s));
        std::erase(retired_, nullptr);
    }
    if (done.empty())
        return;
    // Their last report was counted, but the callback that counted it may
    // still be running on the sink's thread: wait for it to return.
    sink_->waitForReportsInProgress();
    done.clear();
}

size_t Supervisor::retiredSessions() const
{
    std::lock_guard lock(retiredMutex_);
    return retired_.size();
}

ReloadSummary Supervisor::reload(const config::Config &next, std::chrono::milliseconds drain_timeout)
{
    std::lock_guard reloadLock(reloadMutex_);
    ReloadSummary sum;
    if (stopped_ || stopAsked_.load())
        return sum;
    config::Config current = config();

    if (next.kafka.brokers != current.kafka.brokers || next.kafka.librdkafka != current.kafka.librdkafka)
        sum.needs_restart.push_back("kafka");
    if (next.state_directory != current.state_directory)
        sum.needs_restart.push_back("state.directory");
    if (next.http_listen != current.http_listen)
        sum.needs_restart.push_back("http.listen");

    const std::vector<config::Org> nextSessions = splitByTransport(next.orgs);
    std::map<std::string, const config::Org *> wanted;
    for (const auto &o : nextSessions)
        wanted[sessionName(o)] = &o;

    // Take the removed and changed sessions out; the others stay as they are.
    std::vector<std::unique_ptr<OrgSession>> leaving;
    std::map<std::string, std::unique_ptr<OrgSession>> staying;
    {
        std::lock_guard lock(sessionsMutex_);
        for (auto &s : sessions_) {
            const std::string name = sessionName(s->org());
            auto it = wanted.find(name);
            if (it == wanted.end()) {
                sum.removed.push_back(name);
                leaving.push_back(std::move(s));
            } else if (!sameOrg(s->org(), *it->second)) {
                sum.restarted.push_back(name);
                leaving.push_back(std::move(s));
            } else {
                sum.unchanged.push_back(name);
                staying[name] = std::move(s);
            }
        }
        // Keep the unchanged ones visible while the others drain.
        sessions_.clear();
        for (auto &[name, s] : staying)
            sessions_.push_back(std::move(s));
        staying.clear();
    }
    retire(std::move(leaving), drain_timeout);

    // New sessions read their committed ids from the store (just flushed).
    std::vector<std::unique_ptr<OrgSession>> fresh;
    for (const auto &o : nextSessions) {
        const std::string name = sessionName(o);
        bool present = false;
        {
            std::lock_guard lock(sessionsMutex_);
            for (auto &s : sessions_)
                present = present || sessionName(s->org()) == name;
        }
        if (present)
            continue;
        if (std::find(sum.restarted.begin(), sum.restarted.end(), name) == sum.restarted.end())
            sum.added.push_back(name);
        fresh.push_back(makeSession(o));
    }
    // A stop during the drain: stop() will stop these (never started).
    bool startFresh = started_ && !stopAsked_.load();
    {
        std::lock_guard lock(sessionsMutex_);
        // In the new file's order.
        std::vector<std::unique_ptr<OrgSession>> ordered;
        for (const auto &o : nextSessions) {
            const std::string name = sessionName(o);
            for (auto &s : sessions_)
                if (s && sessionName(s->org()) == name)
                    ordered.push_back(std::move(s));
            for (auto &s : fresh)
                if (s && sessionName(s->org()) == name) {
                    if (startFresh)
                        s->start();
                    ordered.push_back(std::move(s));
                }
        }
        sessions_ = std::move(ordered);
        // Applied now: orgs, commit interval, log level (by the caller).
        config::Config applied = next;
        applied.kafka = cfg_.kafka;
        applied.state_directory = cfg_.state_directory;
        applied.http_listen = cfg_.http_listen;
        cfg_ = std::move(applied);
    }
    commitIntervalMs_.store(next.commit_interval.count());
    loginPacer_->setRate(next.pacing.logins_per_second);
    handshakePacer_->setRate(next.pacing.handshakes_per_second);
    wake_.notify_all();
    reloadSuccesses_.fetch_add(1);
    return sum;
}

config::Config Supervisor::config() const
{
    std::lock_guard lock(sessionsMutex_);
    return cfg_;
}

void Supervisor::forEachSession(const std::function<void(const OrgSession &)> &fn) const
{
    std::lock_guard lock(sessionsMutex_);
    for (const auto &s : sessions_)
        fn(*s);
}

bool Supervisor::stop(std::chrono::milliseconds flush_timeout)
{
    stopAsked_.store(true);
    std::lock_guard reloadLock(reloadMutex_);
    if (stopped_)
        return true;
    stopped_ = true;
    std::vector<OrgSession *> all;
    {
        std::lock_guard lock(sessionsMutex_);
        for (auto &s : sessions_)
            all.push_back(s.get());
    }
    for (auto *session : all)
        session->requestStop();
    for (auto *session : all)
        session->join();
    // Gap records still waiting for a retry get the flush deadline too.
    auto deadline = std::chrono::steady_clock::now() + flush_timeout;
    if (control_) {
        control_->drain(deadline);
        control_->stop();
    }
    bool flushed = sink_->flush(std::max(std::chrono::milliseconds(0),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())));
    if (!flushed)
        log::warn("supervisor", "Kafka did not acknowledge every event before the shutdown deadline; "
                                "unacknowledged events will be replayed on the next start",
                  {{"queued", std::to_string(sink_->queueDepth())}});
    {
        std::lock_guard lock(wakeMutex_);
        stopping_.store(true);
    }
    wake_.notify_all();
    if (committer_.joinable())
        committer_.join();
    std::string error;
    if (!commit(error))
        log::event(log::Level::Error, log::id::kCommitFailure, "commit", "final commit failed: " + error,
                   {{"directory", store_->directory()}});
    for (auto *session : all)
        session->disconnect();
    sink_->stop();
    return flushed;
}

std::string Supervisor::statusLine() const
{
    size_t streaming = 0, total = 0;
    int64_t inFlight = 0;
    forEachSession([&](const OrgSession &s) {
        ++total;
        streaming += s.streaming() ? 1 : 0;
        inFlight += s.inFlightEvents();
    });
    return std::to_string(streaming) + "/" + std::to_string(total) + " orgs streaming, " +
           std::to_string(inFlight) + " in flight";
}

bool Supervisor::healthy(std::chrono::milliseconds max_stall, std::string *why) const
{
    auto now = std::chrono::steady_clock::now();
    bool ok = true;
    std::string text;
    if (started_ && !stopping_.load()) {
        auto last = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(progressNs_.load()));
        if (now - last > max_stall) {
            ok = false;
            text += "commit thread stalled\n";
        }
    }
    forEachSession([&](const OrgSession &s) {
        if (s.state() == State::Stopped)
            return;
        if (now - s.lastProgress() > max_stall) {
            ok = false;
            text += "org " + sessionName(s.org()) + ": session thread stalled\n";
        }
    });
    if (why)
        *why = ok ? "ok\n" : text;
    return ok;
}

bool Supervisor::ready(std::string *report) const
{
    bool ok = true;
    std::string text;
    bool kafka = sink_->brokersUp();
    ok = ok && kafka;
    text += std::string(kafka ? "[+]" : "[-]") + " kafka " + (kafka ? "ok" : "no broker reachable") + "\n";
    bool degraded = false;
    forEachSession([&](const OrgSession &s) {
        bool st = s.streaming();
        ok = ok && st;
        text += std::string(st ? "[+]" : "[-]") + " org " + sessionName(s.org()) + " " + stateName(s.state()) + "\n";
        // Still streaming, but Salesforce is about to refuse it (or does).
        if (s.allocationState() == AllocationState::Exceeded) {
            degraded = true;
            text += "[!] org " + sessionName(s.org()) + " over its delivery allocation: " +
                    std::to_string(s.deliveredLast24h()) + " of " + std::to_string(s.org().daily_event_allocation) +
                    " events in 24 h\n";
        }
    });
    text += ok ? (degraded ? "ready (degraded)\n" : "ready\n") : "not ready\n";
    if (report)
        *report = text;
    return ok;
}

} // namespace sfk::session
