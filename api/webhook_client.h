// WebhookClient: the HTTP implementation of HttpSender (core/http_sender.h),
// for reminder webhooks and sinks. One exchange per call on a fresh
// connection (Beast, plain http; https arrives with client TLS), bounded by
// a timeout for the whole exchange. Reads Retry-After as seconds or an
// HTTP date; reads at most 64 KiB of a response body and keeps none of it.
//
// Thread safety: Send() may be called from several threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/http_sender.h"

namespace touchline::api {

class WebhookClient final : public HttpSender {
 public:
  explicit WebhookClient(std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {}
  HttpAnswer Send(const HttpCall& call) override;

 private:
  const std::chrono::milliseconds timeout_;
};

// Retry-After as microseconds from `now_us` (seconds, or an IMF-fixdate such
// as "Wed, 21 Oct 2026 07:28:00 GMT"); nullopt if unreadable.
std::optional<std::int64_t> ParseRetryAfter(std::string_view value, std::int64_t now_us);

}  // namespace touchline::api
