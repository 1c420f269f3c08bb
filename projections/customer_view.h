// The read side of the customer view: what GET /v1/customers/... returns,
// computed from the "customers" projection state (customer_state.h) and the
// log.
//
//  - RenderCustomerView: one profile's unified view as JSON, combining the
//    aggregates of all its streams (format in docs/customer-view.md).
//  - RenderCustomerViewAsOf: time travel. Folds, in memory, every event up
//    to a seq (or recorded at or before a time) of every stream that is or
//    ever was part of the profile, and renders the view the fold yields for
//    the id asked about: before a linking event the ids are separate people.
//  - ReadTimeline: a profile's timeline: its streams' events merged newest
//    first by seq, each once, with a seq cursor.
//  - SearchIdentities: identities whose value starts with a prefix.
//
// Consistency: a view reads the committed state key by key, without a
// snapshot, so a commit landing mid-read can mix two consecutive checkpoints
// (each key is itself consistent); a rebuild that resets the state under a
// read can make it miss a customer. Both are rare and gone on the next read.
//
// Thread safety: pure functions of their arguments (the log and state are
// thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "projections/customer_state.h"
#include "projections/customer_view_projection.h"
#include "store/event_log.h"

namespace touchline::projections {

// Renders the view of `profile` (a live profile read from `state`). Reads
// the newest events' records from `log`. `extra` is spliced in as extra
// top-level members (e.g. "\"as_of\":...,") and must end with a comma.
StatusOr<std::string> RenderCustomerView(const store::StateReader& state,
                                         const ProfileState& profile, const store::EventLog& log,
                                         std::string_view extra = "");

// A point in the log's history: events with seq <= seq, or recorded at or
// before time_us. Exactly one is set.
struct AsOf {
  std::optional<Seq> seq;
  std::optional<std::int64_t> time_us;
};

// Time travel (see the file comment). Returns NotFound if `id` is unknown
// now or was unknown then, InvalidArgument if the profile has more than
// `max_events` events to fold.
StatusOr<std::string> RenderCustomerViewAsOf(const store::EventLog& log,
                                             const store::StateReader& live, std::string_view id,
                                             const AsOf& as_of, const IdentityLimits& limits,
                                             std::size_t max_events);

struct TimelineQuery {
  std::vector<std::string> streams;
  std::optional<Seq> before_seq;  // cursor: only events with a smaller seq
  std::size_t limit = 50;
  std::vector<std::string> types;     // as store::StreamQuery
  std::vector<std::string> channels;  // as store::StreamQuery
  std::size_t max_scan = 10000;       // per stream
};

struct TimelinePage {
  std::vector<store::RecordPtr> records;  // newest first
  std::optional<Seq> next_before_seq;     // pass as before_seq; unset at the end
};

// Returns the log's errors.
StatusOr<TimelinePage> ReadTimeline(const store::EventLog& log, const TimelineQuery& query);

struct SearchHit {
  std::string identity;  // "type:value"
  std::string profile;
};

struct SearchPage {
  std::vector<SearchHit> hits;
  std::optional<std::string> next_after;  // an identity; pass back as `after`
};

// Identities whose value starts with `prefix` (case-insensitive), in value
// order, after the identity `after` (empty: from the start).
StatusOr<SearchPage> SearchIdentities(const store::StateReader& state, std::string_view prefix,
                                      std::string_view after, std::size_t limit);

}  // namespace touchline::projections
