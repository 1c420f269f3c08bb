// StreamHub: fans committed records out to the WebSocket subscriptions of
// GET /v1/stream, each with its own filter, without waking a subscription
// for records it does not want.
//
// One dispatcher thread holds a single store::Subscription to the log and,
// for every committed record, looks up the feeds that match it: feeds that
// follow customers are indexed by stream and by identity ("type:value"),
// the others (the whole log, optionally narrowed by type and channel) are
// checked one by one. A matching record is appended to the feed's bounded
// queue and the feed's notifier runs (outside the hub lock).
//
// Catch-up, live, and the hand-over. A feed starts at a seq `after`. While
// it is behind the dispatcher, it is not in the index and its consumer
// reads the log itself (Poll() reads the next chunk from disk and filters
// it). Under the hub lock, once its position reaches the dispatcher's, it
// joins the index; from then on the dispatcher delivers every record after
// that position. Delivery is decided by seq alone (anything at or below the
// feed's position is skipped), so there is no gap and no duplicate at the
// hand-over even while appends race with it.
//
// Backpressure. A live feed whose queue is full (its client reads slower
// than events arrive) is taken out of the index and its queue dropped; it
// goes back to catch-up from its last delivered seq. Memory per feed is
// bounded by the queue limit and nothing is lost: a slow client just reads
// from disk until it catches up again.
//
// Customer filters. A customer id given to Subscribe() is resolved through
// the customer view (any identity, profile id or customer id) to its
// profile's streams and identities. A record matches if its stream is one
// of them or if it carries one of the identities (the event that links a
// new stream to the profile); the record's stream and its other identities
// (placeholder values aside) then join the filter, as they join the
// profile in the identity graph.
// A `profile.merged` event the identity graph emits adds the merged
// profile's identities and streams. An id the view does not know (yet)
// follows the stream of that name and, for a "type:value" id, that identity,
// so a subscription can precede the customer's first event. Agents' manual
// merges and unmerges take effect for subscriptions made after them.
//
// Thread safety: every method is thread-safe. A feed has one consumer at a
// time (Poll()). Notifiers run on the dispatcher thread and must be quick.
// Lifetime: the log (and the customer view, if any) must outlive the hub;
// feeds may outlive Stop() (they then only drain what they have).
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "projections/projection_runner.h"
#include "store/event_log.h"

namespace touchline::api {

// What a subscription wants. Customers are resolved by StreamHub.
struct StreamFilter {
  // Empty: the whole log (narrowed by types and channels).
  std::vector<std::string> customers;
  // Event type prefixes by dotted segment ("ticket" keeps "ticket.opened").
  std::vector<std::string> types;
  std::vector<std::string> channels;
};

// How one requested customer id was resolved.
struct ResolvedCustomer {
  std::string id;       // as requested
  std::string profile;  // "p-N", empty if the view does not know it
  std::vector<std::string> streams;
};

class StreamHub;

// One subscription's cursor over the log. Created by StreamHub::Subscribe.
class StreamFeed {
 public:
  struct Batch {
    std::vector<store::RecordPtr> records;  // matching records, in seq order
    // More records may be ready now (the feed is still catching up): poll
    // again without waiting for the notifier.
    bool more = false;
  };

  ~StreamFeed();
  StreamFeed(const StreamFeed&) = delete;
  StreamFeed& operator=(const StreamFeed&) = delete;

  // Up to `max` matching records after position(). Reads the log while
  // catching up (one chunk per call), else takes from the live queue.
  // Returns the log's read errors.
  StatusOr<Batch> Poll(std::size_t max);

  // The last seq this feed has delivered or skipped past.
  Seq position() const;
  const std::vector<ResolvedCustomer>& resolved() const { return resolved_; }

 private:
  friend class StreamHub;
  StreamFeed() = default;

  // Whether `r` matches; a match through an identity adds r's stream.
  // Called by the dispatcher while live, else by the consumer.
  bool Matches(const store::Record& r, std::vector<std::string>* added_keys);

  StreamHub* hub_ = nullptr;
  std::function<void()> notify_;
  std::vector<ResolvedCustomer> resolved_;
  // Constant after construction
  bool whole_log_ = true;
  std::vector<std::string> types_;
  std::vector<std::string> channels_;

  // Index keys: "s\0<stream>" and "i\0<type:value>". Guarded by the hub's
  // mutex while live_, owned by the consumer otherwise.
  std::set<std::string> keys_;

  // Guarded by the hub's mutex.
  bool live_ = false;
  bool registered_ = false;  // in the hub's feed list (not yet unsubscribed)
  Seq position_ = 0;
  Seq offered_ = 0;  // the last record the dispatcher offered this feed
  std::deque<store::RecordPtr> queue_;
};

struct StreamHubOptions {
  // Records a live feed may hold undelivered before it falls back to
  // reading the log.
  std::size_t max_queue_records = 1024;
  // Records read from the log per catch-up Poll().
  std::size_t catch_up_chunk = 512;
};

class StreamHub {
 public:
  // `customers` may be null (customer ids then follow the stream of that
  // name). Both must outlive the hub.
  StreamHub(store::EventLog* log, projections::ProjectionRunner* customers,
            StreamHubOptions options = {});
  ~StreamHub();
  StreamHub(const StreamHub&) = delete;
  StreamHub& operator=(const StreamHub&) = delete;

  // Starts the dispatcher at the log's head.
  void Start();
  // Stops the dispatcher (idempotent). Live feeds keep what they have.
  void Stop();

  // A feed of the records with seq > `after` that match `filter`;
  // `notify` runs (on the dispatcher thread) when records may be ready.
  // Returns InvalidArgument for a malformed customer id, or the view's
  // storage errors.
  StatusOr<std::unique_ptr<StreamFeed>> Subscribe(const StreamFilter& filter, Seq after,
                                                  std::function<void()> notify);

  // The seq the dispatcher has handed out up to.
  Seq dispatched() const;
  std::size_t feed_count() const;

 private:
  friend class StreamFeed;

  void Dispatch();
  void Unsubscribe(StreamFeed* feed);
  void IndexLocked(StreamFeed* feed, const std::string& key) REQUIRES(mu_);
  void UnindexLocked(StreamFeed* feed) REQUIRES(mu_);
  StatusOr<ResolvedCustomer> Resolve(const std::string& id, std::set<std::string>* keys) const;

  // Constant after construction
  store::EventLog* const log_;
  projections::ProjectionRunner* const customers_;
  const StreamHubOptions options_;

  mutable Mutex mu_;
  Seq dispatched_ GUARDED_BY(mu_) = 0;
  std::size_t feeds_ GUARDED_BY(mu_) = 0;
  // Live feeds by key, and live feeds without keys (whole log).
  std::unordered_map<std::string, std::vector<StreamFeed*>> index_ GUARDED_BY(mu_);
  std::vector<StreamFeed*> whole_log_ GUARDED_BY(mu_);

  std::unique_ptr<store::Subscription> subscription_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace touchline::api
