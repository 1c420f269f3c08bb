#include "tools/tlctl_audit.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "store/log_export.h"
#include "store/log_import.h"
#include "store/log_verifier.h"
#include "tools/tlctl_common.h"

namespace touchline::tools {
namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound("cannot read '" + path + "'");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A verifier key given as text, or as a file holding one (or the JSON of
// GET /v1/audit/public-key, or of a saved checkpoint).
StatusOr<store::PublicKey> LoadPublicKey(const std::string& text_or_file) {
  std::string text = text_or_file;
  if (std::ifstream(text_or_file).good()) {
    ASSIGN_OR_RETURN(text, ReadFile(text_or_file));
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.pop_back();
  }
  if (text.starts_with("{")) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* vk = o == nullptr ? nullptr : o->if_contains("verifier_key");
    if (vk == nullptr || !vk->is_string()) {
      return Status::InvalidArgument("--public-key: the JSON has no \"verifier_key\"");
    }
    text = std::string(vk->as_string());
  }
  return store::ParseVerifierKey(text);
}

// Reads lines from a file or standard input.
class FileLines {
 public:
  explicit FileLines(const std::string& path) {
    if (path != "-") {
      file_.open(path);
      in_ = &file_;
    }
  }
  bool ok() const { return in_->good(); }
  bool Next(std::string* line) { return static_cast<bool>(std::getline(*in_, *line)); }

 private:
  std::ifstream file_;
  std::istream* in_ = &std::cin;
};

std::string ReportJson(const store::VerifyReport& r) {
  boost::json::object o;
  o["ok"] = r.ok();
  o["origin"] = r.origin;
  o["first"] = r.first;
  o["last"] = r.last;
  o["records"] = r.records;
  o["customers"] = r.customers;
  o["checkpoints"] = r.checkpoints;
  o["root"] = r.root.has_value() ? boost::json::value(store::HashHex(*r.root)) : nullptr;
  o["first_bad_seq"] = r.FirstBadSeq();
  boost::json::array findings;
  for (const auto& f : r.findings) {
    findings.push_back({{"seq", f.seq}, {"what", f.what}});
  }
  o["findings"] = std::move(findings);
  o["findings_total"] = r.findings_total;
  boost::json::array notes;
  for (const auto& n : r.notes) {
    notes.emplace_back(n);
  }
  o["notes"] = std::move(notes);
  return boost::json::serialize(o);
}

}  // namespace

int Verify(const VerifyArgs& args) {
  store::VerifyOptions options;
  if (!args.public_key.empty()) {
    auto key = LoadPublicKey(args.public_key);
    if (!key.ok()) {
      return Fail(key.status().WithPrefix("--public-key"));
    }
    options.trusted_keys.push_back(std::move(key).value());
  }
  if (!args.against_file.empty()) {
    auto text = ReadFile(args.against_file);
    if (!text.ok()) {
      return Fail(text.status().WithPrefix("--against"));
    }
    auto c = store::CheckpointFromText(*text);
    if (!c.ok()) {
      return Fail(c.status().WithPrefix("--against"));
    }
    options.against = std::move(c).value();
    if (options.trusted_keys.empty()) {
      // A checkpoint saved with its verifier key pins that key.
      if (auto key = LoadPublicKey(*text); key.ok()) {
        options.trusted_keys.push_back(std::move(key).value());
      }
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print > std::chrono::milliseconds(200)) {
      PrintProgress(done, total, start, false);
      last_print = now;
    }
  };
  StatusOr<store::VerifyReport> report = Status::Internal("no source");
  if (!args.data_dir.empty()) {
    auto log = OpenReadOnly(args.data_dir);
    if (!log.ok()) {
      return Fail(log.status());
    }
    report = store::VerifyLog(**log, options);
  } else if (!args.export_file.empty()) {
    FileLines lines(args.export_file);
    if (!lines.ok()) {
      return Fail(Status::NotFound("cannot read '" + args.export_file + "'"));
    }
    report = store::VerifyExport([&](std::string* l) { return lines.Next(l); }, options);
  } else {
    std::string path = "/v1/audit/export?from=" + std::to_string(args.from);
    if (args.to != 0) {
      path += "&to=" + std::to_string(args.to);
    }
    auto lines = HttpLines::Get(args.server, path, KeyOrEnvironment(args.key));
    if (!lines.ok()) {
      return Fail(lines.status());
    }
    report = store::VerifyExport([&](std::string* l) { return (*lines)->Next(l); }, options);
    if (report.ok() && !(*lines)->status().ok()) {
      return Fail((*lines)->status());
    }
  }
  if (!report.ok()) {
    return Fail(report.status());
  }
  PrintProgress(report->records, report->records, start, true);
  if (args.json) {
    std::printf("%s\n", ReportJson(*report).c_str());
  } else {
    std::fputs(report->Render().c_str(), stdout);
  }
  return report->ok() ? 0 : 1;
}

int Export(const ExportArgs& args) {
  auto log = OpenReadOnly(args.data_dir);
  if (!log.ok()) {
    return Fail(log.status());
  }
  store::ExportOptions options;
  options.from = args.from;
  options.to = args.to;
  options.with_keys = args.with_keys;
  auto writer = store::ExportWriter::Begin(**log, options);
  if (!writer.ok()) {
    return Fail(writer.status());
  }
  std::FILE* out = stdout;
  if (!args.out.empty() && args.out != "-") {
    out = std::fopen(args.out.c_str(), "w");
    if (out == nullptr) {
      return Fail(Status::Unavailable("cannot write '" + args.out + "'"));
    }
  }
  int rc = 0;
  while (true) {
    auto chunk = (*writer)->Next();
    if (!chunk.ok()) {
      rc = Fail(chunk.status());
      break;
    }
    if (chunk->empty()) {
      break;
    }
    if (std::fwrite(chunk->data(), 1, chunk->size(), out) != chunk->size()) {
      rc = Fail(Status::Unavailable("writing the export failed"));
      break;
    }
  }
  if (out != stdout && std::fclose(out) != 0 && rc == 0) {
    rc = Fail(Status::Unavailable("writing '" + args.out + "' failed"));
  }
  if (rc == 0 && args.with_keys) {
    std::fprintf(stderr,
                 "tlctl: this export holds the customers' data keys: whoever has it can read "
                 "their data. Keep it like the data directory itself.\n");
  }
  return rc;
}

int Import(const std::string& file, const std::string& data_dir) {
  FileLines lines(file);
  if (!lines.ok()) {
    return Fail(Status::NotFound("cannot read '" + file + "'"));
  }
  auto report = store::ImportExport(data_dir, [&](std::string* l) { return lines.Next(l); });
  if (!report.ok()) {
    return Fail(report.status());
  }
  std::printf(
      "imported %llu records of %s into %s: root %s, %llu checkpoints, %llu keys, %llu erased "
      "customers\n",
      static_cast<unsigned long long>(report->records), report->origin.c_str(), data_dir.c_str(),
      store::HashHex(report->root).c_str(), static_cast<unsigned long long>(report->checkpoints),
      static_cast<unsigned long long>(report->keys),
      static_cast<unsigned long long>(report->erased));
  return 0;
}

}  // namespace touchline::tools
