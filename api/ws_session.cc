#include "api/ws_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include "api/http_error.h"
#include "api/ws_protocol.h"

namespace touchline::api {
namespace {

namespace websocket = beast::websocket;
using net::as_tuple;
using net::use_awaitable;
using namespace net::experimental::awaitable_operators;  // NOLINT(build/namespaces)

constexpr std::size_t kEventsPerMessage = 100;
constexpr std::size_t kMaxPendingReplies = 64;

// Wakes the writer. Shared with the notifiers that the stream hub calls on
// its own thread; they post here, coalesced.
struct Wake {
  explicit Wake(net::any_io_executor ex) : executor(ex), timer(ex), space(ex) {}
  net::any_io_executor executor;
  net::steady_timer timer;  // the writer waits on it
  net::steady_timer space;  // the reader waits on it while replies pile up
  bool dirty = false;       // strand only
  std::atomic<bool> posted{false};

  void Now() {
    dirty = true;
    timer.cancel();
  }
};

std::function<void()> Notifier(const std::shared_ptr<Wake>& wake) {
  return [weak = std::weak_ptr<Wake>(wake), ex = wake->executor] {
    auto w = weak.lock();
    if (!w || w->posted.exchange(true)) {
      return;
    }
    net::post(ex, [weak] {
      if (auto self = weak.lock()) {
        self->posted = false;
        self->Now();
      }
    });
  };
}

struct Subscription {
  std::string id;
  std::unique_ptr<StreamFeed> feed;
};

template <class WsStream>
struct Session {
  Session(WsStream& s, SessionContext c, WsFormat f, std::shared_ptr<Wake> w, store::Role r,
          std::string a)
      : ws(s), ctx(c), format(f), wake(std::move(w)), role(r), actor(std::move(a)) {}

  WsStream& ws;
  const SessionContext ctx;
  const WsFormat format;
  const std::shared_ptr<Wake> wake;
  const store::Role role;   // of the key that opened the session
  const std::string actor;  // its name
  std::deque<std::string> replies;
  std::vector<Subscription> subs;
  std::size_t next_sub = 0;  // round robin
  std::uint64_t auto_ids = 0;
  bool closing = false;
  websocket::close_reason close_reason;

  void Reply(std::string m) {
    replies.push_back(std::move(m));
    wake->Now();
  }
  void Error(std::string_view code, std::string_view message, std::string_view id = "") {
    Reply(RenderWsError(format, code, message, id));
  }
  void Close(websocket::close_code code, std::string reason) {
    if (!closing) {
      closing = true;
      close_reason = websocket::close_reason(code, reason);
      wake->Now();
    }
  }

  void Subscribe(WsCommand cmd) {
    const ServerOptions& opt = *ctx.options;
    if (cmd.id.empty()) {
      cmd.id = "s" + std::to_string(++auto_ids);
    }
    for (const auto& s : subs) {
      if (s.id == cmd.id) {
        Error("duplicate_subscription",
              "a subscription with id '" + cmd.id + "' exists; unsubscribe it first", cmd.id);
        return;
      }
    }
    if (subs.size() >= opt.ws_max_subscriptions) {
      Error("too_many_subscriptions",
            "at most " + std::to_string(opt.ws_max_subscriptions) +
                " subscriptions per connection; unsubscribe one or open another connection",
            cmd.id);
      return;
    }
    if (cmd.filter.customers.empty() && !RoleAllows(role, Permission::kReadAll)) {
      Error("permission_denied",
            "this key's role may not follow the whole log; subscribe to customers instead "
            "(the whole log needs the auditor or admin role)",
            cmd.id);
      return;
    }
    const Seq head = ctx.services->log->head();
    if (cmd.from.has_value() && *cmd.from > head) {
      Error("bad_command",
            "from: " + std::to_string(*cmd.from) + " is beyond the log's head " +
                std::to_string(head) + "; use a seq you received, or \"now\"",
            cmd.id);
      return;
    }
    const Seq after = cmd.from.value_or(head);
    auto feed = ctx.streams->Subscribe(cmd.filter, after, Notifier(wake));
    if (!feed.ok()) {
      Error(feed.status().IsInvalidArgument() ? "bad_command" : "unavailable",
            feed.status().message(), cmd.id);
      return;
    }
    if (AccessLog* log = ctx.services->access_log; log != nullptr) {
      // Following customers reads their data: record whom (the whole log
      // as "*").
      std::vector<std::string> read;
      for (const auto& r : (*feed)->resolved()) {
        // Ids the view does not know name no one's data yet (and may be an
        // identity: never record those).
        read.insert(read.end(), r.streams.begin(), r.streams.end());
      }
      if (cmd.filter.customers.empty()) {
        read = {"*"};
      }
      log->Record(actor, "WS /v1/stream subscribe", std::move(read));
    }
    Reply(RenderSubscribed(format, cmd.id, after, head, (*feed)->resolved()));
    subs.push_back(Subscription{cmd.id, std::move(feed).value()});
  }

  void Unsubscribe(const std::string& id) {
    for (auto it = subs.begin(); it != subs.end(); ++it) {
      if (it->id == id) {
        const Seq position = it->feed->position();
        subs.erase(it);
        Reply(RenderUnsubscribed(format, id, position));
        return;
      }
    }
    Error("unknown_subscription", "no subscription with id '" + id + "' on this connection", id);
  }

  void Handle(std::string_view text) {
    auto cmd = ParseWsCommand(text, WsLimits{});
    if (!cmd.ok()) {
      Error("bad_command", cmd.status().message());
      return;
    }
    switch (cmd->op) {
      case WsCommand::Op::kSubscribe:
        Subscribe(std::move(cmd).value());
        return;
      case WsCommand::Op::kUnsubscribe:
        Unsubscribe(cmd->id);
        return;
      case WsCommand::Op::kPing:
        Reply(RenderPong(format, cmd->ping_data));
        return;
    }
  }
};

// True once the other loop of the session has finished (operator|| cancels
// the loser; as_tuple turns that into an error code we must look at).
net::awaitable<bool> Cancelled() {
  auto state = co_await net::this_coro::cancellation_state;
  co_return state.cancelled() != net::cancellation_type::none;
}

template <class S>
net::awaitable<void> ReadLoop(S& s) {
  beast::flat_buffer buffer;
  while (!s.closing && !co_await Cancelled()) {
    auto [ec, n] = co_await s.ws.async_read(buffer, as_tuple(use_awaitable));
    if (ec) {
      // Closed by the peer, idle timeout, a message above the limit (Beast
      // has sent 1009), or the writer closed the socket.
      co_return;
    }
    if (!s.ws.got_text()) {
      s.Error("bad_command", "binary messages are not supported; send JSON text");
    } else {
      const auto data = buffer.cdata();
      s.Handle(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    buffer.consume(buffer.size());
    // A client that sends commands faster than it reads the replies waits.
    while (s.replies.size() >= kMaxPendingReplies && !s.closing && !co_await Cancelled()) {
      s.wake->space.expires_at(net::steady_timer::time_point::max());
      co_await s.wake->space.async_wait(as_tuple(use_awaitable));
    }
  }
}

// Returns false if the connection is broken.
template <class S>
net::awaitable<bool> Send(S& s, const std::string& m) {
  auto [ec, n] = co_await s.ws.async_write(net::buffer(m), as_tuple(use_awaitable));
  co_return !ec;
}

template <class S>
net::awaitable<void> WriteLoop(S& s) {
  while (!co_await Cancelled()) {
    s.wake->dirty = false;
    if (!s.replies.empty()) {
      std::string m = std::move(s.replies.front());
      s.replies.pop_front();
      s.wake->space.cancel();
      if (!co_await Send(s, m)) {
        break;
      }
      continue;
    }
    if (s.closing) {
      co_await s.ws.async_close(s.close_reason, as_tuple(use_awaitable));
      break;
    }
    bool progress = false;
    for (std::size_t k = 0; k < s.subs.size() && !progress; ++k) {
      const std::size_t i = (s.next_sub + k) % s.subs.size();
      auto batch = s.subs[i].feed->Poll(kEventsPerMessage);
      if (!batch.ok()) {
        spdlog::error("stream: reading the log for a subscriber failed: {}",
                      batch.status().ToString());
        s.Close(websocket::close_code::internal_error, "reading the log failed; resubscribe");
        progress = true;
        break;
      }
      progress = batch->more || !batch->records.empty();
      if (!batch->records.empty()) {
        s.next_sub = i + 1;
        // Copy the id: a reply handled while this writes may unsubscribe it.
        const std::string id = s.subs[i].id;
        for (const auto& m : RenderEvents(s.format, id, batch->records)) {
          if (!co_await Send(s, m)) {
            co_return;
          }
        }
      }
    }
    if (progress || s.wake->dirty) {
      // A catch-up chunk with nothing to send still read the disk: let the
      // other work on this thread (pings, commands, other sessions) run.
      co_await net::post(co_await net::this_coro::executor, use_awaitable);
      continue;
    }
    s.wake->timer.expires_at(net::steady_timer::time_point::max());
    co_await s.wake->timer.async_wait(as_tuple(use_awaitable));
  }
  // Ends the reader too (its read fails once the socket is closed).
  beast::error_code ignored;
  beast::get_lowest_layer(s.ws).socket().close(ignored);
}

// Rechecks the session's credentials every second: a revoked key (or a
// server that left open mode) closes the session with 1008.
template <class S>
net::awaitable<void> AuthWatch(S& s, Request admitted) {
  net::steady_timer timer(co_await net::this_coro::executor);
  while (!co_await Cancelled()) {
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    if (ec) {
      co_return;
    }
    if (!s.closing && !StreamStillAdmitted(admitted, *s.ctx.services)) {
      s.Close(websocket::close_code::policy_error,
              "the API key is no longer valid; reconnect with a valid key");
    }
  }
}

template <class Stream>
net::awaitable<void> Refuse(Stream& stream, unsigned version, int status, std::string_view code,
                            std::string message) {
  const Response r = HttpErrorResponse(status, code, message);
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "touchline");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) {
    res.set(name, value);
  }
  res.keep_alive(false);
  res.body() = r.body;
  res.prepare_payload();
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await http::async_write(stream, res, as_tuple(use_awaitable));
}

}  // namespace

bool IsWebSocketUpgrade(const http::request<http::string_body>& req) {
  return websocket::is_upgrade(req);
}

namespace {

template <class Next>
net::awaitable<void> ServeWebSocket(Next stream, http::request<http::string_body> req,
                                    SessionContext ctx, SessionControl* control, Request admitted,
                                    store::Role role) {
  using WsStream = websocket::stream<Next>;
  const ServerOptions& opt = *ctx.options;
  if (ctx.streams == nullptr) {
    co_await Refuse(stream, req.version(), 503, "unavailable",
                    "live streams are not enabled on this server");
    co_return;
  }
  if (ctx.ws_connections->fetch_add(1) >= opt.ws_max_connections) {
    ctx.ws_connections->fetch_sub(1);
    co_await Refuse(stream, req.version(), 503, "unavailable",
                    "too many WebSocket connections (limit " +
                        std::to_string(opt.ws_max_connections) + "); retry later");
    co_return;
  }
  struct Release {
    std::atomic<std::size_t>* n;
    ~Release() { n->fetch_sub(1); }
  } release{ctx.ws_connections};

  const std::string subprotocol(
      ChooseSubprotocol(std::string_view(req[http::field::sec_websocket_protocol])));
  WsStream ws(std::move(stream));
  control->stream = nullptr;  // moved into ws
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = opt.request_timeout;
  timeouts.idle_timeout = opt.ws_idle_timeout;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(opt.ws_max_message_bytes);
  ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
    res.set(http::field::server, "touchline");
    if (!subprotocol.empty()) {
      res.set(http::field::sec_websocket_protocol, subprotocol);
    }
  }));
  if (auto [ec] = co_await ws.async_accept(req, as_tuple(use_awaitable)); ec) {
    co_return;
  }
  auto wake = std::make_shared<Wake>(co_await net::this_coro::executor);
  Session<WsStream> session(
      ws, ctx, subprotocol == kCloudEventsSubprotocol ? WsFormat::kCloudEvents : WsFormat::kNative,
      wake, role, admitted.actor);
  control->on_shutdown = [&session] {
    session.Close(websocket::close_code::going_away,
                  "server shutting down; resubscribe from your last seq");
  };
  struct Unhook {
    SessionControl* control;
    ~Unhook() { control->on_shutdown = nullptr; }
  } unhook{control};
  if (ctx.draining->load()) {
    control->on_shutdown();
  }
  co_await (ReadLoop(session) || WriteLoop(session) || AuthWatch(session, std::move(admitted)));
}

}  // namespace

net::awaitable<void> RunWebSocketSession(beast::tcp_stream stream,
                                         http::request<http::string_body> req, SessionContext ctx,
                                         SessionControl* control, Request admitted,
                                         store::Role role) {
  return ServeWebSocket(std::move(stream), std::move(req), ctx, control, std::move(admitted), role);
}

net::awaitable<void> RunWebSocketSession(TlsStream stream, http::request<http::string_body> req,
                                         SessionContext ctx, SessionControl* control,
                                         Request admitted, store::Role role) {
  return ServeWebSocket(std::move(stream), std::move(req), ctx, control, std::move(admitted), role);
}

}  // namespace touchline::api
