// A data directory opened with RocksDB directly, as an attacker (or a
// tamper test) would, to change what the log holds behind its back. The
// directory must not be open elsewhere.
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include "store/internal/column_families.h"

namespace touchline::testing {

class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    rocksdb::DB* raw = nullptr;
    status_ = rocksdb::DB::Open(
        store::internal::MakeDbOptions(), path,
        store::internal::MakeColumnFamilyDescriptors(std::shared_ptr<rocksdb::Cache>()), &handles_,
        &raw);
    db_.reset(raw);
  }
  ~RawDb() {
    for (auto* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  const rocksdb::Status& status() const { return status_; }
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(store::internal::ColumnFamily c) {
    return handles_[static_cast<std::size_t>(c)];
  }

 private:
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace touchline::testing
