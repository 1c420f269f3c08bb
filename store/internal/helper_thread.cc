#include "store/internal/helper_thread.h"

#include <pthread.h>

namespace touchline::store::internal {
namespace {

constexpr std::size_t kMinParallel = 64;

}  // namespace

HelperThread::HelperThread() : thread_([this] { Loop(); }) {}

HelperThread::~HelperThread() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  thread_.join();
}

void HelperThread::ParallelFor(std::size_t n, const Work& fn) {
  if (n < kMinParallel) {
    for (std::size_t i = 0; i < n; ++i) {
      fn(i, 1);
    }
    return;
  }
  const std::size_t half = n / 2;
  {
    MutexLock lock(&mu_);
    job_ = &fn;
    end_ = half;
    done_ = false;
    cv_.SignalAll();
  }
  for (std::size_t i = half; i < n; ++i) {
    fn(i, 1);
  }
  MutexLock lock(&mu_);
  while (!done_) {
    cv_.Wait(&mu_);
  }
  job_ = nullptr;
}

void HelperThread::Loop() {
  pthread_setname_np(pthread_self(), "tl-append-help");
  mu_.Lock();
  while (true) {
    while ((job_ == nullptr || done_) && !stop_) {
      cv_.Wait(&mu_);
    }
    if (stop_) {
      break;
    }
    const auto* job = job_;
    const std::size_t end = end_;
    mu_.Unlock();
    for (std::size_t i = 0; i < end; ++i) {
      (*job)(i, 0);
    }
    mu_.Lock();
    done_ = true;
    cv_.SignalAll();
  }
  mu_.Unlock();
}

}  // namespace touchline::store::internal
