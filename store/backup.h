// Backups of a whole data directory: the event log (RocksDB BackupEngine,
// incremental, consistent while the server appends) plus the API key file
// and the checkpoint signing key beside it. Used by POST /v1/admin/backups (a running server) and
// tlctl backup/restore.
//
// A backup directory holds RocksDB's private/, shared_checksum/ and meta/
// folders and copies of api_keys.json and audit_signing.key taken after the
// database backup. Backups hold customers' data keys as they were when
// taken: a customer erased later can still be read from an older backup,
// so expire backups as the erasure policy requires.
//
// Thread safety: BackupDataDir may run beside appends; one backup into a
// given directory at a time (BackupEngine locks it).
#pragma once

#include <string>

#include "core/status.h"
#include "store/event_log.h"

namespace touchline::store {

StatusOr<BackupInfo> BackupDataDir(EventLog* log, const std::string& data_dir,
                                   const std::string& backup_dir);

// Restores the latest backup in `backup_dir` into `data_dir`, which must be
// missing or empty (FailedPrecondition otherwise: a restore never overwrites
// data). Every file's checksum is verified first (DataLoss on a mismatch).
// Returns the restored log's head.
StatusOr<Seq> RestoreDataDir(const std::string& backup_dir, const std::string& data_dir);

}  // namespace touchline::store
