#include "core/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace touchline {
namespace {

using ::testing::HasSubstr;
using testing::IsOkAndHolds;
using testing::StatusIs;

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  EXPECT_THAT(Status::NotFound("x"), StatusIs(StatusCode::kNotFound, "x"));
  EXPECT_TRUE(Status::InvalidArgument("a").IsInvalidArgument());
  EXPECT_TRUE(Status::AlreadyExists("a").IsAlreadyExists());
  EXPECT_TRUE(Status::FailedPrecondition("a").IsFailedPrecondition());
  EXPECT_TRUE(Status::ResourceExhausted("a").IsResourceExhausted());
  EXPECT_TRUE(Status::Unavailable("a").IsUnavailable());
  EXPECT_TRUE(Status::DataLoss("a").IsDataLoss());
  EXPECT_EQ(Status::Internal("boom").ToString(), "internal: boom");
}

TEST(StatusTest, WithPrefixKeepsCode) {
  EXPECT_THAT(Status::InvalidArgument("bad").WithPrefix("events[1]"),
              StatusIs(StatusCode::kInvalidArgument, "events[1]: bad"));
  EXPECT_TRUE(Status::Ok().WithPrefix("x").ok());
}

TEST(StatusTest, CodeNamesAreSnakeCase) {
  EXPECT_EQ(StatusCodeName(StatusCode::kFailedPrecondition), "failed_precondition");
  EXPECT_EQ(StatusCodeName(StatusCode::kInvalidArgument), "invalid_argument");
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) {
    return Status::InvalidArgument("odd");
  }
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(StatusOrTest, HoldsValueOrError) {
  EXPECT_THAT(Half(8), IsOkAndHolds(4));
  EXPECT_THAT(Half(3), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd")));
}

TEST(StatusOrTest, MacrosPropagate) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(CheckEven(2));
  EXPECT_THAT(CheckEven(1), StatusIs(StatusCode::kInvalidArgument));
}

TEST(StatusOrTest, MoveOutValue) {
  StatusOr<std::string> s(std::string("hello"));
  std::string v = std::move(s).value();
  EXPECT_EQ(v, "hello");
}

}  // namespace
}  // namespace touchline
