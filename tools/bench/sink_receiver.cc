#include "tools/bench/sink_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/time_format.h"

namespace touchline::bench {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SinkReceiver::SinkReceiver() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 128);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Run(); });
}

SinkReceiver::~SinkReceiver() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<double> SinkReceiver::lags_ms() const {
  std::lock_guard<std::mutex> l(mu_);
  return lags_ms_;
}

void SinkReceiver::Run() {
  net::io_context ioc;
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      continue;
    }
    net::ip::tcp::socket socket(ioc, net::ip::tcp::v4(), fd);
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    beast::error_code ec;
    while (!ec) {
      parser.emplace();
      parser->body_limit(256 << 20);
      http::read(socket, buffer, *parser, ec);
      if (ec) {
        break;
      }
      const std::int64_t now = NowMicros();
      const std::string& body = parser->get().body();
      std::uint64_t n = 0;
      std::vector<double> lags;
      constexpr std::string_view kAt = "\"recordedat\":\"";
      constexpr std::string_view kSeq = ",\"seq\":";
      for (std::size_t at = body.find("\"specversion\""); at != std::string::npos;
           at = body.find("\"specversion\"", at + 1)) {
        ++n;
        const std::size_t seq_at = body.find(kSeq, at);
        if (seq_at != std::string::npos) {
          std::uint64_t seq = 0;
          const char* first = body.data() + seq_at + kSeq.size();
          std::from_chars(first, body.data() + body.size(), seq);
          if (!seen_.insert(seq).second) {
            ++duplicates_;
          }
        }
      }
      for (std::size_t at = body.find(kAt); at != std::string::npos; at = body.find(kAt, at + 1)) {
        const std::size_t start = at + kAt.size();
        auto t = ParseRfc3339(std::string_view(body).substr(start, body.find('"', start) - start));
        if (t.ok()) {
          lags.push_back(static_cast<double>(now - *t) / 1000.0);
        }
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        lags_ms_.insert(lags_ms_.end(), lags.begin(), lags.end());
      }
      events_ += n;
      ++requests_;
      http::response<http::empty_body> res{http::status::ok, 11};
      res.keep_alive(parser->get().keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (!res.keep_alive()) {
        break;
      }
    }
    socket.close(ec);
  }
}

}  // namespace touchline::bench
