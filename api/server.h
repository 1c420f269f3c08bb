// Server: the touchlined HTTP server. Owns the io_context and its thread
// pool (one thread per core by default), the listener, the session registry
// and signal handling. The EventLog and projections named in Services are
// borrowed.
//
// Lifecycle: Start() binds and listens (port() is then known, even for port
// 0); Run() serves until SIGINT/SIGTERM or Shutdown(), then drains: stop
// accepting, close idle keep-alive connections, let in-flight requests
// (including appends waiting for their fsync) finish and answer with
// `Connection: close`, and after `shutdown_timeout` stop whatever is left.
// The caller then closes the EventLog, which drains queued appends.
//
// Thread safety: Shutdown() may be called from any thread; everything else
// from the owning thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "core/status.h"
#include "store/event_log.h"

namespace touchline::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  // PEM files: with both set the server speaks only HTTPS and WSS (TLS 1.2
  // or 1.3). The key file may hold the chain's private key only.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::uint16_t port = 8080;
  int threads = 0;  // 0 = one per core
  std::size_t max_connections = 10000;
  // Concurrent connections from one IP address (0 = no limit).
  std::size_t max_connections_per_address = 0;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 16u << 20;
  // A keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  // Once the first byte of a request arrives, the whole request (header and
  // body) must arrive within this; defeats slowloris clients.
  std::chrono::milliseconds request_timeout{15'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_timeout{10'000};
  // Requests served on one connection before it is closed (0 = unlimited).
  std::size_t max_requests_per_connection = 0;
  bool handle_signals = true;
  ParseLimits parse_limits;
  std::size_t max_page_limit = 1000;
  // GET /v1/stream (WebSocket): open sessions (more get 503 before the
  // upgrade), subscriptions per session, largest client message (more:
  // close 1009), and how long a silent peer is pinged before it is dropped.
  std::size_t ws_max_connections = 5000;
  std::size_t ws_max_subscriptions = 16;
  std::size_t ws_max_message_bytes = 64 * 1024;
  std::chrono::milliseconds ws_idle_timeout{60'000};
  // Events a subscription may hold unsent before it reads from the log
  // instead (api/stream_hub.h).
  std::size_t ws_queue_records = 1024;
  // Rendered timeline pages kept in memory (api/timeline_cache.h); 0: none.
  std::size_t timeline_cache_bytes = 64u << 20;
};

class Server {
 public:
  // `services.log` (required) and the projection runners in `services` must
  // outlive the server. The server sets services.post, draining,
  // parse_limits and max_page_limit (from `options`).
  Server(ServerOptions options, Services services);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Returns Unavailable if the address cannot be bound,
  // InvalidArgument if it is not an IP address.
  Status Start();
  // The bound port (after Start()).
  std::uint16_t port() const;
  // Whether it serves HTTPS (after Start()).
  bool tls() const;
  // Serves until a signal or Shutdown(), then drains (see above).
  void Run();
  // Begins a graceful shutdown. Thread-safe; idempotent.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace touchline::api
