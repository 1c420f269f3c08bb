// The Segment and CloudEvents codecs (api/segment_codec.h,
// api/cloudevents_codec.h) and what they share (api/ingest.h), in memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "api/cloudevents_codec.h"
#include "api/ingest.h"
#include "api/segment_codec.h"
#include "core/time_format.h"
#include "tests/support/status_matchers.h"

namespace touchline::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using touchline::testing::StatusIs;

constexpr std::int64_t kReceived = 1'796'380'000'000'000;  // 2026-12-04T09:33:20Z

StatusOr<IngestBatch> Segment(std::string_view body, SegmentCall call = SegmentCall::kBatch) {
  return ParseSegment(body, call, kReceived, SegmentLimits{});
}

boost::json::object Data(const ProposedEvent& e) {
  return boost::json::parse(e.event.data).as_object();
}

TEST(EventTypeFromNameTest, MapsNamesToDottedTypes) {
  EXPECT_EQ(EventTypeFromName("Order Completed", "track"), "order.completed");
  EXPECT_EQ(EventTypeFromName("order_completed", "track"), "order_completed");
  EXPECT_EQ(EventTypeFromName("Signed Up - Web", "track"), "signed.up.web");
  EXPECT_EQ(EventTypeFromName("Checkout Step 2", "track"), "checkout.step.x2");
  EXPECT_EQ(EventTypeFromName("com.example.Ticket.Opened", "ce"), "com.example.ticket.opened");
  EXPECT_EQ(EventTypeFromName("  ", "track"), "track");
  EXPECT_EQ(EventTypeFromName("\xe6\xb3\xa8\xe6\x96\x87", "track"), "track");
  EXPECT_EQ(EventTypeFromName("Pesanan Selesai \xe2\x9c\x93", "track"), "pesanan.selesai");
}

TEST(EventTypeFromNameTest, NeverForgesTouchlinesOwnTypes) {
  EXPECT_EQ(EventTypeFromName("Customer Erased", "track"), "track.customer.erased");
  EXPECT_EQ(EventTypeFromName("Profile Merged", "track"), "track.profile.merged");
  EXPECT_EQ(EventTypeFromName("audit", "cloudevent"), "cloudevent.audit");
  EXPECT_EQ(EventTypeFromName("reminder.sent", "track"), "track.reminder.sent");
  EXPECT_EQ(EventTypeFromName("Customer Signed Up", "track"), "customer.signed.up");
}

TEST(EventTypeFromNameTest, StopsAtTheFirstSegmentThatDoesNotFit) {
  const std::string name = std::string(120, 'a') + " " + std::string(10, 'b') + " c";
  EXPECT_EQ(EventTypeFromName(name, "track"), std::string(120, 'a'));
}

TEST(EventTypeFromNameTest, CutsLongNamesAtASegment) {
  std::string name;
  for (int i = 0; i < 40; ++i) {
    name += "word ";
  }
  const std::string type = EventTypeFromName(name, "track");
  EXPECT_LE(type.size(), 128u);
  EXPECT_EQ(type.back(), 'd');
}

TEST(SegmentCodecTest, TrackWithCorrectedTimeAndData) {
  auto r = Segment(R"({"userId":"u1","event":"Order Completed","messageId":"m-1",
      "properties":{"total":19.90,"currency":"IDR","segment":"clash"},
      "context":{"library":{"name":"analytics-node"},"traits":{"email":" Ann@Example.COM "}},
      "timestamp":"2026-12-04T09:00:00Z","sentAt":"2026-12-04T09:00:10Z"})",
                   SegmentCall::kTrack);
  ASSERT_OK(r);
  ASSERT_EQ(r->events.size(), 1u);
  const Event& e = r->events[0].event;
  EXPECT_EQ(e.id, "segment:m-1");
  EXPECT_EQ(e.type, "order.completed");
  EXPECT_EQ(e.customer, "user_id:u1");
  EXPECT_THAT(e.identities,
              ElementsAre(Identity{"email", "ann@example.com"}, Identity{"user_id", "u1"}));
  EXPECT_EQ(e.time_us, kReceived - 10'000'000);
  const auto data = Data(r->events[0]);
  EXPECT_EQ(data.at("total").as_double(), 19.9);
  EXPECT_EQ(data.at("currency").as_string(), "IDR");
  EXPECT_EQ(data.at("traits").at("email").as_string(), " Ann@Example.COM ");
  const auto& seg = data.at("segment").as_object();
  EXPECT_EQ(seg.at("type").as_string(), "track");
  EXPECT_EQ(seg.at("event").as_string(), "Order Completed");
  EXPECT_EQ(seg.at("message_id").as_string(), "m-1");
  EXPECT_EQ(seg.at("conflicting_properties").at("segment").as_string(), "clash");
  EXPECT_FALSE(seg.at("context").as_object().contains("traits"));
  EXPECT_EQ(seg.at("context").at("library").at("name").as_string(), "analytics-node");
}

TEST(SegmentCodecTest, TimestampAloneOrNone) {
  auto only = Segment(R"({"anonymousId":"a1","event":"x","timestamp":"2026-01-01T00:00:00Z"})",
                      SegmentCall::kTrack);
  ASSERT_OK(only);
  EXPECT_EQ(only->events[0].event.time_us, *ParseRfc3339("2026-01-01T00:00:00Z"));
  EXPECT_EQ(only->events[0].event.customer, "anonymous_id:a1");
  auto none = Segment(R"({"anonymousId":"a1","event":"x"})", SegmentCall::kTrack);
  ASSERT_OK(none);
  EXPECT_FALSE(none->events[0].event.time_us.has_value());
  EXPECT_EQ(none->events[0].event.id, "");  // no messageId: no idempotency id
}

TEST(SegmentCodecTest, IdentifyTraitsBecomeIdentitiesAndData) {
  auto r = Segment(R"({"userId":42,"traits":{"email":"ann@example.com","phone":"+62 812 3456 789",
      "name":"Ann"},"context":{"traits":{"name":"Old","plan":"gold"}}})",
                   SegmentCall::kIdentify);
  ASSERT_OK(r);
  const Event& e = r->events[0].event;
  EXPECT_EQ(e.type, "user.identified");
  EXPECT_EQ(e.customer, "user_id:42");
  EXPECT_THAT(e.identities,
              ElementsAre(Identity{"email", "ann@example.com"}, Identity{"phone", "+628123456789"},
                          Identity{"user_id", "42"}));
  const auto traits = Data(r->events[0]).at("traits").as_object();
  EXPECT_EQ(traits.at("name").as_string(), "Ann");  // traits win over context.traits
  EXPECT_EQ(traits.at("plan").as_string(), "gold");
}

TEST(SegmentCodecTest, InvalidEmailStaysATraitOnly) {
  auto r = Segment(R"({"userId":"u1","traits":{"email":"not-an-email"}})", SegmentCall::kIdentify);
  ASSERT_OK(r);
  EXPECT_THAT(r->events[0].event.identities, ElementsAre(Identity{"user_id", "u1"}));
  EXPECT_EQ(Data(r->events[0]).at("traits").at("email").as_string(), "not-an-email");
}

TEST(SegmentCodecTest, AliasLinksPreviousIdOnUsersStream) {
  auto r = Segment(R"({"userId":"u1","previousId":"anon-9"})", SegmentCall::kAlias);
  ASSERT_OK(r);
  const Event& e = r->events[0].event;
  EXPECT_EQ(e.type, "user.aliased");
  EXPECT_EQ(e.customer, "user_id:u1");
  EXPECT_THAT(e.identities, ElementsAre(Identity{"anonymous_id", "anon-9"},
                                        Identity{"user_id", "anon-9"}, Identity{"user_id", "u1"}));
  EXPECT_EQ(Data(r->events[0]).at("previous_id").as_string(), "anon-9");
}

TEST(SegmentCodecTest, GroupKeepsAccountApartFromPersonTraits) {
  auto r =
      Segment(R"({"userId":"u1","groupId":"acme","traits":{"name":"Acme","email":"x@acme.io"}})",
              SegmentCall::kGroup);
  ASSERT_OK(r);
  const Event& e = r->events[0].event;
  EXPECT_EQ(e.type, "group.joined");
  EXPECT_THAT(e.identities, ElementsAre(Identity{"user_id", "u1"}));
  const auto data = Data(r->events[0]);
  EXPECT_EQ(data.at("group_id").as_string(), "acme");
  EXPECT_EQ(data.at("group").at("name").as_string(), "Acme");
  EXPECT_FALSE(data.contains("traits"));
}

TEST(SegmentCodecTest, PageAndScreen) {
  auto page =
      Segment(R"({"userId":"u1","name":"Pricing","category":"Docs","properties":{"url":"/p"}})",
              SegmentCall::kPage);
  ASSERT_OK(page);
  EXPECT_EQ(page->events[0].event.type, "page.viewed");
  EXPECT_EQ(Data(page->events[0]).at("segment").at("name").as_string(), "Pricing");
  auto screen = Segment(R"({"userId":"u1","name":"Home"})", SegmentCall::kScreen);
  ASSERT_OK(screen);
  EXPECT_EQ(screen->events[0].event.type, "screen.viewed");
}

TEST(SegmentCodecTest, BatchMergesSharedContextAndRefusesBadMessagesAlone) {
  auto r = Segment(R"({"sentAt":"2026-12-04T09:00:10Z","context":{"ip":"10.0.0.1","app":"a"},
      "integrations":{"All":false},"batch":[
        {"type":"track","userId":"u1","event":"A","messageId":"m1","context":{"app":"b"},
         "timestamp":"2026-12-04T09:00:00Z"},
        {"type":"track","event":"B","messageId":"m2"},
        {"type":"launch","userId":"u1"},
        {"type":"track","userId":"u1","messageId":"m4"},
        "text",
        {"type":"identify","anonymousId":"a1","messageId":"m6"}]})");
  ASSERT_OK(r);
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_THAT(r->index, ElementsAre(0u, 5u));
  EXPECT_THAT(r->message_ids, ElementsAre("m1", "m6"));
  EXPECT_EQ(r->events[0].event.time_us, kReceived - 10'000'000);
  const auto ctx = Data(r->events[0]).at("segment").at("context").as_object();
  EXPECT_EQ(ctx.at("ip").as_string(), "10.0.0.1");
  EXPECT_EQ(ctx.at("app").as_string(), "b");
  EXPECT_EQ(Data(r->events[0]).at("segment").at("integrations").at("All").as_bool(), false);
  ASSERT_EQ(r->refused.size(), 4u);
  EXPECT_EQ(r->refused[0].index, 1u);
  EXPECT_EQ(r->refused[0].message_id, "m2");
  EXPECT_THAT(r->refused[0].error, HasSubstr("userId or anonymousId is required"));
  EXPECT_THAT(r->refused[1].error, HasSubstr("batch[2].type"));
  EXPECT_THAT(r->refused[2].error, HasSubstr("batch[3].event: required"));
  EXPECT_THAT(r->refused[3].error, HasSubstr("must be an object"));
}

TEST(SegmentCodecTest, WholeRequestErrors) {
  EXPECT_THAT(Segment("{").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(Segment("").status(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(Segment(R"({"batch":{}})").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("batch: required")));
  EXPECT_THAT(Segment(R"({"batch":[]})").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("send 1 to 2500")));
  EXPECT_THAT(Segment(R"({"event":"x"})", SegmentCall::kTrack).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("userId or anonymousId")));
  EXPECT_THAT(
      Segment(R"({"userId":"u","event":"x","properties":[1]})", SegmentCall::kTrack).status(),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("track.properties: must be an object")));
  EXPECT_THAT(Segment(R"({"userId":"u","event":"x","timestamp":"yesterday"})", SegmentCall::kTrack)
                  .status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("track.timestamp")));
  EXPECT_THAT(Segment(R"({"userId":"u","event":"x","messageId":")" + std::string(121, 'm') + "\"}",
                      SegmentCall::kTrack)
                  .status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("track.messageId")));
  EXPECT_THAT(Segment(R"({"userId":{"a":1}})", SegmentCall::kIdentify).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("identify.userId")));
  EXPECT_THAT(Segment(R"({"userId":"u"})", SegmentCall::kGroup).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("group.groupId: required")));
  EXPECT_THAT(Segment(R"({"userId":"u"})", SegmentCall::kAlias).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("alias.previousId: required")));
}

TEST(SegmentCodecTest, SizeLimits) {
  const std::string big = std::string(R"({"userId":"u","event":"x","properties":{"p":")") +
                          std::string(33 * 1024, 'a') + "\"}}";
  EXPECT_THAT(Segment(big, SegmentCall::kTrack).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 32768 bytes")));
  // In a batch, an oversized message is refused alone.
  const std::string batch = R"({"batch":[{"type":"track","userId":"u","event":"x"},)" +
                            big.substr(0, big.size() - 1) + R"(,"type":"track"}]})";
  auto r = Segment(batch);
  ASSERT_OK(r);
  EXPECT_EQ(r->events.size(), 1u);
  ASSERT_EQ(r->refused.size(), 1u);
  EXPECT_THAT(r->refused[0].error, HasSubstr("at most 32768"));
  std::string too_many = R"({"batch":[)";
  for (int i = 0; i < 2501; ++i) {
    too_many += std::string(i ? "," : "") + R"({"type":"track","userId":"u","event":"x"})";
  }
  too_many += "]}";
  EXPECT_THAT(Segment(too_many).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("has 2501 messages")));
  const std::string huge = R"({"batch":[],"pad":")" + std::string(501 * 1024, 'a') + "\"}";
  EXPECT_THAT(Segment(huge).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("a batch may be at most 512000")));
}

TEST(SegmentCodecTest, AliasNeedsUserId) {
  EXPECT_THAT(Segment(R"({"anonymousId":"a","previousId":"p"})", SegmentCall::kAlias).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("alias.userId: required")));
}

TEST(SegmentCodecTest, BoundsTheSharedContextAndManyKeys) {
  std::string context = "{";
  for (int i = 0; i < 5000; ++i) {
    context += std::string(i ? "," : "") + "\"k" + std::to_string(i) + "\":1";
  }
  context += "}";
  EXPECT_THAT(
      Segment(R"({"context":)" + context + R"(,"batch":[{"type":"page","userId":"u"}]})").status(),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("batch body.context: at most")));
  // Thousands of keys in one message merge by hash; the last value wins.
  std::string own = "{";
  for (int i = 0; i < 2500; ++i) {
    own += std::string(i ? "," : "") + "\"k" + std::to_string(i) + "\":1";
  }
  auto r = Segment(R"({"batch":[{"type":"page","userId":"u","context":)" + own + R"(,"k7":2}}]})");
  ASSERT_OK(r);
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(Data(r->events[0]).at("segment").at("context").at("k7").as_int64(), 2);
}

TEST(SegmentCodecTest, FindsTheBodyWriteKey) {
  EXPECT_EQ(FindWriteKey(R"({"batch":[],"writeKey":"tl_abc"})"), "tl_abc");
  EXPECT_EQ(FindWriteKey(R"({"batch":[]})"), "");
  EXPECT_EQ(FindWriteKey(R"({"writeKey":7})"), "");
  EXPECT_EQ(FindWriteKey("not json"), "");
}

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(CloudEventsCodecTest, PicksTheMode) {
  EXPECT_EQ(CloudEventsModeFor("application/cloudevents+json; charset=utf-8", false),
            CloudEventsMode::kStructured);
  EXPECT_EQ(CloudEventsModeFor("Application/CloudEvents-Batch+JSON", false),
            CloudEventsMode::kBatch);
  EXPECT_EQ(CloudEventsModeFor("application/json", true), CloudEventsMode::kBinary);
  EXPECT_EQ(CloudEventsModeFor("application/json", false), std::nullopt);
  EXPECT_EQ(CloudEventsModeFor("application/cloudevents+avro", true), std::nullopt);
}

TEST(CloudEventsCodecTest, BinaryModeMapsAttributes) {
  const Headers h = {{"specversion", "1.0"},
                     {"id", "t-1"},
                     {"source", "/crm%20eu"},
                     {"type", "com.example.Ticket.Opened"},
                     {"subject", "email:Ann@Example.com"},
                     {"time", "2026-12-04T08:00:00+07:00"},
                     {"channel", "email"},
                     {"department", "support"},
                     {"identities", "user_id:u1, phone:+6281234567"},
                     {"traceid", "abc"}};
  auto r = ParseBinaryCloudEvent(h, "application/json; charset=utf-8",
                                 R"({"subject":"Login broken","cloudevents":1})", 64);
  ASSERT_OK(r);
  const Event& e = r->events[0].event;
  EXPECT_EQ(e.id.substr(0, 3), "ce:");
  EXPECT_EQ(e.id.size(), 35u);
  EXPECT_EQ(e.type, "com.example.ticket.opened");
  EXPECT_EQ(e.channel, "email");
  EXPECT_EQ(e.department, "support");
  EXPECT_EQ(e.time_us, *ParseRfc3339("2026-12-04T01:00:00Z"));
  EXPECT_EQ(e.customer, "user_id:u1");
  EXPECT_THAT(e.identities,
              ElementsAre(Identity{"email", "ann@example.com"}, Identity{"phone", "+6281234567"},
                          Identity{"user_id", "u1"}));
  const auto data = Data(r->events[0]);
  EXPECT_EQ(data.at("subject").as_string(), "Login broken");
  const auto& ce = data.at("cloudevents").as_object();
  EXPECT_EQ(ce.at("source").as_string(), "/crm eu");
  EXPECT_EQ(ce.at("id").as_string(), "t-1");
  EXPECT_EQ(ce.at("type").as_string(), "com.example.Ticket.Opened");
  EXPECT_EQ(ce.at("extensions").at("traceid").as_string(), "abc");
  EXPECT_EQ(ce.at("conflicting_data").as_int64(), 1);
  EXPECT_EQ(r->message_ids[0], "t-1");
}

TEST(CloudEventsCodecTest, IdIsSourceAndIdWithoutAmbiguity) {
  const auto id_of = [](std::string source, std::string id) {
    const Headers h = {
        {"specversion", "1.0"}, {"id", id}, {"source", source}, {"type", "t"}, {"subject", "c1"}};
    auto r = ParseBinaryCloudEvent(h, "", "", 64);
    return r.ok() ? r->events[0].event.id : r.status().ToString();
  };
  EXPECT_EQ(id_of("/a", "1"), id_of("/a", "1"));
  EXPECT_NE(id_of("/a", "1"), id_of("/b", "1"));
  EXPECT_NE(id_of("/a1", "2"), id_of("/a", "12"));
}

TEST(CloudEventsCodecTest, ResourceSubjectsLinkNoOneAndSystemStreamsAreRefused) {
  const auto parse = [](std::string subject) {
    const Headers h = {{"specversion", "1.0"},
                       {"id", "1"},
                       {"source", "s"},
                       {"type", "t"},
                       {"subject", std::move(subject)}};
    return ParseBinaryCloudEvent(h, "", "", 64);
  };
  auto urn = parse("urn:order:42");
  ASSERT_OK(urn);
  EXPECT_EQ(urn->events[0].event.customer, "urn:order:42");
  EXPECT_TRUE(urn->events[0].event.identities.empty());
  auto custom = parse("crm.contact_id:C-9");
  ASSERT_OK(custom);
  EXPECT_THAT(custom->events[0].event.identities, ElementsAre(Identity{"crm.contact_id", "C-9"}));
  EXPECT_THAT(parse("customer:~access").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'~'")));
  EXPECT_THAT(parse("~reminder-rules").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'~'")));
  // In a batch such an item is refused alone, with its id.
  auto batch = ParseStructuredCloudEvents(
      R"([{"specversion":"1.0","id":"x1","source":"s","type":"a","subject":"customer:~k"},
          {"specversion":"1.0","id":"x2","source":"s","type":"a","subject":"c"},
          {"specversion":"1.0","id":"x3","source":"s","type":"a","subject":"c","bad":[1]}])",
      true, 100, 64);
  ASSERT_OK(batch);
  EXPECT_THAT(batch->index, ElementsAre(1u));
  ASSERT_EQ(batch->refused.size(), 2u);
  EXPECT_EQ(batch->refused[0].message_id, "x1");
  EXPECT_EQ(batch->refused[1].message_id, "x3");
}

TEST(CloudEventsCodecTest, BinaryBodiesByContentType) {
  const Headers h = {{"specversion", "1.0"},
                     {"id", "1"},
                     {"source", "s"},
                     {"type", "t"},
                     {"subject", "customer:c-9"}};
  auto text = ParseBinaryCloudEvent(h, "text/plain", "Pelayanan bagus", 64);
  ASSERT_OK(text);
  EXPECT_EQ(text->events[0].event.customer, "c-9");
  EXPECT_EQ(Data(text->events[0]).at("text").as_string(), "Pelayanan bagus");
  auto bin = ParseBinaryCloudEvent(h, "application/octet-stream", std::string("\x00\xff", 2), 64);
  ASSERT_OK(bin);
  EXPECT_EQ(Data(bin->events[0]).at("data_base64").as_string(), "AP8=");
  auto array = ParseBinaryCloudEvent(h, "application/json", "[1,2]", 64);
  ASSERT_OK(array);
  EXPECT_EQ(Data(array->events[0]).at("value").as_array().size(), 2u);
  EXPECT_THAT(ParseBinaryCloudEvent(h, "application/json", "{", 64).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
}

TEST(CloudEventsCodecTest, BinaryModeErrors) {
  const auto err = [](Headers h) { return ParseBinaryCloudEvent(h, "", "", 64).status(); };
  const Headers ok = {
      {"specversion", "1.0"}, {"id", "1"}, {"source", "s"}, {"type", "t"}, {"subject", "c"}};
  Headers h = ok;
  h[0].second = "0.3";
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("specversion: must be")));
  h = ok;
  h.erase(h.begin() + 2);
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("source: required")));
  h = ok;
  h[2].second = "50%";
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("ce-source: bad percent")));
  h = ok;
  h[2].second = "%C3%28";
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid UTF-8")));
  h = ok;
  h.emplace_back("id", "2");
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("more than once")));
  h = ok;
  h.emplace_back("Bad_Name", "x");
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("a-z and 0-9")));
  h = ok;
  h.pop_back();
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("subject: required")));
  h = ok;
  h.emplace_back("time", "noon");
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("cloudevent.time")));
  h = ok;
  h[4].second = "email:nope";
  EXPECT_THAT(err(h), StatusIs(StatusCode::kInvalidArgument, HasSubstr("subject")));
}

TEST(CloudEventsCodecTest, StructuredAndBatched) {
  auto one = ParseStructuredCloudEvents(
      R"({"specversion":"1.0","id":"1","source":"s","type":"review.posted","subject":"user_id:u1",
          "datacontenttype":"text/plain","data":"Mantap","rating":5,"internal":false})",
      false, 100, 64);
  ASSERT_OK(one);
  const auto data = Data(one->events[0]);
  EXPECT_EQ(data.at("text").as_string(), "Mantap");
  EXPECT_EQ(data.at("cloudevents").at("extensions").at("rating").as_int64(), 5);
  EXPECT_EQ(data.at("cloudevents").at("extensions").at("internal").as_bool(), false);

  auto batch = ParseStructuredCloudEvents(
      R"([{"specversion":"1.0","id":"1","source":"s","type":"a","subject":"c","data":{"k":1}},
          {"specversion":"1.0","id":"2","source":"s","type":"a","subject":"c","data":1,
           "data_base64":"AA=="},
          {"specversion":"1.0","id":"3","source":"s","type":"a","subject":"c","data_base64":"!"},
          {"specversion":"1.0","id":"4","source":"s","type":"a","subject":"c","x":{"o":1}},
          {"specversion":"1.0","id":"5","source":"s","type":"a","subject":"c","data_base64":"AP8="}])",
      true, 100, 64);
  ASSERT_OK(batch);
  EXPECT_THAT(batch->index, ElementsAre(0u, 4u));
  ASSERT_EQ(batch->refused.size(), 3u);
  EXPECT_THAT(batch->refused[0].error, HasSubstr("not both"));
  EXPECT_THAT(batch->refused[1].error, HasSubstr("[2].data_base64"));
  EXPECT_THAT(batch->refused[2].error, HasSubstr("[3].x"));
  EXPECT_EQ(Data(batch->events[1]).at("data_base64").as_string(), "AP8=");

  EXPECT_THAT(ParseStructuredCloudEvents("[]", true, 100, 64).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("send 1 to 100")));
  EXPECT_THAT(ParseStructuredCloudEvents("{}", true, 100, 64).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be a JSON array")));
  EXPECT_THAT(ParseStructuredCloudEvents("[1]", false, 100, 64).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be a JSON object")));
}

TEST(IngestOutcomeTest, CombinesParseAndLogRefusalsInOrder) {
  IngestBatch batch;
  batch.events.resize(3);
  batch.index = {0, 2, 3};
  batch.message_ids = {"a", "c", "d"};
  batch.refused.push_back(IngestRefusal{1, "b", "bad"});
  store::AppendResult result;
  result.events = {AppendedEvent{7, 1, false, {}}, AppendedEvent{3, 1, true, {}},
                   AppendedEvent{0, 0, false, Status::FailedPrecondition("erased")}};
  const IngestOutcome out = CombineOutcome(batch, {"segment:a", "segment:c", "segment:d"}, result);
  EXPECT_EQ(out.accepted, 1u);
  EXPECT_EQ(out.duplicates, 1u);
  ASSERT_EQ(out.refused.size(), 2u);
  EXPECT_EQ(out.refused[0].index, 1u);
  EXPECT_EQ(out.refused[1].index, 3u);
  EXPECT_EQ(out.refused[1].error, "erased");
  const auto json = boost::json::parse(RenderIngestAnswer(out, true)).as_object();
  EXPECT_EQ(json.at("accepted").as_int64(), 1);
  EXPECT_EQ(json.at("refused").as_array().size(), 2u);
  EXPECT_EQ(json.at("events").at(1).at("id").as_string(), "segment:c");
  EXPECT_EQ(json.at("events").at(1).at("duplicate").as_bool(), true);
}

TEST(IngestRefusalsTest, KeepsTheNewestPerActor) {
  IngestRefusals refusals(2);
  refusals.Record("a", "POST /v1/batch", 1, {{0, "m0", "e0"}, {1, "m1", "e1"}});
  refusals.Record("a", "POST /v1/batch", 2, {{5, "m5", "e5"}});
  refusals.Record("b", "POST /v1/cloudevents", 3, {{0, "x", "ex"}});
  const auto mine = boost::json::parse(refusals.Render("a", 100)).at("refusals").as_array();
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].at("message_id").as_string(), "m5");
  EXPECT_EQ(mine[1].at("message_id").as_string(), "m1");
  const auto all = boost::json::parse(refusals.Render("", 2)).at("refusals").as_array();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].at("actor").as_string(), "b");
}

}  // namespace
}  // namespace touchline::api
