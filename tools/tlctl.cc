// tlctl: offline tools over a touchline data directory. replay and stats
// open it read-only (so they can run beside a live server; they see the log
// as of the moment they opened it); rebuild opens it for writing.
//
//   tlctl replay --data-dir D [--from SEQ] [--to SEQ] [--customer C]
//                [--type T] [--since TIME] [--until TIME]
//       prints records as NDJSON, in seq order, opened as the API returns
//       them (identities and data decrypted; "[erased]" for erased
//       customers).
//   tlctl verify (--data-dir D | --export FILE
//                 | --server URL [--key K] [--from SEQ] [--to SEQ])
//                [--against CHECKPOINT_FILE] [--public-key KEY] [--json]
//       recomputes every leaf and the whole Merkle tree, checks every
//       checkpoint's signature and root, gap-free seqs and stream versions,
//       and prints a report naming the first bad seq (store/log_verifier.h);
//       exit code 1 on any finding.
//   tlctl export --data-dir D [--from SEQ] [--to SEQ] [--with-keys] [--out F]
//       the log as NDJSON: stored (sealed) bytes, checkpoints, what is
//       needed to verify a range (store/log_export.h).
//   tlctl import FILE --data-dir NEW
//       a whole export into a new directory: same seqs, same root.
//   tlctl stats --data-dir D [--scan] [--json]
//       head seq, format version, RocksDB sizes per column family; --scan
//       also counts customers and events per type and channel.
//
//   tlctl rebuild NAME --data-dir D [--identity-limits L]
//       refolds projection NAME ("customers") from seq 0 with a progress bar
//       on stderr (events done / total, rate, ETA). It needs the directory
//       for itself: stop touchlined first, or rebuild online with
//       POST /v1/projections/NAME/rebuild.
//
//   tlctl keys create --data-dir D --name NAME --role ROLE [--json]
//       creates an API key and prints it once (only its hash is kept);
//       ROLE is ingest, agent, auditor or admin (api/auth.h).
//   tlctl keys list --data-dir D [--json]
//   tlctl keys revoke --data-dir D NAME_OR_ID
//       Keys live in D/api_keys.json (store/api_keys.h); a running server
//       picks changes up within a second.
//
//   tlctl backup DIR --server URL [--key KEY]
//       asks a running server (http://host:port) to back its data directory
//       up into DIR (a directory on the server's machine; incremental; the
//       key needs the admin role, or TOUCHLINE_API_KEY holds it).
//   tlctl backup DIR --data-dir D
//       the same for a stopped server's data directory.
//   tlctl restore DIR --data-dir D
//       restores the latest backup in DIR into D (missing or empty), after
//       verifying every file's checksum, and prints the restored head.
//
// Exit codes: 0 ok, 1 error (message on stderr), 2 bad usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "core/time_format.h"
#include "projections/customer_view_projection.h"
#include "projections/projection_runner.h"
#include "store/api_keys.h"
#include "store/backup.h"
#include "store/event_log.h"
#include "tools/tlctl_audit.h"
#include "tools/tlctl_common.h"

namespace {

using touchline::Seq;
using touchline::Status;
using touchline::StatusOr;
using touchline::store::EventLog;
using touchline::store::EventLogOptions;
using touchline::tools::Fail;
using touchline::tools::HttpRequest;
using touchline::tools::KeyOrEnvironment;
using touchline::tools::OpenReadOnly;
using touchline::tools::OpenWritable;
using touchline::tools::PrintProgress;

bool TypeMatches(const std::string& type, const std::string& filter) {
  return filter.empty() || type == filter ||
         (type.starts_with(filter) && type.size() > filter.size() && type[filter.size()] == '.');
}

struct ReplayArgs {
  std::string data_dir;
  Seq from = 1;
  Seq to = 0;  // 0 = head
  std::string customer;
  std::string type;
  std::string since;
  std::string until;
};

int Replay(const ReplayArgs& a) {
  std::optional<std::int64_t> since, until;
  if (!a.since.empty()) {
    auto t = touchline::ParseRfc3339(a.since);
    if (!t.ok()) {
      return Fail(t.status().WithPrefix("--since"));
    }
    since = *t;
  }
  if (!a.until.empty()) {
    auto t = touchline::ParseRfc3339(a.until);
    if (!t.ok()) {
      return Fail(t.status().WithPrefix("--until"));
    }
    until = *t;
  }
  auto log = OpenReadOnly(a.data_dir);
  if (!log.ok()) {
    return Fail(log.status());
  }
  const Seq last = a.to == 0 ? (*log)->head() : std::min(a.to, (*log)->head());
  std::string out;
  for (Seq next = std::max<Seq>(a.from, 1); next <= last;) {
    auto records = (*log)->ReadFrom(next, std::min<Seq>(1000, last - next + 1));
    if (!records.ok()) {
      return Fail(records.status());
    }
    if (records->empty()) {
      break;
    }
    out.clear();
    for (const auto& r : *records) {
      if ((!a.customer.empty() && r->customer != a.customer) || !TypeMatches(r->type, a.type) ||
          (since && r->time_us < *since) || (until && r->time_us >= *until)) {
        continue;
      }
      out += r->json;
      out.push_back('\n');
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      return 1;  // stdout closed (e.g. piped into head)
    }
    next = records->back()->seq + 1;
  }
  return 0;
}

int Stats(const std::string& dir, bool scan, bool as_json) {
  auto log = OpenReadOnly(dir);
  if (!log.ok()) {
    return Fail(log.status());
  }
  const auto stats = (*log)->Stats();
  boost::json::object o;
  o["data_dir"] = dir;
  o["head"] = stats.head;
  o["format_version"] = stats.format_version;
  boost::json::array cfs;
  for (const auto& c : stats.column_families) {
    cfs.push_back({{"name", c.name},
                   {"estimated_keys", c.estimated_keys},
                   {"sst_bytes", c.sst_bytes},
                   {"memtable_bytes", c.memtable_bytes}});
  }
  o["column_families"] = cfs;
  std::map<std::string, std::uint64_t> types, channels;
  std::set<std::string> customers;
  if (scan) {
    for (Seq next = 1; next <= stats.head;) {
      auto records = (*log)->ReadFrom(next, 5000);
      if (!records.ok()) {
        return Fail(records.status());
      }
      if (records->empty()) {
        break;
      }
      for (const auto& r : *records) {
        types[r->type]++;
        channels[r->channel.empty() ? "(none)" : r->channel]++;
        customers.insert(r->customer);
      }
      next = records->back()->seq + 1;
    }
    o["customers"] = customers.size();
    boost::json::object t, c;
    for (const auto& [k, v] : types) {
      t[k] = v;
    }
    for (const auto& [k, v] : channels) {
      c[k] = v;
    }
    o["events_by_type"] = t;
    o["events_by_channel"] = c;
  }
  if (as_json) {
    std::cout << boost::json::serialize(o) << "\n";
    return 0;
  }
  std::printf("data dir        %s\nformat version  %d\nhead seq        %llu\n", dir.c_str(),
              stats.format_version, static_cast<unsigned long long>(stats.head));
  std::printf("\n%-12s %14s %14s %14s\n", "column", "~keys", "sst bytes", "memtable bytes");
  for (const auto& c : stats.column_families) {
    std::printf("%-12s %14llu %14llu %14llu\n", c.name.c_str(),
                static_cast<unsigned long long>(c.estimated_keys),
                static_cast<unsigned long long>(c.sst_bytes),
                static_cast<unsigned long long>(c.memtable_bytes));
  }
  if (scan) {
    std::printf("\ncustomers       %zu\n\n%-40s %12s\n", customers.size(), "type", "events");
    for (const auto& [k, v] : types) {
      std::printf("%-40s %12llu\n", k.c_str(), static_cast<unsigned long long>(v));
    }
    std::printf("\n%-40s %12s\n", "channel", "events");
    for (const auto& [k, v] : channels) {
      std::printf("%-40s %12llu\n", k.c_str(), static_cast<unsigned long long>(v));
    }
  }
  return 0;
}

int Rebuild(const std::string& name, const std::string& dir, const std::string& limits_text) {
  if (name != touchline::projections::kCustomersProjection) {
    std::fprintf(stderr, "tlctl: no projection named '%s'; the projections are: customers\n",
                 name.c_str());
    return 2;
  }
  auto limits = touchline::projections::IdentityLimits::Parse(limits_text);
  if (!limits.ok()) {
    return Fail(limits.status().WithPrefix("--identity-limits"));
  }
  auto log = OpenWritable(dir, 256u << 20);
  if (!log.ok()) {
    std::fprintf(stderr,
                 "tlctl: %s\n(is touchlined running on this directory? stop it first, or "
                 "rebuild online with POST /v1/projections/%s/rebuild)\n",
                 log.status().ToString().c_str(), name.c_str());
    return 1;
  }
  touchline::projections::RunnerOptions ropts;
  ropts.max_batch = 8192;
  auto runner = touchline::projections::ProjectionRunner::Create(
      log->get(), std::make_unique<touchline::projections::CustomerViewProjection>(*limits), ropts);
  if (!runner.ok()) {
    return Fail(runner.status());
  }
  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  Seq last_done = 0, last_total = (*log)->head();
  Status s = (*runner)->CatchUp(/*rebuild=*/true, [&](Seq done, Seq total) {
    last_done = done;
    last_total = total;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print > std::chrono::milliseconds(200)) {
      PrintProgress(done, total, start, false);
      last_print = now;
    }
  });
  PrintProgress(last_done, last_total, start, true);
  if (!s.ok()) {
    return Fail(s);
  }
  std::printf("rebuilt projection %s up to seq %llu\n", name.c_str(),
              static_cast<unsigned long long>((*runner)->checkpoint()));
  return 0;
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

boost::json::object KeyJson(const touchline::store::ApiKeyRecord& k) {
  boost::json::object o;
  o["id"] = k.id;
  o["name"] = k.name;
  o["role"] = touchline::store::RoleName(k.role);
  o["created_at"] = touchline::FormatRfc3339(k.created_at_us);
  if (k.revoked_at_us) {
    o["revoked_at"] = touchline::FormatRfc3339(*k.revoked_at_us);
  }
  return o;
}

int CreateKey(const std::string& dir, const std::string& name, const std::string& role_name,
              bool as_json) {
  auto role = touchline::store::ParseRole(role_name);
  if (!role.ok()) {
    return Fail(role.status());
  }
  auto created = touchline::store::CreateApiKey(dir, name, *role, NowMicros());
  if (!created.ok()) {
    return Fail(created.status());
  }
  if (as_json) {
    boost::json::object o = KeyJson(created->record);
    o["key"] = created->secret;
    std::printf("%s\n", boost::json::serialize(o).c_str());
  } else {
    std::printf("%s\n", created->secret.c_str());
    std::fprintf(stderr,
                 "tlctl: created key \"%s\" (id %s, role %s). It is shown only this once: "
                 "store it now. Send it as \"Authorization: Bearer <key>\".\n",
                 name.c_str(), created->record.id.c_str(), role_name.c_str());
  }
  return 0;
}

int ListKeys(const std::string& dir, bool as_json) {
  auto keys = touchline::store::ReadApiKeys(dir);
  if (!keys.ok()) {
    return Fail(keys.status());
  }
  if (as_json) {
    boost::json::array arr;
    for (const auto& k : *keys) {
      arr.push_back(KeyJson(k));
    }
    std::printf("%s\n", boost::json::serialize(arr).c_str());
    return 0;
  }
  std::printf("%-12s  %-24s  %-8s  %-20s  %s\n", "ID", "NAME", "ROLE", "CREATED", "REVOKED");
  for (const auto& k : *keys) {
    std::printf(
        "%-12s  %-24s  %-8s  %-20s  %s\n", k.id.c_str(), k.name.c_str(),
        std::string(touchline::store::RoleName(k.role)).c_str(),
        touchline::FormatRfc3339(k.created_at_us).substr(0, 19).c_str(),
        k.revoked_at_us ? touchline::FormatRfc3339(*k.revoked_at_us).substr(0, 19).c_str() : "-");
  }
  return 0;
}

int Backup(const std::string& backup_dir, const std::string& server, std::string key,
           const std::string& data_dir) {
  const std::string dir = std::filesystem::absolute(backup_dir).string();
  if (!server.empty()) {
    boost::json::object body;
    body["dir"] = dir;
    auto r = HttpRequest(server, "POST", "/v1/admin/backups", KeyOrEnvironment(std::move(key)),
                         boost::json::serialize(body));
    if (!r.ok()) {
      return Fail(r.status());
    }
    if (r->status != 201) {
      std::fprintf(stderr, "tlctl: the server answered %d: %s\n", r->status, r->body.c_str());
      return 1;
    }
    std::printf("%s\n", r->body.c_str());
    return 0;
  }
  auto log = OpenWritable(data_dir, 64u << 20);
  if (!log.ok()) {
    return Fail(log.status().WithPrefix(
        "opening the data directory (if touchlined is running, use --server instead)"));
  }
  auto info = touchline::store::BackupDataDir(log->get(), data_dir, dir);
  if (!info.ok()) {
    return Fail(info.status());
  }
  std::printf("{\"backup_id\":%u,\"dir\":%s,\"head\":%llu,\"bytes\":%llu}\n", info->id,
              boost::json::serialize(boost::json::value(dir)).c_str(),
              static_cast<unsigned long long>(info->head),
              static_cast<unsigned long long>(info->bytes));
  return 0;
}

int Restore(const std::string& backup_dir, const std::string& data_dir) {
  auto head = touchline::store::RestoreDataDir(backup_dir, data_dir);
  if (!head.ok()) {
    return Fail(head.status());
  }
  std::printf("restored %s into %s: head seq %llu, checksums verified\n", backup_dir.c_str(),
              data_dir.c_str(), static_cast<unsigned long long>(*head));
  return 0;
}

int RevokeKey(const std::string& dir, const std::string& which) {
  auto revoked = touchline::store::RevokeApiKey(dir, which, NowMicros());
  if (!revoked.ok()) {
    return Fail(revoked.status());
  }
  std::printf("revoked key \"%s\" (id %s)\n", revoked->name.c_str(), revoked->id.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tlctl: tools for a touchline data directory"};
  app.require_subcommand(1);

  ReplayArgs replay;
  auto* r = app.add_subcommand("replay", "Print stored events as NDJSON, in seq order");
  r->add_option("--data-dir", replay.data_dir, "Data directory")->required();
  r->add_option("--from", replay.from, "First seq (inclusive)")->check(CLI::PositiveNumber);
  r->add_option("--to", replay.to, "Last seq (inclusive; default: head)");
  r->add_option("--customer", replay.customer, "Only this customer's events");
  r->add_option("--type", replay.type, "Only this type or its dotted sub-types");
  r->add_option("--since", replay.since, "Only events whose time is at or after (RFC 3339)");
  r->add_option("--until", replay.until, "Only events whose time is before (RFC 3339)");

  std::string stats_dir;
  bool scan = false, as_json = false;
  auto* s = app.add_subcommand("stats", "Show the size and shape of a data directory");
  s->add_option("--data-dir", stats_dir, "Data directory")->required();
  s->add_flag("--scan", scan, "Read every event to count customers, types and channels");
  s->add_flag("--json", as_json, "Print JSON instead of a table");

  std::string rebuild_name, rebuild_dir, rebuild_limits;
  auto* b = app.add_subcommand("rebuild", "Refold a projection from seq 0 (server stopped)");
  b->add_option("name", rebuild_name, "Projection name (customers)")->required();
  b->add_option("--data-dir", rebuild_dir, "Data directory")->required();
  b->add_option("--identity-limits", rebuild_limits,
                "As touchlined's --identity-limits (must match the server's, or the server "
                "rebuilds again at start-up)");

  std::string keys_dir, key_name, key_role, key_which;
  bool keys_json = false;
  auto* k = app.add_subcommand("keys", "Create, list and revoke API keys");
  k->require_subcommand(1);
  auto* kc = k->add_subcommand("create", "Create a key and print it (shown only once)");
  kc->add_option("--data-dir", keys_dir, "Data directory")->required();
  kc->add_option("--name", key_name, "Name, recorded as the actor of what the key does")
      ->required();
  kc->add_option("--role", key_role, "ingest, agent, auditor or admin")
      ->required()
      ->check(CLI::IsMember({"ingest", "agent", "auditor", "admin"}));
  kc->add_flag("--json", keys_json, "Print the key and its record as JSON");
  auto* kl = k->add_subcommand("list", "List keys (never their secrets)");
  kl->add_option("--data-dir", keys_dir, "Data directory")->required();
  kl->add_flag("--json", keys_json, "Print JSON instead of a table");
  auto* kr = k->add_subcommand("revoke", "Revoke a key by name or id");
  kr->add_option("--data-dir", keys_dir, "Data directory")->required();
  kr->add_option("key", key_which, "The key's name or id")->required();

  std::string backup_dir, backup_server, backup_key, backup_data;
  auto* bk = app.add_subcommand("backup", "Back a data directory up (running server or stopped)");
  bk->add_option("dir", backup_dir, "Backup directory (incremental)")->required();
  auto* bk_server = bk->add_option("--server", backup_server, "A running server, http://host:port");
  bk->add_option("--key", backup_key, "An admin API key (default: $TOUCHLINE_API_KEY)");
  auto* bk_data = bk->add_option("--data-dir", backup_data, "A stopped server's data directory");
  bk_server->excludes(bk_data);
  std::string restore_dir, restore_data;
  auto* rs = app.add_subcommand("restore", "Restore the latest backup into an empty directory");
  rs->add_option("dir", restore_dir, "Backup directory")->required();
  rs->add_option("--data-dir", restore_data, "Data directory to create")->required();

  touchline::tools::VerifyArgs verify;
  auto* vf = app.add_subcommand("verify", "Check that nothing in a log was altered or removed");
  auto* vf_data = vf->add_option("--data-dir", verify.data_dir, "A data directory (read-only)");
  auto* vf_export =
      vf->add_option("--export", verify.export_file, "An export file (tlctl export; - for stdin)");
  auto* vf_server = vf->add_option("--server", verify.server, "A running server, http://host:port");
  vf_data->excludes(vf_export)->excludes(vf_server);
  vf_export->excludes(vf_server);
  vf->add_option("--key", verify.key, "An auditor API key (default: $TOUCHLINE_API_KEY)");
  vf->add_option("--from", verify.from, "--server: first seq")->check(CLI::PositiveNumber);
  vf->add_option("--to", verify.to, "--server: last seq (default: head)");
  vf->add_option("--against", verify.against_file,
                 "A checkpoint saved earlier (GET /v1/audit/checkpoint's answer, or its note): "
                 "the log must still extend it")
      ->check(CLI::ExistingFile);
  vf->add_option("--public-key", verify.public_key,
                 "The key to trust for signatures: a verifier key, or a file holding one");
  vf->add_flag("--json", verify.json, "Print the report as JSON");

  touchline::tools::ExportArgs exporting;
  auto* ex = app.add_subcommand("export", "Write the log as NDJSON for auditors or import");
  ex->add_option("--data-dir", exporting.data_dir, "Data directory (read-only)")->required();
  ex->add_option("--from", exporting.from, "First seq")->check(CLI::PositiveNumber);
  ex->add_option("--to", exporting.to, "Last seq (default: head)");
  ex->add_flag("--with-keys", exporting.with_keys,
               "Include the customers' data keys (the export can then be read: guard it)");
  ex->add_option("--out", exporting.out, "Output file (default: standard output)");

  std::string import_file, import_dir;
  auto* im = app.add_subcommand("import", "Import a whole export into a new data directory");
  im->add_option("file", import_file, "The export (- for standard input)")->required();
  im->add_option("--data-dir", import_dir, "Data directory to create")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every usage error is exit code 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (vf->parsed()) {
    if (verify.data_dir.empty() + verify.export_file.empty() + verify.server.empty() != 2) {
      std::fprintf(stderr, "tlctl: verify needs one of --data-dir, --export or --server\n");
      return 2;
    }
    return touchline::tools::Verify(verify);
  }
  if (ex->parsed()) {
    if (exporting.to != 0 && exporting.to < exporting.from) {
      std::fprintf(stderr, "tlctl: --to must not be below --from\n");
      return 2;
    }
    return touchline::tools::Export(exporting);
  }
  if (im->parsed()) {
    return touchline::tools::Import(import_file, import_dir);
  }
  if (bk->parsed()) {
    if (backup_server.empty() == backup_data.empty()) {
      std::fprintf(stderr, "tlctl: backup needs --server URL or --data-dir D\n");
      return 2;
    }
    return Backup(backup_dir, backup_server, backup_key, backup_data);
  }
  if (rs->parsed()) {
    return Restore(restore_dir, restore_data);
  }
  if (kc->parsed()) {
    return CreateKey(keys_dir, key_name, key_role, keys_json);
  }
  if (kl->parsed()) {
    return ListKeys(keys_dir, keys_json);
  }
  if (kr->parsed()) {
    return RevokeKey(keys_dir, key_which);
  }
  if (b->parsed()) {
    return Rebuild(rebuild_name, rebuild_dir, rebuild_limits);
  }
  if (r->parsed()) {
    if (replay.to != 0 && replay.to < replay.from) {
      std::fprintf(stderr, "tlctl: --to must not be below --from\n");
      return 2;
    }
    return Replay(replay);
  }
  return Stats(stats_dir, scan, as_json);
}
