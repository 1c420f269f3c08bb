#include "projections/erasure_purger.h"

#include <pthread.h>

namespace touchline::projections {

ErasurePurger::ErasurePurger(store::EventLog* log, std::vector<ProjectionRunner*> runners,
                             std::chrono::milliseconds wait)
    : log_(log), runners_(std::move(runners)), wait_(wait) {}

ErasurePurger::~ErasurePurger() { Stop(); }

Status ErasurePurger::Start() {
  // An erasure acknowledged before a crash may not have been purged yet.
  ASSIGN_OR_RETURN(const Seq done, log_->PurgedThrough());
  ASSIGN_OR_RETURN(const Seq newest, log_->NewestErasure());
  purged_.store(done, std::memory_order_release);
  if (newest > done) {
    PurgeAfter(newest);
  }
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Loop(); });
  }
  return Status::Ok();
}

void ErasurePurger::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ErasurePurger::PurgeAfter(Seq seq) {
  MutexLock lock(&mu_);
  requested_ = std::max(requested_, seq);
  cv_.Signal();
}

Status ErasurePurger::last_error() const {
  MutexLock lock(&mu_);
  return last_error_;
}

void ErasurePurger::Loop() {
  pthread_setname_np(pthread_self(), "tl-purge");
  while (true) {
    Seq target = 0;
    {
      MutexLock lock(&mu_);
      while (requested_ <= purged_through() && !stop_) {
        cv_.Wait(&mu_);
      }
      if (requested_ <= purged_through()) {
        return;  // stopping, nothing left to purge
      }
      target = requested_;
    }
    // The folds delete their copies of the person; wait for them (polling
    // is fine at this rate: erasures are rare).
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    for (ProjectionRunner* r : runners_) {
      while (r->checkpoint() < target && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    Status s = log_->PurgeErased(target);
    MutexLock lock(&mu_);
    last_error_ = s;
    if (s.ok()) {
      purged_.store(target, std::memory_order_release);
    } else if (stop_) {
      return;  // the log is closing; the next start purges again
    } else {
      cv_.WaitUntil(&mu_, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    }
  }
}

}  // namespace touchline::projections
