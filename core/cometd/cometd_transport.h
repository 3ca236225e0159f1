#pragma once
// The CometD (Bayeux long polling) transport of an org session: one
// BayeuxClient for all the org's channels; handshake, subscribes with the
// replay extension, the long poll, and what Salesforce's replies mean for
// the session (session/transport.h).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cometd/bayeux_client.h"
#include "decode/poison_guard.h"
#include "session/transport.h"

namespace sfk::cometd {

class CometdTransport final : public session::Transport {
public:
    explicit CometdTransport(session::TransportHost &host);

    session::Next open() override;
    session::Next stream() override;
    void stop() override;
    void abandon() override;
    void disconnect() override;

private:
    using Next = session::Next;
    // open() in parts (cometd_subscribe.cpp).
    Next subscribeChannels(std::vector<size_t> which);
    // How a subscribe refusal for channel i ends: nullopt for this channel only.
    std::optional<Next> handleSubscribeRefusal(size_t i, int64_t from, const decode::MetaMessage &m,
                                               std::vector<std::optional<int64_t>> &override,
                                               std::vector<size_t> &retry);
    // What a /meta/connect reply says; nullopt: connect again.
    std::optional<Next> handleConnectReply(const decode::MetaMessage &m);
    // False (logged, counted): the reply carries an undecodable message not
    // yet seen PoisonGuard::kThreshold times; discard it whole and resubscribe.
    bool admitReply(const Exchange &ex);
    const std::string &orgName() const { return host_.org().name; }

    session::TransportHost &host_;
    std::unordered_map<std::string_view, size_t> channelIndex_;
    decode::PoisonGuard poison_;
    std::mutex clientMutex_;  // guards client_ against stop() from other threads
    std::unique_ptr<BayeuxClient> client_;
    std::string clientInstance_;
};

} // namespace sfk::cometd
