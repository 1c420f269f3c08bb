// CustomerViewProjection ("customers"): folds the log into the identity
// graph and the unified customer view (state layout: customer_state.h;
// reading it: customer_view.h).
//
// Identity graph. Every event names a stream (its customer) and may carry
// identities (core/identity.h). The stream is itself the identity
// customer:<stream>. Each identity belongs to at most one profile:
//  - an event whose identities are all unknown creates profile p-<seq>;
//  - unknown identities join the profile that owns the event's stream;
//  - an event whose identities belong to two or more profiles merges them
//    into the oldest (smallest p-<seq>), and emits `profile.merged` (id
//    "touchline.merged.<seq>.<merged profile>", data.source "identity_graph")
//    so the merge is in the log for agents and auditors. The fold itself
//    makes the merge when it folds the linking event, so a replay reproduces
//    it whether or not the emitted event exists yet; emitted events are
//    no-ops when folded;
//  - junk values ("null", "0", "anonymous", ...) never link anything;
//  - a merge that would leave a profile with more identities of a type than
//    its limit (default: 5 emails, 5 phones, 25 streams, 25 anonymous ids,
//    10 of any other type), or that joins two profiles an agent split, is
//    refused: the event is stored and counted, the profile records the
//    refusal, and `profile.merge_refused` is emitted. An identity that would
//    exceed its type's limit is refused the same way.
// Agents correct the graph with events of their own:
//  - `profile.merged` with data {"profiles": [id, id, ...]} (any id form:
//    p-N, a customer id, type:value) merges them, separations notwithstanding;
//  - `profile.unmerged` with data {"profile": id, "merged_profile": "p-N"}
//    restores p-N with the identities it brought (minus any moved since),
//    or {"profile": id, "identities": ["type:value", ...]} moves those
//    identities to a new profile p-<seq>. Either way the two are separated:
//    later events linking them are refused, until an agent merges them.
// A malformed correction is a no-op (the fold never faults on user input).
//
// Streams whose name starts with '~' are touchline's own (the reminder
// rules) and are skipped.
//
// Erasure: `customer.erased` on a stream (store/sealing.h) drops the whole
// profile that owns it: every identity (index and search entries), the
// profile, the stubs of profiles merged into it, and the state of all its
// streams. POST /v1/customers/{id}/erase erases every stream of the
// profile in one request, so nothing of the person is left; records of
// erased customers fold as events without identities or data. (Should a
// stream join the profile between that request reading the view and its
// events being folded, its state goes too, and comes back with its next
// event or a rebuild.)
//
// Per-stream aggregates (StreamState), combined across a profile's streams
// when the view is read:
//  - counts per type; per channel and per department: count, first, last
//    (only events that name a channel/department); first/last seen by event
//    time over all events;
//  - traits: data.traits of any event, latest event time wins (ties: the
//    later seq), with the time, seq, channel and type that set it;
//  - open tickets: `ticket.opened`/`ticket.reopened` open data.ticket_id (or
//    the event id, or "seq-N"); `ticket.closed`/`ticket.resolved` close it,
//    in any stream of the profile; each stream tracks at most 100 tickets
//    (closed ones are forgotten first, then the oldest open ones);
//  - lifetime value: `purchase.completed`/`order.completed` add and
//    `purchase.refunded`/`order.refunded` subtract data.amount (or
//    data.total, data.revenue) in data.currency (ISO 4217; "XXX" if absent);
//  - the 10 newest events' seqs.
//
// Thread safety: as Projection (one thread at a time).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "projections/customer_state.h"
#include "projections/projection.h"

namespace touchline::projections {

// Per identity type limits on one profile.
struct IdentityLimits {
  std::map<std::string, std::size_t> per_type = {
      {"email", 5}, {"phone", 5}, {"customer", 25}, {"anonymous_id", 25}};
  std::size_t default_limit = 10;

  std::size_t For(std::string_view type) const;
  // "email=5,phone=5,*=10": the form of --identity-limits.
  std::string ToString() const;
  // Parses that form on top of the defaults. Returns InvalidArgument naming
  // the bad entry.
  static StatusOr<IdentityLimits> Parse(std::string_view text);
};

inline constexpr std::string_view kCustomersProjection = "customers";
// data.source of events the identity graph emits.
inline constexpr std::string_view kGraphSource = "identity_graph";

class CustomerViewProjection final : public Projection {
 public:
  // `max_cached`: decoded identities, profiles and streams kept in memory
  // between batches (about 200 bytes each, more for busy streams).
  explicit CustomerViewProjection(IdentityLimits limits = {},
                                  std::size_t max_cached = kDefaultMaxCached);

  std::string_view Name() const override { return kCustomersProjection; }
  std::string Version() const override;
  Status Apply(const store::Record& record, StateTx* tx) override;
  Status Flush(StateTx* tx) override;
  void Discard() override;

 private:
  struct EventData;

  // Writes dirty cached state into `tx` and keeps the cache (pointers into
  // it stay valid), so that reads through `tx` see the current state.
  void WriteBack(StateTx* tx);
  // Cached, decoded state of this batch; written back by Flush().
  StatusOr<ProfileState*> Profile(const std::string& id, StateTx* tx);
  StatusOr<StreamState*> Stream(const std::string& stream, StateTx* tx);
  // The profile owning an identity (nullopt: none), and changing it; every
  // change of the identity index goes through SetOwner so the cache holds.
  StatusOr<std::optional<std::string>> Owner(const std::string& identity, StateTx* tx);
  void SetOwner(const std::string& identity, const std::string& profile, StateTx* tx);
  ProfileState* NewProfile(std::string id, Seq created_seq);

  Status Link(const store::Record& rec, bool stream_only, StateTx* tx);
  Status Attach(ProfileState* p, const std::string& identity, const store::Record& rec,
                StateTx* tx);
  // Merges q into p unless refused; `manual` skips the separation check
  // and emits nothing (the agent's event is the record).
  Status TryMerge(ProfileState* p, ProfileState* q, const store::Record& rec, bool manual,
                  StateTx* tx);
  StatusOr<bool> IsSeparated(const ProfileState& p, const ProfileState& q, StateTx* tx);
  void Refuse(ProfileState* p, const store::Record& rec, std::string what, std::string reason,
              StateTx* tx);
  Status ManualMerge(const store::Record& rec, const EventData& d, StateTx* tx);
  Status Unmerge(const store::Record& rec, const EventData& d, StateTx* tx);
  Status UpdateStream(const store::Record& rec, const EventData& d, StreamState* s);
  // customer.erased: the person goes, whole (see the file comment).
  Status Erase(const store::Record& rec, StateTx* tx);

  // Identity owners and decoded profiles and streams kept across batches,
  // at most max_cached_ in all (then all are dropped). Measured at 1M events
  // over 100k customers (2026-11-24): 1M entries cost the server about 170 MB
  // more RSS than 200k, and cut the view's worst lag under batched ingest
  // from 6 s to 2.2 s.
  static constexpr std::size_t kDefaultMaxCached = 1000000;

  // Constant after construction
  const IdentityLimits limits_;
  const std::size_t max_cached_;

  // A stream's cached state, and the fold's memo of its last link: the
  // profile that then owned the stream and every identity that event named.
  // While that profile is unchanged (its `modified` count, and no erasure
  // since: `epoch_`), an event naming the same identities links nothing,
  // and skips the owner lookups.
  struct CachedStream {
    StreamState state;
    const ProfileState* linked_profile = nullptr;
    std::uint64_t linked_modified = 0;
    std::uint64_t linked_epoch = 0;
    bool linked_stream_only = false;
    std::vector<Identity> linked_identities;
  };
  StatusOr<CachedStream*> CachedStreamOf(const std::string& stream, StateTx* tx);
  bool LinkIsKnown(const CachedStream& s, const store::Record& rec, bool stream_only) const;
  // Records that linking `rec` left everything it names with the stream's
  // profile (the memo above), if it did.
  Status RememberLink(CachedStream* s, const store::Record& rec, bool stream_only, StateTx* tx);
  // Marks a cached profile changed (written back by Flush, memos void).
  void Touch(ProfileState* p);

  std::unordered_map<std::string, std::optional<std::string>> owners_;
  std::unordered_map<std::string, ProfileState> profiles_;
  std::unordered_map<std::string, CachedStream> streams_;
  std::uint64_t epoch_ = 1;  // bumped by every erasure (cached profiles go)
  std::unordered_set<std::string> dirty_profiles_;
  std::unordered_set<std::string> dirty_streams_;
};

}  // namespace touchline::projections
