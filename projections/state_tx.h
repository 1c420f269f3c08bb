// StateTx: a batch of state changes over a StateReader. Reads see the batch's
// own writes first, then the base (the committed state). Projections write
// through it; the runner commits its writes with the new checkpoint in one
// WriteBatch. Reads of the base are cached for the life of the batch (the
// base must not change underneath it). With no base it is a self-contained
// in-memory state, used by
// time-travel folds and tests.
//
// Thread safety: none; one thread at a time.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "store/state_store.h"

namespace touchline::projections {

class StateTx final : public store::StateReader {
 public:
  // `base` (may be null) must outlive the transaction.
  explicit StateTx(const store::StateReader* base = nullptr) : base_(base) {}

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix,
                                                                  std::string_view after,
                                                                  std::size_t limit) const override;

  void Put(std::string_view key, std::string value);
  void Delete(std::string_view key);
  // Queues an event to append to the log after this batch commits. It must
  // have an id that is the same whenever the same records are folded.
  void Emit(Event event) { emitted_.push_back(std::move(event)); }

  // Moves the batch's writes out, in key order (the batch is then empty of
  // writes). Clear() empties the whole batch.
  std::vector<store::StateWrite> TakeWrites();
  const std::vector<Event>& emitted() const { return emitted_; }
  bool empty() const { return writes_.empty() && emitted_.empty(); }
  void Clear();

 private:
  const store::StateReader* const base_;
  std::map<std::string, std::optional<std::string>, std::less<>> writes_;
  // Values read from the base during this batch: a fold reads the same
  // keys (identities, profiles) over and over.
  mutable std::map<std::string, std::optional<std::string>, std::less<>> reads_;
  std::vector<Event> emitted_;
};

}  // namespace touchline::projections
