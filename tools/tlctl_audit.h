// tlctl's auditor commands: verify, export and import (tools/tlctl.cc
// parses their flags; the work is in store/log_verifier.h,
// store/log_export.h and store/log_import.h).
//
// Thread safety: single-threaded tool code.
#pragma once

#include <string>

#include "core/event.h"

namespace touchline::tools {

struct VerifyArgs {
  // Exactly one source.
  std::string data_dir;
  std::string export_file;  // "-" for standard input
  std::string server;       // http://host:port: its GET /v1/audit/export
  std::string key;          // for --server (default $TOUCHLINE_API_KEY)
  Seq from = 1;             // --server only: a range of the log
  Seq to = 0;
  // A checkpoint saved earlier (file), and the key to trust (a verifier
  // key, or a file holding one or GET /v1/audit/public-key's answer).
  std::string against_file;
  std::string public_key;
  bool json = false;
};
// Prints the report; exit code 0 if the log verifies, 1 on any finding or
// error.
int Verify(const VerifyArgs& args);

struct ExportArgs {
  std::string data_dir;
  Seq from = 1;
  Seq to = 0;  // 0: the head
  bool with_keys = false;
  std::string out;  // empty or "-": standard output
};
int Export(const ExportArgs& args);

// Imports an export file ("-": standard input) into a new data directory.
int Import(const std::string& file, const std::string& data_dir);

}  // namespace touchline::tools
