#include "api/ws_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/support/status_matchers.h"

namespace touchline::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using touchline::testing::StatusIs;
namespace json = boost::json;

StatusOr<WsCommand> Parse(std::string_view text) { return ParseWsCommand(text, WsLimits{}); }

std::string ErrorOf(std::string_view text) {
  auto c = Parse(text);
  EXPECT_THAT(c.status(), StatusIs(StatusCode::kInvalidArgument)) << text;
  return c.ok() ? std::string() : c.status().message();
}

TEST(WsProtocolTest, ParsesSubscribe) {
  auto c = Parse(R"({"op":"subscribe","id":"s1","customers":["email:a@b.c","c-1"],
                     "types":["ticket"],"channels":["email"],"from":42})");
  ASSERT_OK(c);
  EXPECT_EQ(c->op, WsCommand::Op::kSubscribe);
  EXPECT_EQ(c->id, "s1");
  EXPECT_THAT(c->filter.customers, ElementsAre("email:a@b.c", "c-1"));
  EXPECT_THAT(c->filter.types, ElementsAre("ticket"));
  EXPECT_THAT(c->filter.channels, ElementsAre("email"));
  ASSERT_TRUE(c->from.has_value());
  EXPECT_EQ(*c->from, 42u);

  auto all = Parse(R"({"op":"subscribe","all":true,"from":"now"})");
  ASSERT_OK(all);
  EXPECT_TRUE(all->filter.customers.empty());
  EXPECT_FALSE(all->from.has_value());
  EXPECT_EQ(all->id, "");
}

TEST(WsProtocolTest, ParsesUnsubscribeAndPing) {
  auto u = Parse(R"({"op":"unsubscribe","id":"s1"})");
  ASSERT_OK(u);
  EXPECT_EQ(u->op, WsCommand::Op::kUnsubscribe);
  auto p = Parse(R"({"op":"ping","data":{"t":1.5}})");
  ASSERT_OK(p);
  EXPECT_EQ(p->ping_data, R"({"t":1.5E0})");
  auto bare = Parse(R"({"op":"ping"})");
  ASSERT_OK(bare);
  EXPECT_EQ(bare->ping_data, "null");
}

TEST(WsProtocolTest, ErrorsSayWhatToFix) {
  EXPECT_THAT(ErrorOf("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf("42"), HasSubstr("JSON object"));
  EXPECT_THAT(ErrorOf(R"({"id":"x"})"), HasSubstr("op: required"));
  EXPECT_THAT(ErrorOf(R"({"op":7})"), HasSubstr("op: required"));
  EXPECT_THAT(ErrorOf(R"({"op":"jump"})"), HasSubstr("unknown operation 'jump'"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe"})"), HasSubstr("\"all\":true"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","customers":[]})"), HasSubstr("customers"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","customers":["a"],"all":true})"), HasSubstr("not both"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","customers":"a"})"), HasSubstr("array of strings"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","customers":[1]})"), HasSubstr("customers[0]"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","customers":[""]})"), HasSubstr("1-256 bytes"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":"yes"})"), HasSubstr("all: must be"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":true,"from":-3})"), HasSubstr("from:"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":true,"from":1.5})"), HasSubstr("from:"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":true,"from":"later"})"), HasSubstr("from:"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":true,"types":["Ticket"]})"),
              HasSubstr("types[0]"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":true,"channels":[""]})"),
              HasSubstr("channels[0]"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","all":true,"x":1})"), HasSubstr("unknown field 'x'"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","id":"","all":true})"), HasSubstr("id:"));
  EXPECT_THAT(ErrorOf(R"({"op":"subscribe","id":7,"all":true})"), HasSubstr("id:"));
  EXPECT_THAT(ErrorOf(R"({"op":"unsubscribe"})"), HasSubstr("\"id\""));
  EXPECT_THAT(ErrorOf(R"({"op":"ping","x":1})"), HasSubstr("unknown field"));
  std::string deep(100, '[');
  EXPECT_THAT(ErrorOf(R"({"op":"ping","data":)" + deep + "}"), HasSubstr("not valid JSON"));
}

TEST(WsProtocolTest, LimitsTheNumberOfCustomers) {
  std::string many = R"({"op":"subscribe","customers":[)";
  for (int i = 0; i < 101; ++i) {
    many += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
  }
  EXPECT_THAT(ErrorOf(many + "]}"), HasSubstr("at most 100"));
}

TEST(WsProtocolTest, ChoosesASupportedSubprotocol) {
  EXPECT_EQ(ChooseSubprotocol(""), "");
  EXPECT_EQ(ChooseSubprotocol("chat, cloudevents.json"), "cloudevents.json");
  EXPECT_EQ(ChooseSubprotocol("touchline.v1,cloudevents.json"), "touchline.v1");
  EXPECT_EQ(ChooseSubprotocol("mqtt"), "");
}

store::RecordPtr MakeRecord() {
  auto r = std::make_shared<store::Record>();
  r->seq = 7;
  r->version = 2;
  r->customer = "c-1";
  r->type = "purchase.completed";
  r->channel = "web";
  r->id = "evt-9";
  r->time_us = 1'763'632'800'000'000;  // 2025-11-20T10:00:00Z
  r->recorded_at_us = r->time_us + 1;
  r->json =
      R"({"seq":7,"version":2,"recorded_at":"2025-11-20T10:00:00.000001Z","actor":"crm",)"
      R"("time":"2025-11-20T10:00:00Z","id":"evt-9","customer":"c-1","type":"purchase.completed",)"
      R"("channel":"web","data":{"amount":19.9,"nested":{"data":1}}})";
  return r;
}

TEST(WsProtocolTest, RendersNativeEventsVerbatim) {
  const auto r = MakeRecord();
  const auto msgs = RenderEvents(WsFormat::kNative, "s\"1", {r, r});
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0], R"({"type":"events","id":"s\"1","events":[)" + r->json + "," + r->json + "]}");
}

TEST(WsProtocolTest, RendersCloudEvents) {
  const auto msgs = RenderEvents(WsFormat::kCloudEvents, "s1", {MakeRecord()});
  ASSERT_EQ(msgs.size(), 1u);
  // data is spliced as stored: 19.9 stays 19.9.
  EXPECT_THAT(msgs[0], HasSubstr(R"("data":{"amount":19.9,"nested":{"data":1}}})"));
  const auto ce = json::parse(msgs[0]).as_object();
  EXPECT_EQ(ce.at("specversion"), "1.0");
  EXPECT_EQ(ce.at("id"), "7");
  EXPECT_EQ(ce.at("type"), "purchase.completed");
  EXPECT_EQ(ce.at("subject"), "c-1");
  EXPECT_EQ(ce.at("time"), "2025-11-20T10:00:00Z");
  EXPECT_EQ(ce.at("sequence"), "00000000000000000007");
  EXPECT_EQ(ce.at("actor"), "crm");
  EXPECT_EQ(ce.at("eventid"), "evt-9");
  EXPECT_EQ(ce.at("streamversion"), "2");
}

TEST(WsProtocolTest, RendersControlMessages) {
  std::vector<ResolvedCustomer> customers = {{"email:a@b.c", "p-3", {"c-1", "c-2"}},
                                             {"new", "", {"new"}}};
  const auto sub = json::parse(RenderSubscribed(WsFormat::kNative, "s1", 5, 9, customers));
  EXPECT_EQ(sub.at("type"), "subscribed");
  EXPECT_EQ(sub.at("from"), 5);
  EXPECT_EQ(sub.at("head"), 9);
  EXPECT_EQ(sub.at("customers").at(0).at("profile"), "p-3");
  EXPECT_TRUE(sub.at("customers").at(1).at("profile").is_null());
  const auto err = json::parse(RenderWsError(WsFormat::kNative, "bad_command", "fix it", "s1"));
  EXPECT_EQ(err.at("type"), "error");
  EXPECT_EQ(err.at("code"), "bad_command");
  const auto ce = json::parse(RenderPong(WsFormat::kCloudEvents, R"({"n":1})"));
  EXPECT_EQ(ce.at("type"), "touchline.stream.pong");
  EXPECT_EQ(ce.at("data").at("data").at("n"), 1);
}

}  // namespace
}  // namespace touchline::api
