#include "store/internal/stream_tails.h"

#include <algorithm>

namespace touchline::store::internal {

std::size_t StreamTails::Charge(const std::string& customer, const StreamTail& t) {
  // The key twice (list entry and index), the vector, and the bookkeeping.
  return 2 * customer.capacity() + t.seqs.capacity() * sizeof(Seq) + sizeof(StreamTail) + 160;
}

void StreamTails::Append(const std::string& customer, StreamVersion version, Seq seq) {
  if (!enabled()) {
    return;
  }
  bool present = false;
  lru_.Update(customer, [&](StreamTail* t) -> std::optional<std::size_t> {
    if (t == nullptr) {
      return std::nullopt;
    }
    present = true;
    if (t->seqs.empty() || t->last() + 1 != version) {
      // Not the next version (the tail was seeded from an older read, or a
      // failed group's versions were reused): start again from this one.
      t->first = version;
      t->seqs.clear();
    }
    t->seqs.push_back(seq);
    if (t->seqs.size() > kMaxEntries) {
      const std::size_t drop = t->seqs.size() - kMaxEntries / 2;
      t->seqs.erase(t->seqs.begin(), t->seqs.begin() + static_cast<std::ptrdiff_t>(drop));
      t->first += drop;
    }
    return Charge(customer, *t);
  });
  if (!present) {
    StreamTail t;
    t.first = version;
    t.seqs.reserve(8);
    t.seqs.push_back(seq);
    const std::size_t charge = Charge(customer, t);
    lru_.Insert(customer, std::move(t), charge);
  }
}

void StreamTails::Seed(const std::string& customer, StreamVersion first, std::vector<Seq> seqs,
                       Seq head) {
  if (!enabled() || seqs.empty() || first == 0) {
    return;
  }
  if (seqs.size() > kMaxEntries) {
    const std::size_t drop = seqs.size() - kMaxEntries;
    seqs.erase(seqs.begin(), seqs.begin() + static_cast<std::ptrdiff_t>(drop));
    first += drop;
  }
  StreamTail t{first, std::move(seqs)};
  const std::size_t charge = Charge(customer, t);
  lru_.Insert(
      customer, std::move(t), charge,
      [this, head] { return appended_through_.load(std::memory_order_acquire) <= head; },
      /*replace=*/false);
}

std::optional<StreamVersion> StreamTails::LastVersion(const std::string& customer, Seq head) {
  if (!enabled()) {
    return std::nullopt;
  }
  std::optional<StreamVersion> out;
  lru_.Update(customer, [&](StreamTail* t) -> std::optional<std::size_t> {
    if (t == nullptr) {
      return std::nullopt;
    }
    // Seqs grow with versions: the newest visible entry is the last one
    // at or below the head.
    const auto visible = std::upper_bound(t->seqs.begin(), t->seqs.end(), head);
    if (visible != t->seqs.begin()) {
      out = t->first + static_cast<StreamVersion>(visible - t->seqs.begin()) - 1;
    }
    return Charge(customer, *t);
  });
  return out;
}

std::optional<StreamTail> StreamTails::Get(const std::string& customer, Seq head) {
  if (!enabled()) {
    return std::nullopt;
  }
  std::optional<StreamTail> t = lru_.Lookup(customer);
  if (!t.has_value()) {
    return t;
  }
  // Seqs grow with versions: the invisible ones are at the end.
  while (!t->seqs.empty() && t->seqs.back() > head) {
    t->seqs.pop_back();
  }
  if (t->seqs.empty()) {
    return std::nullopt;
  }
  return t;
}

}  // namespace touchline::store::internal
