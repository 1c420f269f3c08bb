// The column families of a data directory and their RocksDB tuning. The key
// layout inside each is specified in store/key_format.h.
//
// Thread safety: pure functions over immutable tables.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace touchline::store::internal {

// Persisted by name, not number; the order is the handle index at open.
enum class ColumnFamily : std::uint8_t {
  kDefault = 0,  // RocksDB requires it; unused
  kEvents,
  kStreams,
  kEventIds,
  kMeta,
  kProjections,
  kTimers,
  kMerkle,
  kKeys,
};
inline constexpr std::size_t kColumnFamilyCount = 9;

std::string_view ColumnFamilyName(ColumnFamily cf);

// DB-wide options for this workload (WAL recovery that refuses silent
// corruption, background jobs sized for a small machine).
rocksdb::DBOptions MakeDbOptions();

// One descriptor per ColumnFamily, in enum order, sharing `block_cache`.
// streams has a prefix extractor: iterate it only within one customer's
// prefix (ReadOptions::prefix_same_as_start).
std::vector<rocksdb::ColumnFamilyDescriptor> MakeColumnFamilyDescriptors(
    const std::shared_ptr<rocksdb::Cache>& block_cache);

}  // namespace touchline::store::internal
