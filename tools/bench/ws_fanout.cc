#include "tools/bench/ws_fanout.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <string_view>
#include <thread>

#include "core/time_format.h"

namespace touchline::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

struct WsFanout::Impl {
  net::io_context ioc{1};
  std::thread thread;
  std::atomic<std::size_t> ready{0};
  std::atomic<std::size_t> failed{0};
  std::atomic<std::size_t> events{0};
  std::atomic<bool> stopping{false};
  // Touched only on the io thread.
  FanoutStats stats;
  std::vector<std::shared_ptr<websocket::stream<beast::tcp_stream>>> sockets;

  void Fail(const std::string& what) {
    ++stats.errors;
    if (stats.first_error.empty()) {
      stats.first_error = what;
    }
    ++failed;
  }

  // Records the latency and checks the seq order of every event in one
  // "events" message (stored records start with {"seq":N and carry
  // "recorded_at").
  void Record(std::size_t conn, std::uint64_t* last_seq, std::string_view m) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    constexpr std::string_view kSeq = "{\"seq\":";
    constexpr std::string_view kKey = "\"recorded_at\":\"";
    std::size_t pos = 0;
    std::size_t n = 0;
    while ((pos = m.find(kSeq, pos)) != std::string_view::npos) {
      pos += kSeq.size();
      std::uint64_t seq = 0;
      while (pos < m.size() && m[pos] >= '0' && m[pos] <= '9') {
        seq = seq * 10 + static_cast<std::uint64_t>(m[pos++] - '0');
      }
      if (seq <= *last_seq) {
        ++stats.out_of_order;
      }
      *last_seq = seq;
      pos = m.find(kKey, pos);
      if (pos == std::string_view::npos) {
        break;
      }
      pos += kKey.size();
      const auto end = m.find('"', pos);
      auto t = ParseRfc3339(m.substr(pos, end - pos));
      if (t.ok()) {
        stats.latencies_ms.push_back(static_cast<double>(now_us - *t) / 1000.0);
      }
      ++n;
    }
    stats.per_connection[conn] += n;
    stats.events += n;
    events += n;
  }

  net::awaitable<void> Run(std::uint16_t port, std::size_t conn, std::string command) {
    std::uint64_t last_seq = 0;
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(ioc);
    sockets.push_back(ws);
    auto [cec] = co_await beast::get_lowest_layer(*ws).async_connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port), net::as_tuple(net::use_awaitable));
    if (cec) {
      Fail("connect: " + cec.message());
      co_return;
    }
    beast::get_lowest_layer(*ws).expires_never();
    auto [hec] =
        co_await ws->async_handshake("127.0.0.1", "/v1/stream", net::as_tuple(net::use_awaitable));
    if (hec) {
      Fail("handshake: " + hec.message());
      co_return;
    }
    auto [wec, wn] =
        co_await ws->async_write(net::buffer(command), net::as_tuple(net::use_awaitable));
    if (wec) {
      Fail("write: " + wec.message());
      co_return;
    }
    beast::flat_buffer buffer;
    bool subscribed = false;
    while (true) {
      auto [ec, n] = co_await ws->async_read(buffer, net::as_tuple(net::use_awaitable));
      if (ec) {
        if (!stopping.load()) {
          Fail("read: " + ec.message());
        }
        co_return;
      }
      const auto data = buffer.cdata();
      const std::string_view m(static_cast<const char*>(data.data()), data.size());
      if (m.starts_with("{\"type\":\"events\"")) {
        Record(conn, &last_seq, m);
      } else if (!subscribed && m.starts_with("{\"type\":\"subscribed\"")) {
        subscribed = true;
        ++ready;
      } else if (m.starts_with("{\"type\":\"error\"")) {
        Fail(std::string(m.substr(0, 300)));
        co_return;
      }
      buffer.consume(buffer.size());
    }
  }
};

WsFanout::WsFanout() : impl_(std::make_unique<Impl>()) {}

WsFanout::~WsFanout() {
  if (impl_->thread.joinable()) {
    Stop();
  }
}

Status WsFanout::Open(std::uint16_t port, const std::vector<std::string>& subscribe_commands) {
  Impl& d = *impl_;
  d.stats.per_connection.assign(subscribe_commands.size(), 0);
  auto guard = net::make_work_guard(d.ioc);
  d.thread = std::thread([&d, g = std::move(guard)]() mutable { d.ioc.run(); });
  // Connect in waves so the listen backlog never overflows.
  for (std::size_t i = 0; i < subscribe_commands.size(); ++i) {
    net::post(d.ioc, [&d, port, i, cmd = subscribe_commands[i]] {
      net::co_spawn(d.ioc, d.Run(port, i, cmd), net::detached);
    });
    if (i % 100 == 99) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (d.ready.load() + d.failed.load() < i + 1 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (d.ready.load() + d.failed.load() < subscribe_commands.size() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (d.ready.load() < subscribe_commands.size()) {
    std::string first;
    net::post(d.ioc, [&] { first = d.stats.first_error; });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Status::Unavailable(std::to_string(d.ready.load()) + " of " +
                               std::to_string(subscribe_commands.size()) +
                               " subscriptions confirmed; first error: " + first);
  }
  return Status::Ok();
}

std::size_t WsFanout::events() const { return impl_->events.load(); }

FanoutStats WsFanout::Stop() {
  Impl& d = *impl_;
  d.stopping = true;
  net::post(d.ioc, [&d] {
    for (auto& ws : d.sockets) {
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  d.ioc.stop();
  if (d.thread.joinable()) {
    d.thread.join();
  }
  return std::move(d.stats);
}

}  // namespace touchline::bench
