#include "api/webhook_client.h"

#include <boost/url/parse.hpp>
#include <charconv>
#include <ctime>

#include "api/internal/net.h"

namespace touchline::api {

std::optional<std::int64_t> ParseRetryAfter(std::string_view v, std::int64_t now_us) {
  std::int64_t seconds = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec == std::errc() && ptr == v.data() + v.size() && seconds >= 0) {
    return seconds * 1'000'000;
  }
  std::tm tm{};
  const std::string s(v);
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  const std::int64_t at = static_cast<std::int64_t>(::timegm(&tm)) * 1'000'000;
  return at > now_us ? at - now_us : 0;
}

WebhookClient::Result WebhookClient::Post(const std::string& url,
                                          const std::string& idempotency_key,
                                          const std::string& body) {
  Result out;
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || u->scheme() != "http") {
    out.error = "not an http URL";
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
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    beast::error_code ec;
    const auto endpoints = resolver.resolve(host, port, ec);
    if (ec) {
      out.error = "cannot resolve " + host + ": " + ec.message();
      return out;
    }
    stream.expires_after(timeout_);
    stream.connect(endpoints, ec);
    if (ec) {
      out.error = "connect: " + ec.message();
      return out;
    }
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "touchline");
    req.set(http::field::content_type, "application/json");
    req.set("Idempotency-Key", idempotency_key);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) {
      out.error = "write: " + ec.message();
      return out;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    http::read(stream, buffer, parser, ec);
    if (ec) {
      out.error = ec == beast::error::timeout
                      ? "timed out after " + std::to_string(timeout_.count()) + " ms"
                      : "read: " + ec.message();
      return out;
    }
    const auto& res = parser.get();
    out.status = res.result_int();
    if (auto it = res.find(http::field::retry_after); it != res.end()) {
      const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      out.retry_after_us = ParseRetryAfter(it->value(), now);
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = e.what();
  }
  return out;
}

}  // namespace touchline::api
