// PowerLossFs: a RocksDB FileSystem over the real disk that can simulate a
// power failure, for crash tests of the store (tests/store/power_loss_test.cc).
//
// It tracks, per file written through it, how many bytes were appended and
// how many of them a Sync/Fsync made durable, and, per directory, the
// entries created or renamed since that directory was last fsynced. Power
// is cut after a chosen number of mutating operations (CutPowerAfter) or at
// once (CutPowerNow): from then on every append, sync, flush, file
// creation, rename, deletion and directory fsync fails with an IO error and
// changes nothing on disk, while reads keep working. Once the database is
// closed, RestorePower() leaves the disk as a machine that lost power would
// find it, as LevelDB's and RocksDB's FaultInjectionTestEnv model it:
//  - every file is cut back to its last synced size (or, with a `torn`
//    random source, to its synced size plus a random prefix of what was
//    written after it: writes reach the platter in order, the last ones
//    partly);
//  - creations and renames in a directory that was not fsynced since are
//    undone, newest first: a created file is removed, a renamed file goes
//    back to its old name and the file it replaced gets its old contents.
// Then power returns and everything on disk counts as durable.
//
// Simplifications, all on the safe side for RocksDB's use: syncs are not
// passed to the disk (the real disk never loses power, so the test runs at
// memory speed); deletions are durable at once (a deleted file never comes
// back); a renamed-over file's old contents are kept only up to 1 MiB
// (RocksDB renames over CURRENT and OPTIONS files, a few hundred bytes);
// RangeSync (sync_file_range, which RocksDB uses to smooth SST writes and
// which syncs no metadata) makes nothing durable. Files written behind
// RocksDB's back (touchline's signing key file, written with POSIX calls)
// are outside the model and always survive.
//
// Thread safety: every method may be called from any thread; the state is
// under one mutex, which also makes the moment power is cut a single point
// in every file's history. RestorePower() requires that no file opened for
// writing through this object is still open.
#pragma once

#include <rocksdb/file_system.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"

namespace touchline::testing {

class PowerLossFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default());
  ~PowerLossFs() override;

  const char* Name() const override { return "touchline.PowerLossFs"; }

  // Power fails at the `ops`-th mutating operation from now (that one
  // already fails). 0 disarms a pending cut.
  void CutPowerAfter(std::uint64_t ops);
  void CutPowerNow();
  bool powered() const;
  // Mutating operations since construction (successful or not), to size
  // crash points.
  std::uint64_t ops() const;

  // What RestorePower() threw away, for the test's log.
  struct Loss {
    std::uint64_t files_cut = 0;       // files that lost a tail
    std::uint64_t bytes_lost = 0;      // written but not synced
    std::uint64_t entries_undone = 0;  // creations and renames undone
  };
  // Cuts power if it is on, applies the loss described above and turns
  // power back on. With `torn`, each file keeps a random prefix of its
  // unsynced bytes; without, none. Returns FailedPrecondition if a file is
  // still open for writing, Internal if the disk refuses a repair.
  StatusOr<Loss> RestorePower(std::mt19937_64* torn = nullptr);

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;

 private:
  class TrackedFile;
  class TrackedDirectory;
  friend class TrackedFile;
  friend class TrackedDirectory;

  struct FileState {
    std::uint64_t written = 0;  // bytes appended (the file's size)
    std::uint64_t synced = 0;   // the durable prefix
    int open_writers = 0;
  };
  // A namespace change not yet made durable by an fsync of its directory.
  struct DirEntryChange {
    enum class Kind : std::uint8_t { kCreated, kRenamed };
    Kind kind = Kind::kCreated;
    std::string name;  // kCreated: the file; kRenamed: the new name
    std::string from;  // kRenamed: the old name
    // kRenamed over an existing file: its contents before.
    std::optional<std::string> replaced;
  };

  // Counts one mutating operation; false if power is (now) off.
  bool TakeOp() REQUIRES(mu_);
  rocksdb::IOStatus PowerOff() const;
  // Tracks a file just opened for writing from scratch (existed: whether
  // it was there before, so creating it is not a namespace change).
  void TrackNewFile(const std::string& fname, bool existed) REQUIRES(mu_);

  // TrackedFile calls.
  rocksdb::IOStatus OnAppend(const std::string& fname, rocksdb::FSWritableFile* target,
                             const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) EXCLUDES(mu_);
  rocksdb::IOStatus OnSync(const std::string& fname) EXCLUDES(mu_);
  rocksdb::IOStatus OnMutation() EXCLUDES(mu_);
  void OnTruncate(const std::string& fname, std::uint64_t size) EXCLUDES(mu_);
  void OnClose(const std::string& fname) EXCLUDES(mu_);
  // TrackedDirectory calls.
  rocksdb::IOStatus OnDirSync(const std::string& dir) EXCLUDES(mu_);

  mutable Mutex mu_;
  bool powered_ GUARDED_BY(mu_) = true;
  std::uint64_t ops_ GUARDED_BY(mu_) = 0;
  std::uint64_t cut_at_op_ GUARDED_BY(mu_) = 0;  // 0: no cut armed
  std::map<std::string, FileState> files_ GUARDED_BY(mu_);
  // Directory -> changes since its last fsync, oldest first.
  std::map<std::string, std::vector<DirEntryChange>> unsynced_dirs_ GUARDED_BY(mu_);
};

}  // namespace touchline::testing
