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

WebhookClient::WebhookClient(std::chrono::milliseconds timeout)
    : timeout_(timeout), tls_(std::make_unique<net::ssl::context>(net::ssl::context::tls_client)) {
  tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                    net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                    net::ssl::context::no_tlsv1_1);
  tls_->set_verify_mode(net::ssl::verify_peer);
  boost::system::error_code ec;
  tls_->set_default_verify_paths(ec);  // the system's CAs (ca-certificates)
}

WebhookClient::~WebhookClient() = default;

Status WebhookClient::TrustCa(const std::string& pem_file) {
  boost::system::error_code ec;
  tls_->load_verify_file(pem_file, ec);
  if (ec) {
    return Status::InvalidArgument("cannot load CA certificates from " + pem_file + ": " +
                                   ec.message());
  }
  return Status::Ok();
}

namespace {

// One exchange on `stream` (a tcp_stream, or a TLS stream over one), on
// its io_context: connect, TLS handshake when there is TLS, write, read
// the response's header. Fills `out`; sets `*done` when finished.
template <typename Stream>
void Exchange(Stream& stream, tcp::resolver& resolver, const std::string& host,
              const std::string& port, http::request<http::string_body>& req,
              beast::flat_buffer& buffer, http::response_parser<http::empty_body>& parser,
              std::chrono::milliseconds timeout, HttpAnswer* out, bool* done) {
  constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  auto fail = [=](const std::string& what, const beast::error_code& ec) {
    out->error = ec == beast::error::timeout
                     ? what + " timed out after " + std::to_string(timeout.count()) + " ms"
                     : what + ": " + ec.message();
    *done = true;
  };
  // The handlers run after Exchange() returns: they hold references to
  // the caller's objects and copies of everything else.
  auto read = [&stream, &buffer, &parser, out, done, fail] {
    http::async_read_header(
        stream, buffer, parser, [&parser, out, done, fail](beast::error_code ec, std::size_t) {
          if (ec) {
            return fail("read", ec);
          }
          const auto& res = parser.get();
          out->status = res.result_int();
          for (const auto& field : res) {
            out->headers.emplace_back(AsciiLower(field.name_string()), std::string(field.value()));
          }
          if (auto it = res.find(http::field::retry_after); it != res.end()) {
            const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            out->retry_after_us = ParseRetryAfter(it->value(), now);
          }
          *done = true;
        });
  };
  auto write = [&stream, &req, fail, read] {
    http::async_write(stream, req, [fail, read](beast::error_code ec, std::size_t) {
      if (ec) {
        return fail("write", ec);
      }
      read();
    });
  };
  auto connected = [&stream, fail, write](beast::error_code ec) {
    if (ec) {
      return fail("connect", ec);
    }
    if constexpr (kTls) {
      stream.async_handshake(net::ssl::stream_base::client, [fail, write](beast::error_code ec2) {
        if (ec2) {
          return fail("TLS handshake", ec2);
        }
        write();
      });
    } else {
      write();
    }
  };
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(timeout);
  // A numeric address needs no resolver (whose thread Asio starts per
  // io_context).
  boost::system::error_code numeric;
  const auto address = net::ip::make_address(host, numeric);
  std::uint16_t port_number = 0;
  const auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (!numeric && perr == std::errc() && end == port.data() + port.size()) {
    tcp_layer.async_connect(tcp::endpoint(address, port_number), connected);
  } else {
    resolver.async_resolve(
        host, port,
        [&tcp_layer, host, fail, connected](beast::error_code ec, tcp::resolver::results_type r) {
          if (ec) {
            return fail("cannot resolve " + host, ec);
          }
          tcp_layer.async_connect(
              r, [connected](beast::error_code ec2, const tcp::endpoint&) { connected(ec2); });
        });
  }
}

}  // namespace

HttpAnswer WebhookClient::Send(const HttpCall& call) {
  HttpAnswer out;
  auto u = boost::urls::parse_absolute_uri(call.url);
  const bool tls = u && u->scheme() == "https";
  if (!u || (u->scheme() != "http" && !tls) || u->host().empty()) {
    out.error = "not an http:// or https:// URL";
    return out;
  }
  const auto verb = http::string_to_verb(call.method);
  if (verb == http::verb::unknown) {
    out.error = "unknown method " + call.method;
    return out;
  }
  // The host without an IPv6 literal's brackets (for connecting and
  // certificates); the Host header keeps them.
  const std::string host(u->host_address());
  const std::string port = u->has_port() ? std::string(u->port()) : (tls ? "443" : "80");
  std::string target(u->encoded_path());
  if (target.empty()) {
    target = "/";
  }
  if (u->has_query()) {
    target += "?" + std::string(u->encoded_query());
  }
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host,
          u->has_port() ? std::string(u->host()) + ":" + port : std::string(u->host()));
  req.set(http::field::user_agent, "touchline");
  for (const auto& [name, value] : call.headers) {
    req.set(name, value);
  }
  req.body() = call.body;
  req.prepare_payload();
  // Asynchronous operations on a private io_context: tcp_stream's deadline
  // covers them (the synchronous calls would wait forever on a receiver
  // that accepts and never answers), and run_for() bounds the whole
  // exchange, name resolution included.
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::flat_buffer buffer;
  // Only the status line and headers matter; a large body is not read.
  http::response_parser<http::empty_body> parser;
  bool done = false;
  std::optional<beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  if (tls) {
    secure.emplace(ioc, *tls_);
    // The certificate must name the URL's host: an IP address, or a DNS
    // name, which is also sent as SNI.
    SSL* ssl = secure->native_handle();
    boost::system::error_code numeric;
    net::ip::make_address(host, numeric);
    const bool named = numeric
                           ? SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                      static_cast<void*>(const_cast<char*>(host.c_str()))) == 1 &&
                                 SSL_set1_host(ssl, host.c_str()) == 1
                           : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
    if (!named) {
      out.error = "cannot check a certificate for " + host;
      return out;
    }
    Exchange(*secure, resolver, host, port, req, buffer, parser, timeout_, &out, &done);
  } else {
    plain.emplace(ioc);
    Exchange(*plain, resolver, host, port, req, buffer, parser, timeout_, &out, &done);
  }
  ioc.run_for(timeout_ + std::chrono::milliseconds(100));
  if (!done) {
    out.status = 0;
    out.error = "no answer within " + std::to_string(timeout_.count()) + " ms";
  }
  return out;
}

}  // namespace touchline::api
