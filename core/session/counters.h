#pragma once
// An org session's counters, read by the metrics and status output.

#include <atomic>
#include <cstdint>

namespace sfk::session {

struct ChannelCounters {
    std::atomic<uint64_t> received{0};   // events decoded for this channel
    std::atomic<uint64_t> produced{0};   // handed to Kafka
    std::atomic<uint64_t> delivered{0};  // acknowledged by Kafka
    std::atomic<uint64_t> failed{0};     // failed delivery reports
    std::atomic<uint64_t> duplicates_skipped{0};
    std::atomic<uint64_t> gaps{0};       // invalid replay ids met
    std::atomic<uint64_t> replay_backwards{0};  // a replay id below the previous one, produced
    std::atomic<int64_t> last_event_ms{0};  // wall clock of the last event received (0: none)
    // Dead letters written, by reason (index: DeadLetterReason).
    std::atomic<uint64_t> dead_letters[3] = {0, 0, 0};
};

struct SessionCounters {
    std::atomic<uint64_t> token_requests{0};
    std::atomic<uint64_t> token_failures{0};
    std::atomic<uint64_t> handshakes{0};
    std::atomic<uint64_t> malformed_responses{0};
    std::atomic<uint64_t> reconnects_auth{0};
    std::atomic<uint64_t> reconnects_unknown_client{0};
    std::atomic<uint64_t> reconnects_network{0};
    std::atomic<uint64_t> reconnects_server_error{0};
    std::atomic<uint64_t> reconnects_malformed{0};
    std::atomic<uint64_t> reconnects_delivery_failure{0};
    // Pub/Sub: a stream Salesforce closed because it held no credit for too
    // long (Kafka back-pressure), and a stream silent past the keepalive
    // interval that the watchdog cancelled.
    std::atomic<uint64_t> reconnects_credit_idle{0};
    std::atomic<uint64_t> reconnects_stalled{0};
    // Pub/Sub: keepalives whose latest_replay_id became a quiet channel's
    // committed position, and GetSchema calls.
    std::atomic<uint64_t> keepalive_positions{0};
    std::atomic<uint64_t> schema_fetches{0};
    std::atomic<uint64_t> subscribe_retries{0};   // transient subscribe failures
    std::atomic<uint64_t> retry_waits{0};         // backoff sleeps before a new handshake
    // Waits for the process-wide pacing (pacing.*), and their total length.
    std::atomic<uint64_t> paced_logins{0};
    std::atomic<uint64_t> paced_handshakes{0};
    std::atomic<uint64_t> paced_wait_ms{0};
};

} // namespace sfk::session
