// WebhookClient: the HTTP implementation of HttpSender (core/http_sender.h),
// for reminder webhooks and sinks. One exchange per call on a fresh
// connection (Beast), bounded by a timeout for the whole exchange, http://
// or https://. TLS is 1.2 or 1.3 and verifies the receiver's certificate
// against the system's CAs (Debian's ca-certificates) and any added with
// TrustCa(), and its name against the URL's host (SNI is sent for names).
// Reads Retry-After as seconds or an HTTP date; reads the response's
// header only.
//
// Thread safety: Send() may be called from several threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/http_sender.h"
#include "core/status.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace touchline::api {

class WebhookClient final : public HttpSender {
 public:
  explicit WebhookClient(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~WebhookClient() override;
  // Also trusts the CA certificates in `pem_file` (--webhook-ca-file).
  // Call before the first Send(). InvalidArgument if it cannot be read.
  Status TrustCa(const std::string& pem_file);
  HttpAnswer Send(const HttpCall& call) override;

 private:
  const std::chrono::milliseconds timeout_;
  const std::unique_ptr<boost::asio::ssl::context> tls_;
};

// Retry-After as microseconds from `now_us` (seconds, or an IMF-fixdate such
// as "Wed, 21 Oct 2026 07:28:00 GMT"); nullopt if unreadable.
std::optional<std::int64_t> ParseRetryAfter(std::string_view value, std::int64_t now_us);

}  // namespace touchline::api
