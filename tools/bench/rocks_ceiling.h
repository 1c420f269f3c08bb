// RocksCeiling: the raw-RocksDB ceiling both benchmarks measure touchline
// against (touchline_bench's raw_rocksdb_batch and raw_rocksdb_single rows,
// touchline_compare's "rocksdb" system): the same event bytes in a bare
// RocksDB in the benchmark's own process, with none of touchline's work
// (no HTTP, no parsing, no records, no Merkle tree, no sealing, no
// projections): the most a server built on RocksDB could do with the same
// bytes and the same durability.
//
// This is the one definition of the ceiling and of its settings. RocksDB's
// defaults, except where touchline's differ in a way these workloads feel
// (store/internal/column_families.cc, store/event_log.h):
//   - LZ4 compression in both column families;
//   - one 256 MiB LRU block cache shared by them (touchline's default
//     --block-cache-mb when the ceiling was set up; touchlined now gives
//     RocksDB 50% of --memory-budget-mb, 512 MiB of the default 1024,
//     for its block cache with the memtables charged to it: api/main.cc);
//   - every write synced (WriteOptions::sync): touchline acknowledges only
//     what is on disk.
// Nothing else is tuned. Layout, what a per-customer newest-first read
// needs, as touchline keeps it:
//   default  <seq: 8 bytes big-endian>                    -> the event bytes
//   streams  <stream> \0 <version: 8 bytes big-endian>    -> the seq key
// Seqs count from 1 across all appends; versions from 1 per stream.
//
// Thread safety: Append, ReadNewest and Replay may be called from many
// threads at once (seqs and versions are assigned under a mutex, then the
// WriteBatch goes through RocksDB's own group commit). Close is not
// concurrent with anything.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace touchline::bench {

class RocksCeiling {
 public:
  // One event to append: its stream (a customer) and its bytes.
  struct Entry {
    std::string_view stream;
    std::string_view bytes;
  };

  // A new, empty database in directory `dir` (created if missing). Returns
  // Unavailable with RocksDB's message if it cannot be opened.
  static StatusOr<std::unique_ptr<RocksCeiling>> Open(const std::string& dir);
  ~RocksCeiling();  // closes it (Close) if still open

  RocksCeiling(const RocksCeiling&) = delete;
  RocksCeiling& operator=(const RocksCeiling&) = delete;

  // Appends `events` (their records and stream index entries) as one synced
  // WriteBatch. Returns Unavailable if the write fails.
  Status Append(std::span<const Entry> events);
  // Reads the newest `limit` events of `stream` (an index walk, then one
  // MultiGet); returns how many there were. Unavailable if a read fails.
  StatusOr<std::uint64_t> ReadNewest(std::string_view stream, std::size_t limit);
  // Reads every event in seq order; returns how many. Unavailable if the
  // iteration fails.
  StatusOr<std::uint64_t> Replay();
  // Flushes the memtables (so the files on disk hold everything, for
  // bytes-per-event figures) and closes the database. Idempotent.
  void Close();

 private:
  RocksCeiling() = default;

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default, streams
  Mutex mu_;
  std::uint64_t seq_ GUARDED_BY(mu_) = 0;
  std::map<std::string, std::uint64_t, std::less<>> versions_ GUARDED_BY(mu_);
};

}  // namespace touchline::bench
