// Subscription: an in-process reader of committed records in seq order,
// starting after a chosen position, that hands over from catch-up (reading
// the log on disk) to live (records pushed by the log's writer thread,
// `tl-writer`, right after each synced write) with no gap and no duplicate.
//
// How: the subscription is registered with the log before it reads anything,
// so every batch committed from then on is also pushed into its bounded live
// buffer. Each read delivers exactly the records position()+1, +2, ...: from
// the live buffer when its next record is the one wanted, otherwise from
// disk. Anything at or below position() is dropped. Because delivery is
// decided by seq alone, an overflowing buffer (a slow consumer) only costs a
// disk read, never a record.
//
// Users: projection runners (blocking Next() on their own thread), WebSocket
// sessions (Poll() plus a notifier that wakes their coroutine), tests.
//
// Thread safety: one consumer at a time calls Next()/Poll(); the notifier
// runs on the writer thread (or the one closing the log) while the
// subscription's lock is held, so it must be quick (e.g. post to an
// executor) and must not call back into this subscription or the log. Once
// the destructor returns, it never runs again.
// Lifetime: the EventLog that created a subscription must outlive it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/record_format.h"

namespace touchline::store {

namespace internal {
struct SubscriptionState;
class SubscriptionHub;
}  // namespace internal

class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Returns up to `max` records following position(), waiting up to
  // `timeout` for the first one; an empty vector means the wait timed out.
  // Returns Unavailable once the log is closed, or a storage error.
  StatusOr<std::vector<RecordPtr>> Next(std::size_t max, std::chrono::milliseconds timeout);

  // As Next() but never waits.
  StatusOr<std::vector<RecordPtr>> Poll(std::size_t max);

  // `notify` is called (on the writer thread) whenever new records may be
  // available, and once when the log closes (on the thread that closes it).
  // Set it before the first Poll().
  void SetNotifier(std::function<void()> notify);

  // The seq of the last record delivered (or the starting position).
  Seq position() const;

 private:
  friend class internal::SubscriptionHub;
  Subscription(internal::SubscriptionHub* hub, std::shared_ptr<internal::SubscriptionState> state);

  internal::SubscriptionHub* const hub_;
  const std::shared_ptr<internal::SubscriptionState> state_;
};

}  // namespace touchline::store
