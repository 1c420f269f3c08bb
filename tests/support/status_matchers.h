// gMock matchers and assertions for Status and StatusOr:
//   EXPECT_OK(expr), ASSERT_OK(expr)
//   EXPECT_THAT(expr, StatusIs(StatusCode::kNotFound))
//   EXPECT_THAT(expr, StatusIs(StatusCode::kNotFound, HasSubstr("c-1")))
//   EXPECT_THAT(statusor, IsOkAndHolds(Eq(3)))
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/status.h"

namespace touchline::testing {

inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
const Status& GetStatus(const StatusOr<T>& s) {
  return s.status();
}

MATCHER_P(StatusIs, code, "has status code " + std::string(StatusCodeName(code))) {
  const Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + std::string(StatusCodeName(code)) + " and a matching message") {
  const Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, s.message(), result_listener);
}

MATCHER_P(IsOkAndHolds, matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, arg.value(), result_listener);
}

}  // namespace touchline::testing

#define EXPECT_OK(expr)                                        \
  do {                                                         \
    const auto& tl_ok_ = (expr);                               \
    EXPECT_TRUE(::touchline::testing::GetStatus(tl_ok_).ok())  \
        << ::touchline::testing::GetStatus(tl_ok_).ToString(); \
  } while (false)

#define ASSERT_OK(expr)                                        \
  do {                                                         \
    const auto& tl_ok_ = (expr);                               \
    ASSERT_TRUE(::touchline::testing::GetStatus(tl_ok_).ok())  \
        << ::touchline::testing::GetStatus(tl_ok_).ToString(); \
  } while (false)

#define TL_STATUS_CONCAT_INNER(a, b) a##b
#define TL_STATUS_CONCAT(a, b) TL_STATUS_CONCAT_INNER(a, b)
// Declares or assigns `lhs` from a StatusOr `expr`, failing the test (and
// returning) if it holds an error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  TL_ASSERT_OK_AND_ASSIGN_IMPL(TL_STATUS_CONCAT(tl_status_or_, __LINE__), lhs, expr)
#define TL_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();  \
  lhs = std::move(tmp).value()
