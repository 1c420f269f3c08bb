#include "api/http_session.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <random>

#include "api/http_error.h"
#include "api/ws_session.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "core/validation.h"

namespace touchline::api {
namespace {

using net::as_tuple;
using net::use_awaitable;

std::string NewRequestId() {
  static const std::uint32_t prefix = std::random_device{}();
  static std::atomic<std::uint64_t> counter{0};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08x-%llx", prefix,
                static_cast<unsigned long long>(counter.fetch_add(1) + 1));
  return buf;
}

std::string HeaderValue(const http::request<http::string_body>& req, http::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string() : std::string(it->value());
}

// Where a request's response meets the session that waits for it, from
// whichever thread answers, whichever comes first.
struct Rendezvous {
  Mutex mu;
  std::optional<Response> response GUARDED_BY(mu);  // answered, not yet taken
  std::function<void(Response)> waiter GUARDED_BY(mu);
};

// Runs the router and resumes on the session's strand with its response:
// at once when the route answered before returning (most reads), else
// when the answer comes (an append, after its fsync; a read that waits for
// a projection), posted back to the strand.
net::awaitable<Response> Dispatch(Request& request, Services& services) {
  auto rv = std::make_shared<Rendezvous>();
  auto respond = [rv](Response r) {
    std::function<void(Response)> waiter;
    {
      MutexLock lock(&rv->mu);
      if (!rv->waiter) {
        rv->response = std::move(r);
        return;
      }
      waiter = std::move(rv->waiter);
    }
    waiter(std::move(r));
  };
  try {
    Route(request, services, respond);
  } catch (const std::exception& e) {
    spdlog::error("request {} failed: {}", request.route.empty() ? "(unrouted)" : request.route,
                  e.what());
    respond(HttpErrorResponse(500, "internal", "internal error; see the server log"));
  }
  std::optional<Response> answered;
  {
    MutexLock lock(&rv->mu);
    answered.swap(rv->response);
  }
  if (answered.has_value()) {
    co_return std::move(*answered);
  }
  auto executor = co_await net::this_coro::executor;
  co_return co_await net::async_initiate<decltype(use_awaitable), void(Response)>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto resume = [h, executor](Response r) {
          net::post(executor, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        };
        std::optional<Response> ready;
        {
          MutexLock lock(&rv->mu);
          ready.swap(rv->response);  // answered while the coroutine suspended
          if (!ready.has_value()) {
            rv->waiter = resume;
          }
        }
        if (ready.has_value()) {
          resume(std::move(*ready));
        }
      },
      use_awaitable);
}

template <class Body>
void SetCommonFields(http::response<Body>* res, const Response& r, const std::string& request_id) {
  res->set(http::field::server, "touchline");
  res->set(http::field::content_type, r.content_type);
  res->set("X-Request-Id", request_id);
  for (const auto& [name, value] : r.headers) {
    res->set(name, value);
  }
}

// Writes `r` and returns false if the connection must be closed. For a HEAD
// request (`head_only`) only the header goes out, with the Content-Length
// the body would have had.
template <class Stream>
net::awaitable<bool> WriteResponse(Stream& stream, Response r, unsigned version, bool keep_alive,
                                   const std::string& request_id, std::chrono::milliseconds timeout,
                                   bool head_only = false) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  if (r.shared_body != nullptr && !r.stream) {
    // The shared bytes as they are (the response holds them alive), sent
    // with the header in one gathered write.
    http::response<http::span_body<const char>> res{static_cast<http::status>(r.status), version};
    SetCommonFields(&res, r, request_id);
    res.keep_alive(keep_alive);
    res.body() = boost::span<const char>(r.shared_body->data(), r.shared_body->size());
    res.prepare_payload();
    if (head_only) {
      http::response_serializer<http::span_body<const char>> sr{res};
      auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(use_awaitable));
      co_return !ec;
    }
    auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
    co_return !ec;
  }
  if (!r.stream || head_only) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    SetCommonFields(&res, r, request_id);
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    if (head_only) {
      http::response_serializer<http::string_body> sr{res};
      auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(use_awaitable));
      co_return !ec;
    }
    auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
    co_return !ec;
  }
  // HTTP/1.0 has no chunked encoding: send the raw stream and let closing
  // the connection mark its end.
  const bool chunked = version >= 11;
  http::response<http::empty_body> res{static_cast<http::status>(r.status), version};
  SetCommonFields(&res, r, request_id);
  res.keep_alive(keep_alive && chunked);
  res.chunked(chunked);
  http::response_serializer<http::empty_body> sr{res};
  if (auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(use_awaitable)); ec) {
    co_return false;
  }
  while (true) {
    auto chunk = r.stream();
    if (!chunk.ok()) {
      spdlog::error("request {}: streaming failed: {}", request_id, chunk.status().ToString());
      co_return false;  // the client sees a truncated body
    }
    beast::get_lowest_layer(stream).expires_after(timeout);
    if (chunk->empty()) {
      if (!chunked) {
        co_return false;  // closing the connection ends the body
      }
      auto [ec, n] =
          co_await net::async_write(stream, http::make_chunk_last(), as_tuple(use_awaitable));
      co_return !ec;
    }
    beast::error_code ec;
    if (chunked) {
      std::tie(ec, std::ignore) = co_await net::async_write(
          stream, http::make_chunk(net::buffer(*chunk)), as_tuple(use_awaitable));
    } else {
      std::tie(ec, std::ignore) =
          co_await net::async_write(stream, net::buffer(*chunk), as_tuple(use_awaitable));
    }
    if (ec) {
      co_return false;
    }
  }
}

// Best effort: one error response on a connection about to close.
template <class Stream>
net::awaitable<void> WriteErrorAndClose(Stream& stream, int status, std::string_view code,
                                        std::string_view message,
                                        std::chrono::milliseconds timeout) {
  const Response r = HttpErrorResponse(status, code, message);
  co_await WriteResponse(stream, r, 11, false, NewRequestId(), timeout);
}

}  // namespace

bool SessionRegistry::TryReserve(std::size_t max, const std::string& address,
                                 std::size_t max_per_address) {
  MutexLock lock(&mu_);
  if (count_.load() >= max) {
    return false;
  }
  std::size_t& n = per_address_[address];
  if (max_per_address > 0 && n >= max_per_address) {
    if (n == 0) {
      per_address_.erase(address);
    }
    return false;
  }
  ++n;
  count_.fetch_add(1);
  return true;
}

std::list<std::weak_ptr<SessionControl>>::iterator SessionRegistry::Add(
    std::shared_ptr<SessionControl> c) {
  MutexLock lock(&mu_);
  return sessions_.insert(sessions_.end(), c);
}

void SessionRegistry::Remove(std::list<std::weak_ptr<SessionControl>>::iterator it,
                             const std::string& address) {
  MutexLock lock(&mu_);
  sessions_.erase(it);
  if (auto a = per_address_.find(address); a != per_address_.end() && --a->second == 0) {
    per_address_.erase(a);
  }
  count_.fetch_sub(1);
}

void SessionRegistry::CloseIdle() {
  MutexLock lock(&mu_);
  for (const auto& weak : sessions_) {
    if (auto c = weak.lock()) {
      net::post(c->executor, [c] {
        if (c->on_shutdown) {
          c->on_shutdown();
        } else if (c->idle && c->stream != nullptr) {
          c->stream->cancel();
        }
      });
    }
  }
}

namespace {

// Serves requests on `stream` (plain TCP or TLS) until the connection ends.
// Returns true if the stream is still open and should be shut down.
template <class Stream>
net::awaitable<bool> ServeRequests(Stream& stream, const SessionContext& ctx,
                                   const std::string& client_address,
                                   const std::shared_ptr<SessionControl>& control) {
  const ServerOptions& opt = *ctx.options;
  auto& tcp_layer = beast::get_lowest_layer(stream);

  // Pipelined requests wait here; the limit bounds their memory.
  beast::flat_buffer buffer(opt.max_header_bytes + 64 * 1024);
  std::size_t served = 0;
  while (true) {
    // Between requests: idle, closable by a shutdown.
    control->idle = true;
    if (ctx.draining->load()) {
      break;
    }
    if (buffer.size() == 0) {
      tcp_layer.expires_after(opt.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), as_tuple(use_awaitable));
      if (ec) {
        break;  // closed by the peer, idle timeout, or shutdown: not an error
      }
      buffer.commit(n);
    }
    control->idle = false;

    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
    parser.body_limit(opt.max_body_bytes);
    tcp_layer.expires_after(opt.request_timeout);
    const auto started = std::chrono::steady_clock::now();
    auto [ec, n] =
        co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
    if (!ec && parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
      http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
      auto [wec, wn] = co_await http::async_write(stream, cont, as_tuple(use_awaitable));
      ec = wec;
    }
    if (!ec && !parser.is_done()) {
      std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
    }
    if (ec) {
      if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
          ec == net::error::connection_reset) {
        break;
      }
      if (ec == beast::error::timeout) {
        // tcp_stream has already closed the socket: a client this slow gets
        // no answer (as nginx does for client_header_timeout).
        spdlog::debug("closing a connection whose request did not arrive within {} ms",
                      opt.request_timeout.count());
      } else if (ec == http::error::body_limit) {
        co_await WriteErrorAndClose(stream, 413, "payload_too_large",
                                    "the body exceeds " + std::to_string(opt.max_body_bytes) +
                                        " bytes; send smaller batches",
                                    opt.write_timeout);
      } else if (ec == http::error::header_limit) {
        co_await WriteErrorAndClose(
            stream, 431, "headers_too_large",
            "the request headers exceed " + std::to_string(opt.max_header_bytes) + " bytes",
            opt.write_timeout);
      } else {
        co_await WriteErrorAndClose(stream, 400, "bad_request",
                                    "malformed HTTP request: " + ec.message(), opt.write_timeout);
      }
      break;
    }

    auto& req = parser.get();
    Request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = HeaderValue(req, http::field::authorization);
    request.client_address = client_address;
    if (auto it = req.find("X-Request-Id"); it != req.end() && it->value().size() <= 128) {
      request.request_id = std::string(it->value());
    } else {
      request.request_id = NewRequestId();
    }
    if (IsWebSocketUpgrade(req) && req.target().starts_with("/v1/stream") &&
        (req.target().size() == 10 || req.target()[10] == '?')) {
      const Admission admission = AdmitStream(request, *ctx.services);
      if (!admission.status.ok()) {
        co_await WriteResponse(stream, DeniedResponse(admission), req.version(), false,
                               request.request_id, opt.write_timeout);
        break;
      }
      request.actor = admission.principal.name;
      co_await RunWebSocketSession(std::move(stream), parser.release(), ctx, control.get(), request,
                                   admission.principal.role);
      co_return false;  // the WebSocket session closed the connection
    }
    request.accept = HeaderValue(req, http::field::accept);
    request.content_type = HeaderValue(req, http::field::content_type);
    request.if_match = HeaderValue(req, http::field::if_match);
    if (auto it = req.find("WebHook-Request-Origin");
        it != req.end() && it->value().size() <= 256) {
      request.webhook_request_origin = std::string(it->value());
    }
    for (const auto& field : req) {
      const std::string_view name = field.name_string();
      if (name.size() > 3 && (name[0] == 'c' || name[0] == 'C') &&
          (name[1] == 'e' || name[1] == 'E') && name[2] == '-') {
        request.ce_headers.emplace_back(AsciiLower(name.substr(3)), std::string(field.value()));
      }
    }
    request.body = std::move(req.body());
    const unsigned version = req.version();
    bool keep_alive = req.keep_alive();

    Response response = co_await Dispatch(request, *ctx.services);
    const int status = response.status;
    ++served;
    keep_alive = keep_alive && !ctx.draining->load() &&
                 (opt.max_requests_per_connection == 0 || served < opt.max_requests_per_connection);
    const bool written =
        co_await WriteResponse(stream, std::move(response), version, keep_alive, request.request_id,
                               opt.write_timeout, request.method == "HEAD");
    if (spdlog::should_log(spdlog::level::debug)) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      spdlog::debug("{} -> {} in {} us (request {}, actor {})",
                    request.route.empty() ? request.method + " (unrouted)" : request.route, status,
                    us, request.request_id, request.actor.empty() ? "-" : request.actor);
    }
    if (!written || !keep_alive) {
      break;
    }
  }
  co_return true;
}

}  // namespace

net::awaitable<void> RunHttpSession(tcp::socket socket, SessionContext ctx,
                                    std::string client_address) {
  const ServerOptions& opt = *ctx.options;
  beast::tcp_stream tcp_stream(std::move(socket));
  auto control = std::make_shared<SessionControl>();
  control->executor = tcp_stream.get_executor();
  control->stream = &tcp_stream;
  const auto registration = ctx.registry->Add(control);
  struct Unregister {
    SessionRegistry* registry;
    std::list<std::weak_ptr<SessionControl>>::iterator it;
    SessionControl* control;
    const std::string& address;
    ~Unregister() {
      control->stream = nullptr;
      registry->Remove(it, address);
    }
  } unregister{ctx.registry, registration, control.get(), client_address};

  if (ctx.tls == nullptr) {
    if (co_await ServeRequests(tcp_stream, ctx, client_address, control)) {
      beast::error_code ignored;
      tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      tcp_stream.socket().close(ignored);
    }
    co_return;
  }
  TlsStream tls_stream(std::move(tcp_stream), *ctx.tls);
  control->stream = &beast::get_lowest_layer(tls_stream);
  // The handshake must finish within the request timeout (a client that
  // connects and says nothing is a slowloris too).
  control->stream->expires_after(opt.request_timeout);
  auto [ec] =
      co_await tls_stream.async_handshake(net::ssl::stream_base::server, as_tuple(use_awaitable));
  if (ec) {
    static Counter& failed = Metrics::Default().GetCounter(
        "touchline_tls_handshake_failures_total", "TLS handshakes that failed or timed out");
    failed.Increment();
    spdlog::debug("TLS handshake with {} failed: {}", client_address, ec.message());
    co_return;
  }
  if (co_await ServeRequests(tls_stream, ctx, client_address, control)) {
    control->stream->expires_after(std::chrono::seconds(2));
    co_await tls_stream.async_shutdown(as_tuple(use_awaitable));
    beast::error_code ignored;
    control->stream->socket().close(ignored);
  }
}

net::awaitable<void> RejectConnection(tcp::socket socket, std::string message) {
  beast::tcp_stream stream(std::move(socket));
  co_await WriteErrorAndClose(stream, 503, "unavailable", message, std::chrono::seconds(2));
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
}

}  // namespace touchline::api
