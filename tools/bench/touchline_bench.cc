// touchline_bench: macro benchmarks of a real touchlined (spawned from
// --server-bin on 127.0.0.1 with a fresh data directory per round) against
// baselines measured in the same run on the same machine. db_bench style:
// --benchmarks selects workloads, each runs --rounds times and the median
// round (by throughput) is reported with its p50/p99 request latency.
//
// Workloads (all with fsync on every acknowledged write unless noted):
//   ingest_batch           POST /v1/events, --batch events per request,
//                          --batch-connections connections
//   raw_rocksdb_batch      the ceiling (tools/bench/rocks_ceiling.h, the same
//                          as touchline_compare's): the same event bytes
//                          written straight into RocksDB with a per-customer
//                          index, one WriteBatch of --batch events per synced
//                          write, from as many threads as connections
//   ingest_batch_nointegrity
//                          ingest_batch against a server started with
//                          --no-integrity: no Merkle tree, no sealing; the
//                          ratio to ingest_batch is what tamper evidence
//                          and erasure cost
//   verify                 ingest_batch's events written through the server,
//                          which is then stopped; then the auditor's check
//                          of the whole directory in this process (what
//                          tlctl verify --data-dir runs): records/s
//   ingest_segment         two rows: ingest_native_small_batch (POST /v1/events,
//                          --segment-batch events per request) and
//                          ingest_segment (the same events as Segment track
//                          messages, POST /v1/batch); the ratio is what the
//                          Segment mapping costs
//   sink                   webhook sinks in batch mode (--sink-batch events
//                          per request) to a receiver in this process
//                          (tools/bench/sink_receiver.h). Two rows:
//     sink_delivery          ingest_batch's events written first, then a
//                            sink created from the beginning: events/s
//                            from its creation until the receiver has all
//     sink_lag               a sink created first, then ingest_batch's load:
//                            p50/p99 (and the note's max) of each event's
//                            arrival at the receiver minus its recordedat
//   ingest_single          POST /v1/events, one event per request,
//                          --single-connections connections (group commit)
//   ingest_single_nogroup  the same against a server started with
//                          --no-group-commit: one fsync per request
//   raw_rocksdb_single     the ceiling, one synced WriteBatch per event from as
//                          many threads as connections (RocksDB's own group
//                          commit)
//   read_timeline          GET the newest 50 events of customers that have
//                          --hot-events events each, --read-connections
//                          connections
//   customer_view          the customer view (one run yields three rows):
//     view_lag               ingest_batch's load while sampling the view's
//                            checkpoint every 20 ms: the largest lag behind
//                            the head (events, and seconds at the ingest
//                            rate) and the time from the last ack until the
//                            view has folded everything
//     read_view              GET /v1/customers/{id} of Zipf-drawn customers
//                            (--reads, --read-connections)
//     rebuild_view           with the server stopped, the view refolded from
//                            seq 0 in this process (what tlctl rebuild runs)
//   bulk_load              an integration bulk-loading: --bulk-events over
//                          --bulk-customers in batches of --batch over
//                          --batch-connections, while one reader alternates
//                          timeline and view reads of customers loaded in
//                          the warm-up (many of whom the load keeps
//                          writing to) and the view's lag is sampled every
//                          20 ms. Two rows:
//     bulk_ingest            the ingest rate; notes: the largest lag
//                            (events, and seconds at that rate), the time
//                            from the last ack until the view folded all,
//                            and the server's peak RSS against the default
//                            memory budget
//     bulk_reads             the reads during the load: reads/s, p50, p99
//   ws_fanout              --ws-customer-subscribers WebSocket connections
//                          each following one customer (the most active
//                          first) plus --ws-log-subscribers on the whole log,
//                          while events are POSTed at --ws-rate events/s in
//                          batches of --ws-batch for --ws-seconds: delivery
//                          latency from commit (the event's recorded_at) to
//                          arrival, whether every subscriber got every event,
//                          and the server's RSS idle, with the connections
//                          open, and under load
//   reminders_scale        --reminder-pending reminders scheduled 30 days out
//                          (one per event, POSTed in batches), then
//                          --reminder-soon more due 5-15 s later: how late
//                          each fires (fired_at - due: p50, p99, max), the
//                          scheduling rate, and the server's RSS before, with
//                          the pending reminders, and at the end
//
// Every round starts with an unmeasured warm-up (--warmup, a fraction of the
// round's own size, with other event ids), for touchlined and baselines alike.
//
// The workload is synthetic CRM traffic (tools/bench/workload.h): Zipf
// customers, a mix of channels and types, 300-1000 byte events.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "core/time_format.h"
#include "projections/customer_view_projection.h"
#include "projections/projection_runner.h"
#include "store/event_log.h"
#include "store/log_verifier.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/http_load.h"
#include "tools/bench/rocks_ceiling.h"
#include "tools/bench/sink_receiver.h"
#include "tools/bench/workload.h"
#include "tools/bench/ws_fanout.h"
#include "tools/server_process.h"

namespace touchline::bench {
namespace {

struct Config {
  std::string server_bin = TOUCHLINED_DEFAULT_PATH;
  std::string benchmarks =
      "ingest_batch,ingest_batch_nointegrity,raw_rocksdb_batch,verify,ingest_segment,ingest_single,"
      "ingest_single_nogroup,raw_rocksdb_single,read_timeline,customer_view,bulk_load,ws_fanout,"
      "reminders_scale,sink";
  std::size_t batch_events = 300000;
  std::size_t batch = 1000;
  std::size_t batch_connections = 2;
  std::size_t segment_batch = 100;
  std::size_t sink_batch = 100;
  std::size_t single_events = 20000;
  std::size_t nogroup_events = 4000;
  std::size_t single_connections = 64;
  std::size_t hot_customers = 8;
  std::size_t hot_events = 10000;
  std::size_t reads = 50000;
  std::size_t read_connections = 32;
  std::size_t customers = 10000;
  std::size_t ws_customer_subscribers = 1000;
  std::size_t ws_log_subscribers = 50;
  std::size_t ws_rate = 5000;
  std::size_t ws_seconds = 10;
  std::size_t ws_batch = 50;
  std::size_t reminder_pending = 100000;
  std::size_t reminder_soon = 200;
  std::size_t bulk_events = 1000000;
  std::size_t bulk_customers = 100000;
  int rounds = 3;
  // Each round first sends this fraction of its workload (other ids,
  // unmeasured), so first-touch page faults of a fresh process and data
  // directory are not counted. The baselines get the same warm-up.
  double warmup = 0.2;
  std::string dir;
  std::string out;
  std::uint16_t port = 0;  // use a running server instead of spawning one
};

struct Row {
  std::string name;
  double events_per_s = 0;
  double requests_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::size_t samples = 0;
  std::size_t errors = 0;
  double cpu_us_per_event = 0;  // server (or baseline process) CPU time
  std::string note;
};

Row FromLoad(const std::string& name, LoadResult r, std::size_t events_per_request) {
  Row row;
  row.name = name;
  row.samples = r.requests;
  row.errors = r.errors;
  row.requests_per_s = static_cast<double>(r.requests) / r.seconds;
  row.events_per_s = row.requests_per_s * static_cast<double>(events_per_request);
  row.p50_ms = Percentile(&r.latencies_us, 0.50) / 1000;
  row.p99_ms = Percentile(&r.latencies_us, 0.99) / 1000;
  if (r.errors > 0) {
    row.note = "errors: " + r.first_error;
  }
  return row;
}

// Starts a server in a fresh directory; exits the bench if it cannot.
// With --port, returns null and the running server is used.
std::unique_ptr<tools::ServerProcess> StartServer(const Config& c, const std::string& dir,
                                                  std::vector<std::string> extra = {}) {
  if (c.port != 0) {
    return nullptr;
  }
  extra.insert(extra.end(), {"--log-level", "warn", "--max-body-bytes", "67108864"});
  auto server = std::make_unique<tools::ServerProcess>(c.server_bin, dir + "/data", extra);
  if (auto s = server->Start(); !s.ok()) {
    std::fprintf(stderr, "cannot start %s: %s\n", c.server_bin.c_str(), s.ToString().c_str());
    std::exit(1);
  }
  return server;
}

// The requests that send `w`, `per_request` events each: POST /v1/events,
// or with `segment` the same events as Segment /v1/batch bodies.
std::vector<HttpRequestSpec> Posts(const Workload& w, std::size_t per_request,
                                   bool segment = false) {
  std::vector<HttpRequestSpec> out;
  for (std::size_t i = 0; i < w.events().size(); i += per_request) {
    if (segment) {
      out.push_back({"POST", "/v1/batch", w.SegmentBatch(i, per_request)});
    } else {
      out.push_back(
          {"POST", "/v1/events", per_request == 1 ? w.events()[i] : w.Batch(i, per_request)});
    }
  }
  return out;
}

Row IngestHttp(const Config& c, const std::string& name, const Workload& warmup, const Workload& w,
               std::size_t per_request, std::size_t connections,
               std::vector<std::string> server_flags = {}, bool segment = false) {
  const std::string dir = MakeTempDir(c.dir);
  auto server = StartServer(c, dir, std::move(server_flags));
  const std::uint16_t port = server ? server->port() : c.port;
  if (!warmup.events().empty()) {
    RunHttpLoad(port, connections, Posts(warmup, per_request, segment));
  }
  const auto requests = Posts(w, per_request, segment);
  const std::uint64_t cpu0 = server ? server->CpuMicros() : 0;
  Row row = FromLoad(name, RunHttpLoad(port, connections, requests), per_request);
  if (server) {
    row.cpu_us_per_event = static_cast<double>(server->CpuMicros() - cpu0) /
                           static_cast<double>(std::max<std::size_t>(1, w.events().size()));
    server->Stop();
  }
  std::filesystem::remove_all(dir);
  return row;
}

// Writes `w` through a server, stops it, then verifies the directory as
// tlctl verify --data-dir does, timing only the verification.
Row VerifyRate(const Config& c, const Workload& w) {
  const std::string dir = MakeTempDir(c.dir);
  {
    auto server = StartServer(c, dir);
    if (!server) {
      std::fprintf(stderr, "verify needs its own server (not --port)\n");
      std::exit(2);
    }
    RunHttpLoad(server->port(), c.batch_connections, Posts(w, c.batch));
    server->Stop();
  }
  store::EventLogOptions options;
  options.path = dir + "/data";
  options.read_only = true;
  auto log = store::EventLog::Open(options);
  if (!log.ok()) {
    std::fprintf(stderr, "verify: %s\n", log.status().ToString().c_str());
    std::exit(1);
  }
  const std::uint64_t cpu0 = ProcessCpuMicros();
  const auto t0 = std::chrono::steady_clock::now();
  auto report = store::VerifyLog(**log, {});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Row row;
  row.name = "verify";
  if (!report.ok() || !report->ok()) {
    row.errors = 1;
    row.note = report.ok() ? "FINDINGS: " + report->Render() : report.status().ToString();
  } else {
    row.samples = report->records;
    row.events_per_s = static_cast<double>(report->records) / secs;
    row.cpu_us_per_event = static_cast<double>(ProcessCpuMicros() - cpu0) /
                           static_cast<double>(std::max<std::uint64_t>(1, report->records));
    char note[160];
    std::snprintf(note, sizeof(note),
                  "%llu records and %llu checkpoints verified in %.2f s, every tree node compared",
                  static_cast<unsigned long long>(report->records),
                  static_cast<unsigned long long>(report->checkpoints), secs);
    row.note = note;
  }
  log->reset();
  std::filesystem::remove_all(dir);
  return row;
}

// Writes the workload's event bytes into the raw-RocksDB ceiling
// (tools/bench/rocks_ceiling.h: the bytes by seq plus the per-customer
// index, synced): the most any server built on RocksDB could do with the
// same bytes, durability and batching.
Row RawRocks(const Config& c, const std::string& name, const Workload& warmup, const Workload& w,
             std::size_t per_write, std::size_t threads) {
  const std::string dir = MakeTempDir(c.dir);
  auto opened = RocksCeiling::Open(dir + "/db");
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open RocksDB in %s: %s\n", dir.c_str(),
                 opened.status().ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<RocksCeiling> db = std::move(opened).value();
  std::atomic<std::size_t> errors{0};
  std::vector<std::vector<double>> lat(threads);
  // Writes `load` from `threads` threads; returns the elapsed time.
  auto write_all = [&](const Workload& load) {
    const auto& events = load.events();
    std::vector<std::string> streams;  // before the clock starts, as compare's
    streams.reserve(events.size());
    for (const auto& e : events) {
      streams.push_back(StreamOf(e));
    }
    std::atomic<std::size_t> next{0};
    for (auto& l : lat) {
      l.clear();
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        std::vector<RocksCeiling::Entry> batch;
        while (true) {
          const std::size_t first = next.fetch_add(per_write);
          if (first >= events.size()) {
            return;
          }
          const auto t0 = std::chrono::steady_clock::now();
          batch.clear();
          for (std::size_t i = first; i < std::min(first + per_write, events.size()); ++i) {
            batch.push_back({streams[i], events[i]});
          }
          if (!db->Append(batch).ok()) {
            errors++;
          }
          lat[t].push_back(
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                  .count());
        }
      });
    }
    for (auto& th : pool) {
      th.join();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  write_all(warmup);
  const std::uint64_t cpu0 = ProcessCpuMicros();
  const double seconds = write_all(w);
  const double cpu_us = static_cast<double>(ProcessCpuMicros() - cpu0);
  LoadResult r;
  r.seconds = seconds;
  for (auto& l : lat) {
    r.latencies_us.insert(r.latencies_us.end(), l.begin(), l.end());
  }
  r.requests = r.latencies_us.size();
  r.errors = errors;
  db.reset();
  std::filesystem::remove_all(dir);
  Row row = FromLoad(name, std::move(r), per_write);
  row.cpu_us_per_event = cpu_us / static_cast<double>(std::max<std::size_t>(1, w.events().size()));
  return row;
}

Row ReadTimeline(const Config& c) {
  const std::string dir = MakeTempDir(c.dir);
  auto server = StartServer(c, dir);
  const std::uint16_t port = server ? server->port() : c.port;
  // Load: hot customers with --hot-events each, plus background traffic.
  for (std::size_t h = 0; h < c.hot_customers; ++h) {
    const auto w = Workload::ForCustomer(c.hot_events, "hot-" + std::to_string(h), h + 1,
                                         "hot" + std::to_string(h));
    const auto load = RunHttpLoad(port, 2, Posts(w, c.batch));
    if (load.errors > 0) {
      std::fprintf(stderr, "loading failed: %s\n", load.first_error.c_str());
      std::exit(1);
    }
  }
  std::vector<HttpRequestSpec> reads;
  for (std::size_t i = 0; i < c.reads; ++i) {
    reads.push_back(
        {"GET", "/v1/customers/hot-" + std::to_string(i % c.hot_customers) + "/timeline?limit=50",
         ""});
  }
  std::vector<HttpRequestSpec> warm(
      reads.begin(),
      reads.begin() + static_cast<std::ptrdiff_t>(static_cast<double>(reads.size()) * c.warmup));
  RunHttpLoad(port, c.read_connections, warm);
  const std::uint64_t cpu0 = server ? server->CpuMicros() : 0;
  Row row = FromLoad("read_timeline", RunHttpLoad(port, c.read_connections, reads), 50);
  if (server) {
    row.cpu_us_per_event = static_cast<double>(server->CpuMicros() - cpu0) /
                           static_cast<double>(std::max<std::size_t>(1, reads.size() * 50));
  }
  row.note = std::to_string(c.hot_customers) + " customers x " + std::to_string(c.hot_events) +
             " events, newest 50";
  if (server) {
    server->Stop();
  }
  std::filesystem::remove_all(dir);
  return row;
}

std::vector<Row> BulkLoad(const Config& c);
std::uint64_t RssKb(pid_t pid);

// The view's lag behind the head, from GET /v1/projections (0 if unknown).
std::uint64_t ViewLag(std::uint16_t port) {
  const LoadResult r = RunHttpLoad(port, 1, {{"GET", "/v1/projections", ""}});
  const auto pos = r.last_body.find("\"lag\":");
  return pos == std::string::npos ? 0 : std::stoull(r.last_body.substr(pos + 6));
}

std::vector<Row> BulkLoad(const Config& c) {
  WorkloadOptions wo;
  wo.customers = c.bulk_customers;
  wo.seed += 5;
  const Workload warm = Workload::Generate(
      static_cast<std::size_t>(static_cast<double>(c.bulk_events) * c.warmup), wo, "bw");
  wo.seed += 1;
  const Workload load = Workload::Generate(c.bulk_events, wo, "bl");
  const std::string dir = MakeTempDir(c.dir);
  auto server = StartServer(c, dir);
  if (!server) {
    std::fprintf(stderr, "bulk_load needs to start its own server (no --port)\n");
    std::exit(1);
  }
  const std::uint16_t port = server->port();
  RunHttpLoad(port, c.batch_connections, Posts(warm, c.batch));
  while (ViewLag(port) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Reads of the warm-up's customers (as the workload draws them: the
  // busy ones often, and the load keeps writing to them), timeline and
  // view in turn, by one reader for as long as the load runs.
  std::vector<HttpRequestSpec> reads;
  std::mt19937_64 rng(9);
  while (reads.size() < 400000) {
    const std::string& e = warm.events()[rng() % warm.events().size()];
    const auto pos = e.find(R"("customer":")");
    if (pos == std::string::npos) {
      continue;
    }
    const auto start = pos + 12;
    const std::string id = e.substr(start, e.find('"', start) - start);
    reads.push_back({"GET",
                     reads.size() % 2 == 0 ? "/v1/customers/" + id + "/timeline?limit=50"
                                           : "/v1/customers/" + id,
                     ""});
  }
  std::atomic<bool> done{false};
  LoadResult read_result;
  std::thread reader([&] { read_result = RunHttpLoad(port, 1, reads, &done); });
  std::uint64_t max_lag = 0;
  std::uint64_t peak_rss_kb = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      max_lag = std::max(max_lag, ViewLag(port));
      peak_rss_kb = std::max(peak_rss_kb, RssKb(server->pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  Row ingest = FromLoad("bulk_ingest", RunHttpLoad(port, c.batch_connections, Posts(load, c.batch)),
                        c.batch);
  const auto acked = std::chrono::steady_clock::now();
  done = true;
  sampler.join();
  reader.join();
  while (ViewLag(port) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double drain_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - acked).count();
  char note[384];
  std::snprintf(note, sizeof(note),
                "%zu events over %zu customers; max view lag %llu events = %.2f s of ingest; view "
                "caught up %.0f ms after the last ack; server RSS peak %.0f MiB (default "
                "--memory-budget-mb 1024)",
                c.bulk_events, c.bulk_customers, static_cast<unsigned long long>(max_lag),
                static_cast<double>(max_lag) / std::max(1.0, ingest.events_per_s), drain_ms,
                static_cast<double>(peak_rss_kb) / 1024);
  ingest.note = note;
  Row read = FromLoad("bulk_reads", std::move(read_result), 1);
  read.note = "timeline and view reads, one reader, during bulk_ingest";
  server->Stop();
  std::filesystem::remove_all(dir);
  return {ingest, read};
}

std::vector<Row> CustomerView(const Config& c, const Workload& warmup, const Workload& w,
                              std::size_t customers) {
  const std::string dir = MakeTempDir(c.dir);
  auto server = StartServer(c, dir);
  if (!server) {
    std::fprintf(stderr, "customer_view needs to start its own server (no --port)\n");
    std::exit(1);
  }
  const std::uint16_t port = server->port();
  RunHttpLoad(port, c.batch_connections, Posts(warmup, c.batch));
  while (ViewLag(port) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Ingest while sampling the lag.
  std::atomic<bool> done{false};
  std::uint64_t max_lag = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      max_lag = std::max(max_lag, ViewLag(port));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  Row lag =
      FromLoad("view_lag", RunHttpLoad(port, c.batch_connections, Posts(w, c.batch)), c.batch);
  done = true;
  sampler.join();
  const auto acked = std::chrono::steady_clock::now();
  std::uint64_t left = ViewLag(port);
  while (left > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    left = ViewLag(port);
  }
  const double drain_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - acked).count();
  char note[256];
  std::snprintf(note, sizeof(note),
                "max lag %llu events = %.2f s of ingest; view caught up %.0f ms after the last ack",
                static_cast<unsigned long long>(max_lag),
                static_cast<double>(max_lag) / std::max(1.0, lag.events_per_s), drain_ms);
  lag.note = note;

  // Views of the customers of events drawn at random from the ingested
  // ones: Zipf, like the ingest (hot customers often).
  std::mt19937_64 rng(7);
  std::vector<HttpRequestSpec> reads;
  while (reads.size() < c.reads) {
    const std::string& e = w.events()[rng() % w.events().size()];
    const auto pos = e.find(R"("customer":")");
    if (pos != std::string::npos) {
      const auto start = pos + 12;
      reads.push_back({"GET", "/v1/customers/" + e.substr(start, e.find('"', start) - start), ""});
    }
  }
  std::vector<HttpRequestSpec> warm(
      reads.begin(),
      reads.begin() + static_cast<std::ptrdiff_t>(static_cast<double>(reads.size()) * c.warmup));
  RunHttpLoad(port, c.read_connections, warm);
  const std::uint64_t cpu0 = server->CpuMicros();
  Row read = FromLoad("read_view", RunHttpLoad(port, c.read_connections, reads), 1);
  read.cpu_us_per_event =
      static_cast<double>(server->CpuMicros() - cpu0) / static_cast<double>(reads.size());
  read.note =
      "views/s; customers of random ingested events (Zipf over " + std::to_string(customers) + ")";
  server->Stop();

  // Rebuild, as tlctl rebuild does it.
  Row rebuild;
  rebuild.name = "rebuild_view";
  store::EventLogOptions options;
  options.path = dir + "/data";
  auto log = store::EventLog::Open(options);
  if (!log.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", options.path.c_str(),
                 log.status().ToString().c_str());
    std::exit(1);
  }
  projections::RunnerOptions ropts;
  ropts.max_batch = 8192;  // CatchUp() reads and commits catch_up_batch at a time
  auto runner = projections::ProjectionRunner::Create(
      log->get(), std::make_unique<projections::CustomerViewProjection>(), ropts);
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t rcpu0 = ProcessCpuMicros();
  Status s = runner.ok() ? (*runner)->CatchUp(true, nullptr) : runner.status();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) {
    rebuild.errors = 1;
    rebuild.note = "errors: " + s.ToString();
  } else {
    const Seq n = (*log)->head();
    rebuild.samples = n;
    rebuild.events_per_s = static_cast<double>(n) / secs;
    rebuild.cpu_us_per_event =
        static_cast<double>(ProcessCpuMicros() - rcpu0) / static_cast<double>(std::max<Seq>(1, n));
    rebuild.note = std::to_string(n) + " events in " + std::to_string(secs).substr(0, 5) +
                   " s; state " + std::to_string((*runner)->state_bytes() >> 20) + " MiB";
  }
  runner = Status::Unavailable("closed");
  log->reset();
  std::filesystem::remove_all(dir);
  return {lag, read, rebuild};
}

// The resident set of process `pid` in KiB (0 if unknown).
std::uint64_t RssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) {
      return std::stoull(line.substr(6));
    }
  }
  return 0;
}

std::string CustomerOf(const std::string& event) {
  const auto pos = event.find(R"("customer":")");
  if (pos == std::string::npos) {
    return "";
  }
  const auto start = pos + 12;
  return event.substr(start, event.find('"', start) - start);
}

// The log's head, from /readyz (which, unlike a read of the log, is not
// recorded in the access audit trail: no event is appended by asking).
Seq HeadOf(std::uint16_t port) {
  const LoadResult r = RunHttpLoad(port, 1, {{"GET", "/readyz", ""}});
  const auto pos = r.last_body.find("\"head\":");
  return pos == std::string::npos ? 0 : std::stoull(r.last_body.substr(pos + 7));
}

Row WsFanoutRun(const Config& c, const Workload& w, std::size_t log_subscribers,
                const std::string& name) {
  const std::string dir = MakeTempDir(c.dir);
  auto server = StartServer(c, dir, {"--ws-max-connections", "100000"});
  if (!server) {
    std::fprintf(stderr, "ws_fanout needs to start its own server (no --port)\n");
    std::exit(1);
  }
  const std::uint16_t port = server->port();
  // The customers to follow: the most active in the workload first.
  std::map<std::string, std::size_t> per_customer;
  for (const auto& e : w.events()) {
    ++per_customer[CustomerOf(e)];
  }
  std::vector<std::pair<std::size_t, std::string>> by_count;
  for (const auto& [customer, n] : per_customer) {
    if (!customer.empty()) {  // events named only by identities have no customer field
      by_count.emplace_back(n, customer);
    }
  }
  std::sort(by_count.rbegin(), by_count.rend());
  std::vector<std::string> commands;
  std::vector<std::size_t> at_least;  // per customer connection: its own stream's events
  for (std::size_t i = 0; i < c.ws_customer_subscribers && i < by_count.size(); ++i) {
    commands.push_back(R"({"op":"subscribe","id":"c","customers":[")" + by_count[i].second +
                       R"("]})");
    at_least.push_back(by_count[i].first);
  }
  const std::size_t customer_conns = commands.size();
  // From seq 0: the subscriptions themselves are recorded in the access
  // audit trail, appended while the others connect.
  for (std::size_t i = 0; i < log_subscribers; ++i) {
    commands.push_back(R"({"op":"subscribe","id":"all","all":true,"from":0})");
  }

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::uint64_t rss_idle = RssKb(server->pid());
  WsFanout fanout;
  if (auto s = fanout.Open(port, commands); !s.ok()) {
    std::fprintf(stderr, "ws_fanout: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::uint64_t rss_connected = RssKb(server->pid());

  // Paced ingest: one batch every ws_batch / ws_rate seconds.
  const auto posts = Posts(w, c.ws_batch);
  const auto interval = std::chrono::duration<double>(static_cast<double>(c.ws_batch) /
                                                      static_cast<double>(c.ws_rate));
  const std::uint64_t cpu0 = server->CpuMicros();
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t post_errors = 0;
  std::string first_error;
  for (std::size_t k = 0; k < posts.size(); ++k) {
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval * k));
    const LoadResult r = RunHttpLoad(port, 1, {posts[k]});
    if (r.errors > 0) {
      ++post_errors;
      first_error = r.first_error;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t rss_loaded = RssKb(server->pid());
  // Every whole-log subscriber must get every seq up to the head (the
  // ingested events, the profile.merged events the view emits and the
  // access trail's events); every customer subscriber at least its own
  // stream's events (more when identities link other streams to the
  // person).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const Seq head = HeadOf(port);
  std::size_t expected = log_subscribers * head;
  for (std::size_t n : at_least) {
    expected += n;
  }
  const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (fanout.events() < expected && std::chrono::steady_clock::now() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::uint64_t cpu = server->CpuMicros() - cpu0;
  FanoutStats stats = fanout.Stop();
  std::size_t short_connections = 0;
  for (std::size_t i = 0; i < stats.per_connection.size(); ++i) {
    const std::size_t want = i < customer_conns ? at_least[i] : head;
    if (stats.per_connection[i] < want ||
        (i >= customer_conns && stats.per_connection[i] != head)) {
      ++short_connections;
    }
  }
  server->Stop();
  std::filesystem::remove_all(dir);

  Row row;
  row.name = name;
  row.events_per_s = static_cast<double>(w.events().size()) / secs;
  row.requests_per_s = static_cast<double>(posts.size()) / secs;
  row.samples = stats.latencies_ms.size();
  row.p50_ms = Percentile(&stats.latencies_ms, 0.50);
  row.p99_ms = Percentile(&stats.latencies_ms, 0.99);
  row.cpu_us_per_event =
      static_cast<double>(cpu) / static_cast<double>(std::max<std::size_t>(1, w.events().size()));
  row.errors = stats.errors + post_errors + short_connections + stats.out_of_order;
  const std::size_t conns = commands.size();
  char note[640];
  std::snprintf(note, sizeof(note),
                "%zu customer + %zu whole-log subscribers at %zu events/s; %zu events delivered, "
                "%zu connections short, %zu out of order; latency from commit (recorded_at, "
                "before the fsync) to arrival; server RSS %.0f MiB idle, +%.1f KiB per idle "
                "connection, %.0f MiB with %zu connections under load",
                customer_conns, log_subscribers, c.ws_rate, stats.events, short_connections,
                stats.out_of_order, static_cast<double>(rss_idle) / 1024,
                static_cast<double>(rss_connected - rss_idle) / static_cast<double>(conns),
                static_cast<double>(rss_loaded) / 1024, conns);
  row.note = note;
  if (!stats.first_error.empty() || !first_error.empty()) {
    row.note += "; errors: " + (stats.first_error.empty() ? first_error : stats.first_error);
  }
  return row;
}

// The lag of projection `name` from GET /v1/projections.
std::uint64_t ProjectionLag(std::uint16_t port, const std::string& name) {
  const LoadResult r = RunHttpLoad(port, 1, {{"GET", "/v1/projections", ""}});
  const auto at = r.last_body.find("\"name\":\"" + name + "\"");
  const auto pos = at == std::string::npos ? at : r.last_body.find("\"lag\":", at);
  return pos == std::string::npos ? 0 : std::stoull(r.last_body.substr(pos + 6));
}

Row RemindersScale(const Config& c) {
  const std::string dir = MakeTempDir(c.dir);
  auto server = StartServer(c, dir);
  if (!server) {
    std::fprintf(stderr, "reminders_scale needs to start its own server (no --port)\n");
    std::exit(1);
  }
  const std::uint16_t port = server->port();
  const auto rules = RunHttpLoad(
      port, 1,
      {{"POST", "/v1/reminder-rules",
        R"({"id":"later","campaign":"scale-later","offset":"30d","trigger":{"event":"scale.later"},)"
        R"("deliver":{"queue":"q"}})"},
       {"POST", "/v1/reminder-rules",
        R"({"id":"soon","campaign":"scale-soon","offset":"1d","trigger":{"event":"scale.soon"},)"
        R"("deliver":{"queue":"q"}})"}});
  Row row;
  row.name = "reminders_scale";
  if (rules.errors > 0) {
    row.errors = rules.errors;
    row.note = "errors: " + rules.first_error;
    return row;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::uint64_t rss_idle = RssKb(server->pid());

  // The pending reminders: one per event, customers round-robin.
  std::vector<HttpRequestSpec> posts;
  for (std::size_t i = 0; i < c.reminder_pending; i += c.batch) {
    std::string body = "[";
    for (std::size_t k = i; k < std::min(c.reminder_pending, i + c.batch); ++k) {
      body += (k > i ? "," : "") + std::string(R"({"customer":"s-)") + std::to_string(k % 100000) +
              R"(","type":"scale.later","channel":"web"})";
    }
    posts.push_back({"POST", "/v1/events", body + "]"});
  }
  const auto t0 = std::chrono::steady_clock::now();
  const LoadResult load = RunHttpLoad(port, c.batch_connections, posts);
  while (ProjectionLag(port, "reminders") > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double load_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t rss_loaded = RssKb(server->pid());

  // The soon ones: event times a day back, so each is due 5-15 s from now.
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string soon = "[";
  for (std::size_t i = 0; i < c.reminder_soon; ++i) {
    const std::int64_t due =
        now_us + 5'000'000 +
        static_cast<std::int64_t>(i) * 10'000'000 /
            static_cast<std::int64_t>(std::max<std::size_t>(1, c.reminder_soon));
    soon += (i > 0 ? "," : "") + std::string(R"({"customer":"soon-)") + std::to_string(i) +
            R"(","type":"scale.soon","time":")" + FormatRfc3339(due - 86'400'000'000) + "\"}";
  }
  RunHttpLoad(port, 1, {{"POST", "/v1/events", soon + "]"}});
  std::vector<double> late_ms;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    body = RunHttpLoad(port, 1,
                       {{"GET", "/v1/reminders?status=sent&campaign=scale-soon&limit=1000", ""}})
               .last_body;
    auto v = boost::json::parse(body);
    if (v.at("reminders").as_array().size() >= c.reminder_soon) {
      for (const auto& m : v.at("reminders").as_array()) {
        const auto due = ParseRfc3339(m.at("due").as_string());
        const auto fired = ParseRfc3339(m.at("fired_at").as_string());
        if (due.ok() && fired.ok()) {
          late_ms.push_back(static_cast<double>(*fired - *due) / 1000.0);
        }
      }
      break;
    }
  }
  const std::uint64_t rss_end = RssKb(server->pid());
  const LoadResult campaign = RunHttpLoad(port, 1, {{"GET", "/v1/campaigns/scale-later", ""}});
  server->Stop();
  std::filesystem::remove_all(dir);

  row.samples = late_ms.size();
  row.events_per_s = static_cast<double>(c.reminder_pending) / load_secs;
  row.requests_per_s = static_cast<double>(posts.size()) / load_secs;
  std::vector<double> sorted = late_ms;
  row.p50_ms = Percentile(&sorted, 0.50);
  row.p99_ms = Percentile(&sorted, 0.99);
  const double max_ms = sorted.empty() ? 0 : sorted.back();
  row.errors = load.errors + (late_ms.size() < c.reminder_soon ? 1 : 0) + (max_ms > 1000 ? 1 : 0);
  const auto pending_at = campaign.last_body.find("\"pending\":");
  const std::string pending =
      pending_at == std::string::npos
          ? "?"
          : campaign.last_body.substr(pending_at + 10,
                                      campaign.last_body.find('}', pending_at) - pending_at - 10);
  char note[512];
  std::snprintf(note, sizeof(note),
                "%s pending reminders scheduled (events/s = scheduled per second, ingest plus "
                "fold); %zu of %zu due ones fired, lateness p50/p99 in the latency columns, max "
                "%.0f ms; server RSS %.0f MiB idle, %.0f MiB with the pending reminders, %.0f MiB "
                "at the end",
                pending.c_str(), late_ms.size(), c.reminder_soon, max_ms,
                static_cast<double>(rss_idle) / 1024, static_cast<double>(rss_loaded) / 1024,
                static_cast<double>(rss_end) / 1024);
  row.note = note;
  if (load.errors > 0) {
    row.note += "; errors: " + load.first_error;
  }
  return row;
}

// POSTs a batch-mode sink to the receiver on `receiver_port`, from seq
// `start` ("beginning" or "end"). False (and a note in `row`) on error.
bool CreateSink(std::uint16_t port, std::uint16_t receiver_port, std::size_t batch,
                const char* start, Row* row) {
  const auto r = RunHttpLoad(
      port, 1,
      {{"POST", "/v1/sinks",
        "{\"id\":\"bench\",\"url\":\"http://127.0.0.1:" + std::to_string(receiver_port) +
            "/in\",\"mode\":\"batch\",\"batch_size\":" + std::to_string(batch) + ",\"start\":\"" +
            start + "\"}"}});
  if (r.errors > 0) {
    row->errors = r.errors;
    row->note = "creating the sink: " + r.first_error;
    return false;
  }
  return true;
}

// Waits until the receiver has `n` events (at most `limit`).
bool AwaitEvents(const SinkReceiver& receiver, std::uint64_t n, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (receiver.events() < n) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::vector<Row> SinkRun(const Config& c, const Workload& warmup, const Workload& w) {
  std::vector<Row> rows(2);
  rows[0].name = "sink_delivery";
  rows[1].name = "sink_lag";
  const std::size_t n = w.events().size();
  {
    // Delivery rate from a backlog.
    const std::string dir = MakeTempDir(c.dir);
    auto server = StartServer(c, dir);
    if (!server) {
      std::fprintf(stderr, "sink needs to start its own server (no --port)\n");
      std::exit(1);
    }
    RunHttpLoad(server->port(), c.batch_connections, Posts(w, c.batch));
    SinkReceiver receiver;
    const std::uint64_t cpu0 = server->CpuMicros();
    const auto t0 = std::chrono::steady_clock::now();
    Row& row = rows[0];
    if (CreateSink(server->port(), receiver.port(), c.sink_batch, "beginning", &row)) {
      if (!AwaitEvents(receiver, n, std::chrono::seconds(600))) {
        row.errors = 1;
        row.note = "timed out with " + std::to_string(receiver.events()) + " of " +
                   std::to_string(n) + " events";
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      row.events_per_s = static_cast<double>(receiver.events()) / secs;
      row.requests_per_s = static_cast<double>(receiver.requests()) / secs;
      row.samples = receiver.requests();
      row.cpu_us_per_event = static_cast<double>(server->CpuMicros() - cpu0) /
                             static_cast<double>(std::max<std::uint64_t>(1, receiver.events()));
      if (row.note.empty()) {
        row.note = std::to_string(n) + " events already in the log, batches of " +
                   std::to_string(c.sink_batch) + ", " + std::to_string(receiver.duplicates()) +
                   " received twice; latencies: none (a backlog)";
      }
    }
    server->Stop();
    std::filesystem::remove_all(dir);
  }
  {
    // Lag under batched ingest.
    const std::string dir = MakeTempDir(c.dir);
    auto server = StartServer(c, dir);
    SinkReceiver receiver;
    Row& row = rows[1];
    if (!warmup.events().empty()) {
      RunHttpLoad(server->port(), c.batch_connections, Posts(warmup, c.batch));
    }
    if (CreateSink(server->port(), receiver.port(), c.sink_batch, "end", &row)) {
      const auto load = RunHttpLoad(server->port(), c.batch_connections, Posts(w, c.batch));
      const bool all = AwaitEvents(receiver, n, std::chrono::seconds(600));
      auto lags = receiver.lags_ms();
      row.events_per_s = static_cast<double>(n) / load.seconds;  // the ingest rate
      row.samples = lags.size();
      row.p50_ms = Percentile(&lags, 0.50);
      row.p99_ms = Percentile(&lags, 0.99);
      const double max_ms = lags.empty() ? 0 : *std::max_element(lags.begin(), lags.end());
      char note[200];
      std::snprintf(note, sizeof(note),
                    "latencies: delivery lag (arrival - recordedat); max %.0f ms; %llu received "
                    "twice; events/s: the ingest rate%s",
                    max_ms, static_cast<unsigned long long>(receiver.duplicates()),
                    all ? "" : "; NOT ALL DELIVERED");
      row.note = note;
      row.errors = load.errors + (all ? 0 : 1);
    }
    server->Stop();
    std::filesystem::remove_all(dir);
  }
  return rows;
}

bool Wanted(const Config& c, const std::string& name) {
  std::stringstream ss(c.benchmarks);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == name) {
      return true;
    }
  }
  return false;
}

// As Median, for a run that yields several rows: each row's median is
// taken on its own.
template <typename F>
std::vector<Row> MedianRows(const Config& c, F run) {
  std::vector<std::vector<Row>> by_row;
  for (int i = 0; i < c.rounds; ++i) {
    std::vector<Row> rows = run();
    by_row.resize(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      std::fprintf(stderr, "  %-24s round %d: %10.0f events/s  p99 %8.2f ms  %s\n",
                   rows[k].name.c_str(), i + 1, rows[k].events_per_s, rows[k].p99_ms,
                   rows[k].note.c_str());
      by_row[k].push_back(std::move(rows[k]));
    }
  }
  std::vector<Row> out;
  for (auto& rows : by_row) {
    std::sort(rows.begin(), rows.end(),
              [](const Row& a, const Row& b) { return a.events_per_s < b.events_per_s; });
    out.push_back(rows[rows.size() / 2]);
  }
  return out;
}

template <typename F>
Row Median(const Config& c, F run) {
  std::vector<Row> rows;
  for (int i = 0; i < c.rounds; ++i) {
    rows.push_back(run());
    std::fprintf(stderr, "  %-24s round %d: %10.0f events/s  p99 %8.2f ms  %6.1f CPU us/event\n",
                 rows.back().name.c_str(), i + 1, rows.back().events_per_s, rows.back().p99_ms,
                 rows.back().cpu_us_per_event);
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.events_per_s < b.events_per_s; });
  return rows[rows.size() / 2];
}

}  // namespace
}  // namespace touchline::bench

int main(int argc, char** argv) {
  using namespace touchline::bench;
  Config c;
  CLI::App app{"touchline_bench: touchlined against same-run baselines"};
  app.option_defaults()->always_capture_default();
  app.add_option("--server-bin", c.server_bin, "touchlined binary to benchmark");
  app.add_option("--benchmarks", c.benchmarks, "Comma-separated workloads to run");
  app.add_option("--batch-events", c.batch_events, "Events in ingest_batch / raw_rocksdb_batch");
  app.add_option("--batch", c.batch, "Events per request / WriteBatch")->check(CLI::PositiveNumber);
  app.add_option("--batch-connections", c.batch_connections, "Connections for batched ingest");
  app.add_option("--sink-batch", c.sink_batch, "Events per request of the sink benchmark");
  app.add_option("--segment-batch", c.segment_batch,
                 "Events per request of ingest_segment (native and Segment /v1/batch)");
  app.add_option("--single-events", c.single_events,
                 "Events in ingest_single / raw_rocksdb_single");
  app.add_option("--nogroup-events", c.nogroup_events, "Events in ingest_single_nogroup");
  app.add_option("--single-connections", c.single_connections, "Connections for single ingest");
  app.add_option("--hot-customers", c.hot_customers, "Customers read by read_timeline");
  app.add_option("--hot-events", c.hot_events, "Events per read_timeline customer");
  app.add_option("--reads", c.reads, "Timeline reads");
  app.add_option("--read-connections", c.read_connections, "Connections for reads");
  app.add_option("--customers", c.customers, "Distinct customers in the ingest workload");
  app.add_option("--ws-customer-subscribers", c.ws_customer_subscribers,
                 "ws_fanout: connections following one customer each");
  app.add_option("--ws-log-subscribers", c.ws_log_subscribers,
                 "ws_fanout: connections following the whole log");
  app.add_option("--ws-rate", c.ws_rate, "ws_fanout: events/s POSTed")->check(CLI::PositiveNumber);
  app.add_option("--ws-seconds", c.ws_seconds, "ws_fanout: seconds of ingest")
      ->check(CLI::PositiveNumber);
  app.add_option("--ws-batch", c.ws_batch, "ws_fanout: events per POST")
      ->check(CLI::PositiveNumber);
  app.add_option("--reminder-pending", c.reminder_pending,
                 "reminders_scale: pending reminders to schedule")
      ->check(CLI::PositiveNumber);
  app.add_option("--reminder-soon", c.reminder_soon,
                 "reminders_scale: reminders due during the run, whose lateness is measured")
      ->check(CLI::Range(1, 1000));
  app.add_option("--bulk-events", c.bulk_events, "bulk_load: events loaded")
      ->check(CLI::PositiveNumber);
  app.add_option("--bulk-customers", c.bulk_customers, "bulk_load: distinct customers")
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", c.rounds, "Rounds per workload; the median is reported")
      ->check(CLI::Range(1, 99));
  app.add_option("--warmup", c.warmup, "Unmeasured warm-up per round, as a fraction of it")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--dir", c.dir, "Scratch directory (default: a new one under /tmp)");
  app.add_option("--out", c.out, "Also write the table as Markdown to this file");
  app.add_option("--port", c.port,
                 "Benchmark the server already listening on this port (for profiling)");
  CLI11_PARSE(app, argc, argv);

  const bool own_dir = c.dir.empty();
  if (own_dir) {
    std::string tmpl = "/tmp/touchline-bench-XXXXXX";
    c.dir = ::mkdtemp(tmpl.data());
  }
  WorkloadOptions wo;
  wo.customers = c.customers;
  const Workload batch_load = Workload::Generate(c.batch_events, wo, "b");
  const Workload single_load = Workload::Generate(c.single_events, wo, "s");
  const Workload nogroup_load = Workload::Generate(c.nogroup_events, wo, "n");
  auto warm = [&](std::size_t n, const char* prefix) {
    WorkloadOptions w = wo;
    w.seed += 1;
    return Workload::Generate(static_cast<std::size_t>(static_cast<double>(n) * c.warmup), w,
                              prefix);
  };
  const Workload batch_warm = warm(c.batch_events, "wb");
  const Workload single_warm = warm(c.single_events, "ws");
  const Workload nogroup_warm = warm(c.nogroup_events, "wn");
  std::fprintf(stderr, "workload: %zu + %zu events, mean %.0f bytes\n", c.batch_events,
               c.single_events,
               static_cast<double>(batch_load.total_bytes()) /
                   static_cast<double>(std::max<std::size_t>(1, c.batch_events)));

  std::map<std::string, Row> rows;
  std::vector<std::string> order;
  auto add = [&](Row r) {
    order.push_back(r.name);
    rows[r.name] = std::move(r);
  };
  const std::string batch_name = "ingest_batch";
  if (Wanted(c, "ingest_batch")) {
    add(Median(c, [&] {
      return IngestHttp(c, batch_name, batch_warm, batch_load, c.batch, c.batch_connections);
    }));
  }
  if (Wanted(c, "ingest_segment")) {
    // The same events at --segment-batch per request, natively and through
    // the Segment Tracking API (one row each).
    add(Median(c, [&] {
      return IngestHttp(c, "ingest_native_small_batch", batch_warm, batch_load, c.segment_batch,
                        c.batch_connections);
    }));
    add(Median(c, [&] {
      return IngestHttp(c, "ingest_segment", batch_warm, batch_load, c.segment_batch,
                        c.batch_connections, {}, /*segment=*/true);
    }));
  }
  if (Wanted(c, "ingest_batch_nointegrity")) {
    add(Median(c, [&] {
      return IngestHttp(c, "ingest_batch_nointegrity", batch_warm, batch_load, c.batch,
                        c.batch_connections, {"--no-integrity"});
    }));
  }
  if (Wanted(c, "raw_rocksdb_batch")) {
    add(Median(c, [&] {
      return RawRocks(c, "raw_rocksdb_batch", batch_warm, batch_load, c.batch, c.batch_connections);
    }));
  }
  if (Wanted(c, "verify")) {
    add(Median(c, [&] { return VerifyRate(c, batch_load); }));
  }
  if (Wanted(c, "ingest_single")) {
    add(Median(c, [&] {
      return IngestHttp(c, "ingest_single", single_warm, single_load, 1, c.single_connections);
    }));
  }
  if (Wanted(c, "ingest_single_nogroup")) {
    add(Median(c, [&] {
      return IngestHttp(c, "ingest_single_nogroup", nogroup_warm, nogroup_load, 1,
                        c.single_connections, {"--no-group-commit"});
    }));
  }
  if (Wanted(c, "raw_rocksdb_single")) {
    add(Median(c, [&] {
      return RawRocks(c, "raw_rocksdb_single", single_warm, single_load, 1, c.single_connections);
    }));
  }
  if (Wanted(c, "read_timeline")) {
    add(Median(c, [&] { return ReadTimeline(c); }));
  }
  if (Wanted(c, "customer_view")) {
    for (Row& r :
         MedianRows(c, [&] { return CustomerView(c, batch_warm, batch_load, c.customers); })) {
      add(std::move(r));
    }
  }
  if (Wanted(c, "bulk_load")) {
    for (Row& r : MedianRows(c, [&] { return BulkLoad(c); })) {
      add(std::move(r));
    }
  }
  if (Wanted(c, "ws_fanout")) {
    WorkloadOptions fw = wo;
    fw.seed += 2;
    const Workload fan_load = Workload::Generate(c.ws_rate * c.ws_seconds, fw, "f");
    // The target load (customer subscribers only), then with the whole-log
    // subscribers on top.
    add(Median(c, [&] { return WsFanoutRun(c, fan_load, 0, "ws_customers"); }));
    if (c.ws_log_subscribers > 0) {
      add(Median(c, [&] { return WsFanoutRun(c, fan_load, c.ws_log_subscribers, "ws_fanout"); }));
    }
  }
  if (Wanted(c, "reminders_scale")) {
    add(Median(c, [&] { return RemindersScale(c); }));
  }
  if (Wanted(c, "sink")) {
    for (Row& r : MedianRows(c, [&] { return SinkRun(c, batch_warm, batch_load); })) {
      add(std::move(r));
    }
  }
  if (own_dir) {
    std::filesystem::remove_all(c.dir);
  }

  std::ostringstream md;
  md << "Machine: " << Machine() << "\n\n";
  md << "| workload | events/s | requests/s | p50 ms | p99 ms | CPU µs/event | samples | notes |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---|\n";
  char buf[512];
  for (const auto& name : order) {
    const Row& r = rows[name];
    std::snprintf(buf, sizeof(buf), "| %s | %.0f | %.0f | %.2f | %.2f | %.1f | %zu | %s |\n",
                  r.name.c_str(), r.events_per_s, r.requests_per_s, r.p50_ms, r.p99_ms,
                  r.cpu_us_per_event, r.samples, r.note.c_str());
    md << buf;
  }
  auto ratio = [&](const std::string& a, const std::string& b, const char* label) {
    if (rows.count(a) && rows.count(b) && rows[b].events_per_s > 0) {
      std::snprintf(buf, sizeof(buf), "- %s: %s / %s = **%.2f**\n", label, a.c_str(), b.c_str(),
                    rows[a].events_per_s / rows[b].events_per_s);
      md << buf;
    }
  };
  md << "\nRatios (same run, same bytes, fsync on every acknowledged write):\n";
  ratio("ingest_batch", "ingest_batch_nointegrity",
        "batched ingest with the Merkle tree and sealing vs without");
  ratio("ingest_batch", "raw_rocksdb_batch", "batched ingest vs the raw-RocksDB ceiling");
  ratio("ingest_segment", "ingest_native_small_batch",
        "Segment /v1/batch vs POST /v1/events, same events and batch size");
  ratio("ingest_single", "ingest_single_nogroup", "group commit vs one fsync per request");
  ratio("ingest_single", "raw_rocksdb_single", "single-event ingest vs raw RocksDB sync Puts");
  std::snprintf(
      buf, sizeof(buf),
      "\nMedian of %d rounds by throughput; latencies are per request; CPU is the server's (or, "
      "for raw_rocksdb, the benchmark process's) user+system time per event.\n",
      c.rounds);
  md << buf;
  std::printf("%s", md.str().c_str());
  if (!c.out.empty()) {
    std::ofstream(c.out) << md.str();
  }
  for (const auto& [name, r] : rows) {
    if (r.errors > 0) {
      return 1;
    }
  }
  return 0;
}
