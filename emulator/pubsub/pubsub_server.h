#pragma once
// sfemu's Pub/Sub API (gRPC eventbus.v1.PubSub) listener: its own port, TLS
// by default, served by grpc++'s callback API (one reactor per stream). The
// topics are the org's channel logs, shared with the CometD side.

#include <cstdint>
#include <memory>
#include <string>

namespace sfk::emu {
class Emulator;
}

namespace sfk::emu::pubsub {

struct PubSubOptions {
    bool enabled = true;
    std::string listen = "127.0.0.1:0";
    // Plaintext h2c: only on request and only on a loopback address.
    bool plaintext = false;
    // Given TLS material (PEM files); when empty sfemu makes a CA and a
    // certificate at start and writes them into tls_dir (default: a new
    // directory under $TMPDIR).
    std::string tls_cert;
    std::string tls_key;
    std::string tls_ca;
    std::string tls_dir;
    // An empty FetchResponse with latest_replay_id after this long without
    // a write (Salesforce: 270 s).
    int64_t keepalive_ms = 270000;
    // A Subscribe stream left without credit is closed after this long
    // (Salesforce: 60 s).
    int64_t idle_ms = 60000;
};

class Core;
struct Serving;

class PubSubServer {
public:
    // Binds and starts serving; throws std::runtime_error.
    PubSubServer(Emulator &emulator, const PubSubOptions &options);
    ~PubSubServer();

    // host:port the clients dial.
    const std::string &address() const { return address_; }
    // The CA file clients trust ("" in plaintext mode).
    const std::string &caPath() const { return ca_path_; }
    bool plaintext() const { return plaintext_; }

    void stop();

private:
    Emulator *emulator_ = nullptr;
    std::unique_ptr<Core> core_;
    std::unique_ptr<Serving> serving_;
    std::string address_;
    std::string ca_path_;
    bool plaintext_ = false;
};

} // namespace sfk::emu::pubsub
