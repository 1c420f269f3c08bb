// AccessLog: the read half of the access audit trail. Every read of
// customer data the API serves (Response::accessed, set by the handlers;
// WebSocket subscriptions) is recorded here with its actor, route, time and
// customer streams, and appended to the log in batches as `audit.access`
// events on the stream "~access" (format and the projection that indexes
// them: projections/audit_projection.h). Writes need no record here: every
// record already names its actor and route.
//
// Batching: entries are appended every `interval` (or once `max_pending`
// wait), many per event, one synced append per batch, so reads never wait
// for an fsync. The price: a crash loses the records of reads served in
// the last interval that were not appended yet (at most `interval`, 100 ms
// by default, plus one append). If the log cannot take them (a full disk),
// they are kept and retried, up to `max_pending`; past that new records
// are dropped and counted (touchline_access_records_dropped_total).
//
// Thread safety: Record() may be called from any thread. Lifetime: `log`
// must outlive Stop() (the destructor calls it).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "store/event_log.h"

namespace touchline::api {

class AccessLog {
 public:
  AccessLog(store::EventLog* log, const Clock* clock,
            std::chrono::milliseconds interval = std::chrono::milliseconds(100),
            std::size_t max_pending = 100000);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Starts the appending thread.
  void Start();
  // Appends what is pending and stops the thread. Idempotent.
  void Stop();

  // Records that `actor` read `customers` (stream ids; "*" for the whole
  // log) through `route` now. At most 100 customers are kept per entry.
  void Record(std::string actor, std::string route, std::vector<std::string> customers);

 private:
  struct Entry {
    std::int64_t at_us;
    std::string actor;
    std::string route;
    std::vector<std::string> customers;
  };

  void Loop();
  // Appends `batch`; returns false if the log refused it.
  bool Append(const std::vector<Entry>& batch);

  // Constant after construction
  store::EventLog* const log_;
  const Clock* const clock_;
  const std::chrono::milliseconds interval_;
  const std::size_t max_pending_;

  Mutex mu_;
  CondVar cv_;
  std::vector<Entry> pending_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace touchline::api
