// The RocksDB StateStore, opened by EventLogImpl::OpenStateStore.
#include "store/state_store.h"

#include <rocksdb/write_batch.h>

#include <atomic>

#include "core/coding.h"
#include "core/sharded_lru.h"
#include "core/validation.h"
#include "store/internal/event_log_impl.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"

namespace touchline::store::internal {
namespace {

// Point reads go through a cache of values (and of absent keys) in front
// of RocksDB: a read that misses keeps what it found unless a commit or
// reset happened meanwhile (the epoch), and a commit updates the keys
// the cache holds, so the cache never holds a value older than the last
// commit.
class RocksStateStore final : public StateStore {
 public:
  RocksStateStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string name,
                  bool read_only, std::size_t cache_bytes)
      : db_(db),
        cf_(cf),
        name_(std::move(name)),
        prefix_(StatePrefix(name_)),
        read_only_(read_only),
        cache_(cache_bytes) {}

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    std::string k(key);
    if (auto hit = cache_.Lookup(k)) {
      return *hit;
    }
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);
    std::string value;
    auto s = db_->Get({}, cf_, StateKey(name_, key), &value);
    std::optional<std::string> out;
    if (!s.IsNotFound()) {
      RETURN_IF_ERROR(FromRocks(s, "reading projection state"));
      out = std::move(value);
    }
    Keep(std::move(k), out, epoch);
    return out;
  }

  StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view prefix, std::string_view after, std::size_t limit) const override {
    std::vector<std::pair<std::string, std::string>> out;
    const std::string full_prefix = prefix_ + std::string(prefix);
    // An `after` below the prefix starts at the prefix.
    const std::string start =
        after.empty() ? full_prefix : std::max(full_prefix, prefix_ + std::string(after));
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_));
    for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
      const auto key = it->key().ToStringView();
      if (!key.starts_with(full_prefix)) {
        break;
      }
      if (!after.empty() && key.substr(prefix_.size()) == after) {
        continue;
      }
      out.emplace_back(std::string(key.substr(prefix_.size())), it->value().ToString());
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scanning projection state"));
    return out;
  }

  StatusOr<StateMeta> ReadMeta() const override {
    StateMeta meta;
    std::string value;
    auto s = db_->Get({}, cf_, StateMetaKey(name_, "checkpoint"), &value);
    if (!s.IsNotFound()) {
      RETURN_IF_ERROR(FromRocks(s, "reading a projection checkpoint"));
      if (value.size() != 8) {
        return Status::DataLoss("malformed checkpoint of projection " + name_);
      }
      meta.checkpoint = DecodeFixed64BE(value.data());
    }
    s = db_->Get({}, cf_, StateMetaKey(name_, "version"), &meta.version);
    if (s.IsNotFound()) {
      meta.version.clear();
      return meta;
    }
    RETURN_IF_ERROR(FromRocks(s, "reading a projection version"));
    return meta;
  }

  Status Commit(const std::vector<StateWrite>& writes, Seq checkpoint) override {
    // No WAL: projection state is derived. The state and its checkpoint
    // share one column family, so whatever survives a crash (memtables are
    // flushed whole) is a consistent prefix, and the runner refolds the
    // rest from the log. A clean close flushes everything. Skipping the WAL
    // keeps these writes off the appends' synced WAL path.
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    return Write(writes, checkpoint, wo, "committing projection state");
  }

  Status WriteLogged(const std::vector<StateWrite>& writes, bool sync) override {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    return Write(writes, std::nullopt, wo, "writing state");
  }

  Status Reset(std::string_view version) override {
    if (read_only_) {
      return Status::FailedPrecondition("the event log was opened read-only");
    }
    rocksdb::WriteBatch batch;
    batch.DeleteRange(cf_, StatePrefix(name_), StateEnd(name_));
    batch.Put(cf_, StateMetaKey(name_, "checkpoint"), std::string(8, '\0'));
    batch.Put(cf_, StateMetaKey(name_, "version"), std::string(version));
    Status s = FromRocks(db_->Write({}, &batch), "resetting projection state");
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    cache_.EraseIf([](const std::string&, const std::optional<std::string>&) { return true; });
    return s;
  }

  std::uint64_t ApproximateBytes() const override {
    const std::string start = StatePrefix(name_);
    const std::string end = StateEnd(name_);
    const rocksdb::Range range(start, end);  // Slices into the strings above
    std::uint64_t size = 0;
    rocksdb::SizeApproximationOptions opts;
    opts.include_memtables = true;
    opts.include_files = true;
    db_->GetApproximateSizes(opts, cf_, &range, 1, &size).PermitUncheckedError();
    return size;
  }

 private:
  // Applies `writes` (and sets the checkpoint, if given) in one batch.
  Status Write(const std::vector<StateWrite>& writes, std::optional<Seq> checkpoint,
               const rocksdb::WriteOptions& wo, const char* what) {
    if (read_only_) {
      return Status::FailedPrecondition("the event log was opened read-only");
    }
    rocksdb::WriteBatch batch;
    for (const auto& w : writes) {
      const std::string key = StateKey(name_, w.key);
      if (w.value.has_value()) {
        batch.Put(cf_, key, *w.value);
      } else {
        batch.Delete(cf_, key);
      }
    }
    if (checkpoint.has_value()) {
      std::string cp;
      PutFixed64BE(&cp, *checkpoint);
      batch.Put(cf_, StateMetaKey(name_, "checkpoint"), cp);
    }
    Status s = FromRocks(db_->Write(wo, &batch), what);
    // Readers that read before this commit keep nothing they read, and the
    // cache takes the new values.
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    if (!s.ok()) {
      cache_.EraseIf([](const std::string&, const std::optional<std::string>&) { return true; });
      return s;
    }
    if (cache_.enabled()) {
      // Keys readers have cached take their new values; the rest (most of
      // what a fold writes, e.g. audit entries) stay out of the cache.
      for (const auto& w : writes) {
        cache_.Update(w.key, [&](std::optional<std::string>* cached) -> std::optional<std::size_t> {
          if (cached == nullptr) {
            return std::nullopt;
          }
          *cached = w.value;
          return 2 * w.key.capacity() + (w.value ? w.value->capacity() : 0) + 128;
        });
      }
    }
    return s;
  }

  // Caches `value` (nullopt: absent) of `key` unless a commit happened
  // since `epoch`.
  void Keep(std::string key, std::optional<std::string> value, std::uint64_t epoch) const {
    if (!cache_.enabled()) {
      return;
    }
    const std::size_t charge = 2 * key.capacity() + (value ? value->capacity() : 0) + 128;
    cache_.Insert(std::move(key), std::move(value), charge,
                  [this, epoch] { return epoch_.load(std::memory_order_acquire) == epoch; });
  }

  // Constant after construction
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const std::string name_;
  const std::string prefix_;
  const bool read_only_;

  mutable ShardedLru<std::string, std::optional<std::string>> cache_;
  mutable std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace

StatusOr<std::unique_ptr<StateStore>> EventLogImpl::OpenStateStore(std::string_view name) {
  RETURN_IF_ERROR(ValidateEventType(name, "projection name"));
  return std::unique_ptr<StateStore>(std::make_unique<RocksStateStore>(
      db_.get(), cf(ColumnFamily::kProjections), std::string(name), options_.read_only,
      options_.state_cache_bytes));
}

}  // namespace touchline::store::internal
