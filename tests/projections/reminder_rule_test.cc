#include "projections/reminder_rule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/time_format.h"
#include "projections/time_zone.h"
#include "tests/support/status_matchers.h"

namespace touchline::projections {
namespace {

using ::testing::HasSubstr;
using touchline::testing::StatusIs;

std::int64_t T(const char* rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  EXPECT_OK(t);
  return t.ok() ? *t : 0;
}

std::string ErrorOf(std::string_view json) {
  auto r = ParseReminderRule(json);
  EXPECT_THAT(r.status(), StatusIs(StatusCode::kInvalidArgument)) << json;
  return r.ok() ? "" : r.status().message();
}

TEST(ReminderRuleTest, ParsesEachTriggerKindAndRoundTrips) {
  auto cart = ParseReminderRule(R"({"id":"cart-1d","campaign":"cart","offset":"1d",
      "trigger":{"event":"cart.abandoned","where":{"field":"data.plan","equals":"gold"}},
      "cancel_on":["purchase.completed"],"deliver":{"queue":"sales"}})");
  ASSERT_OK(cart);
  EXPECT_EQ(cart->kind, TriggerKind::kEvent);
  EXPECT_EQ(cart->offset_us, 86'400'000'000);
  EXPECT_EQ(cart->where_equals, "\"gold\"");
  auto again = ParseReminderRule(EncodeReminderRule(*cart));
  ASSERT_OK(again);
  EXPECT_EQ(EncodeReminderRule(*again), EncodeReminderRule(*cart));

  auto renewal = ParseReminderRule(R"({"id":"renew","campaign":"renewals","offset":"-30d",
      "trigger":{"date_field":"data.contract_end"},"deliver":{"webhook":"http://127.0.0.1:9/x"}})");
  ASSERT_OK(renewal);
  EXPECT_EQ(renewal->kind, TriggerKind::kDate);
  EXPECT_EQ(renewal->offset_us, -30LL * 86'400'000'000);

  auto winback = ParseReminderRule(R"({"id":"winback","campaign":"winback","offset":"90d",
      "trigger":{"inactivity":["purchase","message"]},"deliver":{"queue":"retention"},
      "window":{"start":"09:00","end":"17:00"},"cap":{"max":1,"period":"30d"}})");
  ASSERT_OK(winback);
  EXPECT_EQ(winback->kind, TriggerKind::kInactivity);
  EXPECT_TRUE(winback->has_window);
  EXPECT_EQ(winback->window_start_min, 9 * 60);
  EXPECT_EQ(winback->cap_max, 1u);
}

TEST(ReminderRuleTest, ErrorsNameTheFieldAndTheFix) {
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("JSON object"));
  EXPECT_THAT(ErrorOf(R"({"campaign":"c","trigger":{"event":"a"},"deliver":{"queue":"q"}})"),
              HasSubstr("id: required"));
  EXPECT_THAT(ErrorOf(R"({"id":"Bad Id","campaign":"c","trigger":{"event":"a"},
                          "deliver":{"queue":"q"}})"),
              HasSubstr("id: must be"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","deliver":{"queue":"q"}})"),
              HasSubstr("trigger: required"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},"offset":"-1d",
                          "deliver":{"queue":"q"}})"),
              HasSubstr("positive delay"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"inactivity":[]},
                          "deliver":{"queue":"q"}})"),
              HasSubstr("offset: required"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},"offset":"3x",
                          "deliver":{"queue":"q"}})"),
              HasSubstr("offset: must be a duration"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"}})"),
              HasSubstr("deliver: give a webhook"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},
                          "deliver":{"webhook":"ftp://x/y"}})"),
              HasSubstr("deliver.webhook"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},
                          "deliver":{"queue":"q"},"window":{"start":"25:00","end":"17:00"}})"),
              HasSubstr("window.start"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},
                          "deliver":{"queue":"q"},"window":{"start":"09:00","end":"17:00",
                          "timezone":"Mars/Olympus"}})"),
              HasSubstr("unknown time zone"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},
                          "deliver":{"queue":"q"},"cap":{"max":0,"period":"1d"}})"),
              HasSubstr("cap:"));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"date_field":"contract_end"},
                          "offset":"1d","deliver":{"queue":"q"}})"),
              HasSubstr("data."));
  EXPECT_THAT(ErrorOf(R"({"id":"a","campaign":"c","trigger":{"event":"a"},"colour":1,
                          "deliver":{"queue":"q"}})"),
              HasSubstr("colour: unknown field"));
  auto mismatch = ParseReminderRule(
      R"({"id":"a","campaign":"c","trigger":{"event":"a"},"deliver":{"queue":"q"}})", "b");
  EXPECT_THAT(mismatch.status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ReminderRuleTest, Durations) {
  EXPECT_EQ(*ParseDuration("1d12h", "x"), 36LL * 3'600'000'000);
  EXPECT_EQ(*ParseDuration("-30m", "x"), -30LL * 60'000'000);
  EXPECT_EQ(FormatDuration(36LL * 3'600'000'000), "1d12h");
  EXPECT_EQ(FormatDuration(-30LL * 86'400'000'000), "-30d");
  EXPECT_THAT(ParseDuration("", "x").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDuration("12", "x").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDuration("99999d", "x").status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(TimeZoneTest, FixedOffsetsAndUtc) {
  auto z = TimeZone::Find("+07:00");
  ASSERT_OK(z);
  EXPECT_EQ((*z)->OffsetAt(0), 7 * 3600);
  EXPECT_EQ((*TimeZone::Find("-0330"))->OffsetAt(0), -(3 * 3600 + 1800));
  EXPECT_EQ((*TimeZone::Find("UTC"))->OffsetAt(12345), 0);
  EXPECT_THAT(TimeZone::Find("../etc/passwd").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(TimeZone::Find("Nowhere/Land").status(), StatusIs(StatusCode::kNotFound));
}

TEST(TimeZoneTest, ReadsTheTzDatabaseWithDaylightSaving) {
  auto berlin = TimeZone::Find("Europe/Berlin");
  ASSERT_OK(berlin);
  EXPECT_EQ((*berlin)->OffsetAt(T("2026-01-15T12:00:00Z") / 1'000'000), 3600);
  EXPECT_EQ((*berlin)->OffsetAt(T("2026-07-15T12:00:00Z") / 1'000'000), 7200);
  // 2026-03-29 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00).
  EXPECT_EQ((*berlin)->ToUtc(T("2026-03-29T02:30:00Z") / 1'000'000),
            T("2026-03-29T01:30:00Z") / 1'000'000);
  EXPECT_EQ((*berlin)->ToUtc(T("2026-07-15T09:00:00Z") / 1'000'000),
            T("2026-07-15T07:00:00Z") / 1'000'000);
  auto jakarta = TimeZone::Find("Asia/Jakarta");
  ASSERT_OK(jakarta);
  EXPECT_EQ((*jakarta)->OffsetAt(T("2026-07-15T12:00:00Z") / 1'000'000), 7 * 3600);
}

ReminderRule WindowRule(const char* start, const char* end, const char* zone = "UTC") {
  auto r = ParseReminderRule(std::string(R"({"id":"w","campaign":"c","trigger":{"event":"a"},)") +
                             R"("deliver":{"queue":"q"},"window":{"start":")" + start +
                             R"(","end":")" + end + R"(","timezone":")" + zone + R"("}})");
  EXPECT_OK(r);
  return r.ok() ? *r : ReminderRule{};
}

TEST(SendWindowTest, InsideStaysOutsideMovesToTheNextStart) {
  const ReminderRule r = WindowRule("09:00", "17:00");
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T10:15:00Z"), ""), T("2026-11-25T10:15:00Z"));
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T07:00:00Z"), ""), T("2026-11-25T09:00:00Z"));
  // After the window: across midnight to tomorrow's start.
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T22:30:00Z"), ""), T("2026-11-26T09:00:00Z"));
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T17:00:00Z"), ""), T("2026-11-26T09:00:00Z"));
}

TEST(SendWindowTest, InTheCustomersTimeZone) {
  const ReminderRule r = WindowRule("09:00", "17:00");
  // 20:00 UTC is 03:00 next day in Jakarta (+07): wait for 09:00 there = 02:00 UTC.
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T20:00:00Z"), "Asia/Jakarta"), T("2026-11-26T02:00:00Z"));
  // 03:00 UTC is 10:00 in Jakarta: inside.
  EXPECT_EQ(NextInWindow(r, T("2026-11-26T03:00:00Z"), "Asia/Jakarta"), T("2026-11-26T03:00:00Z"));
  // New York in winter (-05): 13:00 UTC is 08:00 there -> 09:00 = 14:00 UTC.
  EXPECT_EQ(NextInWindow(r, T("2026-01-10T13:00:00Z"), "America/New_York"),
            T("2026-01-10T14:00:00Z"));
  // An unknown zone falls back to the rule's zone (UTC here).
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T07:00:00Z"), "Nowhere/Land"), T("2026-11-25T09:00:00Z"));
}

TEST(SendWindowTest, OvernightWindow) {
  const ReminderRule r = WindowRule("22:00", "06:00", "+01:00");
  // 23:30 local (22:30 UTC) is inside; 12:00 local waits for 22:00 local.
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T22:30:00Z"), ""), T("2026-11-25T22:30:00Z"));
  EXPECT_EQ(NextInWindow(r, T("2026-11-25T11:00:00Z"), ""), T("2026-11-25T21:00:00Z"));
  EXPECT_EQ(NextInWindow(r, T("2026-11-26T04:00:00Z"), ""), T("2026-11-26T04:00:00Z"));
}

}  // namespace
}  // namespace touchline::projections
