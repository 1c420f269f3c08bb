// The sink's formats: definitions, the registry's fold, the CloudEvents it
// sends and the Standard Webhooks signature.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "sinks/cloudevent_out.h"
#include "sinks/sink_definition.h"
#include "sinks/sink_registry.h"
#include "tests/support/status_matchers.h"

namespace touchline::sinks {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using touchline::testing::StatusIs;

TEST(SinkDefinitionTest, ParsesEveryFieldAndEncodesCanonically) {
  ASSERT_OK_AND_ASSIGN(auto c,
                       ParseSinkCreate(R"({"id":"crm-1","url":"http://crm.local:8080/in?x=1",
      "description":"to the CRM","mode":"batch","batch_size":250,"handshake":true,"start":17,
      "filter":{"types":["purchase","ticket.opened","purchase"],"channels":["email"],
                "customers":["c-1"],"departments":["support"]}})"));
  const SinkDefinition& d = c.definition;
  EXPECT_EQ(d.id, "crm-1");
  EXPECT_EQ(d.url, "http://crm.local:8080/in?x=1");
  EXPECT_EQ(d.mode, SinkMode::kBatch);
  EXPECT_EQ(d.batch_size, 250u);
  EXPECT_TRUE(d.handshake);
  EXPECT_EQ(c.start.from, SinkStart::From::kSeq);
  EXPECT_EQ(c.start.seq, 17u);
  EXPECT_EQ(d.filter.types, (std::vector<std::string>{"purchase", "ticket.opened"}));
  const std::string encoded = EncodeSinkDefinition(d);
  ASSERT_OK_AND_ASSIGN(auto back, DecodeSinkDefinition(encoded));
  EXPECT_EQ(EncodeSinkDefinition(back), encoded);
  EXPECT_THAT(encoded, HasSubstr(R"("mode":"batch","batch_size":250,"handshake":true)"));
}

TEST(SinkDefinitionTest, DefaultsAreStructuredFromTheEnd) {
  ASSERT_OK_AND_ASSIGN(auto c, ParseSinkCreate(R"({"id":"a","url":"http://h/"})"));
  EXPECT_EQ(c.definition.mode, SinkMode::kStructured);
  EXPECT_EQ(c.definition.batch_size, 1u);
  EXPECT_FALSE(c.definition.handshake);
  EXPECT_EQ(c.start.from, SinkStart::From::kEnd);
  ASSERT_OK_AND_ASSIGN(auto b, ParseSinkCreate(R"({"id":"a","url":"http://h/","mode":"batch",
                                                   "start":"beginning"})"));
  EXPECT_EQ(b.definition.batch_size, 100u);
  EXPECT_EQ(b.start.from, SinkStart::From::kBeginning);
}

TEST(SinkDefinitionTest, EachMistakeNamesItsField) {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "JSON object"},
      {"{", "not valid JSON"},
      {R"({"url":"http://h/"})", "id: is required"},
      {R"({"id":"a"})", "url: is required"},
      {R"({"id":"A b","url":"http://h/"})", "id: must be 1-64"},
      {R"({"id":"a","url":"ftp://h/"})", "url: must be an absolute http:// or https:// URL"},
      {R"({"id":"a","url":"http://u:p@h/"})", "credentials"},
      {R"({"id":"a","url":"h/x"})", "url: must be an absolute"},
      {R"({"id":"a","url":"https:///x"})", "with a host"},
      {R"({"id":"a","url":"http://h/","mode":"fast"})", "mode: must be"},
      {R"({"id":"a","url":"http://h/","mode":"batch","batch_size":1001})", "batch_size"},
      {R"({"id":"a","url":"http://h/","batch_size":10})", "applies to \"mode\": \"batch\""},
      {R"({"id":"a","url":"http://h/","handshake":"yes"})", "handshake"},
      {R"({"id":"a","url":"http://h/","start":0})", "start: must be"},
      {R"({"id":"a","url":"http://h/","filter":{"types":["Bad Type"]}})", "filter.types[0]"},
      {R"({"id":"a","url":"http://h/","filter":{"types":"purchase"}})", "filter.types: must be"},
      {R"({"id":"a","url":"http://h/","filter":{"segments":[]}})", "filter.segments"},
      {R"({"id":"a","url":"http://h/","secret":"x"})", "secret: is not a sink field"},
  };
  for (const auto& [body, want] : cases) {
    EXPECT_THAT(ParseSinkCreate(body), StatusIs(StatusCode::kInvalidArgument, HasSubstr(want)))
        << body;
  }
}

store::Record MakeRecord(std::string customer, std::string type, std::string channel = "",
                         std::string department = "") {
  store::Record r;
  r.seq = 7;
  r.customer = std::move(customer);
  r.type = std::move(type);
  r.channel = std::move(channel);
  r.department = std::move(department);
  return r;
}

TEST(SinkFilterTest, ListsCombineWithAndAndTypesAreDottedPrefixes) {
  SinkFilter f;
  f.types = {"purchase"};
  f.channels = {"email", "web"};
  EXPECT_TRUE(f.Matches(MakeRecord("c-1", "purchase.completed", "web")));
  EXPECT_FALSE(f.Matches(MakeRecord("c-1", "purchases.completed", "web")));
  EXPECT_FALSE(f.Matches(MakeRecord("c-1", "purchase.completed", "")));
  f.departments = {"sales"};
  EXPECT_FALSE(f.Matches(MakeRecord("c-1", "purchase.completed", "web", "support")));
  EXPECT_TRUE(f.Matches(MakeRecord("c-1", "purchase", "email", "sales")));
  SinkFilter all;
  EXPECT_TRUE(all.Matches(MakeRecord("c-1", "note.added")));
  EXPECT_FALSE(all.Matches(MakeRecord("~sinks", "sink.created")));
  all.customers = {"c-2"};
  EXPECT_FALSE(all.Matches(MakeRecord("c-1", "note.added")));
  EXPECT_TRUE(all.Matches(MakeRecord("c-2", "note.added")));
}

TEST(SinkRegistryTest, FoldsTheLifecycle) {
  SinkRegistry reg;
  SinkDefinition d;
  d.id = "crm";
  d.url = "http://h/";
  auto apply = [&](Seq seq, const Event& e) {
    return reg.Apply(SinkEvent{seq, seq, e.type, "admin", 1000, e.data});
  };
  ASSERT_OK(apply(1, SinkCreatedEvent(d, 5, "ref1")));
  const SinkState* s = reg.Find("crm");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->start_seq, 5u);
  EXPECT_EQ(s->secret_ref, "ref1");
  EXPECT_EQ(s->created_by, "admin");
  ASSERT_OK(apply(2, SinkChangeEvent("sink.paused", "crm")));
  EXPECT_EQ(reg.Find("crm")->status, SinkStatus::kPaused);
  // About another incarnation of the id: ignored.
  ASSERT_OK(apply(3, SinkDisabledEvent("crm", 99, 410, "stale")));
  EXPECT_EQ(reg.Find("crm")->status, SinkStatus::kPaused);
  ASSERT_OK(apply(3, SinkDisabledEvent("crm", 1, 410, "gone")));
  EXPECT_EQ(reg.Find("crm")->status, SinkStatus::kDisabled);
  EXPECT_EQ(reg.Find("crm")->disabled_reason, "gone");
  ASSERT_OK(apply(4, SinkChangeEvent("sink.resumed", "crm")));
  EXPECT_EQ(reg.Find("crm")->status, SinkStatus::kActive);
  ASSERT_OK(apply(5, SinkReplayedEvent("crm", 2)));
  EXPECT_EQ(reg.Find("crm")->generation, 1u);
  EXPECT_EQ(reg.Find("crm")->replay_from, 2u);
  ASSERT_OK(apply(6, SinkChangeEvent("sink.deleted", "crm")));
  EXPECT_EQ(reg.Find("crm"), nullptr);
  EXPECT_EQ(reg.version(), 6u);
  // A change to a sink deleted since is nothing; a malformed event is DataLoss.
  ASSERT_OK(apply(7, SinkChangeEvent("sink.paused", "crm")));
  EXPECT_THAT(reg.Apply(SinkEvent{8, 8, "sink.created", "a", 0, "{}"}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("seq 8")));
  EXPECT_THAT(reg.Apply(SinkEvent{9, 9, "sink.renamed", "a", 0, R"({"id":"x"})"}),
              StatusIs(StatusCode::kDataLoss));
}

TEST(CloudEventOutTest, ARecordAsAStructuredCloudEvent) {
  store::Record r = MakeRecord("c-1", "order.completed", "web", "sales");
  r.seq = 42;
  r.id = "evt-1";
  r.actor = "crm-sync";
  r.time_us = 1'796'400'000'000'000;
  r.recorded_at_us = r.time_us + 1'500'000;
  r.identities = {Identity{"email", "a@b.c"}, Identity{"user_id", "u-1"}};
  r.json = R"({"seq":42,"customer":"c-1","data":{"total":9.5,"s":"q\"uote"}})";
  std::string out;
  AppendCloudEvent(r, "urn:touchline:test", &out);
  boost::system::error_code ec;
  json::value v = json::parse(out, ec);
  ASSERT_FALSE(ec) << out;
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("specversion"), "1.0");
  EXPECT_EQ(o.at("id"), "42");
  EXPECT_EQ(o.at("source"), "urn:touchline:test");
  EXPECT_EQ(o.at("type"), "order.completed");
  EXPECT_EQ(o.at("subject"), "c-1");
  EXPECT_EQ(o.at("time"), "2026-12-04T16:00:00Z");
  EXPECT_EQ(o.at("recordedat"), "2026-12-04T16:00:01.500Z");
  EXPECT_EQ(o.at("datacontenttype"), "application/json");
  EXPECT_EQ(o.at("data").at("s"), "q\"uote");
  EXPECT_EQ(o.at("seq"), 42);
  EXPECT_EQ(o.at("actor"), "crm-sync");
  EXPECT_EQ(o.at("eventid"), "evt-1");
  EXPECT_EQ(o.at("channel"), "web");
  EXPECT_EQ(o.at("department"), "sales");
  EXPECT_EQ(o.at("identities"), "email:a@b.c,user_id:u-1");
  EXPECT_FALSE(o.contains("erased"));
}

TEST(CloudEventOutTest, AnErasedRecordCarriesNoDataNorIdentities) {
  store::Record r = MakeRecord("c-1", "profile.updated");
  r.erased = true;
  r.identities = {Identity{"email", "a@b.c"}};
  r.json = R"({"seq":7,"customer":"c-1","data":"[erased]"})";
  std::string out;
  AppendCloudEvent(r, "s", &out);
  json::value v = json::parse(out);
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("erased"), true);
  EXPECT_FALSE(o.contains("data"));
  EXPECT_FALSE(o.contains("datacontenttype"));
  EXPECT_FALSE(o.contains("identities"));
  EXPECT_EQ(o.at("type"), "profile.updated");
}

TEST(WebhookSignatureTest, MatchesTheStandardWebhooksExample) {
  // The example of the Standard Webhooks specification, checked with
  // Python's hmac module.
  EXPECT_THAT(
      SignWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                  1614265330, R"({"test": 2432232314})"),
      testing::IsOkAndHolds(std::string("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")));
  EXPECT_THAT(SignWebhook("MfKQ9r8", "m", 1, "{}"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SignWebhook("whsec_!!", "m", 1, "{}"), StatusIs(StatusCode::kInvalidArgument));
  const std::string a = NewWebhookSecret(), b = NewWebhookSecret();
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("whsec_"));
  EXPECT_EQ(a.size(), 6u + 44u);  // 32 bytes in base64
  EXPECT_OK(SignWebhook(a, "m", 1, "{}"));
}

}  // namespace
}  // namespace touchline::sinks
