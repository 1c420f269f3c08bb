// tlctl's plain-HTTP client (declared in tools/tlctl_common.h): the only
// tlctl file that includes Beast.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "tools/tlctl_common.h"

namespace touchline::tools {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct Target {
  std::string host;
  std::string port;
  std::string prefix;  // a path the server is mounted under
};

StatusOr<Target> ParseServer(const std::string& server) {
  auto parsed = boost::urls::parse_uri(server);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    return Status::InvalidArgument(
        "--server must look like http://127.0.0.1:8080 (tlctl speaks plain HTTP; for a TLS "
        "server use curl)");
  }
  Target t;
  t.host = std::string(parsed->host());
  t.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  t.prefix = std::string(parsed->encoded_path());
  while (!t.prefix.empty() && t.prefix.back() == '/') {
    t.prefix.pop_back();
  }
  return t;
}

Status Connect(const std::string& server, const Target& t, boost::asio::io_context& ioc,
               beast::tcp_stream& stream) {
  beast::error_code ec;
  auto endpoints = tcp::resolver(ioc).resolve(t.host, t.port, ec);
  if (!ec) {
    stream.connect(endpoints, ec);
  }
  if (ec) {
    return Status::Unavailable("cannot reach " + server + ": " + ec.message());
  }
  return Status::Ok();
}

http::request<http::string_body> MakeRequest(http::verb verb, const Target& t,
                                             const std::string& path, const std::string& key) {
  http::request<http::string_body> req{verb, t.prefix + path, 11};
  req.set(http::field::host, t.host);
  if (!key.empty()) {
    req.set(http::field::authorization, "Bearer " + key);
  }
  return req;
}

class BeastLines final : public HttpLines {
 public:
  BeastLines() : stream_(ioc_) { parser_.body_limit(boost::none); }

  Status Open(const std::string& server, const std::string& path, const std::string& key) {
    ASSIGN_OR_RETURN(Target t, ParseServer(server));
    RETURN_IF_ERROR(Connect(server, t, ioc_, stream_));
    auto req = MakeRequest(http::verb::get, t, path, key);
    beast::error_code ec;
    http::write(stream_, req, ec);
    if (!ec) {
      http::read_header(stream_, buffer_, parser_, ec);
    }
    if (ec) {
      return Status::Unavailable("talking to " + server + ": " + ec.message());
    }
    const int status = static_cast<int>(parser_.get().result_int());
    if (status < 200 || status >= 300) {
      std::string body, line;
      while (Next(&line)) {
        body += line;
      }
      return Status::Unavailable("the server answered " + std::to_string(status) + ": " + body);
    }
    return Status::Ok();
  }

  bool Next(std::string* line) override {
    while (true) {
      const auto nl = pending_.find('\n', pos_);
      if (nl != std::string::npos) {
        line->assign(pending_, pos_, nl - pos_);
        pos_ = nl + 1;
        return true;
      }
      if (done_ || !status_.ok()) {
        if (pos_ < pending_.size()) {
          line->assign(pending_, pos_);
          pos_ = pending_.size();
          return true;
        }
        return false;
      }
      parser_.get().body().data = chunk_;
      parser_.get().body().size = sizeof(chunk_);
      beast::error_code ec;
      http::read(stream_, buffer_, parser_, ec);
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      if (ec) {
        status_ = Status::Unavailable("the server's answer broke off: " + ec.message());
      }
      const std::size_t n = sizeof(chunk_) - parser_.get().body().size;
      pending_.erase(0, pos_);
      pos_ = 0;
      pending_.append(chunk_, n);
      done_ = parser_.is_done();
    }
  }

  Status status() const override { return status_; }

 private:
  boost::asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  char chunk_[64 * 1024];
  std::string pending_;
  std::size_t pos_ = 0;
  bool done_ = false;
  Status status_;
};

}  // namespace

StatusOr<HttpAnswer> HttpRequest(const std::string& server, const std::string& method,
                                 const std::string& path, const std::string& key,
                                 const std::string& body) {
  ASSIGN_OR_RETURN(Target t, ParseServer(server));
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  RETURN_IF_ERROR(Connect(server, t, ioc, stream));
  auto req = MakeRequest(http::string_to_verb(method), t, path, key);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  beast::error_code ec;
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> res;
  res.body_limit(boost::none);
  if (!ec) {
    http::read(stream, buffer, res, ec);
  }
  if (ec) {
    return Status::Unavailable("talking to " + server + ": " + ec.message());
  }
  return HttpAnswer{static_cast<int>(res.get().result_int()), std::move(res.get().body())};
}

StatusOr<std::unique_ptr<HttpLines>> HttpLines::Get(const std::string& server,
                                                    const std::string& path,
                                                    const std::string& key) {
  auto lines = std::make_unique<BeastLines>();
  RETURN_IF_ERROR(lines->Open(server, path, key));
  return std::unique_ptr<HttpLines>(std::move(lines));
}

}  // namespace touchline::tools
