// A small blocking HTTP/1.1 client for tests (Beast, keep-alive, reconnects
// when the server closed the connection), plus raw-bytes exchanges for
// malformed-request tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace touchline::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = true;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::string host = "127.0.0.1");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the response. Returns Unavailable on a
  // connection or timeout error (the connection is then dropped).
  StatusOr<HttpResponse> Request(const std::string& method, const std::string& target,
                                 const std::string& body = "",
                                 std::vector<std::pair<std::string, std::string>> headers = {});
  StatusOr<HttpResponse> Get(const std::string& target,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Request("GET", target, "", std::move(headers));
  }
  // POST with Content-Type: application/json.
  StatusOr<HttpResponse> PostJson(const std::string& target, const std::string& body,
                                  std::vector<std::pair<std::string, std::string>> headers = {});

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // Connect from this local address (e.g. "127.0.0.2", to look like
  // another client to per-address limits); applies to the next connection.
  void set_local_address(std::string address) { local_address_ = std::move(address); }
  void Close();

  // Opens a new connection, writes `raw` as-is, and returns everything the
  // server sends until it closes the connection or `timeout` passes.
  static StatusOr<std::string> RawExchange(std::uint16_t port, const std::string& raw,
                                           std::chrono::milliseconds timeout);

 private:
  struct Conn;
  const std::string host_;
  const std::uint16_t port_;
  std::chrono::milliseconds timeout_{30'000};
  std::string local_address_;
  std::unique_ptr<Conn> conn_;
};

// Percent-encodes one path segment or query value.
std::string UrlEncode(const std::string& s);

}  // namespace touchline::testing
