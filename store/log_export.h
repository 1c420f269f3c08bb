// The export format: a log (or a range of it) as NDJSON that an auditor can
// verify without touchline, that `tlctl verify --export` checks, and that
// `tlctl import` turns back into a data directory with the same seqs and
// the same Merkle root. `tlctl export` and GET /v1/audit/export write it.
//
// Lines, in this order:
//   {"touchline_export":1,"origin":"...","from":F,"to":T,"head":H,
//    "tree_size":F-1,"compact_range":["<hex>",...],"public_keys":["<verifier key>",...],
//    "with_keys":false}
//       compact_range: the perfect subtrees of the tree of records 1..F-1
//       (store/merkle.h), so the root of every later size can be computed
//       from a partial export; public_keys: every key of the log's
//       checkpoints (store/checkpoint.h).
//   {"checkpoint":{...}}
//       Every stored checkpoint of a tree size from F-1 (at least 1) to T,
//       smallest first, as CheckpointJson (its "note" is the signed note).
//       They come before the records so a verifier reading the export once
//       can check each root as the tree reaches its size.
//   {"record":"<base64>"}  or  {"seq":F,...}
//       The records F..T, in order, each line carrying its exact stored
//       bytes (sealed; store/record_format.h): a format-4 (binary) record
//       as the base64 of its bytes, a format-3 (JSON) record as the line
//       itself. leaf = SHA-256(0x00 || stored bytes).
//   {"erased":{"customer":"c-9","seq":N}}
//       Every erased customer (the seq of its customer.erased event).
//   {"key":{"customer":"c-1","key":"<base64>"}}
//       Only with keys: the data key of every customer not erased. An export
//       without them holds no personal data in a readable form at all; one
//       with them can be read and must be guarded like the data directory.
//   {"end":{"records":N,"root":"<hex>"}}
//       The root of the tree of records 1..T: a truncated export is evident.
//
// Thread safety: an ExportWriter is used by one thread at a time; the log
// must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "store/event_log.h"

namespace touchline::store {

struct ExportOptions {
  Seq from = 1;
  Seq to = 0;  // 0: the head when the export begins
  bool with_keys = false;
  std::size_t chunk_records = 1000;
};

class ExportWriter {
 public:
  // Checks the range and prepares the header. InvalidArgument for a range
  // outside 1..head, FailedPrecondition for a log without integrity.
  static StatusOr<std::unique_ptr<ExportWriter>> Begin(const EventLog& log, ExportOptions options);

  // The next lines of the export (whole lines, each ending in '\n'), or ""
  // once everything was returned. Storage errors (DataLoss for a missing
  // record) end the export.
  StatusOr<std::string> Next();

 private:
  ExportWriter(const EventLog& log, ExportOptions options) : log_(log), options_(options) {}
  Status Prepare();

  const EventLog& log_;
  const ExportOptions options_;
  enum class Phase : std::uint8_t { kHeader, kRecords, kTrailer, kDone };
  // The header line and the checkpoint lines.
  Phase phase_ = Phase::kHeader;
  std::string header_;
  Seq next_ = 0;
  CompactRange tree_;  // of the records written so far, for the trailer
};

}  // namespace touchline::store
