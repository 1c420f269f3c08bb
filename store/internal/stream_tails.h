// StreamTails: the newest entries of busy customer streams, in memory, so
// that the page every agent opens first (a customer's newest events) is
// found without walking the streams column family.
//
// A tail is a run of consecutive versions of one stream and their seqs:
// versions first .. first+n-1 (at most kMaxEntries, the oldest dropped
// first). The log's writer thread (`tl-writer`) extends a stream's tail
// with every version it commits (after the synced write, before the new
// head is published), and a reader that had to walk the column family for
// a newest page seeds the tail of a stream that has none. Either way a
// tail only ever holds committed entries, in order, with no hole; the
// newest may not be visible yet (seq above the head a reader took), and
// readers drop those.
//
// Thread safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/sharded_lru.h"

namespace touchline::store::internal {

struct StreamTail {
  StreamVersion first = 0;  // the version of seqs[0]
  std::vector<Seq> seqs;    // seqs of versions first, first+1, ...

  StreamVersion last() const { return first + seqs.size() - 1; }
};

class StreamTails {
 public:
  // Entries kept per stream: a newest page of the default size (50), and
  // a second one, fit.
  static constexpr std::size_t kMaxEntries = 128;

  // `capacity_bytes` bounds the tails' memory; 0 disables them.
  explicit StreamTails(std::size_t capacity_bytes) : lru_(capacity_bytes) {}

  bool enabled() const { return lru_.enabled(); }

  // The writer thread is about to Append() the records of a committed group
  // whose last seq is `last_seq`. REQUIRES: called by the writer thread,
  // before those Append() calls and before the group's head is published.
  void BeginGroup(Seq last_seq) { appended_through_.store(last_seq, std::memory_order_release); }
  // The writer thread committed version `version` of `customer` at `seq`.
  // REQUIRES: called in commit order, by one thread.
  void Append(const std::string& customer, StreamVersion version, Seq seq);

  // A reader that took `head` before reading found versions first.. of
  // `customer` with these seqs (oldest first) on disk, the newest of them
  // being the stream's newest at `head`. Kept only if the stream has no
  // tail yet and no group after `head` has been appended since (a tail
  // seeded from an older view would miss those versions; checked under the
  // shard's lock, so the writer thread's next Append() follows the seed).
  void Seed(const std::string& customer, StreamVersion first, std::vector<Seq> seqs, Seq head);

  // A copy of the tail of `customer`, entries with seq above `head`
  // removed; nullopt if there is none (or nothing of it is visible).
  std::optional<StreamTail> Get(const std::string& customer, Seq head);
  // The newest version of `customer` at `head` if its tail knows it, without
  // copying the tail.
  std::optional<StreamVersion> LastVersion(const std::string& customer, Seq head);

  std::size_t usage() { return lru_.usage(); }

 private:
  static std::size_t Charge(const std::string& customer, const StreamTail& t);

  ShardedLru<std::string, StreamTail> lru_;
  std::atomic<Seq> appended_through_{0};
};

}  // namespace touchline::store::internal
