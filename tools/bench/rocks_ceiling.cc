#include "tools/bench/rocks_ceiling.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "core/coding.h"

namespace touchline::bench {
namespace {

// touchline's --block-cache-mb default when the ceiling was set up; see
// rocks_ceiling.h for what touchlined uses now.
constexpr std::size_t kBlockCacheBytes = 256u << 20;

}  // namespace

StatusOr<std::unique_ptr<RocksCeiling>> RocksCeiling::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  rocksdb::ColumnFamilyOptions cf;
  cf.compression = rocksdb::kLZ4Compression;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  const std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, cf},
                                                            {"streams", cf}};
  std::unique_ptr<RocksCeiling> out(new RocksCeiling());
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, dir, cfs, &out->handles_, &raw);
  if (!s.ok()) {
    return Status::Unavailable("RocksDB: " + s.ToString());
  }
  out->db_.reset(raw);
  return out;
}

RocksCeiling::~RocksCeiling() { Close(); }

void RocksCeiling::Close() {
  if (!db_) {
    return;
  }
  db_->Flush({}).PermitUncheckedError();
  for (auto* h : handles_) {
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}

Status RocksCeiling::Append(std::span<const Entry> events) {
  rocksdb::WriteBatch batch;
  {
    MutexLock lock(&mu_);  // seqs and versions, as an appender assigns them
    for (const Entry& e : events) {
      std::string key;
      PutFixed64BE(&key, ++seq_);
      batch.Put(handles_[0], key, rocksdb::Slice(e.bytes.data(), e.bytes.size()));
      auto it = versions_.find(e.stream);
      if (it == versions_.end()) {
        it = versions_.emplace(std::string(e.stream), 0).first;
      }
      std::string skey(e.stream);
      skey.push_back('\0');
      PutFixed64BE(&skey, ++it->second);
      batch.Put(handles_[1], skey, key);
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const rocksdb::Status s = db_->Write(wo, &batch);
  return s.ok() ? Status::Ok() : Status::Unavailable(s.ToString());
}

StatusOr<std::uint64_t> RocksCeiling::ReadNewest(std::string_view stream, std::size_t limit) {
  std::string prefix(stream);
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[1]));
  std::vector<std::string> keys;
  for (it->SeekForPrev(prefix + std::string(8, '\xff'));
       it->Valid() && it->key().starts_with(prefix) && keys.size() < limit; it->Prev()) {
    keys.push_back(it->value().ToString());
  }
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  const auto statuses = db_->MultiGet(
      {}, std::vector<rocksdb::ColumnFamilyHandle*>(keys.size(), handles_[0]), slices, &values);
  for (const auto& s : statuses) {
    if (!s.ok()) {
      return Status::Unavailable(s.ToString());
    }
  }
  return static_cast<std::uint64_t>(values.size());
}

StatusOr<std::uint64_t> RocksCeiling::Replay() {
  rocksdb::ReadOptions ro;
  ro.readahead_size = 4u << 20;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[0]));
  std::uint64_t rows = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rows += it->value().empty() ? 0 : 1;  // touches every value, as a reader would
  }
  if (!it->status().ok()) {
    return Status::Unavailable(it->status().ToString());
  }
  return rows;
}

}  // namespace touchline::bench
