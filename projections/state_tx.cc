#include "projections/state_tx.h"

namespace touchline::projections {

StatusOr<std::optional<std::string>> StateTx::Get(std::string_view key) const {
  if (auto it = writes_.find(key); it != writes_.end()) {
    return it->second;
  }
  if (base_ == nullptr) {
    return std::optional<std::string>();
  }
  if (auto it = reads_.find(key); it != reads_.end()) {
    return it->second;
  }
  ASSIGN_OR_RETURN(auto value, base_->Get(key));
  reads_.emplace(std::string(key), value);
  return value;
}

StatusOr<std::vector<std::pair<std::string, std::string>>> StateTx::Scan(std::string_view prefix,
                                                                         std::string_view after,
                                                                         std::size_t limit) const {
  // Merge the base's keys with the batch's, the batch winning. The base is
  // asked for enough keys to fill the page even if the batch deleted some.
  std::vector<std::pair<std::string, std::string>> base;
  if (base_ != nullptr) {
    std::size_t deletes = 0;
    for (auto it = writes_.lower_bound(prefix);
         it != writes_.end() && it->first.starts_with(prefix); ++it) {
      deletes += it->second.has_value() ? 0 : 1;
    }
    ASSIGN_OR_RETURN(base, base_->Scan(prefix, after, limit + deletes));
  }
  std::vector<std::pair<std::string, std::string>> out;
  auto w =
      after.empty() || after < prefix ? writes_.lower_bound(prefix) : writes_.upper_bound(after);
  std::size_t b = 0;
  while (out.size() < limit) {
    const bool w_ok = w != writes_.end() && w->first.starts_with(prefix);
    const bool b_ok = b < base.size();
    if (!w_ok && !b_ok) {
      break;
    }
    if (w_ok && (!b_ok || w->first <= base[b].first)) {
      if (b_ok && w->first == base[b].first) {
        ++b;  // overridden by the batch
      }
      if (w->second.has_value()) {
        out.emplace_back(w->first, *w->second);
      }
      ++w;
    } else {
      out.push_back(std::move(base[b++]));
    }
  }
  return out;
}

void StateTx::Put(std::string_view key, std::string value) {
  writes_.insert_or_assign(std::string(key), std::optional<std::string>(std::move(value)));
}

void StateTx::Delete(std::string_view key) {
  if (base_ == nullptr) {
    writes_.erase(std::string(key));  // nothing underneath to hide
    return;
  }
  writes_.insert_or_assign(std::string(key), std::optional<std::string>());
}

std::vector<store::StateWrite> StateTx::TakeWrites() {
  std::vector<store::StateWrite> out;
  out.reserve(writes_.size());
  while (!writes_.empty()) {
    auto node = writes_.extract(writes_.begin());
    out.push_back(store::StateWrite{std::move(node.key()), std::move(node.mapped())});
  }
  return out;
}

void StateTx::Clear() {
  writes_.clear();
  reads_.clear();
  emitted_.clear();
}

}  // namespace touchline::projections
