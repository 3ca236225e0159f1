#include "session/supervisor.h"

#include "log/log.h"

namespace sfk::session {

std::unique_ptr<Supervisor> Supervisor::create(const config::Config &cfg, std::string &error,
                                               SessionOptions options)
{
    std::unique_ptr<Supervisor> s(new Supervisor());
    s->cfg_ = cfg;
    s->store_ = replay::ReplayStore::open(cfg.state_directory, error);
    if (!s->store_)
        return nullptr;
    s->sink_ = kafka::EventSink::create(cfg.kafka, error);
    if (!s->sink_)
        return nullptr;
    for (const auto &org : s->cfg_.orgs) {
        s->sessions_.push_back(std::make_unique<OrgSession>(org, *s->sink_, *s->store_, options));
        s->sessions_.back()->setCommitRequester([sup = s.get()] {
            {
                std::lock_guard lock(sup->wakeMutex_);
                sup->commitRequested_ = true;
            }
            sup->wake_.notify_all();
        });
    }
    return s;
}

Supervisor::~Supervisor()
{
    if (!stopped_)
        stop(std::chrono::seconds(5));
}

void Supervisor::start()
{
    for (auto &session : sessions_)
        session->start();
    committer_ = std::thread([this] { commitLoop(); });
}

void Supervisor::commitLoop()
{
    std::unique_lock lock(wakeMutex_);
    while (!stopping_.load()) {
        wake_.wait_for(lock, cfg_.commit_interval,
                       [this] { return stopping_.load() || commitRequested_; });
        if (stopping_.load())
            break;
        commitRequested_ = false;
        lock.unlock();
        std::string error;
        bool ok = commit(error);
        lock.lock();
        if (!ok)
            log::error("commit", "could not write committed replay ids: " + error,
                       {{"directory", cfg_.state_directory}});
    }
}

bool Supervisor::commit(std::string &error)
{
    std::lock_guard lock(commitMutex_);
    for (auto &session : sessions_)
        session->commitTo(*store_);
    if (!store_->flush(error))
        return false;
    for (auto &session : sessions_)
        session->markDurable();
    return true;
}

bool Supervisor::stop(std::chrono::milliseconds flush_timeout)
{
    if (stopped_)
        return true;
    stopped_ = true;
    for (auto &session : sessions_)
        session->requestStop();
    for (auto &session : sessions_)
        session->join();
    bool flushed = sink_->flush(flush_timeout);
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
        log::error("commit", "final commit failed: " + error, {{"directory", cfg_.state_directory}});
    for (auto &session : sessions_)
        session->disconnect();
    sink_->stop();
    return flushed;
}

std::string Supervisor::statusLine() const
{
    size_t streaming = 0;
    int64_t inFlight = 0;
    for (const auto &s : sessions_) {
        streaming += s->streaming() ? 1 : 0;
        inFlight += s->inFlightEvents();
    }
    return std::to_string(streaming) + "/" + std::to_string(sessions_.size()) +
           " orgs streaming, " + std::to_string(inFlight) + " in flight";
}

} // namespace sfk::session
