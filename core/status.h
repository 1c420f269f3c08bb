// Status and StatusOr<T>: the error vocabulary of core, store and projections.
//
// A Status is either OK or carries a StatusCode and a human-readable message
// that tells the caller what to fix ("events[2].type: must be a dotted
// lower-case name"). StatusOr<T> holds either a value or a non-OK Status.
// Both are [[nodiscard]]: an ignored error is a compile-time warning; use
// IgnoreError() to drop one on purpose and say why next to it.
//
// The codes are a small subset of Abseil's canonical codes. They are mapped to
// HTTP statuses in exactly one place, api/http_error.cc; nothing below api/
// knows about HTTP.
//
// Thread safety: values; const methods may be called concurrently.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace touchline {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller sent something malformed; fix the input
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // e.g. an event id reused with a different body
  kFailedPrecondition,  // e.g. expected_version does not match the stream
  kResourceExhausted,   // a limit or quota was hit; retry later or send less
  kUnauthenticated,     // no credentials, or ones that are not valid
  kPermissionDenied,    // valid credentials whose role may not do this
  kUnavailable,         // transient: shutting down, storage unwritable
  kDataLoss,            // corruption detected on disk
  kInternal,            // a bug or an unexpected failure
};

// Returns the code's name in snake_case ("invalid_argument"), as used in API
// error bodies and logs.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {StatusCode::kUnauthenticated, std::move(msg)};
  }
  static Status PermissionDenied(std::string msg) {
    return {StatusCode::kPermissionDenied, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status DataLoss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsAlreadyExists() const { return code_ == StatusCode::kAlreadyExists; }
  bool IsFailedPrecondition() const { return code_ == StatusCode::kFailedPrecondition; }
  bool IsResourceExhausted() const { return code_ == StatusCode::kResourceExhausted; }
  bool IsUnavailable() const { return code_ == StatusCode::kUnavailable; }
  bool IsDataLoss() const { return code_ == StatusCode::kDataLoss; }

  // Returns a copy whose message is "<prefix>: <message>". OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // "ok" or "<code name>: <message>", for logs and test failure output.
  std::string ToString() const;

  // Explicitly drops the status; the call site must say why in a comment.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a T or a non-OK Status. Accessing value() of an error is a bug
// (asserted in debug builds).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  // REQUIRES: !status.ok()
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok());
    if (status_.ok()) {
      status_ = Status::Internal("StatusOr constructed from an OK status without a value");
    }
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T value() && {
    assert(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace touchline

#define TL_STATUS_CONCAT_INNER(a, b) a##b
#define TL_STATUS_CONCAT(a, b) TL_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::touchline::Status tl_status_ = (expr); \
    if (!tl_status_.ok()) {                  \
      return tl_status_;                     \
    }                                        \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, F());` declares x from F()'s value, or returns
// F()'s error from the enclosing function. Expands to several statements, so
// it cannot be the sole body of an unbraced if/else (we always brace anyway).
#define ASSIGN_OR_RETURN(lhs, expr) \
  TL_ASSIGN_OR_RETURN_IMPL(TL_STATUS_CONCAT(tl_statusor_, __LINE__), lhs, expr)
#define TL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) {                               \
    return std::move(tmp).status();              \
  }                                              \
  lhs = std::move(tmp).value()
