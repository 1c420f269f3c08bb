// TouchIndex: which recent records touched a customer, so that a read can
// wait for exactly the writes that concern it (read-your-writes per
// customer) instead of for everything written before it arrived.
//
// A record touches the identity "customer:<its stream>" and each of its
// identities ("type:value", core/identity.h): the keys the customer view's
// identity graph links people by. The log's writer thread (`tl-writer`)
// records every committed record's keys (after the synced write, before
// it moves the head), and LastTouch() answers the newest seq that touched
// any of the given keys (for a group being published, that seq may be just
// above the head for a moment; it is written, and becomes visible next).
//
// Bounded: only the last `window` records are remembered, by a 64-bit hash
// of each key. So LastTouch() may overestimate (a hash collision, or a key
// last touched before the window, reported as the newest seq that left the
// window) but never underestimates: waiting for its answer is always
// enough. Records whose type starts with "profile." (an agent merging or
// splitting profiles by id) may change any profile: LastTouch() is never
// below the newest of them.
//
// Thread safety: Record() is called by one thread (the writer); every
// method is thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/mutex.h"
#include "store/record_format.h"

namespace touchline::store::internal {

class TouchIndex {
 public:
  // `head`: the log's head at open. Records up to it were written before
  // this index existed, so any of them may have touched any key.
  TouchIndex(std::size_t window, Seq head) : window_(window), forgotten_(head) {}

  // Remembers the keys of `record`, committed with this seq.
  void Record(const store::Record& record);

  // The newest seq that touched one of `keys` (see above); 0 if none.
  Seq LastTouch(const std::vector<std::string>& keys) const;

  static std::uint64_t KeyHash(std::string_view type, std::string_view value);

 private:
  void Touch(std::uint64_t key_hash, Seq seq) REQUIRES(mu_);

  // Constant after construction
  const std::size_t window_;

  mutable Mutex mu_;
  std::unordered_map<std::uint64_t, Seq> last_ GUARDED_BY(mu_);
  // (seq, key hash) of every remembered touch, oldest first.
  std::deque<std::pair<Seq, std::uint64_t>> order_ GUARDED_BY(mu_);
  // The newest seq not remembered (written before open, or forgotten).
  Seq forgotten_ GUARDED_BY(mu_);
  Seq newest_profile_change_ GUARDED_BY(mu_) = 0;
};

}  // namespace touchline::store::internal
