// The auditor's check of a log: everything `tlctl verify` reports.
//
// From the records alone (a data directory, an export, or a server's
// export stream) it recomputes every leaf and the whole Merkle tree
// (store/merkle.h), and checks that
//  - seqs are gap-free and each record is stored under its own seq;
//  - each customer's versions count 1, 2, 3, ... (from wherever a partial
//    export starts);
//  - every checkpoint is signed by a trusted key, and the tree recomputed
//    from the records has that checkpoint's root at its size; no checkpoint
//    is larger than the log (records were removed);
//  - `against`, a checkpoint the auditor saved earlier, holds the same way.
// Over a data directory it also compares every stored tree node with the
// recomputed one (a record altered after it was written no longer matches
// its leaf, which names its seq), and looks for tree leaves past the last
// record (a truncated log).
//
// Trust: checkpoint signatures are checked against `trusted_keys` when
// given (pin the key from GET /v1/audit/public-key, or a saved checkpoint's
// verifier key). Without them, the keys the log registers itself are used,
// which proves the log is consistent with itself, not who signed it.
//
// Thread safety: functions of their arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/checkpoint.h"
#include "store/event_log.h"
#include "store/merkle.h"

namespace touchline::store {

struct VerifyFinding {
  Seq seq = 0;  // the first seq the finding is about (0: none in particular)
  std::string what;
};

struct VerifyReport {
  std::string origin;
  Seq first = 0;  // the range of records read
  Seq last = 0;
  std::uint64_t records = 0;
  std::uint64_t customers = 0;
  std::uint64_t checkpoints = 0;        // checked: signature and root
  std::optional<Hash> root;             // of records 1..last, if recomputable
  std::vector<VerifyFinding> findings;  // the first 100, in the order found
  std::uint64_t findings_total = 0;
  std::vector<std::string> notes;  // facts worth knowing that are not findings

  bool ok() const { return findings_total == 0; }
  // The smallest seq any finding names (0 if none names one).
  Seq FirstBadSeq() const;
  // A human-readable report, ending in "OK" or the first bad seq.
  std::string Render() const;
};

struct VerifyOptions {
  std::optional<Checkpoint> against;
  std::vector<PublicKey> trusted_keys;
  // Called now and then with (records done, records in all).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

// Verifies the log of an open data directory (open it read-only).
// Returns storage errors; everything wrong with the data is a finding.
StatusOr<VerifyReport> VerifyLog(const EventLog& log, const VerifyOptions& options);

// Verifies an export (store/log_export.h) read line by line: `next_line`
// fills its argument with the next line (without '\n') and returns false
// at the end. InvalidArgument if it is not an export at all.
StatusOr<VerifyReport> VerifyExport(const std::function<bool(std::string*)>& next_line,
                                    const VerifyOptions& options);

}  // namespace touchline::store
