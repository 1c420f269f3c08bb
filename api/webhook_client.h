// WebhookClient: the HTTP implementation of projections::WebhookSender, for
// reminder delivery. One POST per call on a fresh connection (Beast, plain
// http; https arrives with TLS), bounded by a timeout for the whole
// exchange. Reads Retry-After as seconds or an HTTP date.
//
// Thread safety: Post() may be called from several threads.
#pragma once

#include <chrono>
#include <string>

#include "projections/reminder_scheduler.h"

namespace touchline::api {

class WebhookClient final : public projections::WebhookSender {
 public:
  explicit WebhookClient(std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {}
  Result Post(const std::string& url, const std::string& idempotency_key,
              const std::string& body) override;

 private:
  const std::chrono::milliseconds timeout_;
};

// Retry-After as microseconds from `now_us` (seconds, or an IMF-fixdate such
// as "Wed, 21 Oct 2026 07:28:00 GMT"); nullopt if unreadable.
std::optional<std::int64_t> ParseRetryAfter(std::string_view value, std::int64_t now_us);

}  // namespace touchline::api
