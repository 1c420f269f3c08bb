// SinkReceiver: a local HTTP endpoint for the sink benchmark. It answers
// every request 200 at once and keeps, per event it receives (counted by
// CloudEvents' "specversion" members), how long after its `recordedat`
// extension it arrived. One thread, one connection at a time (touchline's
// sink client opens one per request).
//
// Thread safety: the accessors may be called while it runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace touchline::bench {

class SinkReceiver {
 public:
  SinkReceiver();  // listens on 127.0.0.1, a free port
  ~SinkReceiver();
  SinkReceiver(const SinkReceiver&) = delete;
  SinkReceiver& operator=(const SinkReceiver&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t events() const { return events_.load(); }
  std::uint64_t requests() const { return requests_.load(); }
  // Events received more than once (by their "seq" extension).
  std::uint64_t duplicates() const { return duplicates_.load(); }
  // Each event's delay from recordedat to arrival, in milliseconds.
  std::vector<double> lags_ms() const;

 private:
  void Run();

  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  std::unordered_set<std::uint64_t> seen_;  // the receiver thread's
  mutable std::mutex mu_;
  std::vector<double> lags_ms_;
  std::thread thread_;
};

}  // namespace touchline::bench
