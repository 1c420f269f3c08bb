#include "api/http_error.h"

#include <boost/json/serialize.hpp>

#include "core/validation.h"

namespace touchline::api {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":";
  out += boost::json::serialize(boost::json::string_view(code.data(), code.size()));
  out += ",\"message\":";
  // Messages may quote what the client sent, which need not be UTF-8.
  const std::string valid = ToValidUtf8(message);
  out += boost::json::serialize(boost::json::string_view(valid.data(), valid.size()));
  out += "}}";
  return out;
}

Response ErrorResponse(const Status& status) {
  Response r;
  r.status = HttpStatusFor(status.code());
  r.body = ErrorBody(StatusCodeName(status.code()), status.message());
  return r;
}

Response HttpErrorResponse(int http_status, std::string_view code, std::string_view message) {
  Response r;
  r.status = http_status;
  r.body = ErrorBody(code, message);
  return r;
}

}  // namespace touchline::api
