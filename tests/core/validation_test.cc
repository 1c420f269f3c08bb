#include "core/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace touchline {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

TEST(ValidationTest, EventIdRules) {
  EXPECT_OK(ValidateEventId("evt-1", "id"));
  EXPECT_OK(ValidateEventId(std::string(128, 'a'), "id"));
  EXPECT_THAT(ValidateEventId(std::string(129, 'a'), "id"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 128")));
  EXPECT_THAT(ValidateEventId("", "id"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateEventId("a\nb", "id"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateEventId(" a", "id"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("whitespace")));
}

TEST(ValidationTest, CustomerIdRules) {
  EXPECT_OK(ValidateCustomerId("c-123", "customer"));
  EXPECT_OK(ValidateCustomerId("Zoë Ångström 李", "customer"));
  EXPECT_THAT(ValidateCustomerId(std::string(129, 'c'), "customer"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("customer: customer id is 129")));
  EXPECT_THAT(ValidateCustomerId("", "customer"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateCustomerId("tab\there", "customer"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateCustomerId("bad\xff", "customer"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_THAT(ValidateCustomerId("x ", "customer"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ValidationTest, ToValidUtf8ReplacesOnlyMalformedBytes) {
  EXPECT_EQ(ToValidUtf8("plain \xe2\x82\xac"), "plain \xe2\x82\xac");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(ToValidUtf8("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");                  // truncated
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong
  EXPECT_EQ(ToValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(ValidationTest, Utf8) {
  EXPECT_TRUE(IsPrintableUtf8("plain"));
  EXPECT_TRUE(IsPrintableUtf8("\xe2\x82\xac"));           // €
  EXPECT_TRUE(IsPrintableUtf8("\xf0\x9f\x98\x80"));       // 😀
  EXPECT_FALSE(IsPrintableUtf8("\xc0\xaf"));              // overlong '/'
  EXPECT_FALSE(IsPrintableUtf8("\xe0\x80\xaf"));          // overlong 3-byte
  EXPECT_FALSE(IsPrintableUtf8("\xed\xa0\x80"));          // surrogate U+D800
  EXPECT_FALSE(IsPrintableUtf8("\xf4\x90\x80\x80"));      // beyond U+10FFFF
  EXPECT_FALSE(IsPrintableUtf8("\xc2\x85"));              // C1 control U+0085
  EXPECT_FALSE(IsPrintableUtf8("\xe2\x82"));              // truncated
  EXPECT_FALSE(IsPrintableUtf8(std::string("a\0b", 3)));  // NUL
  EXPECT_FALSE(IsPrintableUtf8("\x7f"));                  // DEL
}

TEST(ValidationTest, EventTypeRules) {
  EXPECT_OK(ValidateEventType("ticket.opened", "type"));
  EXPECT_OK(ValidateEventType("cart.item_added", "type"));
  EXPECT_OK(ValidateEventType("social.twitter.like", "type"));
  EXPECT_OK(ValidateEventType("purchase", "type"));
  EXPECT_OK(ValidateEventType("a1.b-2", "type"));
  for (const char* bad : {"", "Ticket.opened", "ticket..opened", ".ticket", "ticket.", "1ticket",
                          "ticket.Opened", "ticket opened", "ticket.1st", "tické"}) {
    EXPECT_THAT(ValidateEventType(bad, "type"), StatusIs(StatusCode::kInvalidArgument))
        << "accepted '" << bad << "'";
  }
  EXPECT_THAT(ValidateEventType(std::string(129, 'a'), "type"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 128")));
}

TEST(ValidationTest, ChannelAndDepartment) {
  EXPECT_OK(ValidateChannel("", "channel"));
  EXPECT_OK(ValidateChannel("social.twitter", "channel"));
  EXPECT_THAT(ValidateChannel("Email", "channel"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateChannel(std::string(65, 'a'), "channel"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(ValidateDepartment("", "department"));
  EXPECT_OK(ValidateDepartment("Customer Success", "department"));
  EXPECT_THAT(ValidateDepartment(std::string(65, 'a'), "department"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateDepartment("a\x01", "department"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ValidationTest, DataRules) {
  EXPECT_OK(ValidateData("{}", "data"));
  EXPECT_OK(ValidateData("{\"a\":1}", "data"));
  EXPECT_THAT(ValidateData("[]", "data"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("object")));
  std::string big = "{\"a\":\"" + std::string(kMaxDataBytes, 'x') + "\"}";
  EXPECT_THAT(ValidateData(big, "data"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 65536")));
}

TEST(ValidationTest, WholeEventNamesThePath) {
  Event e;
  e.customer = "c-1";
  e.type = "Bad";
  EXPECT_THAT(ValidateEvent(e, "events[3]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("events[3].type")));
  e.type = "ok.type";
  EXPECT_OK(ValidateEvent(e, "events[3]"));
  e.customer = "";
  EXPECT_THAT(ValidateEvent(e, "events[3]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("events[3].customer")));
}

TEST(ExpectedVersionTest, Matches) {
  EXPECT_TRUE(ExpectedVersion::Any().Matches(0));
  EXPECT_TRUE(ExpectedVersion::Any().Matches(9));
  EXPECT_TRUE(ExpectedVersion::NoStream().Matches(0));
  EXPECT_FALSE(ExpectedVersion::NoStream().Matches(1));
  EXPECT_FALSE(ExpectedVersion::Exists().Matches(0));
  EXPECT_TRUE(ExpectedVersion::Exists().Matches(1));
  EXPECT_TRUE(ExpectedVersion::Exact(3).Matches(3));
  EXPECT_FALSE(ExpectedVersion::Exact(3).Matches(4));
  EXPECT_EQ(ExpectedVersion::Exact(3).ToString(), "3");
  EXPECT_EQ(ExpectedVersion::NoStream().ToString(), "no_stream");
}

TEST(AppendJsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out = "x";
  AppendJsonString(&out, "a\"b\\c\n\t\r\x01\x1f\xc3\xa9");
  EXPECT_EQ(out, "x\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u001f\xc3\xa9\"");
}

}  // namespace
}  // namespace touchline
