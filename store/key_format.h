// The on-disk key layout of a touchline data directory. This comment is the
// format specification; change it together with kFormatVersion.
//
// A data directory is one RocksDB database with these column families
// (store/internal/column_families.h holds their tuning):
//
//   events      Seq(8, big-endian)                  -> record bytes
//               The stored record (store/record_format.h: binary since
//               format 4, JSON before). Keys are dense: 1..head, no gaps.
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
//   merkle      'l' + LeafIndex(8, big-endian)         -> n x 32-byte SHA-256
//               The Merkle tree over the records (store/merkle.h), one
//               entry per leaf (leaf i is the record with seq i+1): the
//               leaf hash, then the hash of every perfect subtree that
//               leaf completed, by level (leaf i completes levels 1..t, t
//               the number of trailing one bits of i). The node of level L
//               covering leaves j*2^L .. (j+1)*2^L - 1 is thus at offset
//               32*L in the entry of leaf (j+1)*2^L - 1. Written in the
//               append's WriteBatch; never changed.
//               'c' + TreeSize(8, big-endian)            -> signed checkpoint
//               The signed note (store/checkpoint.h) for that tree size.
//   keys        customer id bytes                      -> KeyEntry
//               'K' + 32-byte data key, or 'E' + Seq(8) once the customer
//               was erased at that seq (store/sealing.h). A tombstone is
//               never replaced.
//   meta        "log_origin"                           -> the log's name
//               "integrity"                            -> "on" or "off"
//               "signing_key/<8 hex>"                  -> 32-byte Ed25519
//               public key: every key whose checkpoints are stored here.
//               "purged_through"                       -> Seq(8): every
//               erasure up to it is compacted out of the files.
//               "newest_erasure"                       -> Seq(8): the newest
//               customer.erased event, written in its batch.
//   timers      Reserved (the reminders keep their timers in their
//               projection state). Created empty so that using it never
//               needs a migration.
//
// Every append writes its events, streams, event_ids, keys and merkle
// entries in one WriteBatch with one synced write, so they are always
// consistent.
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
//   3: the Merkle tree and signed checkpoints (merkle), sealed private
//      parts and per-customer keys (keys). An older directory opened for
//      writing gets its tree built over the records it has (they stay
//      unsealed) and is marked 3.
//   4: records are written in the binary format (store/record_format.h),
//      their private parts compressed before they are sealed, as raw bytes.
//      A format-3 directory is read as is: its records keep their JSON bytes
//      (the tree covers them), new records are binary; opened for writing,
//      it is marked 4.
inline constexpr int kFormatVersion = 4;
inline constexpr std::string_view kFormatVersionKey = "format_version";
inline constexpr std::string_view kLogOriginKey = "log_origin";
inline constexpr std::string_view kIntegrityKey = "integrity";
inline constexpr std::string_view kPurgedThroughKey = "purged_through";
inline constexpr std::string_view kNewestErasureKey = "newest_erasure";

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

// merkle: the tree entry of a leaf, and the checkpoint of a tree size.
// Decoders return false for another kind of key.
std::string TreeLeafKey(std::uint64_t leaf);
bool DecodeTreeLeafKey(std::string_view key, std::uint64_t* leaf);
std::string CheckpointKey(std::uint64_t tree_size);
bool DecodeCheckpointKey(std::string_view key, std::uint64_t* tree_size);
inline constexpr char kTreeLeafTag = 'l';
inline constexpr char kCheckpointTag = 'c';

// meta: where a signing public key is kept, by its id in hex.
std::string SigningKeyMetaKey(std::string_view key_id_hex);

// projections: the key of state `key` of projection `name`.
std::string StateKey(std::string_view name, std::string_view key);
// projections: the prefix of all state keys of `name`, and the key one past
// all of its keys (state and meta), for range deletes.
std::string StatePrefix(std::string_view name);
std::string StateEnd(std::string_view name);
// projections: a meta key of `name` ("checkpoint", "version").
std::string StateMetaKey(std::string_view name, std::string_view field);

}  // namespace touchline::store
