#include "api/webhook_client.h"

#include <boost/url/parse.hpp>
#include <charconv>
#include <ctime>

#include "api/internal/net.h"
#include "core/validation.h"

namespace touchline::api {
namespace {

constexpr std::int64_t kMaxRetryAfterSeconds = 7 * 86400;

}  // namespace

std::optional<std::int64_t> ParseRetryAfter(std::string_view v, std::int64_t now_us) {
  std::int64_t seconds = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec == std::errc() && ptr == v.data() + v.size() && seconds >= 0) {
    return std::min(seconds, kMaxRetryAfterSeconds) * 1'000'000;
  }
  std::tm tm{};
  const std::string s(v);
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  const std::int64_t at = static_cast<std::int64_t>(::timegm(&tm)) * 1'000'000;
  return std::clamp<std::int64_t>(at - now_us, 0, kMaxRetryAfterSeconds * 1'000'000);
}

HttpAnswer WebhookClient::Send(const HttpCall& call) {
  HttpAnswer out;
  auto u = boost::urls::parse_absolute_uri(call.url);
  if (!u || u->scheme() != "http") {
    out.error = "not an http URL";
    return out;
  }
  const auto verb = http::string_to_verb(call.method);
  if (verb == http::verb::unknown) {
    out.error = "unknown method " + call.method;
    return out;
  }
  const std::string host(u->host());
  const std::string port = u->has_port() ? std::string(u->port()) : "80";
  std::string target(u->encoded_path());
  if (target.empty()) {
    target = "/";
  }
  if (u->has_query()) {
    target += "?" + std::string(u->encoded_query());
  }
  // Asynchronous operations on a private io_context: tcp_stream's deadline
  // covers them (the synchronous calls would wait forever on a receiver
  // that accepts and never answers), and run_for() bounds the whole
  // exchange, name resolution included.
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, u->has_port() ? host + ":" + port : host);
  req.set(http::field::user_agent, "touchline");
  for (const auto& [name, value] : call.headers) {
    req.set(name, value);
  }
  req.body() = call.body;
  req.prepare_payload();
  beast::flat_buffer buffer;
  // Only the status line and headers matter; a large body is not read.
  http::response_parser<http::empty_body> parser;
  bool done = false;
  auto fail = [&](const std::string& what, const beast::error_code& ec) {
    out.error = ec == beast::error::timeout
                    ? what + " timed out after " + std::to_string(timeout_.count()) + " ms"
                    : what + ": " + ec.message();
    done = true;
  };
  // The exchange once connected.
  auto exchange = [&] {
    http::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
      if (ec3) {
        return fail("write", ec3);
      }
      http::async_read_header(stream, buffer, parser, [&](beast::error_code ec4, std::size_t) {
        if (ec4) {
          return fail("read", ec4);
        }
        const auto& res = parser.get();
        out.status = res.result_int();
        for (const auto& field : res) {
          out.headers.emplace_back(AsciiLower(field.name_string()), std::string(field.value()));
        }
        if (auto it = res.find(http::field::retry_after); it != res.end()) {
          const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
          out.retry_after_us = ParseRetryAfter(it->value(), now);
        }
        done = true;
      });
    });
  };
  stream.expires_after(timeout_);
  // A numeric address needs no resolver (whose thread Asio starts per
  // io_context).
  boost::system::error_code numeric;
  const auto address = net::ip::make_address(host, numeric);
  std::uint16_t port_number = 0;
  const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (!numeric && perr == std::errc() && end == port.data() + port.size()) {
    stream.async_connect(tcp::endpoint(address, port_number), [&](beast::error_code ec2) {
      if (ec2) {
        return fail("connect", ec2);
      }
      exchange();
    });
  } else {
    resolver.async_resolve(host, port, [&](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) {
        return fail("cannot resolve " + host, ec);
      }
      stream.async_connect(r, [&](beast::error_code ec2, const tcp::endpoint&) {
        if (ec2) {
          return fail("connect", ec2);
        }
        exchange();
      });
    });
  }
  ioc.run_for(timeout_ + std::chrono::milliseconds(100));
  if (!done) {
    out.status = 0;
    out.error = "no answer within " + std::to_string(timeout_.count()) + " ms";
  }
  return out;
}

}  // namespace touchline::api
