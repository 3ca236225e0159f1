// The emulated orgs: built from the configuration, found by name or id,
// their access tokens checked, idle clients and old events swept. OAuth is in
// oauth.cpp, Bayeux in bayeux.cpp, the admin API in admin.cpp.
#include "emulator.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <random>

#include "log/log.h"
#include "results.h"
#include "util.h"

namespace sfk::emu {

namespace {

constexpr std::string_view kModule = "sfemu";

// The public key of a PEM certificate, or the PEM itself when it already is
// a public key. Empty when it cannot be read.
std::string publicKeyPem(const std::string &pem)
{
    if (pem.find("BEGIN CERTIFICATE") == std::string::npos)
        return pem;
    std::string out;
    BIO *in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509 *cert = in ? PEM_read_bio_X509(in, nullptr, nullptr, nullptr) : nullptr;
    EVP_PKEY *key = cert ? X509_get_pubkey(cert) : nullptr;
    BIO *mem = key ? BIO_new(BIO_s_mem()) : nullptr;
    if (mem && PEM_write_bio_PUBKEY(mem, key) == 1) {
        char *data = nullptr;
        long n = BIO_get_mem_data(mem, &data);
        out.assign(data, static_cast<size_t>(n));
    }
    if (mem) BIO_free(mem);
    if (key) EVP_PKEY_free(key);
    if (cert) X509_free(cert);
    if (in) BIO_free(in);
    return out;
}

std::string bearer(const std::string &authorization)
{
    static const std::string prefixes[] = {"Bearer ", "bearer ", "OAuth "};
    for (auto &p : prefixes)
        if (authorization.rfind(p, 0) == 0)
            return authorization.substr(p.size());
    return {};
}

uint64_t channelSeed(const std::string &org_id, const std::string &channel)
{
    uint64_t h = 1469598103934665603ULL;
    for (char c : org_id + channel)
        h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h ^ static_cast<uint64_t>(std::random_device{}());
}

int64_t retentionMs(const Knobs &k, Family f)
{
    switch (f) {
    case Family::Topic: return k.retention_topic_seconds * 1000;
    case Family::Generic: return k.retention_u_seconds * 1000;
    case Family::Event: return k.retention_event_seconds * 1000;
    case Family::Data: return k.retention_data_seconds * 1000;
    }
    return 0;
}

} // namespace

Emulator::Emulator(EmulatorConfig config)
{
    for (auto &oc : config.orgs) {
        auto org = std::make_unique<Org>();
        org->config = std::move(oc);
        for (auto &name : org->config.channels) {
            auto family = channelFamily(name);
            if (!family || org->channels.count(name))
                continue;
            org->channels.emplace(
                name, std::make_unique<ChannelLog>(name, *family,
                                                   retentionMs(org->config.knobs, *family),
                                                   org->config.knobs.retention_max_events,
                                                   channelSeed(org->config.org_id, name)));
        }
        for (auto &app : org->config.apps) {
            if (app.certificate_pem.empty())
                continue;
            std::string key = publicKeyPem(app.certificate_pem);
            if (key.empty())
                log::warn(kModule, "cannot read the certificate of a connected app",
                          {{"org", org->config.name}, {"client_id", app.client_id}});
            else
                org->jwt_keys[app.client_id] = key;
        }
        org->allocations.setLimits(org->config.knobs.limits);
        orgs_.push_back(std::move(org));
    }
}

Emulator::~Emulator() { shutdown(); }

void Emulator::shutdown()
{
    stopping_ = true;
    for (auto &org : orgs_) {
        std::lock_guard lock(org->mutex);
        org->changed.notify_all();
    }
}

Org *Emulator::findOrg(const std::string &name_or_id)
{
    for (auto &org : orgs_)
        if (org->config.name == name_or_id || org->config.org_id == name_or_id ||
            org->config.org_id.substr(0, 15) == name_or_id)
            return org.get();
    return nullptr;
}

std::optional<TokenInfo> Emulator::validToken(const std::string &authorization)
{
    std::string token = bearer(authorization);
    if (token.empty())
        return std::nullopt;
    std::lock_guard lock(tokens_mutex_);
    auto it = tokens_.find(token);
    if (it == tokens_.end() || it->second.revoked || it->second.expires_ms <= nowMs())
        return std::nullopt;
    return it->second;
}

void Emulator::setPubSubAdmin(PubSubAdmin handler)
{
    std::lock_guard lock(pubsub_admin_mutex_);
    pubsub_admin_ = std::move(handler);
}

HttpResult Emulator::adminPubSub(const std::string &org_name, const std::string &method, const std::string &path,
                                 const std::string &body)
{
    Org *org = findOrg(org_name);
    if (!org)
        return adminError(404, "unknown org " + org_name);
    PubSubAdmin handler;
    {
        std::lock_guard lock(pubsub_admin_mutex_);
        handler = pubsub_admin_;
    }
    if (!handler)
        return adminError(404, "the Pub/Sub listener is off (--no-pubsub)");
    return handler(*org, method, path, body);
}

std::optional<TokenInfo> Emulator::accessToken(const std::string &token)
{
    return validToken("Bearer " + token);
}

std::string Emulator::instanceUrl(const std::string &host_header) const
{
    if (!public_url_.empty())
        return public_url_;
    // Only a plain host[:port] (or [v6]:port) is echoed back; anything else
    // falls back to the bound address.
    bool plain = !host_header.empty() && host_header.size() < 256;
    for (char c : host_header)
        plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                          c == '_' || c == ':' || c == '[' || c == ']');
    if (!plain)
        return base_url_;
    size_t scheme_end = base_url_.find("://");
    std::string scheme = scheme_end == std::string::npos ? "http" : base_url_.substr(0, scheme_end);
    return scheme + "://" + host_header;
}

void Emulator::sweep()
{
    int64_t now = steadyMs();
    int64_t wall = nowMs();
    for (auto &org : orgs_) {
        std::lock_guard lock(org->mutex);
        std::vector<std::shared_ptr<Client>> idle;
        for (auto &[id, c] : org->clients)
            if (c->connecting == 0 &&
                now - c->last_seen_steady_ms > org->config.knobs.client_timeout_ms)
                idle.push_back(c);
        for (auto &c : idle) {
            log::info(kModule, "client forgotten after the client timeout",
                      {{"org", org->config.name}, {"client", c->id}});
            endClient(*org, c, "expired");
        }
        for (auto &[name, log] : org->channels)
            log->expire(wall);
    }
}

} // namespace sfk::emu
