// Campaign reminders against the real touchlined and a real local HTTP
// receiver: rule CRUD over HTTP, webhook delivery with failures, Retry-After
// and a stable idempotency key, non-retryable statuses, the final failure
// event, and the queries.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"
#include "tests/support/webhook_receiver.h"

namespace touchline::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace json = boost::json;

class RemindersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"));
    ASSERT_OK(server_->Start());
    http_ = std::make_unique<HttpClient>(server_->port());
  }

  HttpResponse Send(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    auto r = http_->Request(method, target, body, {{"Content-Type", "application/json"}});
    EXPECT_OK(r);
    return r.ok() ? *r : HttpResponse{};
  }
  json::value Json(const HttpResponse& r) {
    json::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v;
  }
  Seq Post(const std::string& events) {
    HttpResponse r = Send("POST", "/v1/events", events);
    EXPECT_EQ(r.status, 201) << r.body;
    return static_cast<Seq>(Json(r).at("events").at(0).at("seq").as_int64());
  }
  // Polls GET /v1/reminders/{id} until its status is `status` (20 s).
  json::object WaitFor(const std::string& id, const std::string& status) {
    json::object last;
    for (int i = 0; i < 400; ++i) {
      HttpResponse r = Send("GET", "/v1/reminders/" + id);
      if (r.status == 200) {
        last = Json(r).as_object();
        if (last.at("status") == status.c_str()) {
          return last;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << id << " never became " << status << ": " << json::serialize(last);
    return last;
  }
  std::vector<std::string> Types(const std::string& customer) {
    HttpResponse r = Send("GET", "/v1/customers/" + customer + "/timeline?limit=100");
    std::vector<std::string> out;
    const json::value v = Json(r);
    for (const auto& e : v.at("events").as_array()) {
      out.insert(out.begin(), std::string(e.at("type").as_string()));
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
  WebhookReceiver receiver_;
};

TEST_F(RemindersTest, RuleLifecycleOverHttp) {
  const std::string rule = R"({"id":"cart-1d","campaign":"cart","offset":"1d",
      "trigger":{"event":"cart.abandoned"},"cancel_on":["purchase.completed"],
      "deliver":{"queue":"sales"}})";
  HttpResponse bad = Send("POST", "/v1/reminder-rules", R"({"id":"x","campaign":"c"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("trigger: required"));
  auto plain = http_->Request("POST", "/v1/reminder-rules", rule, {{"Content-Type", "text/plain"}});
  ASSERT_OK(plain);
  EXPECT_EQ(plain->status, 415);
  HttpResponse created = Send("POST", "/v1/reminder-rules", rule);
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Json(created).at("rule").at("id"), "cart-1d");
  EXPECT_EQ(Send("POST", "/v1/reminder-rules", rule).status, 409);
  EXPECT_EQ(Json(Send("GET", "/v1/reminder-rules")).at("rules").as_array().size(), 1u);

  HttpResponse put = Send("PUT", "/v1/reminder-rules/cart-1d",
                          R"({"campaign":"cart","offset":"2d","trigger":{"event":"cart.abandoned"},
                              "deliver":{"queue":"sales"}})");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Json(Send("GET", "/v1/reminder-rules/cart-1d")).at("rule").at("offset"), "2d");
  EXPECT_EQ(Send("PUT", "/v1/reminder-rules/nope", rule).status, 400);  // id mismatch
  EXPECT_EQ(Send("DELETE", "/v1/reminder-rules/cart-1d").status, 200);
  EXPECT_EQ(Send("GET", "/v1/reminder-rules/cart-1d").status, 404);
  EXPECT_EQ(Send("DELETE", "/v1/reminder-rules/cart-1d").status, 404);
  // The rule changes are events in the log.
  EXPECT_THAT(
      Types("~reminder-rules"),
      ElementsAre("reminder_rule.created", "reminder_rule.updated", "reminder_rule.deleted"));
}

TEST_F(RemindersTest, WebhookRetriesHonourRetryAfterWithAStableKey) {
  receiver_.Script({{503, {{"Retry-After", "1"}}}, {500, {}}, {200, {}}});
  HttpResponse created = Send("POST", "/v1/reminder-rules",
                              R"({"id":"hook","campaign":"renewals","offset":"1s",
                                  "trigger":{"event":"cart.abandoned"},
                                  "deliver":{"webhook":")" +
                                  receiver_.url() + R"("}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const Seq cart = Post(R"({"customer":"c-1","type":"cart.abandoned"})");
  const std::string id = "hook." + std::to_string(cart);
  const json::object sent = WaitFor(id, "sent");
  ASSERT_EQ(sent.at("attempts").as_array().size(), 3u) << json::serialize(sent);
  EXPECT_EQ(sent.at("attempts").at(0).at("http_status"), 503);
  EXPECT_EQ(sent.at("attempts").at(1).at("http_status"), 500);
  EXPECT_EQ(sent.at("attempts").at(2).at("http_status"), 200);

  const auto got = receiver_.requests();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/hook");
    EXPECT_EQ(r.headers.at("idempotency-key"), id);
    EXPECT_EQ(json::parse(r.body).at("reminder"), id.c_str());
  }
  EXPECT_THAT(Types("c-1"),
              ElementsAre("cart.abandoned", "reminder.due", "reminder.delivery_failed",
                          "reminder.delivery_failed", "reminder.sent"));
  const json::value campaign = Json(Send("GET", "/v1/campaigns/renewals"));
  EXPECT_EQ(campaign.at("counts").at("sent"), 1);
  EXPECT_EQ(campaign.at("pending"), 0);
}

TEST_F(RemindersTest, NonRetryableStatusAndGivingUpAppendTheFailure) {
  receiver_.Script({{404, {}}, {500, {}}, {500, {}}});
  ASSERT_EQ(Send("POST", "/v1/reminder-rules",
                 R"({"id":"hook","campaign":"c","offset":"1s","trigger":{"event":"x.y"},
                     "deliver":{"webhook":")" +
                     receiver_.url() + R"(","max_attempts":2}})")
                .status,
            201);
  const Seq a = Post(R"({"customer":"c-1","type":"x.y"})");
  const json::object first = WaitFor("hook." + std::to_string(a), "failed");
  EXPECT_THAT(std::string(first.at("reason").as_string()), HasSubstr("404 (not retried)"));
  EXPECT_EQ(first.at("attempts").as_array().size(), 1u);

  const Seq b = Post(R"({"customer":"c-2","type":"x.y"})");
  const json::object second = WaitFor("hook." + std::to_string(b), "failed");
  EXPECT_THAT(std::string(second.at("reason").as_string()), HasSubstr("gave up after 2"));
  EXPECT_THAT(Types("c-2"),
              ElementsAre("x.y", "reminder.due", "reminder.delivery_failed", "reminder.failed"));
  EXPECT_EQ(receiver_.requests().size(), 3u);
}

TEST_F(RemindersTest, QueriesByStatusCampaignCustomerAndDueTime) {
  ASSERT_EQ(Send("POST", "/v1/reminder-rules",
                 R"({"id":"later","campaign":"winback","offset":"30d",
                     "trigger":{"event":"cart.abandoned"},"cancel_on":["purchase"],
                     "deliver":{"queue":"sales"}})")
                .status,
            201);
  // A campaign a rule names exists before anything is scheduled.
  const json::value empty = Json(Send("GET", "/v1/campaigns/winback"));
  EXPECT_EQ(empty.at("counts").at("scheduled"), 0);
  EXPECT_EQ(empty.at("pending"), 0);
  const Seq one = Post(R"({"customer":"c-1","type":"cart.abandoned"})");
  Post(R"({"customer":"c-2","type":"cart.abandoned"})");
  Post(R"({"customer":"c-2","type":"purchase.completed"})");
  const json::value pending = Json(Send("GET", "/v1/reminders?status=pending&campaign=winback"));
  ASSERT_EQ(pending.at("reminders").as_array().size(), 1u);
  EXPECT_EQ(pending.at("reminders").at(0).at("id"), ("later." + std::to_string(one)).c_str());
  EXPECT_EQ(Json(Send("GET", "/v1/reminders?status=cancelled")).at("reminders").as_array().size(),
            1u);
  EXPECT_EQ(Json(Send("GET", "/v1/reminders?due_before=2020-01-01T00:00:00Z"))
                .at("reminders")
                .as_array()
                .size(),
            0u);
  EXPECT_EQ(Send("GET", "/v1/reminders?status=lost").status, 400);
  EXPECT_EQ(Send("GET", "/v1/reminders?due_before=soon").status, 400);
  const json::value mine = Json(Send("GET", "/v1/customers/c-2/reminders"));
  ASSERT_EQ(mine.at("reminders").as_array().size(), 1u);
  EXPECT_EQ(mine.at("reminders").at(0).at("status"), "cancelled");
  EXPECT_EQ(mine.at("reminders").at(0).at("reason"), "conversion");
  const json::value campaign = Json(Send("GET", "/v1/campaigns/winback"));
  EXPECT_EQ(campaign.at("counts").at("scheduled"), 2);
  EXPECT_EQ(campaign.at("counts").at("cancelled_by_conversion"), 1);
  EXPECT_EQ(campaign.at("pending"), 1);
  EXPECT_EQ(Send("GET", "/v1/campaigns/nothing").status, 404);
  EXPECT_EQ(Send("GET", "/v1/reminders/nothing.1").status, 404);
}

}  // namespace
}  // namespace touchline::testing
