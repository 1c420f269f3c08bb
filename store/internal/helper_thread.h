// HelperThread: a second thread the appender shares the CPU-bound part of
// a large commit group with (sealing and hashing its records), so the
// serial path every acknowledgement waits on is shorter when the other
// core has room.
//
// Thread safety: ParallelFor may be called by one thread at a time (the
// appender). The destructor joins the thread.
#pragma once

#include <cstddef>
#include <functional>
#include <thread>

#include "core/mutex.h"

namespace touchline::store::internal {

class HelperThread {
 public:
  HelperThread();
  ~HelperThread();
  HelperThread(const HelperThread&) = delete;
  HelperThread& operator=(const HelperThread&) = delete;

  // Runs fn(i, worker) for every i in [0, n) and returns when all are
  // done: the helper (worker 0) takes the first half, in order, the caller
  // (worker 1) the second. Small jobs run on the caller alone (handing over
  // costs more than it saves).
  using Work = std::function<void(std::size_t i, int worker)>;
  void ParallelFor(std::size_t n, const Work& fn);

 private:
  void Loop();

  Mutex mu_;
  CondVar cv_;
  const Work* job_ GUARDED_BY(mu_) = nullptr;
  std::size_t end_ GUARDED_BY(mu_) = 0;
  bool done_ GUARDED_BY(mu_) = true;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace touchline::store::internal
