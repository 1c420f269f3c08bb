#include "store/subscription.h"

#include <algorithm>

#include "store/internal/subscription_hub.h"

namespace touchline::store {

Subscription::Subscription(internal::SubscriptionHub* hub,
                           std::shared_ptr<internal::SubscriptionState> state)
    : hub_(hub), state_(std::move(state)) {}

Subscription::~Subscription() { hub_->Unsubscribe(state_); }

StatusOr<std::vector<RecordPtr>> Subscription::Next(std::size_t max,
                                                    std::chrono::milliseconds timeout) {
  return hub_->Read(state_.get(), max, timeout, /*wait=*/true);
}

StatusOr<std::vector<RecordPtr>> Subscription::Poll(std::size_t max) {
  return hub_->Read(state_.get(), max, std::chrono::milliseconds(0), /*wait=*/false);
}

void Subscription::SetNotifier(std::function<void()> notify) {
  MutexLock lock(&state_->mu);
  state_->notify = std::move(notify);
}

Seq Subscription::position() const {
  MutexLock lock(&state_->mu);
  return state_->position;
}

namespace internal {

SubscriptionHub::SubscriptionHub(ReadFn read, HeadFn head, std::size_t live_buffer_records)
    : read_(std::move(read)), head_(std::move(head)), live_buffer_records_(live_buffer_records) {}

std::unique_ptr<Subscription> SubscriptionHub::Subscribe(Seq after) {
  auto state = std::make_shared<SubscriptionState>();
  {
    MutexLock lock(&state->mu);
    state->position = after;
  }
  MutexLock lock(&mu_);
  if (closed_) {
    MutexLock slock(&state->mu);
    state->closed = true;
  }
  subs_.push_back(state);
  return std::unique_ptr<Subscription>(new Subscription(this, std::move(state)));
}

void SubscriptionHub::Unsubscribe(const std::shared_ptr<SubscriptionState>& state) {
  {
    // Notifiers run under the state's lock, so once this returns none is
    // running or will run again.
    MutexLock slock(&state->mu);
    state->notify = nullptr;
  }
  MutexLock lock(&mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), state), subs_.end());
}

std::size_t SubscriptionHub::subscriber_count() {
  MutexLock lock(&mu_);
  return subs_.size();
}

void SubscriptionHub::Publish(const CommittedBatch& batch) {
  if (batch->empty()) {
    return;
  }
  MutexLock lock(&mu_);
  for (const auto& s : subs_) {
    MutexLock slock(&s->mu);
    if (batch->back()->seq <= s->position) {
      continue;  // already read from disk
    }
    if (s->live_records + batch->size() > live_buffer_records_) {
      // Slow consumer: drop what it has not taken; it will read from disk.
      s->live.clear();
      s->live_records = 0;
    }
    if (batch->size() <= live_buffer_records_) {
      s->live.push_back(batch);
      s->live_records += batch->size();
    }
    s->cv.Signal();
    if (s->notify) {
      s->notify();
    }
  }
}

void SubscriptionHub::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  for (const auto& s : subs_) {
    MutexLock slock(&s->mu);
    s->closed = true;
    s->cv.SignalAll();
    if (s->notify) {
      s->notify();
    }
  }
}

StatusOr<std::vector<RecordPtr>> SubscriptionHub::Read(SubscriptionState* s, std::size_t max,
                                                       std::chrono::milliseconds timeout,
                                                       bool wait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<RecordPtr> out;
  if (max == 0) {
    return out;
  }
  MutexLock lock(&s->mu);
  while (true) {
    if (s->closed) {
      return Status::Unavailable("the event log is closed");
    }
    // Drop live batches that are entirely at or below the position.
    while (!s->live.empty() && s->live.front()->back()->seq <= s->position) {
      s->live_records -= s->live.front()->size();
      s->live.pop_front();
    }
    // Serve from the live buffer while it holds exactly the next seq.
    while (!s->live.empty() && out.size() < max) {
      const auto& batch = *s->live.front();
      const Seq first = batch.front()->seq;
      if (first > s->position + 1) {
        break;  // a gap: the missing records come from disk
      }
      // Invariant: first <= position + 1 <= batch.back()->seq (stale batches were dropped).
      size_t i = static_cast<size_t>(s->position + 1 - first);
      for (; i < batch.size() && out.size() < max; ++i) {
        out.push_back(batch[i]);
        s->position = batch[i]->seq;
      }
      if (i == batch.size()) {
        s->live_records -= batch.size();
        s->live.pop_front();
      }
    }
    if (!out.empty()) {
      return out;
    }
    const Seq position = s->position;
    if (position < head_()) {
      // Catch-up from disk. Only this consumer moves `position`, so reading
      // without the lock is safe; the writer thread may push meanwhile.
      s->mu.Unlock();
      auto records = read_(position + 1, max);
      s->mu.Lock();
      if (!records.ok()) {
        return records.status();
      }
      if (!records->empty()) {
        // Invariant: the log is gap-free, so the records are position+1, +2, ...
        s->position = records->back()->seq;
        return std::move(records).value();
      }
    }
    if (!wait || std::chrono::steady_clock::now() >= deadline) {
      return out;
    }
    s->cv.WaitUntil(&s->mu, deadline);
  }
}

}  // namespace internal
}  // namespace touchline::store
