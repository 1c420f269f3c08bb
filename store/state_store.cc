// The RocksDB StateStore, opened by EventLogImpl::OpenStateStore.
#include "store/state_store.h"

#include <rocksdb/write_batch.h>

#include "core/coding.h"
#include "core/validation.h"
#include "store/internal/event_log_impl.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"

namespace touchline::store::internal {
namespace {

class RocksStateStore final : public StateStore {
 public:
  RocksStateStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string name,
                  bool read_only)
      : db_(db),
        cf_(cf),
        name_(std::move(name)),
        prefix_(StatePrefix(name_)),
        read_only_(read_only) {}

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    std::string value;
    auto s = db_->Get({}, cf_, StateKey(name_, key), &value);
    if (s.IsNotFound()) {
      return std::optional<std::string>();
    }
    RETURN_IF_ERROR(FromRocks(s, "reading projection state"));
    return std::optional<std::string>(std::move(value));
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
    std::string cp;
    PutFixed64BE(&cp, checkpoint);
    batch.Put(cf_, StateMetaKey(name_, "checkpoint"), cp);
    // No WAL: projection state is derived. The state and its checkpoint
    // share one column family, so whatever survives a crash (memtables are
    // flushed whole) is a consistent prefix, and the runner refolds the
    // rest from the log. A clean close flushes everything. Skipping the WAL
    // keeps these writes off the appender's synced WAL path.
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    return FromRocks(db_->Write(wo, &batch), "committing projection state");
  }

  Status Reset(std::string_view version) override {
    if (read_only_) {
      return Status::FailedPrecondition("the event log was opened read-only");
    }
    rocksdb::WriteBatch batch;
    batch.DeleteRange(cf_, StatePrefix(name_), StateEnd(name_));
    batch.Put(cf_, StateMetaKey(name_, "checkpoint"), std::string(8, '\0'));
    batch.Put(cf_, StateMetaKey(name_, "version"), std::string(version));
    return FromRocks(db_->Write({}, &batch), "resetting projection state");
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
  // Constant after construction
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const std::string name_;
  const std::string prefix_;
  const bool read_only_;
};

}  // namespace

StatusOr<std::unique_ptr<StateStore>> EventLogImpl::OpenStateStore(std::string_view name) {
  RETURN_IF_ERROR(ValidateEventType(name, "projection name"));
  return std::unique_ptr<StateStore>(std::make_unique<RocksStateStore>(
      db_.get(), cf(ColumnFamily::kProjections), std::string(name), options_.read_only));
}

}  // namespace touchline::store::internal
