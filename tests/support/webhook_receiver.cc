#include "tests/support/webhook_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace touchline::testing {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

WebhookReceiver::WebhookReceiver() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("webhook receiver: cannot listen");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

WebhookReceiver::~WebhookReceiver() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string WebhookReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void WebhookReceiver::Script(std::vector<Reply> replies) {
  std::lock_guard lock(mu_);
  script_.assign(replies.begin(), replies.end());
}

std::vector<WebhookReceiver::Request> WebhookReceiver::requests() {
  std::lock_guard lock(mu_);
  return received_;
}

void WebhookReceiver::Serve() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      continue;
    }
    std::string in;
    char buf[4096];
    std::size_t header_end = std::string::npos;
    std::size_t need = 0;
    while (true) {
      pollfd c{fd, POLLIN, 0};
      if (::poll(&c, 1, 2000) <= 0) {
        break;
      }
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      in.append(buf, static_cast<std::size_t>(n));
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          const std::string head = Lower(in.substr(0, header_end));
          const auto cl = head.find("content-length:");
          need = header_end + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15)));
        }
      }
      if (header_end != std::string::npos && in.size() >= need) {
        break;
      }
    }
    if (header_end == std::string::npos) {
      ::close(fd);
      continue;
    }
    Request req;
    std::size_t line_end = in.find("\r\n");
    const std::string first = in.substr(0, line_end);
    req.method = first.substr(0, first.find(' '));
    req.target = first.substr(first.find(' ') + 1, first.rfind(' ') - first.find(' ') - 1);
    std::size_t pos = line_end + 2;
    while (pos < header_end) {
      const std::size_t e = in.find("\r\n", pos);
      const std::string line = in.substr(pos, e - pos);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(' '));
        req.headers[Lower(line.substr(0, colon))] = v;
      }
      pos = e + 2;
    }
    req.body = in.substr(header_end + 4);
    Reply reply;
    {
      std::lock_guard lock(mu_);
      received_.push_back(req);
      if (!script_.empty()) {
        reply = script_.front();
        script_.pop_front();
      }
    }
    if (reply.status == 0) {
      // Scripted silence: hold the connection and never answer.
      for (int i = 0; i < 100 && !stop_.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::close(fd);
      continue;
    }
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) +
                      "\r\nContent-Length: 2\r\nConnection: close\r\n";
    for (const auto& [k, v] : reply.headers) {
      out += k + ": " + v + "\r\n";
    }
    out += "\r\n{}";
    [[maybe_unused]] const ssize_t w = ::write(fd, out.data(), out.size());
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
}

}  // namespace touchline::testing
