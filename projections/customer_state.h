// The state of the customer view projection (projections/
// customer_view_projection.h): one ProfileState per person and one
// StreamState per customer stream, and their stored encoding.
//
// Keys, inside the "customers" projection's slice (store/key_format.h):
//   i/<type>:<value>         -> profile id owning that identity; stream keys
//                               are the identities "customer:<stream>"
//   s/<lower-cased value>\0<type>\0<value>
//                            -> "<type>:<value>"  (search by value prefix)
//   p/<profile id>           -> ProfileState (binary, below)
//   t/<stream>               -> StreamState (binary, below)
// Profile ids are "p-<seq>", the seq of the event that created the profile,
// so the older of two profiles is the one with the smaller number.
//
// Values use core/binary_codec.h (U64, I64, Str; a list is a U64 count then
// its items; a map is a count then key/value pairs in key order), so equal
// state is byte-equal (rebuild tests compare bytes). Times are microseconds
// since the epoch; money is in micro-units of its currency, summed exactly.
//   ProfileState  0xA1, Str id, U64 created_seq, Str merged_into, then
//                 if merged_into is set: U64 merged_seq (nothing else);
//                 else: [Str identity], [Str profile, U64 seq, [Str
//                 identity]] (merged), [Str separated], [U64 seq, Str what,
//                 Str reason] (refused), U64 refused_total.
//   StreamState   0xA2, U64 events, I64 first_seen, I64 last_seen,
//                 {Str channel: U64 count, I64 first, I64 last},
//                 {Str department: same}, {Str type: U64 count},
//                 {Str trait: Str json, I64 time, U64 seq, Str channel,
//                 Str event type}, {Str ticket: U64 seq, I64 opened,
//                 Str subject, U64 closed_seq}, {Str currency: I64 micros},
//                 [U64 seq] (recent, oldest first).
// A value that does not parse to its end is corruption (DataLoss).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/state_store.h"

namespace touchline::projections {

// A merge this profile absorbed: whom, when, and the identities it brought
// (what `profile.unmerged` with merged_profile gives back).
struct MergeEntry {
  std::string profile;
  Seq seq = 0;
  std::vector<std::string> identities;  // "type:value", sorted
};

// A merge or an identity the graph refused (limits, an agent's unmerge).
struct RefusedLink {
  Seq seq = 0;
  std::string what;    // the other profile id, or the identity
  std::string reason;  // human-readable
};

struct ProfileState {
  static constexpr std::size_t kMaxRefusedKept = 20;

  std::string id;
  Seq created_seq = 0;
  // Set when this profile was merged into another: the rest is then empty
  // and lookups of this id follow merged_into.
  std::string merged_into;
  Seq merged_seq = 0;
  std::vector<std::string> identities;  // "type:value", sorted, includes customer:<stream>
  std::vector<MergeEntry> merged;       // oldest first
  std::vector<std::string> separated;   // profile ids an agent split from this one, sorted
  std::vector<RefusedLink> refused;     // newest last, at most kMaxRefusedKept
  std::uint64_t refused_total = 0;
  // In memory only (not stored): how often the fold changed it, for the
  // fold's memo (customer_view_projection.h).
  std::uint64_t modified = 0;

  // The streams: values of the customer:<stream> identities, sorted.
  std::vector<std::string> Streams() const;
};

struct ContactStats {
  std::uint64_t count = 0;
  std::int64_t first_us = 0;
  std::int64_t last_us = 0;
  void Add(std::int64_t time_us);
};

struct TraitValue {
  std::string json;  // the value as minified JSON
  std::int64_t time_us = 0;
  Seq seq = 0;
  std::string channel;
  std::string event_type;
};

// A ticket this stream opened or closed. A ticket may be opened in one
// stream and closed in another (an email, then the help desk's stream):
// the view combines the streams and the later of the two wins.
struct Ticket {
  Seq seq = 0;  // the latest opening here (0: only closed here)
  std::int64_t opened_us = 0;
  std::string subject;
  Seq closed_seq = 0;  // the latest closing here (0: none)
};

struct StreamState {
  static constexpr std::size_t kRecentKept = 10;
  // Tickets tracked per stream: past this, closed tickets are forgotten
  // first, then the oldest open ones, so one stream's state stays small.
  static constexpr std::size_t kTicketsKept = 100;

  std::uint64_t events = 0;
  std::int64_t first_seen_us = 0;
  std::int64_t last_seen_us = 0;
  std::map<std::string, ContactStats> channels;
  std::map<std::string, ContactStats> departments;
  std::map<std::string, std::uint64_t> types;
  std::map<std::string, TraitValue> traits;
  std::map<std::string, Ticket> tickets;
  std::map<std::string, std::int64_t> ltv_micros;  // by ISO 4217 currency
  std::vector<Seq> recent;                         // newest last
};

std::string EncodeProfile(const ProfileState& p);
// Returns DataLoss if `bytes` is not a stored profile.
StatusOr<ProfileState> DecodeProfile(std::string_view bytes);

std::string EncodeStream(const StreamState& s);
// Returns DataLoss if `bytes` is not a stored stream state.
StatusOr<StreamState> DecodeStream(std::string_view bytes);

// Key builders (see the file comment).
std::string IdentityKey(std::string_view identity);  // "i/" + identity
// "s/" + lower-cased value + '\0' + type + '\0' + value.
std::string SearchKey(const Identity& identity);
std::string ProfileKey(std::string_view profile_id);
std::string StreamStateKey(std::string_view stream);
std::string ProfileIdForSeq(Seq seq);  // "p-<seq>"
// The seq in "p-<seq>", or 0 if `id` is not a profile id.
Seq SeqOfProfileId(std::string_view id);

// The live profile owning `text`: a profile id "p-N" (following merges), a
// customer (stream) id, or an identity "type:value". Unknown: nullopt.
// Returns InvalidArgument for a malformed type:value, storage errors, or
// DataLoss for a broken merge chain.
StatusOr<std::optional<std::string>> ResolveProfileId(const store::StateReader& state,
                                                      std::string_view text);

// Reads p/<id>, following merged_into to the live profile. NotFound if
// there is no such profile.
StatusOr<ProfileState> LoadLiveProfile(const store::StateReader& state, std::string_view id);

}  // namespace touchline::projections
