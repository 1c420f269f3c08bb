// AuditProjection ("audit"): who wrote or read each customer's data, and
// what each actor did, newest first. Compliance asks both questions; the
// answers come from the log itself, so they are as tamper-evident as the
// events (every entry below is folded from a record the Merkle tree
// covers).
//
// Writes: every record is a write by its `actor` through its `route`
// (store/record_format.h), at its recorded_at, to its customer.
// Reads: the API records every read of customer data (a view, a timeline, a
// lookup, a search, a customer's reminders, a WebSocket subscription; and
// whole-log reads, as customer "*") with its actor, route and the
// customer streams it returned, and appends them in batches as
// `audit.access` events on touchline's own stream "~access"
// (api/access_log.h), whose data is
//   {"accesses":[{"at":"<RFC 3339>","actor":"agent-1",
//                 "route":"GET /v1/customers/{id}","customers":["c-42"]}, ...]}
// Why in the log rather than a column family of their own: the log already
// is append-only, hashed into the tree, checkpointed, replicated by
// backups and exported; a second structure would need all of that again.
// Erasure leaves these entries (they name customer ids, never personal
// data), so the trail survives the data it is about.
//
// Every entry has an order key K = inv at (8 bytes) + inv seq (8) + inv i
// (2), big-endian, inv = max - value: ascending K is newest first by when
// the read or write happened (a read is appended a little after it was
// served), then by position; `at` is in microseconds; i numbers the
// accesses inside one audit.access event (0 for a write).
//
// State keys:
//   a/<actor>\0K         a read by that actor (empty value)
//   c/<customer>\0K      the same read, under each customer it names
//                        A read renders from access i of the audit.access
//                        record with that seq (both in K) as
//                        {"seq":N,"at":"...","actor":"...","action":"read",
//                         "route":"...","customers":["c-42","c-43"]}
//   w/<actor>\0<inv at><inv first seq>
//                        a run of writes: records first .. first+n-1, all
//                        by that actor at that `at` (one request, or
//                        adjacent requests of one commit group); value U64 n
//   o/<actor>            the actor's newest run (I64 at, U64 first, U64 n),
//                        so a run grows across fold batches the same way
//                        whatever the batching
// Writes cost the fold one run update per request, not a key per event;
// reads two empty values per read.
// A write renders from its record as
//   {"seq":N,"at":"<RFC 3339>","actor":"...","action":"write","route":"...",
//    "customer":"c-42","type":"ticket.opened"}
// An actor's trail merges its reads (a/) with its runs expanded newest
// first; a customer's trail merges its reads (c/) with the records of its
// stream (the log's own index of what was written to it: no copy is kept
// here). Ordering writes by `at` assumes the clock does not go back between
// commits (entries keep seq order where it does). ReadAuditTrail() below is
// the one reader of this layout.
//
// Thread safety: as Projection.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/projection.h"
#include "store/event_log.h"

namespace touchline::projections {

inline constexpr std::string_view kAuditProjection = "audit";
// touchline's own stream of read records, and their event type.
inline constexpr std::string_view kAccessStream = "~access";
inline constexpr std::string_view kAccessEventType = "audit.access";

class AuditProjection final : public Projection {
 public:
  std::string_view Name() const override { return kAuditProjection; }
  std::string Version() const override { return "4"; }
  Status Apply(const store::Record& record, StateTx* tx) override;
};

// One page of a customer's or an actor's trail, newest first.
struct AuditPage {
  std::vector<std::string> entries;  // each a JSON object (above)
  // Pass as `after` for the next page; unset on the last.
  std::optional<std::string> next_after;
};

// The trail of `id` (a customer stream, or an actor when `by_actor`):
// up to `limit` entries after the cursor `after` (empty: from the newest).
// Write entries are rendered from their records in `log`. Returns
// InvalidArgument for a malformed cursor, storage errors otherwise.
StatusOr<AuditPage> ReadAuditTrail(const store::StateReader& state, const store::EventLog& log,
                                   bool by_actor, std::string_view id, std::string_view after,
                                   std::size_t limit);

}  // namespace touchline::projections
