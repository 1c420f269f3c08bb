// A RocksDB FileSystem that can be told to fail: every sync of a WAL file
// (`*.log`) returns an IO error while armed, like a disk that stopped
// accepting flushes. Used to check that a write whose fsync failed is never
// acknowledged and that the log refuses further writes instead of guessing.
//
// Thread safety: Arm/Disarm may be called from any thread.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>
#include <string>

namespace touchline::testing {

class FaultInjectionFs final : public rocksdb::FileSystemWrapper {
 public:
  FaultInjectionFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "touchline.FaultInjectionFs"; }

  void FailWalSyncs(bool fail) { fail_wal_syncs_.store(fail); }
  // While set, every append to a WAL file fails with NoSpace, like a full
  // disk (nothing of the append reaches the file).
  void FailWalAppendsNoSpace(bool fail) { no_space_.store(fail); }
  int failed_syncs() const { return failed_syncs_.load(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(fname, opts, result, dbg);
    if (s.ok() && fname.ends_with(".log")) {
      *result = std::make_unique<File>(std::move(*result), this);
    }
    return s;
  }

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, FaultInjectionFs* fs)
        : FSWritableFileOwnerWrapper(std::move(f)), fs_(fs) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      return fs_->MaybeFail() ? Injected() : FSWritableFileOwnerWrapper::Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      return fs_->MaybeFail() ? Injected() : FSWritableFileOwnerWrapper::Fsync(o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (fs_->no_space_.load()) {
        return rocksdb::IOStatus::NoSpace("injected: no space left on device");
      }
      return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* d) override {
      if (fs_->no_space_.load()) {
        return rocksdb::IOStatus::NoSpace("injected: no space left on device");
      }
      return FSWritableFileOwnerWrapper::Append(data, o, v, d);
    }

   private:
    static rocksdb::IOStatus Injected() {
      return rocksdb::IOStatus::IOError("injected fsync failure");
    }
    FaultInjectionFs* const fs_;
  };

  bool MaybeFail() {
    if (!fail_wal_syncs_.load()) {
      return false;
    }
    failed_syncs_++;
    return true;
  }

  std::atomic<bool> fail_wal_syncs_{false};
  std::atomic<bool> no_space_{false};
  std::atomic<int> failed_syncs_{0};
};

}  // namespace touchline::testing
