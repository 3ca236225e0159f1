#include "cometd/bayeux_client.h"

#include "decode/json_escape.h"

namespace sfk::cometd {

namespace {
constexpr size_t kMaxRequestBytes = 30 * 1024; // Salesforce rejects > 32 KB
}

BayeuxClient::BayeuxClient(const net::Url &instance, const std::string &api_version,
                           const net::TlsOptions &tls, decode::KeyLookup keys)
    : instance_(instance), path_("/cometd/" + api_version), keys_(std::move(keys))
{
    pollHttp_ = std::make_unique<net::HttpClient>(instance_, tls, &cookies_);
    controlHttp_ = std::make_unique<net::HttpClient>(instance_, tls, &cookies_);
    controlHttp_->setTimeouts(std::chrono::seconds(10), std::chrono::seconds(60));
    setConnectTimeout(std::chrono::seconds(110));
}

BayeuxClient::~BayeuxClient() = default;

void BayeuxClient::setConnectTimeout(std::chrono::milliseconds server_hold)
{
    pollHttp_->setTimeouts(std::chrono::seconds(10), server_hold + std::chrono::seconds(30));
}

void BayeuxClient::stop()
{
    stopped_.store(true);
    pollHttp_->stop();
    controlHttp_->stop();
}

void BayeuxClient::post(net::HttpClient &http, std::string &buffer, const std::string &body,
                        Exchange &ex)
{
    ex.outcome = Exchange::Outcome::Transport;
    ex.http_status = 0;
    ex.error.clear();
    // A burst of large replies leaves buffers sized for it; once replies are
    // small again, give the memory back (with many orgs it adds up).
    constexpr size_t kKeepBytes = 256 * 1024;
    if (buffer.capacity() > kKeepBytes && buffer.size() * 4 < buffer.capacity())
        std::string().swap(buffer);
    ex.batch.trim();
    ex.batch.clear();
    if (stopped_.load()) {
        ex.error = "stopped";
        return;
    }
    net::Response r = http.post(path_, "application/json", body,
                                {{"Authorization", "Bearer " + token_.reveal()}}, &buffer);
    ex.body_bytes = buffer.size();
    if (r.status == 0) {
        ex.error = r.error;
        return;
    }
    ex.http_status = r.status;
    if (r.status != 200) {
        ex.outcome = Exchange::Outcome::Http;
        ex.error = "HTTP " + std::to_string(r.status);
        return;
    }
    decode::BatchDecoder::reservePadding(buffer);
    if (!decoder_.decode(buffer, ex.batch, ex.error, keys_)) {
        ex.outcome = Exchange::Outcome::Malformed;
        ex.batch.clear();
        return;
    }
    ex.outcome = Exchange::Outcome::Ok;
}

void BayeuxClient::handshake(Exchange &ex)
{
    cookies_.clear();
    clientId_.clear();
    std::string body = R"([{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0",)"
                       R"("supportedConnectionTypes":["long-polling"],"id":")" +
                       nextId() + R"(","ext":{"replay":true}}])";
    post(*controlHttp_, controlBuffer_, body, ex);
    if (ex.outcome != Exchange::Outcome::Ok)
        return;
    for (const auto &m : ex.batch.meta)
        if (m.channel == "/meta/handshake" && m.successful.value_or(false))
            clientId_ = m.client_id;
}

size_t BayeuxClient::subscribe(std::vector<Subscription> &subs, size_t from, Exchange &ex)
{
    std::string body = "[";
    size_t i = from;
    while (i < subs.size()) {
        std::string id = nextId();
        std::string msg = R"({"channel":"/meta/subscribe","clientId":)";
        decode::appendJsonString(msg, clientId_);
        msg += R"(,"subscription":)";
        decode::appendJsonString(msg, subs[i].channel);
        msg += R"(,"id":")" + id + R"(","ext":{"replay":{)";
        decode::appendJsonString(msg, subs[i].channel);
        msg += ":" + std::to_string(subs[i].replay_id) + "}}}";
        if (i > from && body.size() + msg.size() + 2 > kMaxRequestBytes)
            break;
        if (i > from)
            body += ',';
        body += msg;
        subs[i].message_id = std::move(id);
        ++i;
    }
    body += ']';
    post(*controlHttp_, controlBuffer_, body, ex);
    return i;
}

void BayeuxClient::connect(Exchange &ex)
{
    std::string body = R"([{"channel":"/meta/connect","clientId":)";
    decode::appendJsonString(body, clientId_);
    body += R"(,"connectionType":"long-polling","id":")" + nextId() + "\"}]";
    post(*pollHttp_, pollBuffer_, body, ex);
}

void BayeuxClient::disconnect(bool even_if_stopped)
{
    if (clientId_.empty())
        return;
    std::string body = R"([{"channel":"/meta/disconnect","clientId":)";
    decode::appendJsonString(body, clientId_);
    body += R"(,"id":")" + nextId() + "\"}]";
    Exchange ex;
    // After stop() only on request: saying goodbye is the last thing a
    // stopping session does.
    const bool stopped = even_if_stopped ? stopped_.exchange(false) : false;
    controlHttp_->setTimeouts(std::chrono::seconds(2), std::chrono::seconds(5));
    post(*controlHttp_, controlBuffer_, body, ex);
    controlHttp_->setTimeouts(std::chrono::seconds(10), std::chrono::seconds(60));
    if (stopped)
        stopped_.store(true);
    clientId_.clear();
}

} // namespace sfk::cometd
