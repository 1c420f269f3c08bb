// touchline_compare: touchline side by side with PostgreSQL, Redis Streams
// and the raw-RocksDB ceiling, on one workload, in one run, on this
// machine. tools/bench/compare installs what it needs and runs it;
// docs/benchmarks.md shows the latest table.
//
// The workload (tools/bench/workload.h: Zipf customers, a mix of channels
// and types, identity fields, 300-1000 byte events) is generated once and
// written to <out>/workload.ndjson; every system then gets those exact
// bytes. An event without a customer id goes to the stream touchline names
// after its best identity (core/identity.h), for every system alike.
//
// Systems, each started on 127.0.0.1 in a fresh temporary directory for
// every round, with every acknowledged write fsynced:
//   touchline  touchlined with its defaults (group commit, the Merkle tree,
//              sealing, three projections), over HTTP/1.1 keep-alive
//   postgres   PostgreSQL (synchronous_commit=on): events(position
//              bigserial, customer text, version bigint, payload jsonb,
//              unique (customer, version)) and an index on customer;
//              prepared statements in libpq pipeline mode; a stream's next
//              version under a per-customer advisory lock, as Message DB
//              does; a batch is one transaction
//   redis      Redis (appendonly yes, appendfsync always): one stream per
//              customer, XADD; a batch is one pipeline
//   rocksdb    the ceiling (tools/bench/rocks_ceiling.h, as touchline_bench's):
//              a bare RocksDB holding the same bytes by seq plus a
//              (customer, version) -> seq index, one synced WriteBatch per
//              batch (or per event); in process (no network, no parsing):
//              what the disk and RocksDB allow at most
// PostgreSQL, Redis and RocksDB are driven by one client thread per
// connection; touchline by its closed-loop HTTP client (tools/bench/
// http_load.h: one io thread per core, at most one per connection).
//
// Workloads (median of --rounds by throughput, p50/p99 per request):
//   ingest_batch   --events in batches of --batch over --batch-clients
//   ingest_single  --single-events one per request over --clients
//   read_newest    --reads of a Zipf-drawn customer's newest 50 events over
//                  --read-clients, after ingest_batch's data is in
//   replay         every event in order (PostgreSQL by position, touchline
//                  by seq, RocksDB by key; Redis has no global order: stream
//                  by stream)
//   scale          for each size in --scale: that many events ingested
//                  batched into a fresh store, then the ingest rate, read
//                  p99 and bytes on disk per event
//
// Output: the table on stdout and in <out>/compare.md, the figures in
// <out>/compare.dat for the chart tools/bench/compare draws.
#include <grp.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "core/time_format.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/http_load.h"
#include "tools/bench/rocks_ceiling.h"
#include "tools/bench/workload.h"
#include "tools/server_process.h"

namespace touchline::bench {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct Config {
  std::string server_bin = TOUCHLINED_DEFAULT_PATH;
  std::string out = "compare-out";
  std::string dir;
  std::string systems = "touchline,postgres,redis,rocksdb";
  std::size_t events = 100000;
  std::size_t batch = 1000;
  std::size_t batch_clients = 2;
  std::size_t single_events = 20000;
  std::size_t clients = 64;
  std::size_t reads = 20000;
  std::size_t read_clients = 32;
  std::size_t customers = 10000;
  std::size_t read_limit = 50;
  int rounds = 3;
  std::string scale = "100000,300000";
  bool phase_marks = false;
  std::string command;
};

// With --phase-marks: a line on stderr at each workload's start and end,
// stamped with CLOCK_MONOTONIC seconds, so a profile taken with
// `perf record -k CLOCK_MONOTONIC` can be cut by workload (perf script
// --time START,END).
bool g_phase_marks = false;
void PhaseMark(const std::string& system, const char* workload, const char* edge) {
  if (!g_phase_marks) {
    return;
  }
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  std::fprintf(stderr, "phase %s %s %s %ld.%06ld\n", system.c_str(), workload, edge,
               static_cast<long>(ts.tv_sec), ts.tv_nsec / 1000);
}

struct Event {
  std::string json;
  std::string stream;
};

// What one timed workload did: events moved, how long, per-request latency.
struct Result {
  std::uint64_t events = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
  std::size_t errors = 0;
  std::string first_error;
  double events_per_s() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
};

std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Runs `args` (as `user` when running as root and `user` is set: the child
// drops to it before exec, so the returned pid is the program's own and
// signals reach it), with its output appended to `log`.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log,
            const std::string& user = "") {
  const passwd* pw = nullptr;
  if (!user.empty() && ::geteuid() == 0) {
    pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
      std::fprintf(stderr, "touchline_compare: no user '%s'\n", user.c_str());
      std::exit(1);
    }
  }
  std::vector<std::string> full = args;
  std::vector<char*> argv;
  for (auto& a : full) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* f = std::fopen(log.c_str(), "a");
    if (f != nullptr) {
      ::dup2(::fileno(f), 1);
      ::dup2(::fileno(f), 2);
    }
    if (pw != nullptr && (::setgid(pw->pw_gid) != 0 || ::initgroups(pw->pw_name, pw->pw_gid) != 0 ||
                          ::setuid(pw->pw_uid) != 0)) {
      std::_Exit(126);
    }
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  return pid;
}

int Run(const std::vector<std::string>& args, const std::string& log,
        const std::string& user = "") {
  const pid_t pid = Spawn(args, log, user);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void StopChild(pid_t* pid, int sig) {
  if (*pid > 0) {
    ::kill(*pid, sig);
    int status = 0;
    ::waitpid(*pid, &status, 0);
    *pid = -1;
  }
}

// Runs `unit(i, client)` for i in [0, n) from `clients` threads, each
// taking the next i; times each unit. `unit` returns the events it moved,
// or an error.
Result Drive(std::size_t n, std::size_t clients,
             const std::function<StatusOr<std::uint64_t>(std::size_t, std::size_t)>& unit) {
  Result r;
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> events{0};
  std::vector<std::vector<double>> lat(clients);
  std::mutex mu;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (std::size_t c = 0; c < clients; ++c) {
    pool.emplace_back([&, c] {
      for (std::size_t i = next++; i < n; i = next++) {
        const auto s = std::chrono::steady_clock::now();
        auto got = unit(i, c);
        lat[c].push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s)
                .count());
        if (got.ok()) {
          events += *got;
        } else {
          std::lock_guard<std::mutex> lock(mu);
          if (r.errors++ == 0) {
            r.first_error = got.status().ToString();
          }
        }
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.events = events;
  for (auto& l : lat) {
    r.latencies_us.insert(r.latencies_us.end(), l.begin(), l.end());
  }
  return r;
}

// ---------------------------------------------------------------- systems

class System {
 public:
  virtual ~System() = default;
  virtual std::string name() const = 0;
  // A fresh, empty store in `dir`, and `clients` connections to it.
  virtual Status Start(const std::string& dir, std::size_t clients) = 0;
  virtual void Stop() = 0;
  // Appends `events` as one durable unit (a request, a transaction, a
  // pipeline, a WriteBatch) on connection `client`.
  virtual Status Append(std::size_t client, const std::vector<const Event*>& events) = 0;
  // The newest `limit` events of `stream`; returns how many came.
  virtual StatusOr<std::uint64_t> ReadNewest(std::size_t client, const std::string& stream,
                                             std::size_t limit) = 0;
  // Every event, in order where the system has one; returns how many.
  virtual StatusOr<std::uint64_t> Replay() = 0;
  // The store's files (for bytes on disk after Stop).
  virtual std::string data_dir() const = 0;
  // touchline answers over HTTP with its own closed-loop client instead of
  // Drive (RunHttpLoad); the others are driven through the calls above.
  virtual bool http() const { return false; }
  virtual std::uint16_t port() const { return 0; }
};

std::string UrlPath(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char ch : s) {
    if (std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == ':' ||
        ch == '@' || ch == '+') {
      out.push_back(static_cast<char>(ch));
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

class Touchline final : public System {
 public:
  explicit Touchline(std::string bin) : bin_(std::move(bin)) {}
  std::string name() const override { return "touchline"; }
  Status Start(const std::string& dir, std::size_t /*clients*/) override {
    dir_ = dir + "/data";
    server_ = std::make_unique<tools::ServerProcess>(
        bin_, dir_,
        std::vector<std::string>{"--log-level", "warn", "--max-body-bytes", "67108864"});
    return server_->Start();
  }
  void Stop() override {
    if (server_) {
      server_->Stop();
      server_.reset();
    }
  }
  Status Append(std::size_t, const std::vector<const Event*>&) override {
    return Status::Internal("touchline is driven over HTTP");
  }
  StatusOr<std::uint64_t> ReadNewest(std::size_t, const std::string&, std::size_t) override {
    return Status::Internal("touchline is driven over HTTP");
  }
  StatusOr<std::uint64_t> Replay() override {
    // The whole log streamed as NDJSON in one request, as an auditor or a
    // consumer replays it. It holds the access-audit events of the reads
    // too (a few per 100 ms of reads), so it can count more than ingested.
    std::string error;
    const std::uint64_t n = CountNdjsonLines(port(), "/v1/events", &error);
    if (!error.empty()) {
      return Status::Unavailable(error);
    }
    return n;
  }
  std::string data_dir() const override { return dir_; }
  bool http() const override { return true; }
  std::uint16_t port() const override { return server_ ? server_->port() : 0; }

 private:
  const std::string bin_;
  std::string dir_;
  std::unique_ptr<tools::ServerProcess> server_;
};

class Postgres final : public System {
 public:
  std::string name() const override { return "postgres"; }
  Status Start(const std::string& dir, std::size_t clients) override {
    bin_ = FindPgBin();
    if (bin_.empty()) {
      return Status::NotFound("no PostgreSQL server binaries (apt-get install postgresql)");
    }
    dir_ = dir + "/pg";
    log_ = dir + "/postgres.log";
    fs::create_directories(dir_);
    if (::geteuid() == 0) {
      // PostgreSQL refuses to run as root: the directory is the postgres
      // user's.
      Run({"chown", "-R", "postgres:postgres", dir}, log_);
    }
    if (Run({bin_ + "/initdb", "-D", dir_, "-U", "bench", "--auth=trust", "--no-sync",
             "--encoding=UTF8", "--locale=C"},
            log_, "postgres") != 0) {
      return Status::Unavailable("initdb failed; see " + log_);
    }
    port_ = FreePort();
    pid_ = Spawn({bin_ + "/postgres",
                  "-D",
                  dir_,
                  "-p",
                  std::to_string(port_),
                  "-k",
                  dir_,
                  "-c",
                  "listen_addresses=127.0.0.1",
                  "-c",
                  "synchronous_commit=on",
                  "-c",
                  "fsync=on",
                  "-c",
                  "full_page_writes=on",
                  "-c",
                  "shared_buffers=256MB",
                  "-c",
                  "max_connections=200",
                  "-c",
                  "max_wal_size=4GB"},
                 log_, "postgres");
    PGconn* admin = nullptr;
    for (int i = 0; i < 300 && admin == nullptr; ++i) {
      admin = Connect();
      if (admin == nullptr) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (admin == nullptr) {
      return Status::Unavailable("PostgreSQL did not start; see " + log_);
    }
    PGresult* res = PQexec(admin,
                           "CREATE TABLE events (position bigserial PRIMARY KEY, customer text "
                           "NOT NULL, version bigint NOT NULL, payload jsonb NOT NULL, "
                           "UNIQUE (customer, version));"
                           "CREATE INDEX events_customer ON events (customer);");
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    PQfinish(admin);
    if (!ok) {
      return Status::Internal("creating the table failed");
    }
    for (std::size_t i = 0; i < clients; ++i) {
      PGconn* c = Connect();
      if (c == nullptr || !Prepare(c)) {
        return Status::Unavailable("cannot connect to PostgreSQL");
      }
      conns_.push_back(c);
    }
    return Status::Ok();
  }
  void Stop() override {
    for (auto* c : conns_) {
      PQfinish(c);
    }
    conns_.clear();
    StopChild(&pid_, SIGINT);  // fast shutdown
  }
  Status Append(std::size_t client, const std::vector<const Event*>& events) override {
    PGconn* c = conns_[client];
    // One round trip: BEGIN, the advisory locks of the batch's customers in
    // a fixed order (no deadlocks between batches), the inserts, COMMIT.
    std::vector<std::string> streams;
    for (const Event* e : events) {
      streams.push_back(e->stream);
    }
    std::sort(streams.begin(), streams.end());
    streams.erase(std::unique(streams.begin(), streams.end()), streams.end());
    std::string array = "{";
    for (std::size_t i = 0; i < streams.size(); ++i) {
      array += (i ? ",\"" : "\"") + streams[i] + "\"";  // workload ids need no escaping
    }
    array += "}";
    PQenterPipelineMode(c);
    PQsendQueryParams(c, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0);
    const char* lock_params[] = {array.c_str()};
    PQsendQueryPrepared(c, "lock", 1, lock_params, nullptr, nullptr, 0);
    for (const Event* e : events) {
      const char* params[] = {e->stream.c_str(), e->json.c_str()};
      PQsendQueryPrepared(c, "append", 2, params, nullptr, nullptr, 0);
    }
    PQsendQueryParams(c, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQpipelineSync(c);
    bool ok = true;
    std::string error;
    // One result (then a NULL) per query, then the sync.
    for (std::size_t q = 0; q < events.size() + 3; ++q) {
      PGresult* res = PQgetResult(c);
      const auto st = PQresultStatus(res);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ok = false;
        if (error.empty()) {
          error = PQresultErrorMessage(res);
        }
      }
      PQclear(res);
      while ((res = PQgetResult(c)) != nullptr) {
        PQclear(res);
      }
    }
    PGresult* sync = PQgetResult(c);  // PGRES_PIPELINE_SYNC
    PQclear(sync);
    PQexitPipelineMode(c);
    return ok ? Status::Ok() : Status::Unavailable("PostgreSQL: " + error);
  }
  StatusOr<std::uint64_t> ReadNewest(std::size_t client, const std::string& stream,
                                     std::size_t /*limit*/) override {
    const char* params[] = {stream.c_str()};
    PGresult* res = PQexecPrepared(conns_[client], "newest", 1, params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    const auto n = static_cast<std::uint64_t>(ok ? PQntuples(res) : 0);
    PQclear(res);
    if (!ok) {
      return Status::Unavailable("PostgreSQL read failed");
    }
    return n;
  }
  StatusOr<std::uint64_t> Replay() override {
    PGconn* c = conns_[0];
    PGresult* res = PQexec(c, "COPY (SELECT payload FROM events ORDER BY position) TO STDOUT");
    const bool ok = PQresultStatus(res) == PGRES_COPY_OUT;
    PQclear(res);
    if (!ok) {
      return Status::Unavailable("PostgreSQL COPY failed");
    }
    std::uint64_t rows = 0;
    char* buf = nullptr;
    while (PQgetCopyData(c, &buf, 0) > 0) {
      ++rows;
      PQfreemem(buf);
    }
    while ((res = PQgetResult(c)) != nullptr) {
      PQclear(res);
    }
    return rows;
  }
  std::string data_dir() const override { return dir_; }

 private:
  static std::string FindPgBin() {
    std::string best;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      if (fs::exists(e.path() / "bin" / "initdb")) {
        best = std::max(best, (e.path() / "bin").string());
      }
    }
    return best;
  }
  PGconn* Connect() const {
    const std::string info = "host=127.0.0.1 port=" + std::to_string(port_) +
                             " user=bench dbname=postgres connect_timeout=5";
    PGconn* c = PQconnectdb(info.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      PQfinish(c);
      return nullptr;
    }
    return c;
  }
  static bool Prepare(PGconn* c) {
    const std::pair<const char*, const char*> statements[] = {
        {"lock", "SELECT pg_advisory_xact_lock(hashtext(s)) FROM unnest($1::text[]) AS s"},
        {"append",
         "INSERT INTO events (customer, version, payload) SELECT $1, COALESCE(MAX(version), 0) + "
         "1, $2::jsonb FROM events WHERE customer = $1"},
        {"newest", "SELECT payload FROM events WHERE customer = $1 ORDER BY version DESC LIMIT 50"},
    };
    for (const auto& [name, sql] : statements) {
      PGresult* res = PQprepare(c, name, sql, 0, nullptr);
      const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  std::string bin_;
  std::string dir_;
  std::string log_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::vector<PGconn*> conns_;
};

// What went wrong with a Redis command: the connection's error when there
// is no reply, else the reply's error text or its unexpected type.
Status ReplyError(const redisContext* c, const redisReply* reply, const char* command) {
  std::string what = std::string("Redis ") + command + ": ";
  if (reply == nullptr) {
    what += c->errstr;
  } else if (reply->type == REDIS_REPLY_ERROR) {
    what += reply->str;
  } else {
    what += "unexpected reply type " + std::to_string(reply->type);
  }
  return Status::Unavailable(what);
}

class Redis final : public System {
 public:
  std::string name() const override { return "redis"; }
  Status Start(const std::string& dir, std::size_t clients) override {
    dir_ = dir + "/redis";
    fs::create_directories(dir_);
    port_ = FreePort();
    pid_ = Spawn({"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir",
                  dir_, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                  "--auto-aof-rewrite-percentage", "0", "--daemonize", "no"},
                 dir + "/redis.log");
    for (int i = 0; i < 300; ++i) {
      redisContext* c = redisConnect("127.0.0.1", port_);
      if (c != nullptr && c->err == 0) {
        auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
        const bool up = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
        freeReplyObject(reply);
        redisFree(c);
        if (up) {
          break;
        }
      } else if (c != nullptr) {
        redisFree(c);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (std::size_t i = 0; i < clients; ++i) {
      redisContext* c = redisConnect("127.0.0.1", port_);
      if (c == nullptr || c->err != 0) {
        return Status::Unavailable("cannot connect to Redis (apt-get install redis-server)");
      }
      conns_.push_back(c);
    }
    return Status::Ok();
  }
  void Stop() override {
    for (auto* c : conns_) {
      redisFree(c);
    }
    conns_.clear();
    StopChild(&pid_, SIGTERM);
  }
  Status Append(std::size_t client, const std::vector<const Event*>& events) override {
    redisContext* c = conns_[client];
    for (const Event* e : events) {
      const std::string key = "s:" + e->stream;
      redisAppendCommand(c, "XADD %b * p %b", key.data(), key.size(), e->json.data(),
                         e->json.size());
    }
    Status status;
    for (std::size_t i = 0; i < events.size(); ++i) {
      void* r = nullptr;
      if (redisGetReply(c, &r) != REDIS_OK) {
        return Status::Unavailable("Redis connection failed");
      }
      auto* reply = static_cast<redisReply*>(r);
      if (reply->type == REDIS_REPLY_ERROR && status.ok()) {
        status = Status::Unavailable(std::string("Redis: ") + reply->str);
      }
      freeReplyObject(reply);
    }
    return status;
  }
  StatusOr<std::uint64_t> ReadNewest(std::size_t client, const std::string& stream,
                                     std::size_t limit) override {
    const std::string key = "s:" + stream;
    const std::string count = std::to_string(limit);  // hiredis formats no size_t
    auto* reply = static_cast<redisReply*>(redisCommand(conns_[client], "XREVRANGE %b + - COUNT %s",
                                                        key.data(), key.size(), count.c_str()));
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
      const Status error = ReplyError(conns_[client], reply, "XREVRANGE");
      freeReplyObject(reply);
      return error;
    }
    const auto n = static_cast<std::uint64_t>(reply->elements);
    freeReplyObject(reply);
    return n;
  }
  StatusOr<std::uint64_t> Replay() override {
    redisContext* c = conns_[0];
    std::uint64_t rows = 0;
    std::string cursor = "0";
    do {
      auto* scan =
          static_cast<redisReply*>(redisCommand(c, "SCAN %s MATCH s:* COUNT 1000", cursor.c_str()));
      if (scan == nullptr || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) {
        const Status error = ReplyError(c, scan, "SCAN");
        freeReplyObject(scan);
        return error;
      }
      cursor = scan->element[0]->str;
      for (std::size_t k = 0; k < scan->element[1]->elements; ++k) {
        const std::string key = scan->element[1]->element[k]->str;
        std::string from = "-";
        while (true) {
          auto* range = static_cast<redisReply*>(
              redisCommand(c, "XRANGE %b %s + COUNT 1000", key.data(), key.size(), from.c_str()));
          if (range == nullptr || range->type != REDIS_REPLY_ARRAY) {
            const Status error = ReplyError(c, range, "XRANGE");
            freeReplyObject(range);
            freeReplyObject(scan);
            return error;
          }
          const std::size_t n = range->elements;
          rows += n;
          std::string last = n > 0 ? range->element[n - 1]->element[0]->str : "";
          freeReplyObject(range);
          if (n < 1000) {
            break;
          }
          from = "(" + last;  // exclusive, Redis 6.2+
        }
      }
      freeReplyObject(scan);
    } while (cursor != "0");
    return rows;
  }
  std::string data_dir() const override { return dir_; }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::vector<redisContext*> conns_;
};

// The ceiling (tools/bench/rocks_ceiling.h, shared with touchline_bench).
class RawRocks final : public System {
 public:
  std::string name() const override { return "rocksdb"; }
  Status Start(const std::string& dir, std::size_t /*clients*/) override {
    dir_ = dir + "/rocksdb";
    ASSIGN_OR_RETURN(db_, RocksCeiling::Open(dir_));
    return Status::Ok();
  }
  void Stop() override { db_.reset(); }
  Status Append(std::size_t, const std::vector<const Event*>& events) override {
    std::vector<RocksCeiling::Entry> entries;
    entries.reserve(events.size());
    for (const Event* e : events) {
      entries.push_back({e->stream, e->json});
    }
    return db_->Append(entries);
  }
  StatusOr<std::uint64_t> ReadNewest(std::size_t, const std::string& stream,
                                     std::size_t limit) override {
    return db_->ReadNewest(stream, limit);
  }
  StatusOr<std::uint64_t> Replay() override { return db_->Replay(); }
  std::string data_dir() const override { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<RocksCeiling> db_;
};

// ------------------------------------------------------------- workloads

std::vector<const Event*> Slice(const std::vector<Event>& events, std::size_t first,
                                std::size_t n) {
  std::vector<const Event*> out;
  for (std::size_t i = first; i < std::min(events.size(), first + n); ++i) {
    out.push_back(&events[i]);
  }
  return out;
}

std::string BatchBody(const std::vector<Event>& events, std::size_t first, std::size_t n) {
  std::string body = "[";
  for (std::size_t i = first; i < std::min(events.size(), first + n); ++i) {
    body += (i > first ? "," : "") + events[i].json;
  }
  return body + "]";
}

Result FromHttp(const LoadResult& l, std::size_t events_per_request) {
  Result r;
  r.seconds = l.seconds;
  r.events = l.requests * events_per_request;
  r.latencies_us = l.latencies_us;
  r.errors = l.errors;
  r.first_error = l.first_error;
  return r;
}

Result Ingest(System& s, const std::vector<Event>& events, std::size_t per_unit,
              std::size_t clients) {
  const std::size_t units = (events.size() + per_unit - 1) / per_unit;
  if (s.http()) {
    std::vector<HttpRequestSpec> requests;
    for (std::size_t u = 0; u < units; ++u) {
      requests.push_back({"POST", "/v1/events", BatchBody(events, u * per_unit, per_unit)});
    }
    Result r = FromHttp(RunHttpLoad(s.port(), clients, requests), per_unit);
    r.events = std::min<std::uint64_t>(r.events, events.size());
    return r;
  }
  return Drive(units, clients, [&](std::size_t u, std::size_t c) -> StatusOr<std::uint64_t> {
    const auto batch = Slice(events, u * per_unit, per_unit);
    RETURN_IF_ERROR(s.Append(c, batch));
    return batch.size();
  });
}

Result ReadNewest(System& s, const std::vector<std::string>& streams, std::size_t limit,
                  std::size_t clients) {
  if (s.http()) {
    std::vector<HttpRequestSpec> requests;
    for (const auto& stream : streams) {
      requests.push_back(
          {"GET", "/v1/customers/" + UrlPath(stream) + "/timeline?limit=" + std::to_string(limit),
           ""});
    }
    return FromHttp(RunHttpLoad(s.port(), clients, requests), 1);
  }
  // Counted in reads, as over HTTP; a read that finds nothing is an error
  // (every stream read was written).
  return Drive(streams.size(), clients,
               [&](std::size_t i, std::size_t c) -> StatusOr<std::uint64_t> {
                 ASSIGN_OR_RETURN(const std::uint64_t n, s.ReadNewest(c, streams[i], limit));
                 if (n == 0) {
                   return Status::NotFound("no events in stream " + streams[i]);
                 }
                 return 1;
               });
}

Result Replay(System& s) {
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  auto n = s.Replay();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.latencies_us.push_back(r.seconds * 1e6);
  if (n.ok()) {
    r.events = *n;
  } else {
    r.errors = 1;
    r.first_error = n.status().ToString();
  }
  return r;
}

struct Row {
  std::string system;
  std::string workload;
  double events_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::size_t samples = 0;
  std::size_t errors = 0;
  std::string note;
};

Row ToRow(const std::string& system, const std::string& workload, Result r) {
  Row row;
  row.system = system;
  row.workload = workload;
  row.events_per_s = r.events_per_s();
  row.samples = r.latencies_us.size();
  row.p50_ms = Percentile(&r.latencies_us, 0.50) / 1000;
  row.p99_ms = Percentile(&r.latencies_us, 0.99) / 1000;
  row.errors = r.errors;
  row.note = r.first_error;
  return row;
}

Row Median(std::vector<Row> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.events_per_s < b.events_per_s; });
  Row m = rows[rows.size() / 2];
  for (const auto& r : rows) {
    m.errors = std::max(m.errors, r.errors);
    if (m.note.empty()) {
      m.note = r.note;
    }
  }
  return m;
}

std::unique_ptr<System> MakeSystem(const std::string& name, const Config& c) {
  if (name == "touchline") {
    return std::make_unique<Touchline>(c.server_bin);
  }
  if (name == "postgres") {
    return std::make_unique<Postgres>();
  }
  if (name == "redis") {
    return std::make_unique<Redis>();
  }
  if (name == "rocksdb") {
    return std::make_unique<RawRocks>();
  }
  return nullptr;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) {
      out.push_back(item);
    }
  }
  return out;
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) {
    std::fprintf(stderr, "touchline_compare: %s: %s\n", what.c_str(), s.ToString().c_str());
    std::exit(1);
  }
}

// The main workloads for one system: `rounds` rounds, each with fresh
// stores; returns the median rows.
std::vector<Row> RunSystem(const Config& c, const std::string& name,
                           const std::vector<Event>& events, const std::vector<Event>& singles,
                           const std::vector<std::string>& read_streams) {
  std::map<std::string, std::vector<Row>> by_workload;
  for (int round = 0; round < c.rounds; ++round) {
    auto s = MakeSystem(name, c);
    std::string dir = MakeTempDir(c.dir);
    Check(s->Start(dir, std::max(c.batch_clients, c.read_clients)), name + " start");
    PhaseMark(name, "ingest_batch", "start");
    Row batch = ToRow(name, "ingest_batch", Ingest(*s, events, c.batch, c.batch_clients));
    PhaseMark(name, "ingest_batch", "end");
    std::this_thread::sleep_for(std::chrono::seconds(1));  // let background work settle
    PhaseMark(name, "read_newest", "start");
    Row read =
        ToRow(name, "read_newest", ReadNewest(*s, read_streams, c.read_limit, c.read_clients));
    PhaseMark(name, "read_newest", "end");
    PhaseMark(name, "replay", "start");
    Result replayed = Replay(*s);
    PhaseMark(name, "replay", "end");
    if (replayed.errors == 0 && replayed.events < events.size()) {
      replayed.errors = 1;
      replayed.first_error = "replayed " + std::to_string(replayed.events) + " of " +
                             std::to_string(events.size()) + " events";
    }
    Row replay = ToRow(name, "replay", std::move(replayed));
    s->Stop();
    fs::remove_all(dir);

    dir = MakeTempDir(c.dir);
    Check(s->Start(dir, c.clients), name + " start");
    PhaseMark(name, "ingest_single", "start");
    Row single = ToRow(name, "ingest_single", Ingest(*s, singles, 1, c.clients));
    PhaseMark(name, "ingest_single", "end");
    s->Stop();
    fs::remove_all(dir);
    for (Row* r : {&batch, &single, &read, &replay}) {
      std::fprintf(stderr, "  %-9s %-13s round %d: %10.0f /s  p50 %8.2f ms  p99 %8.2f ms%s\n",
                   name.c_str(), r->workload.c_str(), round + 1, r->events_per_s, r->p50_ms,
                   r->p99_ms, r->errors > 0 ? ("  ERRORS: " + r->note).c_str() : "");
      by_workload[r->workload].push_back(*r);
    }
  }
  std::vector<Row> out;
  for (const char* w : {"ingest_batch", "ingest_single", "read_newest", "replay"}) {
    out.push_back(Median(by_workload[w]));
  }
  return out;
}

struct ScalePoint {
  std::string system;
  std::size_t events = 0;
  double ingest_per_s = 0;
  double read_p99_ms = 0;
  double bytes_per_event = 0;
};

// Ingests `size` events (generated chunk by chunk: deterministic, the same
// for every system) into a fresh store, then reads.
ScalePoint RunScale(const Config& c, const std::string& name, std::size_t size) {
  auto s = MakeSystem(name, c);
  const std::string dir = MakeTempDir(c.dir);
  Check(s->Start(dir, std::max(c.batch_clients, c.read_clients)), name + " start");
  constexpr std::size_t kChunk = 100000;
  double seconds = 0;
  std::uint64_t done = 0;
  std::map<std::string, std::size_t> counts;
  for (std::size_t first = 0; first < size; first += kChunk) {
    WorkloadOptions wo;
    wo.customers = c.customers;
    wo.seed += 1000 + first / kChunk;
    const Workload w = Workload::Generate(std::min(kChunk, size - first), wo,
                                          "x" + std::to_string(first / kChunk));
    std::vector<Event> events;
    for (const auto& e : w.events()) {
      events.push_back({e, StreamOf(e)});
      ++counts[events.back().stream];
    }
    const Result r = Ingest(*s, events, c.batch, c.batch_clients);
    seconds += r.seconds;
    done += r.events;
  }
  std::vector<std::pair<std::size_t, std::string>> hot;
  for (const auto& [stream, n] : counts) {
    hot.emplace_back(n, stream);
  }
  std::sort(hot.rbegin(), hot.rend());
  std::vector<std::string> streams;
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i < std::min<std::size_t>(c.reads, 5000); ++i) {
    streams.push_back(hot[rng() % std::min<std::size_t>(hot.size(), 1000)].second);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Result reads = ReadNewest(*s, streams, c.read_limit, c.read_clients);
  s->Stop();
  ScalePoint p;
  p.system = name;
  p.events = size;
  p.ingest_per_s = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  p.read_p99_ms = Percentile(&reads.latencies_us, 0.99) / 1000;
  p.bytes_per_event = static_cast<double>(DirectoryBytes(s->data_dir())) /
                      static_cast<double>(std::max<std::size_t>(1, size));
  fs::remove_all(dir);
  std::fprintf(stderr,
               "  %-9s scale %9zu: %10.0f events/s ingest, read p99 %.2f ms, %.0f B/event\n",
               name.c_str(), size, p.ingest_per_s, p.read_p99_ms, p.bytes_per_event);
  return p;
}

}  // namespace
}  // namespace touchline::bench

int main(int argc, char** argv) {
  using namespace touchline::bench;  // NOLINT(build/namespaces)
  Config c;
  CLI::App app{"touchline_compare: touchline against PostgreSQL, Redis and raw RocksDB"};
  app.option_defaults()->always_capture_default();
  app.add_option("--server-bin", c.server_bin, "touchlined binary");
  app.add_option("--out", c.out, "Output folder (workload, table, chart data)");
  app.add_option("--dir", c.dir, "Scratch directory for the stores (default: under /tmp)");
  app.add_option("--systems", c.systems, "Comma-separated: touchline,postgres,redis,rocksdb");
  app.add_option("--events", c.events, "Events in the batched ingest, reads and replay")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", c.batch, "Events per request, transaction, pipeline or WriteBatch")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-clients", c.batch_clients, "Concurrent clients for batched ingest")
      ->check(CLI::PositiveNumber);
  app.add_option("--single-events", c.single_events, "Events in the single-event ingest")
      ->check(CLI::PositiveNumber);
  app.add_option("--clients", c.clients, "Concurrent clients for single-event ingest")
      ->check(CLI::PositiveNumber);
  app.add_option("--reads", c.reads, "Reads of a customer's newest events")
      ->check(CLI::PositiveNumber);
  app.add_option("--read-clients", c.read_clients, "Concurrent readers")
      ->check(CLI::PositiveNumber);
  app.add_option("--customers", c.customers, "Distinct customers in the workload")
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", c.rounds, "Rounds; the median is reported")->check(CLI::Range(1, 99));
  app.add_option("--scale", c.scale,
                 "Log sizes for the scale curve, comma-separated (e.g. 1000000,5000000,10000000); "
                 "empty skips it");
  app.add_flag("--phase-marks", c.phase_marks,
               "Print CLOCK_MONOTONIC times of each workload's start and end on stderr (to cut "
               "a `perf record -k CLOCK_MONOTONIC` profile by workload)");
  CLI11_PARSE(app, argc, argv);
  g_phase_marks = c.phase_marks;
  for (int i = 0; i < argc; ++i) {
    c.command += (i ? " " : "") + std::string(argv[i]);
  }
  const bool own_dir = c.dir.empty();
  if (own_dir) {
    std::string tmpl = "/tmp/touchline-compare-XXXXXX";
    c.dir = ::mkdtemp(tmpl.data());
    ::chmod(c.dir.c_str(), 0755);  // PostgreSQL runs as its own user inside
  }
  fs::create_directories(c.out);

  // One workload, written once; every system gets these bytes.
  WorkloadOptions wo;
  wo.customers = c.customers;
  const Workload generated = Workload::Generate(c.events + c.single_events, wo, "cmp");
  {
    std::ofstream f(c.out + "/workload.ndjson");
    for (const auto& e : generated.events()) {
      f << e << '\n';
    }
  }
  std::vector<Event> all;
  {
    std::ifstream f(c.out + "/workload.ndjson");
    for (std::string line; std::getline(f, line);) {
      all.push_back({line, StreamOf(line)});
    }
  }
  const std::vector<Event> events(all.begin(), all.begin() + static_cast<long>(c.events));
  const std::vector<Event> singles(all.begin() + static_cast<long>(c.events), all.end());
  // Reads go to customers drawn as the workload draws them: often the busy.
  std::vector<std::string> read_streams;
  {
    std::mt19937_64 rng(11);
    for (std::size_t i = 0; i < c.reads; ++i) {
      read_streams.push_back(events[rng() % events.size()].stream);
    }
  }
  std::fprintf(stderr, "workload: %zu + %zu events (%.0f bytes mean) in %s/workload.ndjson\n",
               events.size(), singles.size(),
               static_cast<double>(generated.total_bytes()) /
                   static_cast<double>(std::max<std::size_t>(1, all.size())),
               c.out.c_str());

  const auto systems = SplitComma(c.systems);
  std::map<std::string, std::map<std::string, Row>> rows;  // workload -> system -> row
  for (const auto& name : systems) {
    if (MakeSystem(name, c) == nullptr) {
      std::fprintf(stderr, "touchline_compare: unknown system '%s'\n", name.c_str());
      return 2;
    }
    std::fprintf(stderr, "%s:\n", name.c_str());
    for (Row& r : RunSystem(c, name, events, singles, read_streams)) {
      rows[r.workload][name] = r;
    }
  }
  std::vector<ScalePoint> scale;
  for (const auto& size_text : SplitComma(c.scale)) {
    const std::size_t size = std::stoull(size_text);
    for (const auto& name : systems) {
      scale.push_back(RunScale(c, name, size));
    }
  }
  if (own_dir) {
    fs::remove_all(c.dir);
  }

  std::ostringstream md;
  char buf[512];
  md << "Run "
     << touchline::FormatRfc3339(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count() *
                                 1'000'000)
     << " with `" << c.command << "`\n\n";
  md << "Machine: " << Machine() << "\n\n";
  std::snprintf(buf, sizeof(buf),
                "Workload: %zu events batched %zu per request over %zu clients; %zu single "
                "events over %zu clients; %zu reads of a customer's newest %zu events over %zu "
                "clients (per second counts reads there, events elsewhere); median of %d "
                "rounds by throughput.\n\n",
                c.events, c.batch, c.batch_clients, c.single_events, c.clients, c.reads,
                c.read_limit, c.read_clients, c.rounds);
  md << buf;
  md << "| workload | system | per second | p50 ms | p99 ms | touchline / this |\n";
  md << "|---|---|---:|---:|---:|---:|\n";
  std::ofstream dat(c.out + "/compare.dat");
  dat << "workload";
  for (const auto& s : systems) {
    dat << ' ' << s;
  }
  dat << '\n';
  int failures = 0;
  for (const char* w : {"ingest_batch", "ingest_single", "read_newest", "replay"}) {
    dat << w;
    const Row* ours = rows[w].count("touchline") ? &rows[w]["touchline"] : nullptr;
    for (const auto& s : systems) {
      const Row& r = rows[w][s];
      failures += r.errors > 0 || r.events_per_s <= 0 ? 1 : 0;
      std::string ratio = "";
      if (ours != nullptr && s != "touchline" && r.events_per_s > 0) {
        std::snprintf(buf, sizeof(buf), "%.2f", ours->events_per_s / r.events_per_s);
        ratio = buf;
      }
      std::snprintf(buf, sizeof(buf), "| %s | %s | %.0f | %.2f | %.2f | %s |%s\n", w, s.c_str(),
                    r.events_per_s, r.p50_ms, r.p99_ms, ratio.c_str(),
                    r.errors > 0 ? (" errors: " + r.note).c_str() : "");
      md << buf;
      dat << ' ' << static_cast<long long>(r.events_per_s);
    }
    dat << '\n';
  }
  if (!scale.empty()) {
    md << "\nScale (batched ingest into a fresh store, then reads):\n\n";
    md << "| events | system | ingest events/s | read p99 ms | bytes on disk / event |\n";
    md << "|---:|---|---:|---:|---:|\n";
    for (const auto& p : scale) {
      std::snprintf(buf, sizeof(buf), "| %zu | %s | %.0f | %.2f | %.0f |\n", p.events,
                    p.system.c_str(), p.ingest_per_s, p.read_p99_ms, p.bytes_per_event);
      md << buf;
    }
  }
  std::printf("%s", md.str().c_str());
  std::ofstream(c.out + "/compare.md") << md.str();
  return failures > 0 ? 1 : 0;
}
