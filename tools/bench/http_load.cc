#include "tools/bench/http_load.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>

namespace touchline::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct Shared {
  const std::vector<HttpRequestSpec>* requests;
  std::atomic<std::size_t>* next;  // shared by the io threads
  LoadResult* result;              // this thread's
  const std::atomic<bool>* stop;   // may be null
};

net::awaitable<void> Connection(tcp::endpoint endpoint, Shared* shared) {
  beast::tcp_stream stream(co_await net::this_coro::executor);
  auto [cec] = co_await stream.async_connect(endpoint, net::as_tuple(net::use_awaitable));
  if (cec) {
    shared->result->errors++;
    shared->result->first_error = "connect: " + cec.message();
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  for (std::size_t i = shared->next->fetch_add(1);
       i < shared->requests->size() && (shared->stop == nullptr || !shared->stop->load());
       i = shared->next->fetch_add(1)) {
    const HttpRequestSpec& spec = (*shared->requests)[i];
    http::request<http::string_body> req{http::string_to_verb(spec.method), spec.target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!spec.body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = spec.body;
      req.prepare_payload();
    }
    const auto start = std::chrono::steady_clock::now();
    auto [wec, wn] = co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
    http::response_parser<http::string_body> parser;
    parser.body_limit(1u << 30);
    beast::error_code rec = wec;
    if (!rec) {
      std::tie(rec, wn) =
          co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
    }
    if (rec) {
      shared->result->errors++;
      if (shared->result->first_error.empty()) {
        shared->result->first_error = rec.message();
      }
      co_return;
    }
    const auto us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    const unsigned status = parser.get().result_int();
    if (status / 100 == 2) {
      shared->result->requests++;
      shared->result->latencies_us.push_back(us);
      if (i + 1 == shared->requests->size()) {
        shared->result->last_body = std::move(parser.get().body());
      }
    } else {
      shared->result->errors++;
      if (shared->result->first_error.empty()) {
        shared->result->first_error =
            std::to_string(status) + " " + parser.get().body().substr(0, 200);
      }
    }
  }
}

}  // namespace

LoadResult RunHttpLoad(std::uint16_t port, std::size_t connections,
                       const std::vector<HttpRequestSpec>& requests,
                       const std::atomic<bool>* stop) {
  const std::size_t threads = std::max<std::size_t>(
      1, std::min<std::size_t>(connections, std::thread::hardware_concurrency()));
  std::atomic<std::size_t> next{0};
  std::vector<LoadResult> partial(threads);
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      partial[t].latencies_us.reserve(requests.size() / threads + 1);
      Shared shared{&requests, &next, &partial[t], stop};
      net::io_context ioc(1);
      for (std::size_t i = t; i < connections; i += threads) {
        net::co_spawn(ioc, Connection(endpoint, &shared), net::detached);
      }
      ioc.run();
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  LoadResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.latencies_us.reserve(requests.size());
  for (auto& p : partial) {
    result.requests += p.requests;
    result.errors += p.errors;
    if (result.first_error.empty()) {
      result.first_error = std::move(p.first_error);
    }
    result.latencies_us.insert(result.latencies_us.end(), p.latencies_us.begin(),
                               p.latencies_us.end());
    if (!p.last_body.empty()) {
      result.last_body = std::move(p.last_body);
    }
  }
  return result;
}

std::uint64_t CountNdjsonLines(std::uint16_t port, const std::string& target, std::string* error) {
  net::io_context ioc(1);
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    *error = "connect: " + ec.message();
    return 0;
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::accept, "application/x-ndjson");
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (!ec) {
    http::read_header(stream, buffer, parser, ec);
  }
  if (!ec && parser.get().result_int() / 100 != 2) {
    *error = "HTTP " + std::to_string(parser.get().result_int());
    return 0;
  }
  std::uint64_t lines = 0;
  std::vector<char> piece(64 * 1024);
  while (!ec && !parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    const std::size_t got = piece.size() - parser.get().body().size;
    lines += static_cast<std::uint64_t>(std::count(piece.data(), piece.data() + got, '\n'));
  }
  if (ec) {
    *error = ec.message();
  }
  return lines;
}

double Percentile(std::vector<double>* v, double q) {
  if (v->empty()) {
    return 0;
  }
  std::sort(v->begin(), v->end());
  const auto idx = static_cast<std::size_t>(q * static_cast<double>(v->size() - 1) + 0.5);
  return (*v)[std::min(idx, v->size() - 1)];
}

}  // namespace touchline::bench
