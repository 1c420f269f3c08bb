// Routing of HTTP requests to handlers, and the Services they use.
//
// Route() matches the path and method, parses the query, and calls the
// handler. Read handlers answer synchronously; appends answer when the group
// commit that contains them is synced, from the appender thread (the session
// posts the response back to its own strand). Unknown paths get 404, a known
// path with the wrong method 405 with an Allow header; every error is the
// uniform JSON error body (api/http_error.h).
//
// Routes (v1):
//   POST /v1/events                        append one event or a batch
//   GET  /v1/events?after=&limit=          the global log in seq order;
//                                          Accept: application/x-ndjson streams
//   GET  /v1/customers/{id}/timeline?limit=&before=&types=&channels=
//   GET  /healthz (the process runs), GET /readyz (503 while draining or
//                                          when the log can no longer write)
//
// Thread safety: Route() may be called concurrently; Services must outlive it.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>

#include "api/json_codec.h"
#include "api/request.h"
#include "store/event_log.h"

namespace touchline::api {

struct Services {
  store::EventLog* log = nullptr;  // not owned
  ParseLimits parse_limits;
  std::size_t max_page_limit = 1000;  // ?limit= ceiling for JSON pages
  std::size_t ndjson_chunk_records = 1000;
  // Set when the server is draining for shutdown: /readyz answers 503.
  const std::atomic<bool>* draining = nullptr;
};

using Responder = std::function<void(Response)>;

// Handles `request`, calling `respond` exactly once (maybe before returning).
void Route(const Request& request, Services& services, Responder respond);

}  // namespace touchline::api
