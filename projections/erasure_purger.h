// ErasurePurger: makes an erasure physical. Once a customer.erased event
// is acknowledged its key is destroyed (a tombstone replaces it), but
// RocksDB keeps old values in its files until compaction rewrites them:
// the key itself, and the projections' copies of the person (identities,
// traits) that the folds delete. The purger waits until every projection
// has folded the erasure, then flushes and compacts (EventLog::
// PurgeErased). Requests are coalesced: one purge covers every erasure
// folded before it started. The log remembers how far purges got, so an
// erasure acknowledged just before a crash is purged after the restart.
//
// Thread safety: every method is thread-safe. Lifetime: the log and the
// runners must outlive Stop() (the destructor calls it).
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "projections/projection_runner.h"
#include "store/event_log.h"

namespace touchline::projections {

class ErasurePurger {
 public:
  // A projection that has not folded an erasure after `wait` (faulted, or
  // far behind) does not hold the purge back any longer: what it still
  // holds is purged by the next one.
  ErasurePurger(store::EventLog* log, std::vector<ProjectionRunner*> runners,
                std::chrono::milliseconds wait = std::chrono::seconds(60));
  ~ErasurePurger();
  ErasurePurger(const ErasurePurger&) = delete;
  ErasurePurger& operator=(const ErasurePurger&) = delete;

  // Starts the thread, first asking for a purge if an erasure acknowledged
  // before a restart was never purged. Returns storage errors.
  Status Start();
  // Runs a purge still requested, then stops. Idempotent.
  void Stop();

  // Asks for a purge once the projections have folded `seq`.
  void PurgeAfter(Seq seq);
  // Every erasure at or below this seq has been purged from the files.
  Seq purged_through() const { return purged_.load(std::memory_order_acquire); }
  // The error of the last purge that failed (OK if the last one worked).
  Status last_error() const;

 private:
  void Loop();

  // Constant after construction
  store::EventLog* const log_;
  const std::vector<ProjectionRunner*> runners_;
  const std::chrono::milliseconds wait_;

  mutable Mutex mu_;
  CondVar cv_;
  Seq requested_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  Status last_error_ GUARDED_BY(mu_);
  std::atomic<Seq> purged_{0};
  std::thread thread_;
};

}  // namespace touchline::projections
