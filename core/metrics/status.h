#pragma once
// GET /status: one JSON document an operator (or `sfkafkad status`) reads
// first. Per org: state and since when, last problem and when, token age; per
// channel: committed replay id, in flight, events in and out, last event
// time, gaps and dead letters. Never a secret: it is built from counters,
// configuration names and log lines, which carry none.

#include <string>

namespace sfk::session {
class Supervisor;
}

namespace sfk::metrics {

// Starts keeping each org's last warning or error (a log observer). Call
// once, at start-up, before sessions run.
void trackProblems();

std::string renderStatus(const session::Supervisor &supervisor);

} // namespace sfk::metrics
