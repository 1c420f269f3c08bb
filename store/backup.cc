#include "store/backup.h"

#include <rocksdb/utilities/backup_engine.h>

#include <filesystem>

#include "store/api_keys.h"
#include "store/checkpoint.h"
#include "store/internal/rocks_status.h"

namespace touchline::store {
namespace fs = std::filesystem;
using internal::FromRocks;

namespace {

// Copies `from` to `to` through a temporary file and a rename.
Status CopyFileAtomically(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::exists(from, ec)) {
    return Status::Ok();
  }
  const fs::path tmp = to.string() + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) {
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);
  }
  if (!ec) {
    fs::rename(tmp, to, ec);
  }
  if (ec) {
    return Status::Unavailable("copying " + from.string() + " to " + to.string() + ": " +
                               ec.message());
  }
  return Status::Ok();
}

}  // namespace

StatusOr<BackupInfo> BackupDataDir(EventLog* log, const std::string& data_dir,
                                   const std::string& backup_dir) {
  ASSIGN_OR_RETURN(BackupInfo info, log->Backup(backup_dir));
  // After the database: a key created meanwhile is in the copy, and a key
  // in the copy never names events the backup lacks.
  RETURN_IF_ERROR(CopyFileAtomically(ApiKeyFilePath(data_dir), ApiKeyFilePath(backup_dir)));
  // The checkpoint signing key, so the restored log signs as it did (a key
  // kept elsewhere with --signing-key is the operator's to keep).
  RETURN_IF_ERROR(CopyFileAtomically(SigningKeyFilePath(data_dir), SigningKeyFilePath(backup_dir)));
  return info;
}

StatusOr<Seq> RestoreDataDir(const std::string& backup_dir, const std::string& data_dir) {
  std::error_code ec;
  if (fs::exists(data_dir, ec) && !fs::is_empty(data_dir, ec)) {
    return Status::FailedPrecondition("'" + data_dir +
                                      "' is not empty; restore into a new directory");
  }
  if (!fs::exists(fs::path(backup_dir) / "meta", ec)) {
    return Status::NotFound("no backup in '" + backup_dir + "'");
  }
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  RETURN_IF_ERROR(
      FromRocks(rocksdb::BackupEngineReadOnly::Open(rocksdb::Env::Default(),
                                                    rocksdb::BackupEngineOptions(backup_dir), &raw),
                "opening the backup"));
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw);
  std::vector<rocksdb::BackupInfo> backups;
  engine->GetBackupInfo(&backups);
  if (backups.empty()) {
    return Status::NotFound("no backup in '" + backup_dir + "'");
  }
  const auto latest = backups.back().backup_id;
  RETURN_IF_ERROR(FromRocks(engine->VerifyBackup(latest, /*verify_with_checksum=*/true),
                            "verifying backup " + std::to_string(latest)));
  fs::create_directories(data_dir, ec);
  RETURN_IF_ERROR(FromRocks(engine->RestoreDBFromBackup(latest, data_dir, data_dir),
                            "restoring backup " + std::to_string(latest)));
  RETURN_IF_ERROR(CopyFileAtomically(ApiKeyFilePath(backup_dir), ApiKeyFilePath(data_dir)));
  RETURN_IF_ERROR(CopyFileAtomically(SigningKeyFilePath(backup_dir), SigningKeyFilePath(data_dir)));
  EventLogOptions options;
  options.path = data_dir;
  options.read_only = true;
  options.block_cache_bytes = 8u << 20;
  ASSIGN_OR_RETURN(auto log, EventLog::Open(options));
  return log->head();
}

}  // namespace touchline::store
