// touchlined: the touchline server binary. Parses flags (each also readable
// from a TOUCHLINE_* environment variable), opens the event log, serves HTTP
// until SIGINT/SIGTERM, then drains and closes the log cleanly.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <fstream>

#include "api/server.h"
#include "api/webhook_client.h"
#include "projections/customer_view_projection.h"
#include "projections/projection_runner.h"
#include "projections/reminder_projection.h"
#include "projections/reminder_scheduler.h"
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

}  // namespace

int main(int argc, char** argv) {
  using touchline::api::ServerOptions;
  ServerOptions server;
  touchline::store::EventLogOptions store;
  store.path = "./data";
  std::size_t block_cache_mb = 256;
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
  std::size_t max_as_of_events = 200000;
  std::int64_t webhook_timeout_ms = 10000;

  CLI::App app{"touchlined: event-sourced customer timeline server"};
  app.option_defaults()->always_capture_default();
  app.add_option("--data-dir", store.path, "Data directory (created if missing)")
      ->envname("TOUCHLINE_DATA_DIR");
  app.add_option("--host", server.host, "Address to listen on")->envname("TOUCHLINE_HOST");
  app.add_option("--port", server.port, "Port to listen on (0 = any free port)")
      ->envname("TOUCHLINE_PORT");
  app.add_option("--port-file", port_file, "Write the bound port to this file once listening")
      ->envname("TOUCHLINE_PORT_FILE");
  app.add_option("--threads", server.threads, "I/O threads (0 = one per core)")
      ->check(CLI::Range(0, 256))
      ->envname("TOUCHLINE_THREADS");
  app.add_option("--block-cache-mb", block_cache_mb, "RocksDB block cache size in MiB")
      ->check(CLI::Range(8, 1 << 20))
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
  app.add_option("--webhook-timeout-ms", webhook_timeout_ms,
                 "How long one reminder webhook delivery may take before it counts as failed")
      ->check(CLI::Range(100, 600000))
      ->envname("TOUCHLINE_WEBHOOK_TIMEOUT_MS");
  app.add_flag("--no-group-commit", no_group_commit,
               "One fsync per request instead of one per group (for benchmarks only)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->envname("TOUCHLINE_LOG_LEVEL");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("touchlined"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  server.idle_timeout = std::chrono::milliseconds(idle_ms);
  server.request_timeout = std::chrono::milliseconds(request_ms);
  server.write_timeout = std::chrono::milliseconds(write_ms);
  server.shutdown_timeout = std::chrono::milliseconds(shutdown_ms);
  server.ws_idle_timeout = std::chrono::milliseconds(ws_idle_ms);
  store.block_cache_bytes = block_cache_mb << 20;
  if (no_group_commit) {
    store.max_group_requests = 1;
    spdlog::warn("group commit disabled: every request pays its own fsync");
  }

  RaiseFileLimit(server.max_connections);
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
      log->get(), std::make_unique<touchline::projections::CustomerViewProjection>(*limits));
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
  touchline::api::WebhookClient webhooks{std::chrono::milliseconds(webhook_timeout_ms)};
  touchline::projections::ReminderScheduler scheduler(log->get(), reminders->get(),
                                                      touchline::SystemClock::Default(), &webhooks);
  scheduler.Start();

  touchline::api::Services services;
  services.log = log->get();
  services.customers = customers->get();
  services.reminders = reminders->get();
  services.projections = {customers->get(), reminders->get()};
  services.identity_limits = *limits;
  services.projection_wait = std::chrono::milliseconds(projection_wait_ms);
  services.max_as_of_events = max_as_of_events;
  touchline::api::Server http(server, std::move(services));
  if (auto s = http.Start(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  if (!IsLoopback(server.host)) {
    spdlog::warn(
        "listening on {} without authentication: anyone who can reach it can read "
        "and write every customer's events",
        server.host);
  }
  spdlog::info(
      "touchlined listening on http://{}:{} (agent console at /, live stream at /v1/stream)",
      server.host, http.port());
  if (!port_file.empty()) {
    std::ofstream f(port_file + ".tmp");
    f << http.port() << "\n";
    f.close();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  http.Run();
  // The scheduler appends and the runners read the log: stop them first,
  // then close the log.
  scheduler.Stop();
  (*reminders)->Stop();
  (*customers)->Stop();
  (*log)->Close();
  spdlog::info("stopped cleanly at head seq {}", (*log)->head());
  return 0;
}
