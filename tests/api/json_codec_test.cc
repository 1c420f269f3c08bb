#include "api/json_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace touchline::api {
namespace {

using ::testing::HasSubstr;
using touchline::testing::StatusIs;

StatusOr<std::vector<ProposedEvent>> Parse(std::string_view body) {
  return ParseEvents(body, ParseLimits{});
}

TEST(JsonCodecTest, ParsesOneEvent) {
  auto r = Parse(R"({"id":"e1","customer":"c-1","type":"ticket.opened","channel":"email",
                    "department":"support","time":"2026-11-22T17:00:00+07:00",
                    "data":{ "subject" : "Hi", "n": 1.50, "tags":[1,2] },
                    "expected_version": 3})");
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 1u);
  const auto& p = (*r)[0];
  EXPECT_EQ(p.event.id, "e1");
  EXPECT_EQ(p.event.customer, "c-1");
  EXPECT_EQ(p.event.type, "ticket.opened");
  EXPECT_EQ(p.event.channel, "email");
  EXPECT_EQ(p.event.department, "support");
  EXPECT_EQ(p.event.time_us, 1795341600LL * 1000000);
  EXPECT_EQ(p.event.data, R"({"subject":"Hi","n":1.5,"tags":[1,2]})");
  EXPECT_EQ(p.expected_version, ExpectedVersion::Exact(3));
}

TEST(JsonCodecTest, DefaultsAndNulls) {
  auto r = Parse(R"({"customer":"c","type":"t","channel":null,"data":null,"id":null})");
  ASSERT_OK(r);
  EXPECT_EQ((*r)[0].event.data, "{}");
  EXPECT_EQ((*r)[0].event.channel, "");
  EXPECT_EQ((*r)[0].event.id, "");
  EXPECT_FALSE((*r)[0].event.time_us.has_value());
  EXPECT_TRUE((*r)[0].expected_version.IsAny());
}

TEST(JsonCodecTest, ParsesABatch) {
  auto r = Parse(R"([{"customer":"a","type":"t"},{"customer":"b","type":"u",
                    "expected_version":"no_stream"}])");
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].event.customer, "b");
  EXPECT_EQ((*r)[1].expected_version, ExpectedVersion::NoStream());
}

TEST(JsonCodecTest, ExpectedVersionSpellings) {
  EXPECT_EQ(*ParseExpectedVersion("any"), ExpectedVersion::Any());
  EXPECT_EQ(*ParseExpectedVersion("exists"), ExpectedVersion::Exists());
  EXPECT_EQ(*ParseExpectedVersion("no_stream"), ExpectedVersion::NoStream());
  EXPECT_EQ(*ParseExpectedVersion("12"), ExpectedVersion::Exact(12));
  for (const char* bad : {"", "-1", "1.5", "latest", "12a"}) {
    EXPECT_THAT(ParseExpectedVersion(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(Parse(R"({"customer":"c","type":"t","expected_version":-1})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("event.expected_version")));
  EXPECT_THAT(Parse(R"({"customer":"c","type":"t","expected_version":true})"),
              StatusIs(StatusCode::kInvalidArgument));
}

struct BadCase {
  const char* body;
  const char* message;
};

class JsonCodecBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(JsonCodecBadInputTest, IsInvalidArgumentWithAHelpfulMessage) {
  EXPECT_THAT(Parse(GetParam().body),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonCodecBadInputTest,
    ::testing::Values(
        BadCase{"", "empty"}, BadCase{"{", "not valid JSON"},
        BadCase{R"({"customer":"c","type":"t",})", "not valid JSON"},
        BadCase{"42", "event object or an array"}, BadCase{"[]", "array is empty"},
        BadCase{"[1]", "events[0]: an event must be a JSON object"},
        BadCase{R"({"type":"t"})", "event.customer: required"},
        BadCase{R"({"customer":"c"})", "event.type: required"},
        BadCase{R"({"customer":7,"type":"t"})", "event.customer: must be a string"},
        BadCase{R"({"customer":"c","type":"T"})", "event.type"},
        BadCase{R"({"customer":"c","type":"t","data":[1]})", "event.data: must be a JSON object"},
        BadCase{R"({"customer":"c","type":"t","data":"x"})", "event.data"},
        BadCase{R"({"customer":"c","type":"t","time":"yesterday"})", "event.time"},
        BadCase{R"({"customer":"c","type":"t","time":1732269600})", "event.time: must be a string"},
        BadCase{R"({"customer":"c","type":"t","colour":"red"})",
                "event.colour: unknown field; allowed fields are"},
        BadCase{R"({"customer":"c","type":"t","type":"u"})", "more than once"},
        BadCase{R"({"customer":"","type":"t"})", "must not be empty"},
        BadCase{R"({"customer":"c","type":"t","id":""})", "event.id"},
        BadCase{R"([{"customer":"c","type":"t"},{"customer":"c","type":"t","x":1}])",
                "events[1].x"},
        BadCase{R"({"customer":"c","type":"t","data":{"n":123456789012345678901234567890}})",
                "out of range"},
        BadCase{R"({"type":"t","identities":{"email":"null"}})", "usable identity"},
        BadCase{R"({"type":"t","identities":{}})", "event.customer: required"},
        BadCase{R"({"customer":"c","type":"t","identities":["a"]})", "event.identities: must be"},
        BadCase{R"({"customer":"c","type":"t","identities":{"email":"nope"}})",
                "event.identities.email: an email address"},
        BadCase{R"({"customer":"c","type":"t","identities":{"phone":"0812 3456"}})",
                "country code"},
        BadCase{R"({"customer":"c","type":"t","identities":{"Email":"a@b.c"}})",
                "event.identities.Email"},
        BadCase{R"({"customer":"c","type":"t","identities":{"customer":"x"}})", "customer field"},
        BadCase{R"({"customer":"c","type":"t","identities":{"email":7}})", "must be a string"},
        BadCase{R"({"customer":"c","type":"t","identities":{"email":["a@b.c",1]}})",
                "event.identities.email[1]"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      return "case" + std::to_string(param_info.index);
    });

TEST(JsonCodecTest, ParsesAndNormalisesIdentities) {
  auto r = Parse(R"({"type":"call.logged","identities":{"phone":"0062 (812) 3456-7890",
                    "email":[" Alice@Example.COM","bob@example.com", null],
                    "social.twitter":"@AliceW","user_id":" U-7 ","anonymous_id":"null"}})");
  ASSERT_OK(r);
  const Event& e = (*r)[0].event;
  const std::vector<Identity> want = {{"anonymous_id", "null"},     {"email", "alice@example.com"},
                                      {"email", "bob@example.com"}, {"phone", "+6281234567890"},
                                      {"social.twitter", "alicew"}, {"user_id", "U-7"}};
  EXPECT_EQ(e.identities, want);
  // No customer: the stream is named after the best identity (user_id first).
  EXPECT_EQ(e.customer, "user_id:U-7");
  auto email_only = Parse(R"({"type":"t","identities":{"email":"A@B.co","anonymous_id":"x"}})");
  ASSERT_OK(email_only);
  EXPECT_EQ((*email_only)[0].event.customer, "email:a@b.co");
}

TEST(JsonCodecTest, RejectsDeepNesting) {
  std::string deep = R"({"customer":"c","type":"t","data":{"a":)";
  for (int i = 0; i < 100; ++i) {
    deep += "[";
  }
  for (int i = 0; i < 100; ++i) {
    deep += "]";
  }
  deep += "}}";
  EXPECT_THAT(Parse(deep), StatusIs(StatusCode::kInvalidArgument, HasSubstr("nested too deeply")));
}

TEST(JsonCodecTest, RejectsOversizedData) {
  std::string body =
      R"({"customer":"c","type":"t","data":{"s":")" + std::string(70000, 'x') + "\"}}";
  EXPECT_THAT(Parse(body), StatusIs(StatusCode::kInvalidArgument, HasSubstr("event.data")));
}

TEST(JsonCodecTest, RejectsTooManyEvents) {
  std::string body = "[";
  for (int i = 0; i < 5; ++i) {
    body += std::string(i ? "," : "") + R"({"customer":"c","type":"t"})";
  }
  body += "]";
  ParseLimits limits;
  limits.max_events = 4;
  EXPECT_THAT(ParseEvents(body, limits),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 4")));
}

TEST(JsonCodecTest, RendersAppendResult) {
  store::AppendResult r;
  r.events = {{5, 2, false, {}}, {3, 1, true, {}}};
  EXPECT_EQ(RenderAppendResult({"a\"b", ""}, r),
            R"({"events":[{"id":"a\"b","seq":5,"version":2,"duplicate":false},)"
            R"({"seq":3,"version":1,"duplicate":true}]})");
}

TEST(JsonCodecTest, RendersPages) {
  auto rec = std::make_shared<store::Record>();
  rec->seq = 4;
  rec->json = R"({"seq":4})";
  const std::vector<store::RecordPtr> page{rec};
  EXPECT_EQ(RenderEventsPage(page, 10), R"({"events":[{"seq":4}],"next_after":4,"head":10})");
  EXPECT_EQ(RenderEventsPage(page, 4), R"({"events":[{"seq":4}],"next_after":null,"head":4})");
}

}  // namespace
}  // namespace touchline::api
