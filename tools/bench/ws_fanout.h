// The WebSocket side of touchline_bench's ws_fanout workload: many
// subscriber connections to GET /v1/stream on one io thread (Beast), each
// recording, for every event it receives, the delay from the event's
// recorded_at (stamped by the server as it commits the event; the bench runs
// on the same machine, so the clocks agree) to its arrival.
//
// Thread safety: Open() and Stop() from one thread; the connections run on
// the fanout's own thread in between. Results are read after Stop().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace touchline::bench {

struct FanoutStats {
  std::size_t events = 0;                   // events received, all connections
  std::vector<std::size_t> per_connection;  // events received, in Open() order
  std::size_t out_of_order = 0;             // events whose seq was not above the previous one's
  std::vector<double> latencies_ms;         // one per event
  std::size_t errors = 0;                   // connections that failed or closed
  std::string first_error;
};

class WsFanout {
 public:
  WsFanout();
  ~WsFanout();
  WsFanout(const WsFanout&) = delete;
  WsFanout& operator=(const WsFanout&) = delete;

  // Opens one connection per subscribe command, sends it and waits (up to
  // 60 s) until every subscription is confirmed. Returns Unavailable naming
  // the first failure.
  Status Open(std::uint16_t port, const std::vector<std::string>& subscribe_commands);
  // Events received so far (any thread).
  std::size_t events() const;
  // Closes every connection and returns what they saw.
  FanoutStats Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace touchline::bench
