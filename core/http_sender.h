// HttpSender: one outgoing HTTP exchange, for webhook sinks
// (sinks/sink_service.h) and reminder webhooks (projections/
// reminder_scheduler.h). The implementation, with Beast, is
// api/webhook_client.h; tests use fakes.
//
// Thread safety: Send() may be called from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace touchline {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpCall {
  std::string method = "POST";
  std::string url;  // http://host[:port]/path[?query]
  HttpHeaders headers;
  std::string body;
};

struct HttpAnswer {
  int status = 0;                              // 0: no response
  std::string error;                           // for status 0, what went wrong
  std::optional<std::int64_t> retry_after_us;  // from Retry-After
  HttpHeaders headers;                         // the response's, names lower-case

  // The first header `name` (lower-case), or "".
  std::string_view Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) {
        return v;
      }
    }
    return {};
  }
};

class HttpSender {
 public:
  virtual ~HttpSender() = default;
  virtual HttpAnswer Send(const HttpCall& call) = 0;
};

}  // namespace touchline
