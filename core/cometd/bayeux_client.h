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
    std::string message_id;  // set by subscribe(): the reply carries it back
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
    // Subscribes subs[from..] with their replay ids in one request that stays
    // under Salesforce's 32 KB request limit; gives each its message_id and
    // returns the index after the last one sent. ex.batch holds the replies and
    // any events the server sent with them (CometD allows events on any reply).
    size_t subscribe(std::vector<Subscription> &subs, size_t from, Exchange &ex);
    // The long poll: events and the connect reply.
    void connect(Exchange &ex);
    // Ends the session politely (best effort, short timeouts); after stop()
    // only with even_if_stopped.
    void disconnect(bool even_if_stopped = false);

    // Closes the idle control connection (handshake and subscribes are
    // rare; the long poll keeps its own): an org streaming holds one socket.
    void closeIdleControl() { controlHttp_->closeIdle(); }

    const std::string &clientId() const { return clientId_; }
    void setClientId(std::string id) { clientId_ = std::move(id); }

    // Aborts requests in progress from another thread (shutdown); later
    // requests fail at once. Calling it again aborts a request that started
    // in between (the caller repeats it until its thread is done).
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
    std::atomic<bool> stopped_{false};
};

} // namespace sfk::cometd
