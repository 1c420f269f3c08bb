// Durable whole-file replacement for the small files the store keeps beside
// RocksDB: the checkpoint signing key (store/checkpoint.h) and the API key
// file (store/api_keys.h). The pattern is LevelDB's and RocksDB's for
// CURRENT: write a temp file, fsync it, rename it over the target, fsync
// the directory (the rename itself is only durable once the directory is
// synced). Unlike the copies it replaces, every step's result is checked,
// the directory's fsync included.
//
// Thread safety: the functions are, but two writers of the same `path` race
// on its temp file; callers serialise them (api_keys.cc holds a file lock).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace touchline::store::internal {

// Replaces the file `path` with `content`: writes `<path>.tmp` (created
// with mode 0600: these files hold secrets or key hashes), fsyncs and
// closes it, renames it over `path` and fsyncs the directory holding
// `path`. After a crash `path` holds the old content or the new one, never
// a mix; once this returns OK the new content survives a crash.
//
// Returns Unavailable naming the step, the file and errno's text if any
// step fails. Before the rename, the temp file is removed and `path` is
// untouched; if only the directory's fsync fails, `path` already holds the
// new content but it may not survive a crash (retry, or treat the write
// as lost).
Status WriteFileAtomically(const std::string& path, std::string_view content);

// fsyncs the directory `dir` ("" means the current directory), which makes
// renames and creations in it durable. Returns Unavailable if it cannot be
// opened as a directory or the fsync fails.
Status SyncDirectory(const std::string& dir);

}  // namespace touchline::store::internal
