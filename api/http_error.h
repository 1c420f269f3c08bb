// The single mapping from Status to an HTTP response: status code and the
// uniform error body {"error":{"code":"...","message":"..."}}.
//
// InvalidArgument -> 400, NotFound -> 404, AlreadyExists and
// FailedPrecondition -> 409, ResourceExhausted -> 429, Unavailable -> 503,
// DataLoss and Internal -> 500.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "api/request.h"
#include "core/status.h"

namespace touchline::api {

int HttpStatusFor(StatusCode code);

// The JSON error body for `code` (an API error code name such as
// "invalid_argument" or an HTTP-level one such as "payload_too_large").
std::string ErrorBody(std::string_view code, std::string_view message);

// A complete error response for a non-OK status.
Response ErrorResponse(const Status& status);

// An error response for conditions that exist only at the HTTP layer
// (404 route, 405 method, 413 body, 431 headers, 408 timeout, 503 busy).
Response HttpErrorResponse(int http_status, std::string_view code, std::string_view message);

}  // namespace touchline::api
