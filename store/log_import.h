// Imports a whole export (store/log_export.h) into a new data directory:
// the same stored bytes under the same seqs, so the same Merkle root and
// the same checkpoints, which still verify (the export's signing keys are
// registered; the new directory signs its own checkpoints from then on
// with a key of its own). The stream, event id and tree indexes are built
// from the records; erasure tombstones and, for an export made with keys,
// the customers' data keys are restored. Projections are not exported: a
// server started on the directory folds them from seq 0.
//
// `tlctl import` calls it. The directory must not exist or be empty.
//
// Thread safety: a function of its arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "store/merkle.h"

namespace touchline::store {

struct ImportReport {
  std::string origin;
  std::uint64_t records = 0;
  Hash root{};
  std::uint64_t checkpoints = 0;
  std::uint64_t keys = 0;
  std::uint64_t erased = 0;
};

// Reads the export line by line (`next_line` as for VerifyExport) into
// `data_dir`. Returns InvalidArgument for something that is not a whole
// export (one that starts after seq 1, is cut short, or whose records do
// not make the root its end line names), FailedPrecondition if `data_dir`
// holds anything, storage errors otherwise. On an error the directory is
// left as it is, to be deleted.
StatusOr<ImportReport> ImportExport(const std::string& data_dir,
                                    const std::function<bool(std::string*)>& next_line);

}  // namespace touchline::store
