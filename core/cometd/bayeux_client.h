#pragma once
// A Bayeux (CometD) long-polling client speaking Salesforce's dialect: the
// replay extension, cookies kept per client, at most two connections (one
// held by /meta/connect, one for everything else), bearer token auth.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/secret.h"
#include "decode/batch_decoder.h"
#include "net/http_client.h"

namespace sfk::cometd {

struct Exchange {
    enum class Outcome {
        Ok,          // HTTP 200 and a well-formed Bayeux array
        Transport,   // no HTTP answer (refused, reset, timeout)
        Http,        // an HTTP status other than 200
        Malformed,   // 200 but the body failed to decode: discard it whole
    } outcome = Outcome::Transport;
    int http_status = 0;
    std::string error;     // transport error, HTTP summary or decode error
    decode::Batch batch;   // valid when outcome == Ok
    size_t body_bytes = 0;
};

struct Subscription {
    std::string channel;
    int64_t replay_id;     // -1 new only, -2 all retained, else events after it
};

class BayeuxClient {
public:
    BayeuxClient(const net::Url &instance, const std::string &api_version,
                 const net::TlsOptions &tls, decode::KeyLookup keys);
    ~BayeuxClient();

    void setToken(const config::Secret &token) { token_ = token; }
    // The server's hold time plus a margin: the long poll's read timeout.
    void setConnectTimeout(std::chrono::milliseconds server_hold);

    // Starts a new Bayeux session (clears cookies and the client id).
    void handshake(Exchange &ex);
    // Subscribes channels with their replay ids, split into requests that stay
    // under Salesforce's 32 KB request limit. Replies are appended to ex.batch.meta.
    void subscribe(const std::vector<Subscription> &subs, Exchange &ex);
    // The long poll: events and the connect reply.
    void connect(Exchange &ex);
    // Ends the session politely (best effort).
    void disconnect();

    const std::string &clientId() const { return clientId_; }
    void setClientId(std::string id) { clientId_ = std::move(id); }

    // Aborts requests in progress from another thread (shutdown).
    void stop();

private:
    void post(net::HttpClient &http, std::string &buffer, const std::string &body, Exchange &ex);
    std::string nextId() { return std::to_string(++messageId_); }

    net::Url instance_;
    std::string path_;
    config::Secret token_;
    decode::KeyLookup keys_;
    net::CookieJar cookies_;
    std::unique_ptr<net::HttpClient> pollHttp_;    // held by /meta/connect
    std::unique_ptr<net::HttpClient> controlHttp_; // handshake, subscribe, disconnect
    decode::BatchDecoder decoder_;
    std::string pollBuffer_, controlBuffer_;
    std::string clientId_;
    uint64_t messageId_ = 0;
};

} // namespace sfk::cometd
