// tlctl: offline tools over a touchline data directory, opened read-only (so
// it can run beside a live server; it sees the log as of the moment it
// opened).
//
//   tlctl replay --data-dir D [--from SEQ] [--to SEQ] [--customer C]
//                [--type T] [--since TIME] [--until TIME]
//       prints stored records as NDJSON, in seq order, byte-for-byte as
//       stored (the bytes the audit trail hashes).
//   tlctl stats --data-dir D [--scan] [--json]
//       head seq, format version, RocksDB sizes per column family; --scan
//       also counts customers and events per type and channel.
//
// Exit codes: 0 ok, 1 error (message on stderr), 2 bad usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "core/time_format.h"
#include "store/event_log.h"

namespace {

using touchline::Seq;
using touchline::Status;
using touchline::StatusOr;
using touchline::store::EventLog;
using touchline::store::EventLogOptions;

StatusOr<std::unique_ptr<EventLog>> OpenReadOnly(const std::string& dir) {
  EventLogOptions options;
  options.path = dir;
  options.read_only = true;
  options.block_cache_bytes = 64u << 20;
  return EventLog::Open(options);
}

int Fail(const Status& s) {
  std::fprintf(stderr, "tlctl: %s\n", s.ToString().c_str());
  return 1;
}

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
      if ((!a.customer.empty() && r.customer != a.customer) || !TypeMatches(r.type, a.type) ||
          (since && r.time_us < *since) || (until && r.time_us >= *until)) {
        continue;
      }
      out += r.json;
      out.push_back('\n');
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      return 1;  // stdout closed (e.g. piped into head)
    }
    next = records->back().seq + 1;
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
        types[r.type]++;
        channels[r.channel.empty() ? "(none)" : r.channel]++;
        customers.insert(r.customer);
      }
      next = records->back().seq + 1;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tlctl: offline tools for a touchline data directory"};
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

  CLI11_PARSE(app, argc, argv);
  if (r->parsed()) {
    if (replay.to != 0 && replay.to < replay.from) {
      std::fprintf(stderr, "tlctl: --to must not be below --from\n");
      return 2;
    }
    return Replay(replay);
  }
  return Stats(stats_dir, scan, as_json);
}
