#include "api/listener.h"

#include <spdlog/spdlog.h>

#include "core/metrics.h"

namespace touchline::api {
namespace {

void LogSessionEnd(const std::exception_ptr& e) {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("session ended with an exception: {}", ex.what());
  }
}

}  // namespace

net::awaitable<void> RunListener(tcp::acceptor& acceptor, SessionContext ctx) {
  auto executor = co_await net::this_coro::executor;
  // Each session gets a strand of its own on the io_context. (A strand made
  // from this coroutine's executor, itself the acceptor's strand, would
  // funnel every session through that one strand, i.e. one thread.)
  auto& ioc = static_cast<net::io_context&>(net::query(executor, net::execution::context));
  while (acceptor.is_open()) {
    auto [ec, socket] =
        co_await acceptor.async_accept(net::make_strand(ioc), net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // E.g. EMFILE: back off so the loop does not spin, then retry.
      spdlog::warn("accept failed: {}", ec.message());
      net::steady_timer timer(executor, std::chrono::milliseconds(50));
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session_executor = socket.get_executor();
    auto endpoint = socket.remote_endpoint(ec);
    std::string address = ec ? "unknown" : endpoint.address().to_string();
    const ServerOptions& opt = *ctx.options;
    if (!ctx.registry->TryReserve(opt.max_connections, address, opt.max_connections_per_address)) {
      static Counter& rejected = Metrics::Default().GetCounter(
          "touchline_connections_rejected_total", "Connections refused at a connection limit");
      rejected.Increment();
      if (ctx.tls != nullptr) {
        // A TLS client cannot read a plain-text 503: just close.
        socket.close(ignored);
        continue;
      }
      const bool total = ctx.registry->count() >= opt.max_connections;
      net::co_spawn(
          session_executor,
          RejectConnection(std::move(socket),
                           total ? "too many connections (limit " +
                                       std::to_string(opt.max_connections) + "); retry later"
                                 : "too many connections from this address (limit " +
                                       std::to_string(opt.max_connections_per_address) +
                                       "); retry later"),
          LogSessionEnd);
      continue;
    }
    net::co_spawn(session_executor, RunHttpSession(std::move(socket), ctx, std::move(address)),
                  LogSessionEnd);
  }
}

}  // namespace touchline::api
