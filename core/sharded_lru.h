// ShardedLru<Key, Value>: a bounded cache of values charged in bytes, split
// into shards that each have their own lock so readers on different threads
// rarely meet. Eviction is CLOCK ("second chance"), an approximation of
// least recently used: a hit only marks its entry, and the entry at the
// cold end is evicted unless marked (then it is unmarked and moved to the
// hot end), so a hit costs a lookup and no list surgery. The caches of the
// read path are built on it (store/internal/record_cache.h,
// store/internal/stream_tails.h, the projection state's read cache).
//
// The capacity is in the caller's unit (bytes, by convention); each entry
// is charged what Insert() is told. A capacity of 0 disables the cache:
// nothing is kept and every Lookup misses.
//
// Thread safety: every method is thread-safe. Values are copied out under
// the shard's lock, so Value should be cheap to copy (a shared_ptr).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/mutex.h"

namespace touchline {

template <class Key, class Value, class Hash = std::hash<Key>>
class ShardedLru {
 public:
  static constexpr std::size_t kShards = 16;

  explicit ShardedLru(std::size_t capacity) : per_shard_(capacity / kShards) {}
  ShardedLru(const ShardedLru&) = delete;
  ShardedLru& operator=(const ShardedLru&) = delete;

  bool enabled() const { return per_shard_ > 0; }

  // The value under `key` (marked as used); nullopt if absent.
  std::optional<Value> Lookup(const Key& key) {
    Shard& s = ShardFor(key);
    MutexLock lock(&s.mu);
    auto it = s.index.find(key);
    if (it == s.index.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    it->second->referenced = true;
    hits_.fetch_add(1, std::memory_order_relaxed);
    return it->second->value;
  }

  // Lookup() of every key, taking each shard's lock once: (*out)[i] is the
  // value of keys[i], or left as it is when absent.
  void LookupMany(const std::vector<Key>& keys, std::vector<Value>* out) {
    std::array<std::vector<std::size_t>, kShards> by_shard;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      by_shard[Hash{}(keys[i]) % kShards].push_back(i);
    }
    std::uint64_t hits = 0;
    for (std::size_t sh = 0; sh < kShards; ++sh) {
      if (by_shard[sh].empty()) {
        continue;
      }
      Shard& s = shards_[sh];
      MutexLock lock(&s.mu);
      for (const std::size_t i : by_shard[sh]) {
        auto it = s.index.find(keys[i]);
        if (it != s.index.end()) {
          it->second->referenced = true;
          (*out)[i] = it->second->value;
          ++hits;
        }
      }
    }
    hits_.fetch_add(hits, std::memory_order_relaxed);
    misses_.fetch_add(keys.size() - hits, std::memory_order_relaxed);
  }

  // Keeps `value` under `key`, charged `charge`, unless `admit` (called
  // under the shard's lock) says no, or the key is present and `replace`
  // is false. Evicts the least recently used entries of the shard to make
  // room; a value bigger than a shard's share is not kept.
  void Insert(const Key& key, Value value, std::size_t charge,
              const std::function<bool()>& admit = nullptr, bool replace = true) {
    if (charge > per_shard_) {
      return;
    }
    Shard& s = ShardFor(key);
    MutexLock lock(&s.mu);
    if (admit && !admit()) {
      return;
    }
    if (auto it = s.index.find(key); it != s.index.end()) {
      if (!replace) {
        return;
      }
      RemoveLocked(&s, it->second);
    }
    // CLOCK: a marked entry at the cold end gets a second chance. Each
    // pass unmarks what it skips, so this ends.
    while (s.usage + charge > per_shard_ && !s.order.empty()) {
      auto cold = std::prev(s.order.end());
      if (cold->referenced) {
        cold->referenced = false;
        s.order.splice(s.order.begin(), s.order, cold);
        continue;
      }
      RemoveLocked(&s, cold);
    }
    s.order.push_front(Entry{key, std::move(value), charge, false});
    s.index.emplace(key, s.order.begin());
    s.usage += charge;
  }

  // Applies `fn(value*)` to the entry under `key` under its shard's lock
  // (value null if absent); fn returns the entry's new charge, or nullopt
  // to drop it. Used to update or read an entry in place (a read does not
  // mark it used).
  void Update(const Key& key, const std::function<std::optional<std::size_t>(Value*)>& fn) {
    Shard& s = ShardFor(key);
    MutexLock lock(&s.mu);
    auto it = s.index.find(key);
    Value* v = it == s.index.end() ? nullptr : &it->second->value;
    const std::optional<std::size_t> charge = fn(v);
    if (v == nullptr) {
      return;
    }
    if (!charge.has_value()) {
      RemoveLocked(&s, it->second);
      return;
    }
    s.usage = s.usage - it->second->charge + *charge;
    it->second->charge = *charge;
  }

  // Drops every entry for which `pred(key, value)` holds.
  void EraseIf(const std::function<bool(const Key&, const Value&)>& pred) {
    for (Shard& s : shards_) {
      MutexLock lock(&s.mu);
      for (auto it = s.order.begin(); it != s.order.end();) {
        auto next = std::next(it);
        if (pred(it->key, it->value)) {
          RemoveLocked(&s, it);
        }
        it = next;
      }
    }
  }

  void Erase(const Key& key) {
    Shard& s = ShardFor(key);
    MutexLock lock(&s.mu);
    if (auto it = s.index.find(key); it != s.index.end()) {
      RemoveLocked(&s, it->second);
    }
  }

  std::size_t usage() {
    std::size_t total = 0;
    for (Shard& s : shards_) {
      MutexLock lock(&s.mu);
      total += s.usage;
    }
    return total;
  }
  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    Key key;
    Value value;
    std::size_t charge;
    bool referenced;  // hit since it last reached the cold end
  };
  using List = std::list<Entry>;
  struct Shard {
    Mutex mu;
    List order GUARDED_BY(mu);  // most recently used first
    std::unordered_map<Key, typename List::iterator, Hash> index GUARDED_BY(mu);
    std::size_t usage GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(const Key& key) { return shards_[Hash{}(key) % kShards]; }
  static void RemoveLocked(Shard* s, typename List::iterator it) REQUIRES(s->mu) {
    s->usage -= it->charge;
    s->index.erase(it->key);
    s->order.erase(it);
  }

  // Constant after construction
  const std::size_t per_shard_;

  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace touchline
