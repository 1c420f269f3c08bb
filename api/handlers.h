// Route handlers: plain functions of (request, query, services) with no Beast
// types. Each returns the response or a Status that api/http_error.cc turns
// into the JSON error. See api/router.h for the routes.
//
// Thread safety: handlers may run concurrently on any io thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/request.h"
#include "api/router.h"

namespace touchline::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// POST /v1/events. Calls `respond` after the synced write: 201 with one
// result per event, 200 if every event was an idempotent replay; 400 for bad
// input, 409 on an expected-version conflict or an id reused with another
// body, 503 while shutting down.
void HandleAppend(const Request& request, Services& services, Responder respond);

// GET /v1/events?after=N&limit=M. 400 for a bad parameter.
StatusOr<Response> HandleReadLog(const Request& request, const QueryParams& query,
                                 Services& services);

// GET /v1/customers/{customer}/timeline. 404 if the customer has no events.
StatusOr<Response> HandleTimeline(const std::string& customer, const QueryParams& query,
                                  Services& services);

StatusOr<Response> HandleHealthz(Services& services);
StatusOr<Response> HandleReadyz(Services& services);

}  // namespace touchline::api
