#include "store/internal/touch_index.h"

#include <algorithm>

#include "core/identity.h"

namespace touchline::store::internal {
namespace {

// FNV-1a, 64 bits: keys are short, and a collision only makes a read wait
// a little longer.
constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t Fnv(std::uint64_t h, std::string_view s) {
  for (const unsigned char c : s) {
    h = (h ^ c) * kFnvPrime;
  }
  return h;
}

}  // namespace

std::uint64_t TouchIndex::KeyHash(std::string_view type, std::string_view value) {
  return Fnv(Fnv(Fnv(kFnvOffset, type), ":"), value);
}

void TouchIndex::Touch(std::uint64_t key_hash, Seq seq) {
  last_[key_hash] = seq;
  order_.emplace_back(seq, key_hash);
}

void TouchIndex::Record(const store::Record& record) {
  if (window_ == 0) {
    return;
  }
  MutexLock lock(&mu_);
  Touch(KeyHash(kCustomerIdentityType, record.customer), record.seq);
  for (const auto& i : record.identities) {
    Touch(KeyHash(i.type, i.value), record.seq);
  }
  if (record.type.starts_with("profile.")) {
    newest_profile_change_ = record.seq;
  }
  // Forget the records that left the window.
  const Seq keep_from = record.seq >= window_ ? record.seq - window_ + 1 : 1;
  while (!order_.empty() && order_.front().first < keep_from) {
    const auto [seq, h] = order_.front();
    order_.pop_front();
    if (auto it = last_.find(h); it != last_.end() && it->second == seq) {
      last_.erase(it);
    }
    forgotten_ = std::max(forgotten_, seq);
  }
}

Seq TouchIndex::LastTouch(const std::vector<std::string>& keys) const {
  MutexLock lock(&mu_);
  // Anything not remembered may have touched the keys.
  Seq newest = std::max(forgotten_, newest_profile_change_);
  for (const auto& key : keys) {
    if (auto it = last_.find(Fnv(kFnvOffset, key)); it != last_.end()) {
      newest = std::max(newest, it->second);
    }
  }
  return newest;
}

}  // namespace touchline::store::internal
