// The on-disk key layout of a touchline data directory. This comment is the
// format specification; change it together with kFormatVersion.
//
// A data directory is one RocksDB database with these column families
// (store/internal/column_families.h holds their tuning):
//
//   events      Seq(8, big-endian)                  -> record bytes
//               The record bytes are a canonical JSON object, specified in
//               store/record_format.h. Keys are dense: 1..head, no gaps.
//   streams     StreamPrefix(customer) + Version(8)  -> StreamEntry
//               StreamPrefix = u8 length + customer id bytes (1-128 bytes), so
//               all of a customer's entries are contiguous and ordered by
//               version; the prefix extractor and its bloom filter cover
//               exactly StreamPrefix. StreamEntry = Seq(8) + u8 type length +
//               type + channel (the rest), so timeline filters on type and
//               channel need not fetch the record.
//   event_ids   event id bytes                       -> Seq(8)
//               Permanent idempotency index: never expires.
//   meta        "format_version"                     -> decimal string
//   projections name + 0x00 + state key          -> state value
//               name + 0x01 + "checkpoint"           -> Seq(8)
//               name + 0x01 + "version"              -> version string
//               One slice per projection (store/state_store.h); the state
//               keys and values are specified by each projection's header
//               (projections/customer_view_projection.h). The checkpoint is
//               written in the same WriteBatch as the state it covers.
//   timers, merkle, keys
//               Reserved for reminder timers, the Merkle tree and
//               per-customer keys (later issues). Created empty so that
//               adding them never needs a migration.
//
// Every append writes its events, streams and event_ids entries in one
// WriteBatch with one synced write, so the three are always consistent.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/event.h"

namespace touchline::store {

// Bumped whenever the layout above or the record format changes. A binary
// refuses to open a directory with a newer format.
//   1: the first format.
//   2: records may carry "identities"; the projections column family holds
//      read models (projections/README.md). A version-1 directory is read
//      as is and marked 2 when opened for writing.
inline constexpr int kFormatVersion = 2;
inline constexpr std::string_view kFormatVersionKey = "format_version";

// events: the 8-byte big-endian seq.
std::string EventKey(Seq seq);
// REQUIRES: key.size() == 8.
Seq DecodeEventKey(std::string_view key);

// streams: the prefix shared by all entries of `customer`.
// REQUIRES: 1 <= customer.size() <= 255 (validation allows 128).
std::string StreamPrefix(std::string_view customer);
// streams: the key of (customer, version).
std::string StreamKey(std::string_view customer, StreamVersion version);
// Splits a streams key. Returns false if it is malformed.
bool DecodeStreamKey(std::string_view key, std::string_view* customer, StreamVersion* version);

// streams: the value of an entry.
std::string StreamEntry(Seq seq, std::string_view type, std::string_view channel);
struct StreamEntryView {
  Seq seq = 0;
  std::string_view type;
  std::string_view channel;
};
// Returns false if `value` is malformed.
bool DecodeStreamEntry(std::string_view value, StreamEntryView* out);

// projections: the key of state `key` of projection `name`.
std::string StateKey(std::string_view name, std::string_view key);
// projections: the prefix of all state keys of `name`, and the key one past
// all of its keys (state and meta), for range deletes.
std::string StatePrefix(std::string_view name);
std::string StateEnd(std::string_view name);
// projections: a meta key of `name` ("checkpoint", "version").
std::string StateMetaKey(std::string_view name, std::string_view field);

}  // namespace touchline::store
