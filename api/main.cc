// touchlined: the touchline server binary. Parses flags (each also readable
// from a TOUCHLINE_* environment variable, and from a --config file; a flag
// on the command line wins over the environment, which wins over the file),
// opens the event log, serves HTTP until SIGINT/SIGTERM, then drains and
// closes the log cleanly.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <limits>

#include "api/access_log.h"
#include "api/auth.h"
#include "api/server.h"
#include "api/webhook_client.h"
#include "projections/audit_projection.h"
#include "projections/customer_view_projection.h"
#include "projections/erasure_purger.h"
#include "projections/projection_runner.h"
#include "projections/reminder_projection.h"
#include "projections/reminder_scheduler.h"
#include "sinks/sink_service.h"
#include "store/event_log.h"

namespace {

// Every connection (HTTP or WebSocket) holds a descriptor, and RocksDB
// holds more: take the hard limit rather than a soft default of 1024.
void RaiseFileLimit(std::size_t max_connections) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < max_connections + 256) {
    spdlog::warn(
        "the open-file limit ({}) is below --max-connections plus what RocksDB needs; "
        "raise it (ulimit -n) or lower --max-connections",
        static_cast<unsigned long long>(lim.rlim_cur));
  }
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host.starts_with("127.");
}

// %* in a log pattern: the message as the inside of a JSON string.
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (u < 0x20) {
        const char esc[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        dest.append(esc, esc + sizeof(esc));
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

void SetUpLogging(const std::string& level, const std::string& format) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("touchlined"));
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","pid":%P,"thread":%t,"msg":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
}

}  // namespace

int main(int argc, char** argv) {
  using touchline::api::ServerOptions;
  ServerOptions server;
  touchline::store::EventLogOptions store;
  store.path = "./data";
  std::size_t memory_budget_mb = 1024;
  std::size_t block_cache_mb = 0;
  std::size_t timeline_cache_mb = 0;
  std::int64_t idle_ms = server.idle_timeout.count();
  std::int64_t request_ms = server.request_timeout.count();
  std::int64_t write_ms = server.write_timeout.count();
  std::int64_t shutdown_ms = server.shutdown_timeout.count();
  std::int64_t ws_idle_ms = server.ws_idle_timeout.count();
  std::string log_level = "info";
  std::string port_file;
  bool no_group_commit = false;
  std::string identity_limits_text;
  std::int64_t projection_wait_ms = 2000;
  touchline::Seq max_projection_lag = 4096;
  std::size_t max_as_of_events = 200000;
  std::int64_t webhook_timeout_ms = 10000;
  std::string log_format = "text";
  bool no_integrity = false;
  bool no_read_audit = false;
  std::string sink_source;
  std::string webhook_ca_file;
  std::string sink_origin;
  std::int64_t checkpoint_interval_ms = store.checkpoint_interval.count();
  touchline::api::AccessOptions access;
  double auth_failures_per_minute = 12;

  CLI::App app{"touchlined: event-sourced customer timeline server"};
  app.set_config("--config", "",
                 "Read options from this TOML file (key = value, names as the long flags "
                 "without dashes, e.g. port = 8080)")
      ->envname("TOUCHLINE_CONFIG");
  app.option_defaults()->always_capture_default();
  app.add_option("--data-dir", store.path, "Data directory (created if missing)")
      ->envname("TOUCHLINE_DATA_DIR");
  app.add_option("--host", server.host, "Address to listen on")->envname("TOUCHLINE_HOST");
  app.add_option("--port", server.port, "Port to listen on (0 = any free port)")
      ->envname("TOUCHLINE_PORT");
  app.add_option("--tls-cert", server.tls_cert_file,
                 "PEM certificate chain: serve HTTPS and WSS only (with --tls-key)")
      ->check(CLI::ExistingFile)
      ->envname("TOUCHLINE_TLS_CERT");
  app.add_option("--tls-key", server.tls_key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile)
      ->envname("TOUCHLINE_TLS_KEY");
  app.add_option("--port-file", port_file, "Write the bound port to this file once listening")
      ->envname("TOUCHLINE_PORT_FILE");
  app.add_option("--threads", server.threads, "I/O threads (0 = one per core)")
      ->check(CLI::Range(0, 256))
      ->envname("TOUCHLINE_THREADS");
  app.add_option("--memory-budget-mb", memory_budget_mb,
                 "Memory for data kept in memory, in MiB, split between RocksDB (block cache "
                 "and memtables, 50%), opened records (20%), timeline pages (10%), the customer "
                 "view's decoded state (11%), projection state reads (6%) and stream tails (3%)")
      ->check(CLI::Range(64, 1 << 20))
      ->envname("TOUCHLINE_MEMORY_BUDGET_MB");
  app.add_option("--timeline-cache-mb", timeline_cache_mb,
                 "Override the budget's share for rendered timeline pages, in MiB (0: budget)")
      ->check(CLI::Range(0, 1 << 20))
      ->envname("TOUCHLINE_TIMELINE_CACHE_MB");
  app.add_option("--block-cache-mb", block_cache_mb,
                 "Override the budget's share for RocksDB (block cache and memtables), in MiB "
                 "(0: budget)")
      ->check(CLI::Range(0, 1 << 20))
      ->envname("TOUCHLINE_BLOCK_CACHE_MB");
  app.add_option("--max-connections", server.max_connections,
                 "Concurrent connections; more get 503")
      ->check(CLI::Range(1, 1 << 20))
      ->envname("TOUCHLINE_MAX_CONNECTIONS");
  app.add_option("--max-body-bytes", server.max_body_bytes, "Largest request body; more gets 413")
      ->check(CLI::Range(1024, 1 << 30))
      ->envname("TOUCHLINE_MAX_BODY_BYTES");
  app.add_option("--max-header-bytes", server.max_header_bytes,
                 "Largest request header block; more gets 431")
      ->check(CLI::Range(1024, 1 << 20))
      ->envname("TOUCHLINE_MAX_HEADER_BYTES");
  app.add_option("--max-batch-events", server.parse_limits.max_events,
                 "Most events in one POST /v1/events")
      ->check(CLI::Range(1, 1000000))
      ->envname("TOUCHLINE_MAX_BATCH_EVENTS");
  app.add_option("--idle-timeout-ms", idle_ms, "Close keep-alive connections idle this long")
      ->check(CLI::Range(100, 3600000))
      ->envname("TOUCHLINE_IDLE_TIMEOUT_MS");
  app.add_option("--request-timeout-ms", request_ms,
                 "A request must arrive completely within this once it starts (slowloris guard)")
      ->check(CLI::Range(100, 3600000))
      ->envname("TOUCHLINE_REQUEST_TIMEOUT_MS");
  app.add_option("--write-timeout-ms", write_ms, "Give up on a client that does not read")
      ->check(CLI::Range(100, 3600000))
      ->envname("TOUCHLINE_WRITE_TIMEOUT_MS");
  app.add_option("--shutdown-timeout-ms", shutdown_ms,
                 "On SIGTERM, wait this long for in-flight requests")
      ->check(CLI::Range(0, 3600000))
      ->envname("TOUCHLINE_SHUTDOWN_TIMEOUT_MS");
  app.add_option("--max-requests-per-connection", server.max_requests_per_connection,
                 "Close a keep-alive connection after this many requests (0 = unlimited)")
      ->envname("TOUCHLINE_MAX_REQUESTS_PER_CONNECTION");
  app.add_option("--identity-limits", identity_limits_text,
                 "Most identities of a type one profile may hold, e.g. email=5,phone=5,*=10 "
                 "(defaults: email=5, phone=5, customer=25, anonymous_id=25, *=10); changing "
                 "them rebuilds the customer view")
      ->envname("TOUCHLINE_IDENTITY_LIMITS");
  app.add_option("--max-projection-lag", max_projection_lag,
                 "Backpressure: ingest waits while a projection is more than this many events "
                 "behind the log (0: never)")
      ->envname("TOUCHLINE_MAX_PROJECTION_LAG");
  app.add_option("--projection-wait-ms", projection_wait_ms,
                 "How long a customer read waits for the view to catch up before 503")
      ->check(CLI::Range(0, 600000))
      ->envname("TOUCHLINE_PROJECTION_WAIT_MS");
  app.add_option("--max-as-of-events", max_as_of_events,
                 "Most events a time-travel view (?as_of=) may fold")
      ->check(CLI::Range(1, 100000000))
      ->envname("TOUCHLINE_MAX_AS_OF_EVENTS");
  app.add_option("--ws-max-connections", server.ws_max_connections,
                 "Open WebSocket sessions (GET /v1/stream); more get 503")
      ->check(CLI::Range(1, 1 << 20))
      ->envname("TOUCHLINE_WS_MAX_CONNECTIONS");
  app.add_option("--ws-max-subscriptions", server.ws_max_subscriptions,
                 "Subscriptions per WebSocket session")
      ->check(CLI::Range(1, 1024))
      ->envname("TOUCHLINE_WS_MAX_SUBSCRIPTIONS");
  app.add_option("--ws-max-message-bytes", server.ws_max_message_bytes,
                 "Largest WebSocket message a client may send; more closes with 1009")
      ->check(CLI::Range(256, 16 << 20))
      ->envname("TOUCHLINE_WS_MAX_MESSAGE_BYTES");
  app.add_option("--ws-idle-timeout-ms", ws_idle_ms,
                 "Ping a silent WebSocket peer; drop it after this long without an answer")
      ->check(CLI::Range(1000, 3600000))
      ->envname("TOUCHLINE_WS_IDLE_TIMEOUT_MS");
  app.add_option("--ws-queue-records", server.ws_queue_records,
                 "Events a subscription may hold unsent before it reads from the log instead")
      ->check(CLI::Range(1, 1 << 20))
      ->envname("TOUCHLINE_WS_QUEUE_RECORDS");
  app.add_option(
         "--webhook-timeout-ms", webhook_timeout_ms,
         "How long one reminder webhook or sink request may take before it counts as failed")
      ->check(CLI::Range(100, 600000))
      ->envname("TOUCHLINE_WEBHOOK_TIMEOUT_MS");
  app.add_option("--webhook-ca-file", webhook_ca_file,
                 "PEM file of CA certificates trusted, besides the system's, for https:// "
                 "reminder webhooks and sinks")
      ->check(CLI::ExistingFile)
      ->envname("TOUCHLINE_WEBHOOK_CA_FILE");
  app.add_option("--sink-source", sink_source,
                 "The CloudEvents source of events sent to sinks (default: urn:touchline: + "
                 "the log's name)")
      ->envname("TOUCHLINE_SINK_SOURCE");
  app.add_option("--sink-origin", sink_origin,
                 "WebHook-Request-Origin of sinks' handshakes (default: this host's name)")
      ->envname("TOUCHLINE_SINK_ORIGIN");
  app.add_option("--max-json-depth", server.parse_limits.max_depth,
                 "Deepest JSON nesting an event body may have; more gets 400")
      ->check(CLI::Range(4, 1024))
      ->envname("TOUCHLINE_MAX_JSON_DEPTH");
  app.add_option("--max-connections-per-address", server.max_connections_per_address,
                 "Concurrent connections from one IP address; more get 503 (0 = no limit)")
      ->envname("TOUCHLINE_MAX_CONNECTIONS_PER_ADDRESS");
  app.add_option("--address-rps", access.per_address.rate,
                 "Requests per second one IP address may make; more get 429 (0 = no limit)")
      ->check(CLI::Range(0.0, 1e9))
      ->envname("TOUCHLINE_ADDRESS_RPS");
  app.add_option("--address-burst", access.per_address.burst,
                 "Requests one IP address may make at once (at least --address-rps)")
      ->check(CLI::Range(0.0, 1e9))
      ->envname("TOUCHLINE_ADDRESS_BURST");
  app.add_option("--key-rps", access.per_key.rate,
                 "Requests per second one API key may make; more get 429 (0 = no limit)")
      ->check(CLI::Range(0.0, 1e9))
      ->envname("TOUCHLINE_KEY_RPS");
  app.add_option("--key-burst", access.per_key.burst,
                 "Requests one API key may make at once (at least --key-rps)")
      ->check(CLI::Range(0.0, 1e9))
      ->envname("TOUCHLINE_KEY_BURST");
  app.add_option("--auth-failures-per-minute", auth_failures_per_minute,
                 "Failed authentications one IP address may make per minute once its burst "
                 "is spent; beyond that its requests get 429 (0 = no limit)")
      ->check(CLI::Range(0.0, 1e6))
      ->envname("TOUCHLINE_AUTH_FAILURES_PER_MINUTE");
  app.add_option("--auth-failure-burst", access.auth_failures.burst,
                 "Failed authentications one IP address may make in a row")
      ->check(CLI::Range(1.0, 1e6))
      ->envname("TOUCHLINE_AUTH_FAILURE_BURST");
  app.add_option("--log-format", log_format, "text, or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("TOUCHLINE_LOG_FORMAT");
  app.add_option("--signing-key", store.signing_key_file,
                 "Ed25519 key file that signs checkpoints (default: audit_signing.key in the "
                 "data directory, created on first start)")
      ->check(CLI::ExistingFile)
      ->envname("TOUCHLINE_SIGNING_KEY");
  app.add_option("--log-name", store.log_name,
                 "The log's name in its checkpoints, set when the data directory is created "
                 "(default: touchline/<16 random hex digits>)")
      ->envname("TOUCHLINE_LOG_NAME");
  app.add_option("--checkpoint-events", store.checkpoint_events,
                 "Sign a checkpoint after this many events (0 = only by time)")
      ->envname("TOUCHLINE_CHECKPOINT_EVENTS");
  app.add_option("--checkpoint-interval-ms", checkpoint_interval_ms,
                 "Sign a checkpoint at least this often while the log grows (0 = only by count)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86400000}))
      ->envname("TOUCHLINE_CHECKPOINT_INTERVAL_MS");
  app.add_flag("--no-read-audit", no_read_audit,
               "Do not record reads of customer data in the access audit trail (writes are "
               "always recorded: every event names its actor and route)")
      ->envname("TOUCHLINE_NO_READ_AUDIT");
  app.add_flag("--no-integrity", no_integrity,
               "No Merkle tree, checkpoints or sealing, for a new data directory (for "
               "benchmarks only: such a log has no proofs and cannot erase anyone)");
  app.add_flag("--no-group-commit", no_group_commit,
               "One fsync per request instead of one per group (for benchmarks only)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->envname("TOUCHLINE_LOG_LEVEL");
  // Precedence: command line, then environment, then --config file. CLI11
  // reads the file before the environment, so environment values are
  // passed as if given on the command line, unless the flag itself was.
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const CLI::Option* opt : app.get_options()) {
    const char* value =
        opt->get_envname().empty() ? nullptr : std::getenv(opt->get_envname().c_str());
    if (value == nullptr || opt->get_lnames().empty()) {
      continue;
    }
    const std::string flag = "--" + opt->get_lnames().front();
    const bool given = std::any_of(args.begin(), args.end(), [&](const std::string& a) {
      return a == flag || a.starts_with(flag + "=");
    });
    if (!given) {
      args.push_back(flag + "=" + value);
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(std::move(args));
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // A burst below the rate would refuse traffic the rate allows.
  access.per_address.burst = std::max({access.per_address.burst, access.per_address.rate, 1.0});
  access.per_key.burst = std::max({access.per_key.burst, access.per_key.rate, 1.0});
  SetUpLogging(log_level, log_format);
  access.auth_failures.rate = auth_failures_per_minute / 60.0;

  server.idle_timeout = std::chrono::milliseconds(idle_ms);
  server.request_timeout = std::chrono::milliseconds(request_ms);
  server.write_timeout = std::chrono::milliseconds(write_ms);
  server.shutdown_timeout = std::chrono::milliseconds(shutdown_ms);
  server.ws_idle_timeout = std::chrono::milliseconds(ws_idle_ms);
  // One memory budget, split (see --memory-budget-mb); RocksDB's memtables
  // are charged to its block cache, so its share bounds both.
  const std::size_t budget = memory_budget_mb << 20;
  store.block_cache_bytes = block_cache_mb > 0 ? block_cache_mb << 20 : budget / 2;
  store.memtable_bytes = store.block_cache_bytes / 2;
  store.record_cache_bytes = budget / 5;
  store.stream_tail_bytes = budget * 3 / 100;
  store.state_cache_bytes = budget * 2 / 100;  // per projection; three run
  server.timeline_cache_bytes = timeline_cache_mb > 0 ? timeline_cache_mb << 20 : budget / 10;
  const std::size_t view_cached = budget * 11 / 100 / 200;  // about 200 bytes an entry
  store.checkpoint_interval = std::chrono::milliseconds(checkpoint_interval_ms);
  store.integrity = !no_integrity;
  if (no_integrity) {
    spdlog::warn("integrity disabled: no Merkle tree, checkpoints or sealing (benchmarks only)");
  }
  if (no_group_commit) {
    store.max_group_requests = 1;
    spdlog::warn("group commit disabled: every request pays its own fsync");
  }

  RaiseFileLimit(server.max_connections);
  // Keys first: a server that would run open where it must not never
  // touches the data.
  touchline::store::KeyRing keys(store.path);
  if (auto s = keys.Load(); !s.ok()) {
    spdlog::critical("cannot read the API keys: {}", s.ToString());
    return 1;
  }
  const bool loopback = IsLoopback(server.host);
  if (!keys.HasAnyKeys()) {
    if (!loopback) {
      spdlog::critical(
          "refusing to listen on {} without API keys: anyone who could reach it could read and "
          "write every customer's data. Create a key first (tlctl keys create --data-dir {} "
          "--name NAME --role admin), or listen on 127.0.0.1",
          server.host, store.path);
      return 1;
    }
    spdlog::warn(
        "OPEN DEVELOPMENT MODE: no API keys exist, so every request on {} is admitted as "
        "\"anonymous\" with the admin role. Create one with tlctl keys create and keys are "
        "required from then on",
        server.host);
  } else if (!keys.HasActiveKeys()) {
    spdlog::warn("every API key is revoked: no request will be admitted until a key is created");
  }
  access.keys = &keys;
  access.allow_open = loopback;
  touchline::api::AccessControl access_control(access);
  auto log = touchline::store::EventLog::Open(store);
  if (!log.ok()) {
    spdlog::critical("cannot open the event log: {}", log.status().ToString());
    return 1;
  }
  spdlog::info("event log open at {} (head seq {})", store.path, (*log)->head());

  auto limits = touchline::projections::IdentityLimits::Parse(identity_limits_text);
  if (!limits.ok()) {
    spdlog::critical("--identity-limits: {}", limits.status().ToString());
    return 1;
  }
  auto customers = touchline::projections::ProjectionRunner::Create(
      log->get(),
      std::make_unique<touchline::projections::CustomerViewProjection>(*limits, view_cached));
  if (customers.ok()) {
    if (auto s = (*customers)->Start(); !s.ok()) {
      customers = s;
    }
  }
  if (!customers.ok()) {
    spdlog::critical("cannot start the customer view: {}", customers.status().ToString());
    return 1;
  }
  {
    const auto st = (*customers)->status();
    spdlog::info("customer view at seq {} of {} ({})", st.checkpoint, st.head, st.state);
  }

  auto reminders = touchline::projections::ProjectionRunner::Create(
      log->get(), std::make_unique<touchline::projections::ReminderProjection>());
  if (reminders.ok()) {
    if (auto s = (*reminders)->Start(); !s.ok()) {
      reminders = s;
    }
  }
  if (!reminders.ok()) {
    spdlog::critical("cannot start the reminders: {}", reminders.status().ToString());
    return 1;
  }
  auto audit = touchline::projections::ProjectionRunner::Create(
      log->get(), std::make_unique<touchline::projections::AuditProjection>());
  if (audit.ok()) {
    if (auto s = (*audit)->Start(); !s.ok()) {
      audit = s;
    }
  }
  if (!audit.ok()) {
    spdlog::critical("cannot start the audit trail: {}", audit.status().ToString());
    return 1;
  }
  touchline::projections::ErasurePurger purger(log->get(),
                                               {customers->get(), reminders->get(), audit->get()});
  if (auto s = purger.Start(); !s.ok()) {
    spdlog::critical("cannot start the erasure purger: {}", s.ToString());
    return 1;
  }
  touchline::api::AccessLog access_log(log->get(), touchline::SystemClock::Default());
  if (!no_read_audit) {
    access_log.Start();
  }
  touchline::api::WebhookClient webhooks{std::chrono::milliseconds(webhook_timeout_ms)};
  if (!webhook_ca_file.empty()) {
    if (auto s = webhooks.TrustCa(webhook_ca_file); !s.ok()) {
      spdlog::critical("--webhook-ca-file: {}", s.ToString());
      return 1;
    }
  }
  touchline::projections::ReminderScheduler scheduler(log->get(), reminders->get(),
                                                      touchline::SystemClock::Default(), &webhooks);
  scheduler.Start();

  touchline::sinks::SinkServiceOptions sink_options;
  if (sink_source.empty()) {
    auto key = (*log)->SigningKey();
    sink_source = "urn:touchline:" + (key.ok() ? key->name : std::string("log"));
  }
  sink_options.source = sink_source;
  if (sink_origin.empty()) {
    char host[256] = {};
    sink_origin = ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' ? host : "touchline";
  }
  sink_options.origin = sink_origin;
  auto sinks = touchline::sinks::SinkService::Open(log->get(), &webhooks,
                                                   touchline::SystemClock::Default(), sink_options);
  if (!sinks.ok()) {
    spdlog::critical("cannot start the webhook sinks: {}", sinks.status().ToString());
    return 1;
  }
  (*sinks)->Start();

  touchline::api::Services services;
  services.log = log->get();
  services.customers = customers->get();
  services.reminders = reminders->get();
  services.projections = {customers->get(), reminders->get(), audit->get()};
  // Backpressure: ingest waits while a running projection is more than
  // --max-projection-lag events behind (faulted ones, and rebuilds, do not
  // hold it up).
  (*log)->SetBackpressure(
      [runners = services.projections]() -> touchline::Seq {
        touchline::Seq slowest = std::numeric_limits<touchline::Seq>::max();
        for (auto* r : runners) {
          const auto st = r->status();
          if (st.state == "running") {
            slowest = std::min(slowest, st.checkpoint);
          }
        }
        return slowest;
      },
      max_projection_lag);
  services.audit = audit->get();
  services.access_log = no_read_audit ? nullptr : &access_log;
  services.purger = &purger;
  services.identity_limits = *limits;
  services.projection_wait = std::chrono::milliseconds(projection_wait_ms);
  services.max_as_of_events = max_as_of_events;
  services.access = &access_control;
  services.data_dir = store.path;
  touchline::api::IngestRefusals refusals;
  services.refusals = &refusals;
  services.sinks = sinks->get();
  touchline::api::Server http(server, std::move(services));
  if (auto s = http.Start(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  spdlog::info("touchlined listening on {}://{}:{} (agent console at /, live stream at /v1/stream)",
               http.tls() ? "https" : "http", server.host, http.port());
  if (!port_file.empty()) {
    std::ofstream f(port_file + ".tmp");
    f << http.port() << "\n";
    f.close();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  http.Run();
  // The access log, the purger and the scheduler use the log and the
  // runners: stop them first (the access log appends what it holds, the
  // purger finishes a purge it was asked for), then the runners, then
  // close the log.
  access_log.Stop();
  purger.Stop();
  scheduler.Stop();
  (*sinks)->Stop();
  (*audit)->Stop();
  (*reminders)->Stop();
  (*customers)->Stop();
  (*log)->Close();
  spdlog::info("stopped cleanly at head seq {}", (*log)->head());
  return 0;
}
