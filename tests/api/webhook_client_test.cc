#include "api/webhook_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/webhook_receiver.h"

namespace touchline::api {
namespace {

using ::testing::HasSubstr;
using touchline::testing::WebhookReceiver;

HttpCall Post(std::string url, std::string key, std::string body) {
  HttpCall c;
  c.url = std::move(url);
  c.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", std::move(key)}};
  c.body = std::move(body);
  return c;
}

TEST(WebhookClientTest, PostsWithTheIdempotencyKeyAndReadsRetryAfter) {
  WebhookReceiver receiver;
  receiver.Script({{503, {{"Retry-After", "7"}}}, {200, {}}});
  WebhookClient client(std::chrono::seconds(5));
  auto first = client.Send(Post(receiver.url("/r?x=1"), "rem.1", R"({"a":1})"));
  EXPECT_EQ(first.status, 503);
  ASSERT_TRUE(first.retry_after_us.has_value());
  EXPECT_EQ(*first.retry_after_us, 7'000'000);
  auto second = client.Send(Post(receiver.url("/r?x=1"), "rem.1", R"({"a":1})"));
  EXPECT_EQ(second.status, 200);
  const auto got = receiver.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].target, "/r?x=1");
  EXPECT_EQ(got[0].headers.at("idempotency-key"), "rem.1");
  EXPECT_EQ(got[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(got[0].body, R"({"a":1})");
}

TEST(WebhookClientTest, AReceiverThatNeverAnswersTimesOut) {
  WebhookReceiver receiver;
  receiver.Script({{0, {}}});
  WebhookClient client(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client.Send(Post(receiver.url(), "k", "{}"));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.error, HasSubstr("300 ms"));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(WebhookClientTest, ConnectionRefusedAndBadUrls) {
  WebhookClient client(std::chrono::seconds(2));
  // A port nothing listens on (the receiver's, after it is gone).
  std::string url;
  {
    WebhookReceiver gone;
    url = gone.url();
  }
  auto refused = client.Send(Post(url, "k", "{}"));
  EXPECT_EQ(refused.status, 0);
  EXPECT_THAT(refused.error, HasSubstr("connect"));
  const auto ftp = client.Send(Post("ftp://example.com/x", "k", "{}"));
  EXPECT_EQ(ftp.status, 0);
  EXPECT_THAT(ftp.error, HasSubstr("not an http"));
}

TEST(WebhookClientTest, RetryAfterForms) {
  EXPECT_EQ(ParseRetryAfter("120", 0), 120'000'000);
  EXPECT_EQ(ParseRetryAfter("99999999999999", 0), 7LL * 86400 * 1'000'000);  // capped
  // An HTTP date 30 s after "now".
  EXPECT_EQ(ParseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", 1'795'600'800'000'000), 30'000'000);
  EXPECT_EQ(ParseRetryAfter("soon", 0), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", 0), std::nullopt);
}

}  // namespace
}  // namespace touchline::api
