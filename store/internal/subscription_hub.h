// SubscriptionHub: the registry behind Subscription. The log's writer
// thread (`tl-writer`) calls Publish() after every synced write;
// subscriptions pull from their live buffer or, when it cannot serve the
// next seq, through the `ReadFn` from disk. See store/subscription.h for
// the hand-over argument.
//
// Thread safety: all methods are thread-safe. Publish() is called by one
// thread (the writer) in seq order.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "core/mutex.h"
#include "store/subscription.h"

namespace touchline::store::internal {

// One committed group, in seq order, shared by every subscriber.
using CommittedBatch = std::shared_ptr<const std::vector<RecordPtr>>;

struct SubscriptionState {
  Mutex mu;
  CondVar cv;
  Seq position GUARDED_BY(mu) = 0;
  std::deque<CommittedBatch> live GUARDED_BY(mu);
  std::size_t live_records GUARDED_BY(mu) = 0;
  bool closed GUARDED_BY(mu) = false;
  std::function<void()> notify GUARDED_BY(mu);
};

class SubscriptionHub {
 public:
  // Reads up to `max` committed records with seq >= `from`, never beyond the
  // published head.
  using ReadFn = std::function<StatusOr<std::vector<RecordPtr>>(Seq from, std::size_t max)>;
  using HeadFn = std::function<Seq()>;

  // `live_buffer_records` bounds each subscription's live buffer; past it the
  // buffer is dropped and the subscriber reads from disk.
  SubscriptionHub(ReadFn read, HeadFn head, std::size_t live_buffer_records);

  std::unique_ptr<Subscription> Subscribe(Seq after);
  void Unsubscribe(const std::shared_ptr<SubscriptionState>& state);

  // Called by the writer thread after a synced write, in seq order.
  void Publish(const CommittedBatch& batch);
  // Wakes every subscriber with Unavailable from now on.
  void Close();

  StatusOr<std::vector<RecordPtr>> Read(SubscriptionState* s, std::size_t max,
                                        std::chrono::milliseconds timeout, bool wait)
      NO_THREAD_SAFETY_ANALYSIS;  // drops s->mu around the disk read

  std::size_t subscriber_count();

 private:
  // Constant after construction
  const ReadFn read_;
  const HeadFn head_;
  const std::size_t live_buffer_records_;

  Mutex mu_;
  std::vector<std::shared_ptr<SubscriptionState>> subs_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace touchline::store::internal
