// PubsubTransport: subscribes, credit, responses and stream ends. The
// error map is in README "The Pub/Sub API".
#include "pubsub/pubsub_transport.h"

#include <algorithm>

#include "log/log.h"
#include "session/session_text.h"

namespace sfk::pubsub {

namespace {

constexpr std::string_view kModule = session::kSessionModule;
using session::Gap;
using session::GapReason;
using session::Next;
using session::State;

// Schemas kept parsed per org session.
constexpr size_t kSchemaCacheEntries = 256;

bool has(const std::string &s, std::string_view part) { return s.find(part) != std::string::npos; }

} // namespace

PubsubTransport::PubsubTransport(session::TransportHost &host)
    : host_(host),
      schemas_(
          [this](const std::string &id, std::string &json, std::string &error) {
              host_.mutableCounters().schema_fetches.fetch_add(1);
              // Called on the session thread, which alone replaces client_:
              // the call runs unlocked, so stop() can cancel it.
              Client *client = nullptr;
              {
                  std::lock_guard lock(clientMutex_);
                  client = client_.get();
              }
              if (!client) {
                  error = "not connected";
                  schemaCode_ = grpc::StatusCode::UNAVAILABLE;
                  return false;
              }
              if (!client->getSchema(id, json, error, &schemaCode_))
                  return false;
              if (anyAvro_)
                  schemaText_[id] = json;   // lookup() runs on the session thread only
              return true;
          },
          kSchemaCacheEntries),
      streams_(host.org().channels.size())
{
    for (const auto &ch : host.org().channels)
        anyAvro_ = anyAvro_ || ch.value_format == config::ValueFormat::Avro;
}

PubsubTransport::~PubsubTransport() = default;

void PubsubTransport::stop()
{
    // Only what any thread may call: the unary calls are cancelled and the
    // session thread woken; it sees the stop and ends, and disconnect()
    // then cancels the streams.
    std::lock_guard lock(clientMutex_);
    stopped_ = true;
    if (client_) {
        client_->stopCalls();   // a GetSchema in progress
        client_->wake();
    }
}

void PubsubTransport::abandon()
{
    std::lock_guard lock(clientMutex_);
    if (client_)
        client_->cancelAll();
    for (auto &s : streams_)
        s = Stream{};
}

void PubsubTransport::disconnect()
{
    std::unique_ptr<Client> gone;
    {
        std::lock_guard lock(clientMutex_);
        gone = std::move(client_);
    }
}

Next PubsubTransport::open()
{
    host_.setState(State::Handshaking);
    const config::Org &org = host_.org();
    const auth::Token &token = host_.token();
    {
        std::lock_guard lock(identity_->mutex);
        identity_->value = CallIdentity{token.access_token.reveal(), token.instance_url, token.org_id};
    }
    {
        std::lock_guard lock(clientMutex_);
        if (stopped_)
            return Next::Stop;
        if (!client_) {
            Endpoint ep{org.pubsub.host, org.pubsub.port, org.pubsub.plaintext, org.pubsub.ca_file};
            std::string error;
            if (!validateEndpoint(ep, error)) {
                log::error(kModule, "Pub/Sub endpoint refused: " + error, {{"org", org.name}});
                return Next::LimitBackoff;
            }
            auto identity = identity_;
            client_ = std::make_unique<Client>(ep, [identity] {
                std::lock_guard l(identity->mutex);
                return identity->value;
            });
        }
        client_->cancelAll();
    }
    host_.mutableCounters().handshakes.fetch_add(1);
    // Each channel's stream opens once credit can be given (grantCredit()).
    for (size_t i = 0; i < streams_.size(); ++i)
        streams_[i] = Stream{};
    for (size_t i = 0; i < streams_.size(); ++i)
        streams_[i].active = !host_.channelStopped(i);
    grantCredit();
    return Next::Stream;
}

void PubsubTransport::grantCredit()
{
    int64_t room = host_.eventRoom();
    for (const auto &s : streams_)
        room -= s.outstanding;
    if (room <= 0)
        return;
    size_t wanting = 0;
    for (const auto &s : streams_)
        wanting += s.active && s.outstanding < kMaxCreditPerStream / 2;
    if (wanting == 0)
        return;
    const int64_t share = std::clamp<int64_t>(room / static_cast<int64_t>(wanting), 1, kMaxCreditPerStream);
    // Round-robin from where the last grant stopped: a small room is shared.
    std::vector<std::pair<size_t, int64_t>> grants;
    const size_t first = creditCursor_;
    for (size_t k = 0; k < streams_.size() && room > 0; ++k) {
        const size_t i = (first + k) % streams_.size();
        const Stream &s = streams_[i];
        if (!s.active || s.outstanding >= kMaxCreditPerStream / 2)
            continue;
        const int64_t give = std::min({share, room, kMaxCreditPerStream - s.outstanding});
        if (give <= 0)
            continue;
        grants.emplace_back(i, give);
        room -= give;
        creditCursor_ = i + 1;
    }
    // New streams from a preset: their marker -2 is durable (one flush for
    // all) before any event of theirs can arrive.
    std::vector<size_t> presets;
    std::vector<replay::Position> from(streams_.size());
    for (auto [i, give] : grants) {
        if (streams_[i].generation != 0)
            continue;
        from[i] = host_.subscribeFrom(i);
        host_.subscribing(i, from[i]);
        if (!from[i].isOpaque())
            presets.push_back(i);
    }
    host_.storeResumeMarkers(presets);

    const auto &channels = host_.org().channels;
    std::lock_guard lock(clientMutex_);
    if (!client_ || stopped_)
        return;
    for (auto [i, give] : grants) {
        Stream &s = streams_[i];
        if (s.generation == 0) {
            // -2 (and a CometD id, which the store keeps from reaching here): everything retained.
            const auto preset = from[i].isOpaque() ? eventbus::v1::CUSTOM
                                : from[i].id == -1 ? eventbus::v1::LATEST
                                                   : eventbus::v1::EARLIEST;
            s.generation = client_->subscribe(i, channels[i].name, preset, from[i].opaque, static_cast<int>(give));
            log::info(kModule, "subscribed",
                      {{"org", orgName()}, {"channel", channels[i].name}, {"transport", "pubsub"},
                       {"replay_from", replay::positionDescription(from[i])}});
        } else {
            client_->request(i, static_cast<int>(give));
        }
        s.outstanding += give;
        s.last_heard = std::chrono::steady_clock::now();
    }
}

Next PubsubTransport::stream()
{
    auto &counters = host_.mutableCounters();
    while (!host_.stopping()) {
        if (host_.deliveryFailed()) {
            counters.reconnects_delivery_failure.fetch_add(1);
            return Next::Reopen;
        }
        host_.setState(State::Streaming);
        host_.markStreaming();
        grantCredit();
        std::optional<StreamItem> item;
        {
            Client *client = nullptr;
            {
                std::lock_guard lock(clientMutex_);
                client = client_.get();
            }
            if (!client)
                return Next::Reopen;
            // Short waits: credit freed by acknowledgements is granted soon.
            item = client->next(std::chrono::milliseconds(50));
        }
        host_.touch();
        if (host_.stopping())
            return Next::Stop;
        if (!item) {
            if (auto i = stalledStream()) {
                counters.reconnects_stalled.fetch_add(1);
                log::warn(kModule, "Pub/Sub stream silent past pubsub.stall_timeout_ms; resubscribing from committed "
                                   "replay ids",
                          {{"org", orgName()}, {"channel", host_.org().channels[*i].name}});
                return Next::Reopen;
            }
            continue;
        }
        if (item->stream >= streams_.size() || item->generation != streams_[item->stream].generation)
            continue;   // an earlier subscription's
        if (item->ended) {
            if (auto next = handleEnd(item->stream, *item))
                return *next;
            continue;
        }
        if (auto next = handleResponse(item->stream, item->response))
            return *next;
        if (host_.stopping())
            return Next::Stop;
    }
    return Next::Stop;
}

std::optional<size_t> PubsubTransport::stalledStream()
{
    const auto limit = std::chrono::milliseconds(host_.org().pubsub.stall_timeout_ms);
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < streams_.size(); ++i)
        if (streams_[i].active && streams_[i].generation != 0 && now - streams_[i].last_heard > limit)
            return i;
    return std::nullopt;
}

std::optional<Next> PubsubTransport::handleResponse(size_t i, const eventbus::v1::FetchResponse &r)
{
    Stream &s = streams_[i];
    s.last_heard = std::chrono::steady_clock::now();
    // Our own count, not the response's pending_num_requested: that is the
    // server's view when it sent the response, before requests still on
    // their way, and adopting it would let credit run past the bounds.
    s.outstanding = std::max<int64_t>(0, s.outstanding - r.events_size());
    if (r.events_size() == 0) {
        // A keepalive. With credit pending the server had nothing to send:
        // its latest id is where this channel stands.
        if (r.pending_num_requested() > 0 && !r.latest_replay_id().empty() &&
            host_.adoptIdlePosition(i, replay::Position::bytes(r.latest_replay_id())))
            host_.mutableCounters().keepalive_positions.fetch_add(1);
        return std::nullopt;
    }
    if (!host_.waitForCapacity())
        return std::nullopt;
    const config::Channel &cfg = host_.org().channels[i];
    batch_.clear();
    for (const auto &ev : r.events()) {
        std::string error;
        const std::string &schemaId = ev.event().schema_id();
        schemaCode_ = grpc::StatusCode::OK;
        SchemaCache::Result schema = schemas_.lookup(schemaId);
        if (!schema.schema) {
            // A schema the service could not give now is no reason to
            // dead-letter: none of the response is delivered, and the
            // resubscribe from the committed ids brings it again.
            if (auto next = schemaUnavailable(i, schema.error))
                return next;
        }
        if (schema.schema && cfg.value_format == config::ValueFormat::Avro && !schemasPublished_.count(schemaId)) {
            // A raw Avro record is produced only once its schema is in Kafka.
            auto text = schemaText_.find(schemaId);
            if (text == schemaText_.end() || !host_.publishSchema(schemaId, text->second))
                return host_.stopping() ? Next::Stop : Next::Backoff;
            schemasPublished_.insert(schemaId);
        }
        if (schema.schema) {
            decode::Event e;
            if (values_.build(cfg, *schema.schema, ev, batch_, e, error)) {
                batch_.events.push_back(e);
                continue;
            }
        } else {
            error = "schema " + ev.event().schema_id() + " unavailable: " + schema.error;
        }
        decode::Undecodable u;
        u.position = batch_.events.size();
        u.message = static_cast<size_t>(&ev - &*r.events().begin());
        u.raw = ev.event().payload();
        u.channel = cfg.name;
        u.opaque_replay_id = ev.replay_id();
        u.error = "event " + std::to_string(u.message) + ": " + error;
        batch_.undecodable.push_back(std::move(u));
    }
    host_.deliver(batch_);
    return std::nullopt;
}

std::optional<Next> PubsubTransport::schemaUnavailable(size_t i, const std::string &error)
{
    using grpc::StatusCode;
    const StatusCode code = schemaCode_;
    // OK: the schema came but does not parse; NOT_FOUND, INVALID_ARGUMENT,
    // PERMISSION_DENIED: no retry can help. Those events are dead-lettered.
    if (code == StatusCode::OK || code == StatusCode::NOT_FOUND || code == StatusCode::INVALID_ARGUMENT ||
        code == StatusCode::PERMISSION_DENIED)
        return std::nullopt;
    auto &counters = host_.mutableCounters();
    const bool auth = code == StatusCode::UNAUTHENTICATED;
    (auth ? counters.reconnects_auth : counters.reconnects_network).fetch_add(1);
    log::warn(kModule, std::string("GetSchema failed; the response is dropped and the channels resubscribe from "
                                   "committed replay ids") + (auth ? " with a new token: " : " after a backoff: ") +
                           error,
              {{"org", orgName()}, {"channel", host_.org().channels[i].name}});
    return auth ? Next::NewToken : Next::Backoff;
}

std::optional<Next> PubsubTransport::handleEnd(size_t i, const StreamItem &item)
{
    auto &counters = host_.mutableCounters();
    const config::Channel &cfg = host_.org().channels[i];
    Stream &s = streams_[i];
    const bool hadCredit = s.outstanding > 0;
    s = Stream{};
    const std::string what = item.message + (item.error_code.empty() ? "" : " (" + item.error_code + ")");
    if (host_.stopping())
        return Next::Stop;
    if (item.code == grpc::StatusCode::UNAUTHENTICATED || has(item.error_code, "auth.error")) {
        counters.reconnects_auth.fetch_add(1);
        log::warn(kModule, "Pub/Sub stream refused the token; a new one, then resubscribing: " + what,
                  {{"org", orgName()}, {"channel", cfg.name}});
        return Next::NewToken;
    }
    if (has(item.error_code, "limit.exceeded")) {
        log::error(kModule, "Pub/Sub stream ended by a Salesforce limit: " + what,
                   {{"org", orgName()}, {"channel", cfg.name}});
        return Next::LimitBackoff;
    }
    if (has(item.error_code, "replayid.corrupted") || has(item.error_code, "replayid.validation.failed")) {
        host_.mutableChannelCounters(i).gaps.fetch_add(1);
        const auto policy = cfg.on_invalid_replay;
        Gap gap{i, GapReason::InvalidReplayId, config::invalidReplayPolicyName(policy), host_.subscribeFrom(i)};
        gap.detail = "replay id rejected; events after it that are no longer retained were not delivered; ";
        if (policy == config::InvalidReplayPolicy::Fail) {
            host_.stopChannel(i);
            gap.detail += "channel stopped (on_invalid_replay: fail)";
        } else {
            const bool earliest = policy == config::InvalidReplayPolicy::Earliest;
            gap.resumed_from = replay::Position(earliest ? -2 : -1);
            gap.detail += earliest ? "resuming from the earliest retained event" : "resuming from new events only";
            // The subscription never started: nothing of it is in flight.
            host_.subscribing(i, *gap.resumed_from);
            host_.storeResumeMarkers({i});
            std::lock_guard lock(clientMutex_);
            if (client_) {
                s.active = true;
                s.outstanding = 1;
                s.last_heard = std::chrono::steady_clock::now();
                s.generation = client_->subscribe(i, cfg.name, earliest ? eventbus::v1::EARLIEST : eventbus::v1::LATEST,
                                                  "", 1);
            }
        }
        gap.detail += ": " + what;
        host_.reportGap(gap);
        return std::nullopt;
    }
    if (has(item.error_code, "topic.not.found") || item.code == grpc::StatusCode::NOT_FOUND ||
        item.code == grpc::StatusCode::PERMISSION_DENIED) {
        // A topic that does not exist or that the user may not read: stop
        // it loudly (a gap record), keep the others.
        host_.stopChannel(i);
        Gap gap{i, GapReason::SubscribeRefused, "stop", host_.subscribeFrom(i)};
        gap.detail = "subscribe refused, channel stopped until the next reload: " + what;
        host_.reportGap(gap);
        return std::nullopt;
    }
    if (!hadCredit) {
        // We held credit back (Kafka back-pressure) until Salesforce gave up
        // on the stream: normal; resubscribe from the watermark.
        counters.reconnects_credit_idle.fetch_add(1);
        log::info(kModule, "Pub/Sub stream closed while it held no credit; resubscribing from committed replay ids",
                  {{"org", orgName()}, {"channel", cfg.name}});
        return Next::Reopen;
    }
    if (item.code == grpc::StatusCode::UNAVAILABLE || item.code == grpc::StatusCode::DEADLINE_EXCEEDED ||
        item.code == grpc::StatusCode::CANCELLED)
        counters.reconnects_network.fetch_add(1);
    else
        counters.reconnects_server_error.fetch_add(1);
    log::warn(kModule, "Pub/Sub stream ended; resubscribing from committed replay ids after a backoff: " + what,
              {{"org", orgName()}, {"channel", cfg.name}, {"code", std::to_string(static_cast<int>(item.code))}});
    return Next::Backoff;
}

} // namespace sfk::pubsub
