// RecordCache: opened records by seq, so that a record read again (a hot
// customer's timeline, a subscriber catching up, a replay of what was just
// written) is neither fetched, decrypted nor decoded again. The log's
// writer thread (`tl-writer`) puts every record it commits here; point
// reads (timelines) put what they had to open; long range reads (replays)
// only take hits, so one scan of the whole log does not push out what
// agents are reading.
//
// Erasure: an opened record holds its customer's identities and data in
// clear, so erasing a customer must leave no such copy here. The writer
// thread calls EraseCustomer() after committing a customer.erased event
// (the key tombstone is then durable, so no later read can open that
// customer's records again). A reader that opened records before the
// erasure and inserts them after it would bring a copy back: every erasure
// bumps an epoch, and Insert() keeps records only if no erasure happened
// since the reader took its epoch() (checked under the shard's lock, so an
// insert either sees the new epoch or lands before the purge that removes
// it).
//
// Thread safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "core/sharded_lru.h"
#include "store/record_format.h"

namespace touchline::store::internal {

class RecordCache {
 public:
  // `capacity_bytes` bounds what the cached records' bytes (and bookkeeping)
  // add up to; 0 disables the cache.
  explicit RecordCache(std::size_t capacity_bytes) : lru_(capacity_bytes) {}

  bool enabled() const { return lru_.enabled(); }
  RecordPtr Lookup(Seq seq) { return lru_.Lookup(seq).value_or(nullptr); }
  // (*out)[i] = the record of seqs[i] if cached (else left as it is).
  void LookupMany(const std::vector<Seq>& seqs, std::vector<RecordPtr>* out) {
    lru_.LookupMany(seqs, out);
  }

  // Take before reading records from the database; pass to Insert().
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // Keeps `record` unless a customer was erased since `epoch`.
  void Insert(const RecordPtr& record, std::uint64_t epoch);

  // Drops every cached record of `customer` and invalidates reads begun
  // before this call (see above).
  void EraseCustomer(std::string_view customer);

  std::size_t usage() { return lru_.usage(); }
  std::uint64_t hits() const { return lru_.hits(); }
  std::uint64_t misses() const { return lru_.misses(); }

  // What a record is charged: its bytes plus the bookkeeping around them.
  static std::size_t Charge(const Record& r);

 private:
  ShardedLru<Seq, RecordPtr> lru_;
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace touchline::store::internal
