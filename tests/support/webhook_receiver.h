// A tiny HTTP/1.1 server for tests that need to receive webhooks: it
// accepts on 127.0.0.1 (any free port), reads each request (headers and a
// Content-Length body), records it, and answers with the next scripted
// response (200 once the script is used up). One connection at a time.
//
// Thread safety: the accept loop runs on its own thread; the methods are
// thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace touchline::testing {

class WebhookReceiver {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };
  struct Reply {
    int status = 200;  // 0: hold the connection for 2 s without answering
    std::vector<std::pair<std::string, std::string>> headers;
  };

  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const;
  void Script(std::vector<Reply> replies);
  std::vector<Request> requests();

 private:
  void Serve();

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::deque<Reply> script_;
  std::vector<Request> received_;
  std::thread thread_;
};

}  // namespace touchline::testing
