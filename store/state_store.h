// StateStore: one projection's slice of the `projections` column family:
// its state keys, its checkpoint (the seq of the last record folded in) and
// its version string, all under the projection's name. State writes and the
// new checkpoint are committed in one WriteBatch, so after a crash the state
// is exactly the fold of records 1..checkpoint (store/key_format.h).
//
// Projection state is derived data: commits skip the WAL (a crash loses the
// commits since the projections column family was last flushed, and the
// runner refolds those records from the log, which is synced before anything
// is published; a clean close flushes). Reset() does use the WAL, so a reset
// is never undone by a crash.
//
// StateReader is the read side that projections and views are written
// against; an in-memory overlay (projections/state_tx.h) implements it too,
// for batches and for time-travel folds that never touch the disk.
//
// Thread safety: every method is thread-safe. Reads see the last commit.
// Lifetime: the EventLog that opened a StateStore must outlive it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace touchline::store {

class StateReader {
 public:
  virtual ~StateReader() = default;
  // The value under `key`, or nullopt. Returns a storage error
  // (Unavailable, DataLoss, Internal) if the read fails.
  virtual StatusOr<std::optional<std::string>> Get(std::string_view key) const = 0;
  // Up to `limit` (key, value) pairs whose key starts with `prefix` and is
  // greater than `after` (pass "" to start at the prefix), in key order.
  virtual StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view prefix, std::string_view after, std::size_t limit) const = 0;
};

// One state change: a put, or a delete when `value` is unset.
struct StateWrite {
  std::string key;
  std::optional<std::string> value;
};

struct StateMeta {
  Seq checkpoint = 0;
  std::string version;  // empty for a projection never run
};

class StateStore : public StateReader {
 public:
  // The checkpoint and version last committed (zero/empty if none).
  virtual StatusOr<StateMeta> ReadMeta() const = 0;
  // Applies `writes` and sets the checkpoint, atomically. Returns
  // FailedPrecondition on a read-only log, Unavailable if the disk refuses.
  virtual Status Commit(const std::vector<StateWrite>& writes, Seq checkpoint) = 0;
  // Applies `writes` through the write-ahead log, fsynced when `sync`, and
  // leaves the checkpoint alone: for state that is not derived from the
  // log and so cannot be refolded after a crash (store/sink_store.h). An
  // unsynced write survives a crash of the process, maybe not one of the
  // machine. Same errors as Commit.
  virtual Status WriteLogged(const std::vector<StateWrite>& writes, bool sync) = 0;
  // Deletes every state key and sets checkpoint 0 and `version`, atomically:
  // the start of a rebuild. Same errors as Commit.
  virtual Status Reset(std::string_view version) = 0;
  // Approximate bytes and keys of this projection's state (for reports).
  virtual std::uint64_t ApproximateBytes() const = 0;
};

}  // namespace touchline::store
