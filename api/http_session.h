// One HTTP/1.1 connection (over TLS when the server has a certificate) as a
// C++20 coroutine on its own strand: read a
// request (with idle, request and size limits), route it, write the response,
// repeat while keep-alive. Requests on a connection are handled one at a
// time, in order, so pipelined requests wait in a bounded read buffer.
//
// Thread safety: a session runs on its strand; SessionRegistry is thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "api/internal/net.h"
#include "api/router.h"
#include "api/server.h"
#include "core/mutex.h"

namespace touchline::api {

// What the server can do to a live session: close it if it is idle.
// Touched only on the session's strand (except the executor, set at birth).
struct SessionControl {
  net::any_io_executor executor;
  beast::tcp_stream* stream = nullptr;
  bool idle = false;
  // Set by a session that is no longer plain HTTP (a WebSocket): called on
  // shutdown instead of closing the stream when idle.
  std::function<void()> on_shutdown;
};

class SessionRegistry {
 public:
  // Claims a connection slot unless `max` are taken, or `max_per_address`
  // (0 = no limit) by `address`; the listener calls it before spawning a
  // session, and Remove() gives the slot back.
  bool TryReserve(std::size_t max, const std::string& address, std::size_t max_per_address);
  // Adds a session (holding a reserved slot); the returned iterator removes it.
  std::list<std::weak_ptr<SessionControl>>::iterator Add(std::shared_ptr<SessionControl> c);
  void Remove(std::list<std::weak_ptr<SessionControl>>::iterator it, const std::string& address);
  std::size_t count() const { return count_.load(); }
  // Posts to every session: close it now if it is between requests (a
  // WebSocket session starts its closing handshake).
  void CloseIdle();

 private:
  Mutex mu_;
  std::list<std::weak_ptr<SessionControl>> sessions_ GUARDED_BY(mu_);
  std::unordered_map<std::string, std::size_t> per_address_ GUARDED_BY(mu_);
  std::atomic<std::size_t> count_{0};
};

class StreamHub;

struct SessionContext {
  Services* services;
  const ServerOptions* options;
  SessionRegistry* registry;
  const std::atomic<bool>* draining;
  StreamHub* streams;                        // null: no GET /v1/stream
  std::atomic<std::size_t>* ws_connections;  // open WebSocket sessions
  net::ssl::context* tls;                    // null: plain HTTP
};

// `client_address` is the peer's IP address, as reserved in the registry.
net::awaitable<void> RunHttpSession(tcp::socket socket, SessionContext ctx,
                                    std::string client_address);

// Answers 503 with a JSON error and closes (the connection limit was hit).
net::awaitable<void> RejectConnection(tcp::socket socket, std::string message);

}  // namespace touchline::api
