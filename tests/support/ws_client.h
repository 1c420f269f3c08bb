// A small blocking WebSocket client for integration tests (Beast): connect
// to GET /v1/stream with an optional subprotocol, send text, read messages
// with a timeout. A read that times out stays pending and completes on a
// later Read(), so no message is lost between calls.
//
// Thread safety: one thread per client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace touchline::testing {

class WsClient {
 public:
  // Connects and upgrades. Returns Unavailable with the HTTP status and body
  // if the server refuses the upgrade.
  static StatusOr<std::unique_ptr<WsClient>> Connect(std::uint16_t port,
                                                     std::string_view subprotocol = "",
                                                     std::string_view target = "/v1/stream");
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  Status Send(std::string_view text);
  Status SendBinary(std::string_view bytes);
  // The next message. Returns DeadlineExceeded-like Unavailable("timeout")
  // if none arrives in time (the read stays pending), or Unavailable with
  // the close code once the server closed the connection.
  StatusOr<std::string> Read(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Closes with 1000 (best effort).
  void Close();

  const std::string& subprotocol() const { return subprotocol_; }
  // The code of the server's close frame (0 if none was received).
  int close_code() const { return close_code_; }
  std::string close_reason() const { return close_reason_; }

 private:
  struct Impl;
  WsClient();
  std::unique_ptr<Impl> impl_;
  std::string subprotocol_;
  int close_code_ = 0;
  std::string close_reason_;
};

// Over TLS, verifying the server against `ca_file` (PEM): connects to
// 127.0.0.1:`port`, upgrades `target`, sends `message` and returns the
// first message back.
StatusOr<std::string> WssExchange(std::uint16_t port, const std::string& ca_file,
                                  const std::string& target, const std::string& message);

// True if `s` is a Read() timeout.
bool IsReadTimeout(const Status& s);

}  // namespace touchline::testing
