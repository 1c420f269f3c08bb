// Projection: a deterministic fold of the event log into a read model.
//
// A projection sees every committed record once, in seq order, through
// Apply(). It reads and writes its state only through the StateTx it is
// given, so the same code folds live (ProjectionRunner, batches committed
// with their checkpoint), from scratch (rebuild) and in memory (time travel,
// tests). It must be a pure function of the records it has been given: the
// same records always produce byte-identical state, whatever the batching.
// That is what makes `tlctl rebuild` safe and is tested per projection.
//
// A projection may emit events (StateTx::Emit), e.g. `profile.merged` when
// it links two profiles. Emitted events go to an outbox committed with the
// state and are then appended to the log with deterministic ids, so a
// rebuild re-emits the same ids and the log ignores them as retries.
//
// Thread safety: a projection instance is used by one thread at a time.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "projections/state_tx.h"
#include "store/record_format.h"

namespace touchline::projections {

class Projection {
 public:
  virtual ~Projection() = default;

  // A dotted lower-case name, unique per server ("customers").
  virtual std::string_view Name() const = 0;

  // Changes whenever the fold or the state format changes, or options that
  // change the result (e.g. identity limits): a stored state with another
  // version is rebuilt from seq 0 at start-up.
  virtual std::string Version() const = 0;

  // Folds `record` into the state behind `tx`. An error marks the
  // projection faulted at this record (nothing of it is committed).
  virtual Status Apply(const store::Record& record, StateTx* tx) = 0;

  // Called before `tx` is committed: write back anything cached. A cache
  // may outlive the batch only if every change goes through it.
  virtual Status Flush(StateTx* /*tx*/) { return Status::Ok(); }

  // Called when an uncommitted batch is thrown away or the state is reset:
  // forget caches.
  virtual void Discard() {}
};

}  // namespace touchline::projections
