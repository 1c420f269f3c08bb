// ProjectionRunner: keeps one Projection folded up to the head of the log.
//
// It owns a thread that reads committed records in seq order (a
// store::Subscription: catch-up from the checkpoint, then live), folds them
// in batches through a StateTx, and commits each batch's state together with
// the batch's last seq as the new checkpoint (one WriteBatch, without the
// WAL: the state is derived, and after a crash the runner refolds from the
// last checkpoint that reached the disk; store/state_store.h).
//
// Start-up: a stored version different from Projection::Version() (or no
// state at all) resets the state and rebuilds from seq 0. Events the
// projection emitted but had not appended yet (the outbox, committed with
// the state under "~outbox/") are appended again; their ids make that safe.
//
// Faults: if Apply() fails, the records before the failing one are
// committed, the projection is marked faulted with the seq and the error,
// and it stops advancing; the server and other projections carry on.
// RequestRebuild() (POST /v1/projections/NAME/rebuild) or a restart
// retries. Waiters are answered with FailedPrecondition meanwhile.
//
// Read-your-writes: WaitFor(seq) calls back once the checkpoint reaches seq.
// In the HTTP API a read of one customer waits for the newest write that
// touched that customer (store::EventLog::LastTouch; AfterCustomer in
// api/customer_handlers.cc), other reads for the head the log had when
// they arrived, so a GET after an acknowledged POST reflects it.
//
// Offline use (tlctl rebuild): CatchUp() folds synchronously on the calling
// thread up to the head, without starting the thread or emitting events.
//
// Thread safety: all public methods are thread-safe. Callbacks passed to
// WaitFor run on the runner thread (or the caller's, when already
// satisfied) and must be quick: post real work elsewhere.
// Lifetime: `log` must outlive the runner; Stop() (or the destructor) joins
// the thread and fails outstanding waiters with Unavailable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "projections/projection.h"
#include "store/event_log.h"

namespace touchline::projections {

struct RunnerOptions {
  // Records folded per committed batch.
  std::size_t max_batch = 4096;
  // Records folded per committed batch by CatchUp() (a rebuild: bigger
  // batches write each piece of state fewer times), read ahead by a
  // second thread.
  std::size_t catch_up_batch = 32768;
  // How long the thread waits for new records before checking deadlines.
  std::chrono::milliseconds poll_interval{20};
};

struct ProjectionStatus {
  std::string name;
  std::string version;
  std::string state;  // "running", "rebuilding", "faulted" or "stopped"
  Seq checkpoint = 0;
  Seq head = 0;  // the log's head when the status was taken
  Seq fault_seq = 0;
  std::string fault;  // the error, when faulted
  // While rebuilding: the head when the rebuild started, and events per
  // second since then.
  Seq rebuild_target = 0;
  double events_per_second = 0;
};

class ProjectionRunner {
 public:
  using WaitCallback = std::function<void(Status)>;
  // Progress of CatchUp(): events folded so far, and the target head.
  using ProgressCallback = std::function<void(Seq done, Seq target)>;

  // Opens the projection's state. Returns the store's errors.
  static StatusOr<std::unique_ptr<ProjectionRunner>> Create(store::EventLog* log,
                                                            std::unique_ptr<Projection> projection,
                                                            RunnerOptions options = {});
  ~ProjectionRunner();
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  // Checks the version (resetting on a mismatch), re-emits the outbox, and
  // starts the thread. Returns storage errors.
  Status Start();
  // Stops the thread (idempotent). Waiters get Unavailable.
  void Stop();

  // Folds every record up to the head on the calling thread (no thread, no
  // emission), resetting first if `rebuild` or the version changed.
  // REQUIRES: not started. Returns the fault if the projection fails.
  Status CatchUp(bool rebuild, const ProgressCallback& progress);

  // Calls `done` with OK once the checkpoint is >= seq, FailedPrecondition
  // while faulted, Unavailable on timeout or stop.
  void WaitFor(Seq seq, std::chrono::milliseconds timeout, WaitCallback done);

  // Asks the thread to reset the state and fold again from seq 0. Readers
  // wait (bounded) until it is done.
  void RequestRebuild();

  // Cheap: /readyz asks on every probe.
  ProjectionStatus status() const;
  // Approximate size of the state on disk and in memtables (asks RocksDB).
  std::uint64_t state_bytes() const { return store_->ApproximateBytes(); }
  Seq checkpoint() const { return checkpoint_.load(std::memory_order_acquire); }
  std::string_view name() const { return projection_->Name(); }
  // The committed state (what views read).
  const store::StateReader& state() const { return *store_; }

 private:
  struct Waiter {
    Seq seq;
    std::chrono::steady_clock::time_point deadline;
    WaitCallback done;
  };

  ProjectionRunner(store::EventLog* log, std::unique_ptr<Projection> projection,
                   std::unique_ptr<store::StateStore> store, RunnerOptions options);

  Status PrepareVersion(bool force_reset);
  void Loop();
  // Folds `records` and commits; on a fault commits the good prefix and
  // records the fault. Returns the commit error, if any.
  Status FoldBatch(const std::vector<store::RecordPtr>& records, bool emit);
  Status Commit(StateTx* tx, Seq checkpoint, bool emit);
  void EmitOutbox(std::vector<std::pair<std::string, Event>> entries);
  void SetFault(Seq seq, const Status& error);
  // Answers the waiters that are satisfied, faulted or past their deadline.
  void ServeWaiters(bool stopping);

  // Constant after construction
  store::EventLog* const log_;
  const std::unique_ptr<Projection> projection_;
  const std::unique_ptr<store::StateStore> store_;
  const RunnerOptions options_;

  std::atomic<Seq> checkpoint_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> rebuild_requested_{false};
  std::thread thread_;
  std::uint64_t outbox_counter_ = 0;  // runner thread only

  mutable Mutex mu_;
  std::vector<Waiter> waiters_ GUARDED_BY(mu_);
  bool faulted_ GUARDED_BY(mu_) = false;
  bool running_ GUARDED_BY(mu_) = false;
  Seq fault_seq_ GUARDED_BY(mu_) = 0;
  std::string fault_ GUARDED_BY(mu_);
  Seq rebuild_target_ GUARDED_BY(mu_) = 0;
  Seq rebuild_from_ GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point rebuild_started_ GUARDED_BY(mu_);
  // Outbox keys whose events the log has accepted; deleted with the next
  // commit.
  std::vector<std::string> outbox_done_ GUARDED_BY(mu_);
  // Appends of emitted events still in flight: their callbacks use this
  // runner, so Stop() waits for them.
  int emitting_ GUARDED_BY(mu_) = 0;
  CondVar emitted_cv_;
};

}  // namespace touchline::projections
