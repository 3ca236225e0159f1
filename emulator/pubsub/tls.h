#pragma once
// The Pub/Sub listener's TLS material: a throwaway CA and a server
// certificate it signed (SANs localhost, 127.0.0.1, api.pubsub.salesforce.com),
// made at start so clients can trust sfemu by its CA file alone.

#include <string>

namespace sfk::emu::pubsub {

struct TlsMaterial {
    std::string ca_pem;
    std::string cert_pem;
    std::string key_pem;
};

// Generates the CA and the server certificate (EC P-256, valid 30 days).
// Throws std::runtime_error on an OpenSSL failure.
TlsMaterial generateTls();

// Writes ca.pem, cert.pem and key.pem (0600) into dir; returns the CA path.
std::string writeTls(const TlsMaterial &tls, const std::string &dir);

} // namespace sfk::emu::pubsub
