#include "store/internal/column_families.h"

#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include <algorithm>

namespace touchline::store::internal {
namespace {

// streams keys start with u8 length + customer id (store/key_format.h); that
// whole StreamPrefix is the prefix, so the prefix bloom filter answers "does
// this customer have entries in this file" exactly.
class CustomerPrefixTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "touchline.CustomerPrefix.v1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), 1 + static_cast<unsigned char>(key[0]));
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return !key.empty() && key[0] != 0 &&
           key.size() >= 1 + static_cast<size_t>(static_cast<unsigned char>(key[0]));
  }
};

rocksdb::CompressionType PreferredCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (const auto c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) {
      return c;
    }
  }
  return rocksdb::kNoCompression;
}

rocksdb::ColumnFamilyOptions BaseOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                         const rocksdb::FilterPolicy* filter,
                                         bool whole_key_filtering) {
  rocksdb::ColumnFamilyOptions cf;
  cf.compression = PreferredCompression();
  cf.level_compaction_dynamic_level_bytes = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  if (filter != nullptr) {
    table.filter_policy.reset(filter);
    table.whole_key_filtering = whole_key_filtering;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

}  // namespace

std::string_view ColumnFamilyName(ColumnFamily cf) {
  switch (cf) {
    case ColumnFamily::kDefault:
      return "default";
    case ColumnFamily::kEvents:
      return "events";
    case ColumnFamily::kStreams:
      return "streams";
    case ColumnFamily::kEventIds:
      return "event_ids";
    case ColumnFamily::kMeta:
      return "meta";
    case ColumnFamily::kProjections:
      return "projections";
    case ColumnFamily::kTimers:
      return "timers";
    case ColumnFamily::kMerkle:
      return "merkle";
    case ColumnFamily::kKeys:
      return "keys";
  }
  return "default";
}

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.paranoid_checks = true;
  // An acknowledged event must never be rolled back: stop at a torn tail
  // (an unacknowledged write cut by a crash) but refuse to open on
  // corruption anywhere else, instead of silently truncating synced data.
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Syncing older WAL data in the background can leave holes in the synced
  // prefix; keep the default of 0 (RocksDB PR #12489).
  db.wal_bytes_per_sync = 0;
  db.bytes_per_sync = 1 << 20;
  db.max_background_jobs = 2;
  db.keep_log_file_num = 5;
  db.max_total_wal_size = 256u << 20;
  // The hash memtable of event_ids cannot take concurrent inserts; every
  // write group here has one writer anyway (the log's writer thread, or one
  // runner).
  db.allow_concurrent_memtable_write = false;
  return db;
}

std::vector<rocksdb::ColumnFamilyDescriptor> MakeColumnFamilyDescriptors(
    const std::shared_ptr<rocksdb::Cache>& block_cache) {
  std::vector<rocksdb::ColumnFamilyDescriptor> out;
  for (std::size_t i = 0; i < kColumnFamilyCount; ++i) {
    const auto cf = static_cast<ColumnFamily>(i);
    rocksdb::ColumnFamilyOptions opts;
    switch (cf) {
      case ColumnFamily::kEvents:
        // Sequential keys, read by key (a range of seqs is dense, so it is
        // read with MultiGet), and every key read exists: a filter would
        // never say no. (Hash memtables were measured: no faster here, and
        // their flushes cost more.) Keys arrive in ascending order: insert
        // each next to the previous one (every seq below 2^56 shares its
        // first byte) instead of searching the memtable from the top.
        opts = BaseOptions(block_cache, nullptr, true);
        opts.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
        break;
      case ColumnFamily::kMerkle:
        // One tree entry per record, in ascending order, like events.
        opts = BaseOptions(block_cache, rocksdb::NewBloomFilterPolicy(10), true);
        opts.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
        break;
      case ColumnFamily::kStreams:
        // Read backwards within one customer's prefix (SeekForPrev, Prev),
        // which needs the ordered skiplist memtable.
        opts = BaseOptions(block_cache, rocksdb::NewBloomFilterPolicy(10), false);
        opts.prefix_extractor = std::make_shared<CustomerPrefixTransform>();
        opts.memtable_prefix_bloom_size_ratio = 0.1;
        // A customer's entries arrive in version order: insert each next to
        // the previous one instead of searching the memtable from the top.
        opts.memtable_insert_with_hint_prefix_extractor =
            std::make_shared<CustomerPrefixTransform>();
        break;
      case ColumnFamily::kEventIds:
        // Point lookups on every append with an id; most miss. Never
        // iterated, and the keys are random: a hash memtable (each key its
        // own bucket) inserts without searching a skiplist, which was the
        // costliest of the append write's memtable inserts; the flush thread
        // sorts the entries instead.
        opts = BaseOptions(block_cache, rocksdb::NewBloomFilterPolicy(10), true);
        opts.prefix_extractor.reset(rocksdb::NewNoopTransform());
        opts.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(1 << 18));
        opts.memtable_whole_key_filtering = true;
        opts.memtable_prefix_bloom_size_ratio = 0.05;
        break;
      default:
        opts = BaseOptions(block_cache, rocksdb::NewBloomFilterPolicy(10), true);
        break;
    }
    out.emplace_back(std::string(ColumnFamilyName(cf)), opts);
  }
  return out;
}

}  // namespace touchline::store::internal
