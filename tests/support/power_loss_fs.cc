#include "tests/support/power_loss_fs.h"

#include <filesystem>
#include <fstream>
#include <utility>

namespace touchline::testing {
namespace {

constexpr std::uint64_t kMaxReplacedBytes = 1 << 20;

// One spelling per path, so a file and its directory are found by name
// whatever separators RocksDB used.
std::string Normalize(const std::string& path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  return out;
}

std::string DirOf(const std::string& normalized_file) {
  return std::filesystem::path(normalized_file).parent_path().string();
}

}  // namespace

// A file open for writing: appends and syncs go through the tracker.
class PowerLossFs::TrackedFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> f, std::string fname, PowerLossFs* fs)
      : FSWritableFileOwnerWrapper(std::move(f)), fname_(std::move(fname)), fs_(fs) {}
  ~TrackedFile() override {
    if (!closed_) {
      fs_->OnClose(fname_);
    }
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* d) override {
    return fs_->OnAppend(fname_, target(), data, o, d);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* d) override {
    return fs_->OnAppend(fname_, target(), data, o, d);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& /*data*/, uint64_t /*offset*/,
                                     const rocksdb::IOOptions& /*o*/,
                                     rocksdb::IODebugContext* /*d*/) override {
    return rocksdb::IOStatus::NotSupported("PowerLossFs models appends only (no direct I/O)");
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& /*data*/, uint64_t /*offset*/,
                                     const rocksdb::IOOptions& /*o*/,
                                     const rocksdb::DataVerificationInfo& /*info*/,
                                     rocksdb::IODebugContext* /*d*/) override {
    return rocksdb::IOStatus::NotSupported("PowerLossFs models appends only (no direct I/O)");
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
    auto s = fs_->OnMutation();
    if (s.ok()) {
      s = FSWritableFileOwnerWrapper::Truncate(size, o, d);
    }
    if (s.ok()) {
      fs_->OnTruncate(fname_, size);
    }
    return s;
  }
  // Closing writes nothing new (the descriptor is released even without
  // power, so the file can be repaired afterwards).
  rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    auto s = FSWritableFileOwnerWrapper::Close(o, d);
    if (!closed_) {
      closed_ = true;
      fs_->OnClose(fname_);
    }
    return s;
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    auto s = fs_->OnMutation();
    return s.ok() ? FSWritableFileOwnerWrapper::Flush(o, d) : s;
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& /*o*/, rocksdb::IODebugContext* /*d*/) override {
    return fs_->OnSync(fname_);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& /*o*/,
                          rocksdb::IODebugContext* /*d*/) override {
    return fs_->OnSync(fname_);
  }
  // sync_file_range: no durability credit (see the header).
  rocksdb::IOStatus RangeSync(uint64_t /*offset*/, uint64_t /*nbytes*/,
                              const rocksdb::IOOptions& /*o*/,
                              rocksdb::IODebugContext* /*d*/) override {
    return fs_->OnMutation();
  }

 private:
  const std::string fname_;
  PowerLossFs* const fs_;
  bool closed_ = false;
};

class PowerLossFs::TrackedDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(std::unique_ptr<rocksdb::FSDirectory> d, std::string name, PowerLossFs* fs)
      : FSDirectoryWrapper(std::move(d)), name_(std::move(name)), fs_(fs) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& /*o*/,
                          rocksdb::IODebugContext* /*d*/) override {
    return fs_->OnDirSync(name_);
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& /*o*/,
                                        rocksdb::IODebugContext* /*d*/,
                                        const rocksdb::DirFsyncOptions& /*opts*/) override {
    return fs_->OnDirSync(name_);
  }

 private:
  const std::string name_;
  PowerLossFs* const fs_;
};

PowerLossFs::PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(std::move(base)) {}

PowerLossFs::~PowerLossFs() = default;

void PowerLossFs::CutPowerAfter(std::uint64_t ops) {
  MutexLock lock(&mu_);
  cut_at_op_ = ops == 0 ? 0 : ops_ + ops;
}

void PowerLossFs::CutPowerNow() {
  MutexLock lock(&mu_);
  powered_ = false;
  cut_at_op_ = 0;
}

bool PowerLossFs::powered() const {
  MutexLock lock(&mu_);
  return powered_;
}

std::uint64_t PowerLossFs::ops() const {
  MutexLock lock(&mu_);
  return ops_;
}

bool PowerLossFs::TakeOp() {
  ++ops_;
  if (powered_ && cut_at_op_ != 0 && ops_ >= cut_at_op_) {
    powered_ = false;
    cut_at_op_ = 0;
  }
  return powered_;
}

rocksdb::IOStatus PowerLossFs::PowerOff() const {
  return rocksdb::IOStatus::IOError("PowerLossFs: the power is off");
}

void PowerLossFs::TrackNewFile(const std::string& fname, bool existed) {
  FileState& f = files_[fname];
  f = FileState{0, 0, f.open_writers + 1};
  if (!existed) {
    unsynced_dirs_[DirOf(fname)].push_back({DirEntryChange::Kind::kCreated, fname, "", {}});
  }
}

rocksdb::IOStatus PowerLossFs::NewWritableFile(const std::string& fname,
                                               const rocksdb::FileOptions& opts,
                                               std::unique_ptr<rocksdb::FSWritableFile>* result,
                                               rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  const bool existed = target()->FileExists(name, rocksdb::IOOptions(), dbg).ok();
  auto s = target()->NewWritableFile(name, opts, result, dbg);
  if (s.ok()) {
    TrackNewFile(name, existed);
    *result = std::make_unique<TrackedFile>(std::move(*result), name, this);
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::ReopenWritableFile(const std::string& fname,
                                                  const rocksdb::FileOptions& opts,
                                                  std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                  rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  std::uint64_t size = 0;
  const bool existed = target()->GetFileSize(name, rocksdb::IOOptions(), &size, dbg).ok();
  auto s = target()->ReopenWritableFile(name, opts, result, dbg);
  if (!s.ok()) {
    return s;
  }
  auto it = files_.find(name);
  if (it != files_.end()) {
    it->second.open_writers++;
  } else {
    // What was there before this object saw it is durable.
    files_[name] = FileState{size, size, 1};
    if (!existed) {
      unsynced_dirs_[DirOf(name)].push_back({DirEntryChange::Kind::kCreated, name, "", {}});
    }
  }
  *result = std::make_unique<TrackedFile>(std::move(*result), name, this);
  return s;
}

rocksdb::IOStatus PowerLossFs::ReuseWritableFile(
    const std::string& /*fname*/, const std::string& /*old_fname*/,
    const rocksdb::FileOptions& /*opts*/, std::unique_ptr<rocksdb::FSWritableFile>* /*result*/,
    rocksdb::IODebugContext* /*dbg*/) {
  return rocksdb::IOStatus::NotSupported("PowerLossFs does not model recycled WAL files");
}

rocksdb::IOStatus PowerLossFs::NewRandomRWFile(const std::string& /*fname*/,
                                               const rocksdb::FileOptions& /*opts*/,
                                               std::unique_ptr<rocksdb::FSRandomRWFile>* /*result*/,
                                               rocksdb::IODebugContext* /*dbg*/) {
  return rocksdb::IOStatus::NotSupported("PowerLossFs does not model random-access writes");
}

rocksdb::IOStatus PowerLossFs::NewDirectory(const std::string& name,
                                            const rocksdb::IOOptions& io_opts,
                                            std::unique_ptr<rocksdb::FSDirectory>* result,
                                            rocksdb::IODebugContext* dbg) {
  auto s = target()->NewDirectory(name, io_opts, result, dbg);
  if (s.ok()) {
    *result = std::make_unique<TrackedDirectory>(std::move(*result), Normalize(name), this);
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::DeleteFile(const std::string& fname,
                                          const rocksdb::IOOptions& options,
                                          rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  auto s = target()->DeleteFile(name, options, dbg);
  if (s.ok()) {
    // Deletions are durable at once: nothing about this name is undone.
    files_.erase(name);
    auto& changes = unsynced_dirs_[DirOf(name)];
    std::erase_if(changes, [&](const DirEntryChange& c) { return c.name == name; });
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::RenameFile(const std::string& src, const std::string& target_name,
                                          const rocksdb::IOOptions& options,
                                          rocksdb::IODebugContext* dbg) {
  const std::string from = Normalize(src);
  const std::string to = Normalize(target_name);
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  std::optional<std::string> replaced;
  std::uint64_t size = 0;
  if (target()->GetFileSize(to, options, &size, dbg).ok()) {
    if (size > kMaxReplacedBytes) {
      return rocksdb::IOStatus::NotSupported("PowerLossFs keeps replaced files up to 1 MiB: " + to);
    }
    std::string old;
    auto r = rocksdb::ReadFileToString(target(), to, &old);
    if (!r.ok()) {
      return r;
    }
    replaced = std::move(old);
  }
  auto s = target()->RenameFile(from, to, options, dbg);
  if (!s.ok()) {
    return s;
  }
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(from);
  } else {
    files_.erase(to);
  }
  unsynced_dirs_[DirOf(to)].push_back(
      {DirEntryChange::Kind::kRenamed, to, from, std::move(replaced)});
  return s;
}

rocksdb::IOStatus PowerLossFs::LinkFile(const std::string& src, const std::string& target_name,
                                        const rocksdb::IOOptions& options,
                                        rocksdb::IODebugContext* dbg) {
  const std::string from = Normalize(src);
  const std::string to = Normalize(target_name);
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  auto s = target()->LinkFile(from, to, options, dbg);
  if (s.ok()) {
    unsynced_dirs_[DirOf(to)].push_back({DirEntryChange::Kind::kCreated, to, "", {}});
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::Truncate(const std::string& fname, size_t size,
                                        const rocksdb::IOOptions& options,
                                        rocksdb::IODebugContext* dbg) {
  const std::string name = Normalize(fname);
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  auto s = target()->Truncate(name, size, options, dbg);
  auto it = files_.find(name);
  if (s.ok() && it != files_.end()) {
    it->second.written = size;
    it->second.synced = std::min<std::uint64_t>(it->second.synced, size);
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::CreateDir(const std::string& dirname,
                                         const rocksdb::IOOptions& options,
                                         rocksdb::IODebugContext* dbg) {
  MutexLock lock(&mu_);
  return TakeOp() ? target()->CreateDir(dirname, options, dbg) : PowerOff();
}

rocksdb::IOStatus PowerLossFs::CreateDirIfMissing(const std::string& dirname,
                                                  const rocksdb::IOOptions& options,
                                                  rocksdb::IODebugContext* dbg) {
  MutexLock lock(&mu_);
  return TakeOp() ? target()->CreateDirIfMissing(dirname, options, dbg) : PowerOff();
}

rocksdb::IOStatus PowerLossFs::DeleteDir(const std::string& dirname,
                                         const rocksdb::IOOptions& options,
                                         rocksdb::IODebugContext* dbg) {
  MutexLock lock(&mu_);
  return TakeOp() ? target()->DeleteDir(dirname, options, dbg) : PowerOff();
}

rocksdb::IOStatus PowerLossFs::OnAppend(const std::string& fname, rocksdb::FSWritableFile* file,
                                        const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                                        rocksdb::IODebugContext* d) {
  // The write happens under the lock, so it is wholly before or wholly
  // after the moment power is cut.
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  auto s = file->Append(data, o, d);
  if (s.ok()) {
    files_[fname].written += data.size();
  }
  return s;
}

rocksdb::IOStatus PowerLossFs::OnSync(const std::string& fname) {
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  FileState& f = files_[fname];
  f.synced = f.written;
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFs::OnMutation() {
  MutexLock lock(&mu_);
  return TakeOp() ? rocksdb::IOStatus::OK() : PowerOff();
}

void PowerLossFs::OnTruncate(const std::string& fname, std::uint64_t size) {
  MutexLock lock(&mu_);
  FileState& f = files_[fname];
  f.written = size;
  f.synced = std::min(f.synced, size);
}

void PowerLossFs::OnClose(const std::string& fname) {
  MutexLock lock(&mu_);
  auto it = files_.find(fname);
  if (it != files_.end() && it->second.open_writers > 0) {
    it->second.open_writers--;
  }
}

rocksdb::IOStatus PowerLossFs::OnDirSync(const std::string& dir) {
  MutexLock lock(&mu_);
  if (!TakeOp()) {
    return PowerOff();
  }
  unsynced_dirs_.erase(dir);
  return rocksdb::IOStatus::OK();
}

StatusOr<PowerLossFs::Loss> PowerLossFs::RestorePower(std::mt19937_64* torn) {
  MutexLock lock(&mu_);
  powered_ = false;
  cut_at_op_ = 0;
  for (const auto& [name, f] : files_) {
    if (f.open_writers > 0) {
      return Status::FailedPrecondition("PowerLossFs: " + name +
                                        " is still open for writing; close the database first");
    }
  }
  // The repairs go to the disk directly (RocksDB's POSIX FileSystem has no
  // Truncate).
  namespace fs = std::filesystem;
  Loss loss;
  std::error_code ec;
  for (const auto& [name, f] : files_) {
    std::uint64_t keep = f.synced;
    if (torn != nullptr && f.written > f.synced) {
      keep += std::uniform_int_distribution<std::uint64_t>(0, f.written - f.synced)(*torn);
    }
    if (keep >= f.written || !fs::exists(name)) {
      continue;
    }
    fs::resize_file(name, keep, ec);
    if (ec) {
      return Status::Internal("PowerLossFs: cannot cut " + name + ": " + ec.message());
    }
    loss.files_cut++;
    loss.bytes_lost += f.written - keep;
  }
  for (auto& [dir, changes] : unsynced_dirs_) {
    for (auto c = changes.rbegin(); c != changes.rend(); ++c) {
      const bool present = fs::exists(c->name);
      if (c->kind == DirEntryChange::Kind::kCreated) {
        if (present) {
          fs::remove(c->name, ec);
        }
      } else {
        if (present) {
          fs::rename(c->name, c->from, ec);
        }
        if (!ec && c->replaced.has_value()) {
          std::ofstream out(c->name, std::ios::binary | std::ios::trunc);
          out << *c->replaced;
          if (!out) {
            ec = std::make_error_code(std::errc::io_error);
          }
        }
      }
      if (ec) {
        return Status::Internal("PowerLossFs: cannot undo the entry " + c->name + ": " +
                                ec.message());
      }
      loss.entries_undone++;
    }
  }
  files_.clear();
  unsynced_dirs_.clear();
  powered_ = true;
  return loss;
}

}  // namespace touchline::testing
