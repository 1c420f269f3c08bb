#include "core/time_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace touchline {
namespace {

using ::testing::HasSubstr;
using testing::IsOkAndHolds;
using testing::StatusIs;

TEST(TimeFormatTest, ParsesUtc) {
  EXPECT_THAT(ParseRfc3339("1970-01-01T00:00:00Z"), IsOkAndHolds(0));
  EXPECT_THAT(ParseRfc3339("2026-11-22T10:00:00Z"), IsOkAndHolds(1795341600LL * 1000000));
  EXPECT_THAT(ParseRfc3339("2026-11-22t10:00:00z"), IsOkAndHolds(1795341600LL * 1000000));
  EXPECT_THAT(ParseRfc3339("2026-11-22 10:00:00Z"), IsOkAndHolds(1795341600LL * 1000000));
}

TEST(TimeFormatTest, AppliesOffsets) {
  EXPECT_THAT(ParseRfc3339("2026-11-22T17:00:00+07:00"), IsOkAndHolds(1795341600LL * 1000000));
  EXPECT_THAT(ParseRfc3339("2026-11-22T05:30:00-04:30"), IsOkAndHolds(1795341600LL * 1000000));
}

TEST(TimeFormatTest, Fractions) {
  EXPECT_THAT(ParseRfc3339("1970-01-01T00:00:00.5Z"), IsOkAndHolds(500000));
  EXPECT_THAT(ParseRfc3339("1970-01-01T00:00:00.123456789Z"), IsOkAndHolds(123456));
  EXPECT_THAT(ParseRfc3339("1969-12-31T23:59:59.75Z"), IsOkAndHolds(-250000));
}

TEST(TimeFormatTest, LeapDays) {
  EXPECT_OK(ParseRfc3339("2024-02-29T00:00:00Z"));
  EXPECT_OK(ParseRfc3339("2000-02-29T00:00:00Z"));
  EXPECT_THAT(ParseRfc3339("2025-02-29T00:00:00Z"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no such date")));
  EXPECT_THAT(ParseRfc3339("1900-02-29T00:00:00Z"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(TimeFormatTest, RejectsMalformed) {
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T10:00Z", "2026-11-22T10:00:00", "2026-13-01T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T10:60:00Z",
        "2026-11-22T10:00:60Z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00+7:00",
        "2026-11-22T10:00:00Zjunk", "0000-01-01T00:00:00Z", "yesterday", "1732269600"}) {
    EXPECT_THAT(ParseRfc3339(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(ParseRfc3339("2026-11-22T10:00:60Z"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("leap")));
}

TEST(TimeFormatTest, FormatsShortestExactFraction) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1795341600LL * 1000000), "2026-11-22T10:00:00Z");
  EXPECT_EQ(FormatRfc3339(250000), "1970-01-01T00:00:00.250Z");
  EXPECT_EQ(FormatRfc3339(123456), "1970-01-01T00:00:00.123456Z");
  EXPECT_EQ(FormatRfc3339(-250000), "1969-12-31T23:59:59.750Z");
}

TEST(TimeFormatTest, RoundTrips) {
  for (std::int64_t us : {0LL, 1LL, 999999LL, 1795341600123456LL, -62135596800000000LL,
                          253402300799999999LL, 951782400000000LL}) {
    EXPECT_THAT(ParseRfc3339(FormatRfc3339(us)), IsOkAndHolds(us)) << us;
  }
}

}  // namespace
}  // namespace touchline
