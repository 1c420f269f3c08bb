#include "tests/support/http_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <optional>

namespace touchline::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct HttpClient::Conn {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
};

HttpClient::HttpClient(std::uint16_t port, std::string host)
    : host_(std::move(host)), port_(port) {}
HttpClient::~HttpClient() = default;

void HttpClient::Close() { conn_.reset(); }

StatusOr<HttpResponse> HttpClient::Request(
    const std::string& method, const std::string& target, const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = conn_ == nullptr;
    if (fresh) {
      conn_ = std::make_unique<Conn>();
      beast::error_code ec;
      conn_->stream.expires_after(timeout_);
      if (!local_address_.empty()) {
        conn_->stream.socket().open(tcp::v4(), ec);
        if (!ec) {
          conn_->stream.socket().bind(tcp::endpoint(net::ip::make_address(local_address_), 0), ec);
        }
        if (ec) {
          conn_.reset();
          return Status::Unavailable("bind: " + ec.message());
        }
      }
      conn_->stream.connect(tcp::endpoint(net::ip::make_address(host_), port_), ec);
      if (ec) {
        conn_.reset();
        return Status::Unavailable("connect: " + ec.message());
      }
      conn_->stream.socket().set_option(tcp::no_delay(true));
    }
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_);
    for (const auto& [k, v] : headers) {
      req.set(k, v);
    }
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.prepare_payload();
    }
    beast::error_code ec;
    conn_->stream.expires_after(timeout_);
    http::write(conn_->stream, req, ec);
    // Interim 1xx responses ("100 Continue") are skipped.
    std::optional<http::response_parser<http::string_body>> parser;
    do {
      parser.emplace();
      parser->body_limit(1u << 30);
      if (!ec) {
        http::read(conn_->stream, conn_->buffer, *parser, ec);
      }
    } while (!ec && parser->get().result_int() / 100 == 1);
    if (ec) {
      conn_.reset();
      // A kept-alive connection the server closed meanwhile: retry once.
      if (!fresh && (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
                     ec == net::error::broken_pipe)) {
        continue;
      }
      return Status::Unavailable(method + " " + target + ": " + ec.message());
    }
    auto res = parser->release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    out.keep_alive = res.keep_alive();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      out.headers[name] = std::string(f.value());
    }
    if (!out.keep_alive) {
      conn_.reset();
    }
    return out;
  }
  return Status::Unavailable("connection closed twice");
}

StatusOr<HttpResponse> HttpClient::PostJson(
    const std::string& target, const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  return Request("POST", target, body, std::move(headers));
}

StatusOr<std::string> HttpClient::RawExchange(std::uint16_t port, const std::string& raw,
                                              std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.expires_after(timeout);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    return Status::Unavailable("connect: " + ec.message());
  }
  net::write(stream, net::buffer(raw), ec);
  std::string out;
  char buf[4096];
  while (true) {
    stream.expires_after(timeout);
    const std::size_t n = stream.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) {
      break;
    }
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

}  // namespace touchline::testing
