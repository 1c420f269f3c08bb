// Request and Response: the HTTP exchange as route handlers see it, with no
// Beast types, so handlers can be unit-tested without sockets
// (tests/api/router_test.cc). http_session.cc converts to and from Beast.
//
// Thread safety: plain values.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "store/api_keys.h"

namespace touchline::api {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the raw request target, "/v1/events?after=10"
  std::string body;
  // The headers handlers care about (empty when absent).
  std::string accept;
  std::string content_type;
  std::string if_match;
  std::string request_id;      // echoed back as X-Request-Id
  std::string authorization;   // the Authorization header (api/auth.h)
  std::string client_address;  // the peer's IP address, for per-address limits
  // Every "ce-*" header (CloudEvents binary mode): the name lower-cased
  // without "ce-", and the raw value.
  std::vector<std::pair<std::string, std::string>> ce_headers;
  // WebHook-Request-Origin: a CloudEvents webhook sender's validation
  // handshake (OPTIONS /v1/cloudevents).
  std::string webhook_request_origin;
  // Set by the router once the request is admitted: the key's name (or
  // "anonymous" in open mode), recorded as the actor of what it writes.
  std::string actor;
  store::Role role = store::Role::kAdmin;
  // Set by the router: the matched route, "GET /v1/customers/{id}" (or
  // "unmatched"). Logs name this, never the raw target, which may hold an
  // identity (a personal email address) or a key.
  std::string route;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the body instead of `body`: bytes shared with a cache
  // (api/timeline_cache.h), sent without being copied.
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;
  // For large responses: when set, `body` is ignored and the session sends
  // a chunked body, calling `stream` until it returns an empty string. An
  // error aborts the connection (the client sees a truncated chunked body).
  std::function<StatusOr<std::string>()> stream;
  // The customer streams whose data the response holds ("*" for the whole
  // log), set by read handlers: the router records the read in the access
  // audit trail (api/access_log.h) when the status is 2xx.
  std::vector<std::string> accessed;
};

}  // namespace touchline::api
