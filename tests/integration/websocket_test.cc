// GET /v1/stream against the real touchlined with a real WebSocket client:
// exact delivery (every matching event once, seq strictly increasing) while
// several writers append concurrently, the catch-up/live hand-over, resume
// after a disconnect, a slow consumer, customer filters that follow identity
// links, bad commands, limits, the CloudEvents subprotocol, and shutdown.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"
#include "tests/support/ws_client.h"

namespace touchline::testing {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

class WebSocketTest : public ::testing::Test {
 protected:
  // These tests count whole-log deliveries exactly; the access audit
  // trail would add its own events to the log (tests/integration/
  // audit_test.cc covers it, subscriptions included).
  void Start(std::vector<std::string> args = {}) {
    args.push_back("--no-read-audit");
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"), std::move(args));
    ASSERT_OK(server_->Start());
    http_ = std::make_unique<HttpClient>(server_->port());
  }

  std::unique_ptr<WsClient> Connect(std::string_view subprotocol = "") {
    auto c = WsClient::Connect(server_->port(), subprotocol);
    EXPECT_OK(c);
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // Appends `events` (a JSON array) and returns their seqs.
  std::vector<Seq> Post(HttpClient* client, const std::string& events) {
    auto r = client->PostJson("/v1/events", events);
    EXPECT_OK(r);
    std::vector<Seq> seqs;
    if (!r.ok()) {
      return seqs;
    }
    EXPECT_EQ(r->status, 201) << r->body;
    const json::value body = json::parse(r->body);
    for (const auto& e : body.at("events").as_array()) {
      seqs.push_back(static_cast<Seq>(e.at("seq").as_int64()));
    }
    return seqs;
  }
  std::vector<Seq> Post(const std::string& events) { return Post(http_.get(), events); }

  // The next message as JSON, skipping nothing.
  static json::object Next(WsClient* c,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto m = c->Read(timeout);
    EXPECT_OK(m);
    if (!m.ok()) {
      return {};
    }
    return json::parse(*m).as_object();
  }

  // Reads "events" messages of subscription `id` until `count` events came
  // (or a read times out); returns their records in arrival order.
  static std::vector<json::object> Collect(
      WsClient* c, std::string_view id, std::size_t count,
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::vector<json::object> out;
    while (out.size() < count) {
      auto m = c->Read(timeout);
      if (!m.ok()) {
        ADD_FAILURE() << "after " << out.size() << " of " << count
                      << " events: " << m.status().ToString();
        break;
      }
      auto msg = json::parse(*m).as_object();
      if (msg.at("type") != "events" || msg.at("id").as_string() != id) {
        continue;
      }
      for (auto& e : msg.at("events").as_array()) {
        out.push_back(e.as_object());
      }
    }
    return out;
  }

  static Seq SeqOf(const json::object& e) { return static_cast<Seq>(e.at("seq").as_int64()); }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
};

std::string Event(const std::string& customer, const std::string& type,
                  const std::string& extra = "") {
  return R"({"customer":")" + customer + R"(","type":")" + type + R"(","channel":"chat")" + extra +
         "}";
}

TEST_F(WebSocketTest, ConcurrentWritersEveryEventOnceInOrder) {
  Start();
  constexpr int kWriters = 4;
  constexpr int kBatches = 50;
  constexpr int kPerBatch = 50;
  constexpr std::size_t kTotal = kWriters * kBatches * kPerBatch;  // 10,000

  auto whole = Connect();
  auto one = Connect();
  ASSERT_OK(whole->Send(R"({"op":"subscribe","id":"all","all":true,"from":0})"));
  ASSERT_OK(one->Send(R"({"op":"subscribe","id":"c3","customers":["w-3"],"from":0})"));
  EXPECT_EQ(Next(whole.get()).at("type"), "subscribed");
  EXPECT_EQ(Next(one.get()).at("type"), "subscribed");

  std::atomic<int> batches_done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpClient client(server_->port());
      for (int b = 0; b < kBatches; ++b) {
        std::string body = "[";
        for (int i = 0; i < kPerBatch; ++i) {
          body += (i ? "," : "") + Event("w-" + std::to_string((w * 7 + i) % 10), "msg.sent");
        }
        body += "]";
        Post(&client, body);
        batches_done.fetch_add(1);
      }
    });
  }
  // A third subscriber joins mid-flight from the head it sees: the hand-over
  // from reading the log to live delivery happens while writes race with it.
  while (batches_done.load() < kWriters * kBatches / 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  auto late = Connect();
  ASSERT_OK(late->Send(R"({"op":"subscribe","id":"late","all":true})"));
  const json::object subscribed = Next(late.get());
  ASSERT_EQ(subscribed.at("type"), "subscribed");
  const Seq late_from = static_cast<Seq>(subscribed.at("from").as_int64());
  EXPECT_GT(late_from, 0u);
  for (auto& t : writers) {
    t.join();
  }

  const auto all = Collect(whole.get(), "all", kTotal);
  ASSERT_EQ(all.size(), kTotal);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(SeqOf(all[i]), i + 1) << "gap or duplicate at position " << i;
  }
  const auto tail = Collect(late.get(), "late", kTotal - late_from);
  ASSERT_EQ(tail.size(), kTotal - late_from);
  for (std::size_t i = 0; i < tail.size(); ++i) {
    ASSERT_EQ(SeqOf(tail[i]), late_from + i + 1);
  }

  // The customer subscriber got exactly the events of w-3, in order.
  std::vector<Seq> want;
  for (const auto& e : all) {
    if (e.at("customer") == "w-3") {
      want.push_back(SeqOf(e));
    }
  }
  const auto mine = Collect(one.get(), "c3", want.size());
  std::vector<Seq> got;
  for (const auto& e : mine) {
    got.push_back(SeqOf(e));
  }
  EXPECT_EQ(got, want);
  // Nothing more arrives for anyone.
  EXPECT_TRUE(IsReadTimeout(one->Read(std::chrono::milliseconds(300)).status()));
  EXPECT_TRUE(IsReadTimeout(whole->Read(std::chrono::milliseconds(100)).status()));
}

TEST_F(WebSocketTest, ResumeFromLastSeqAfterDisconnect) {
  Start();
  Post("[" + Event("r-1", "a.one") + "," + Event("r-1", "a.two") + "]");
  auto c = Connect();
  ASSERT_OK(c->Send(R"({"op":"subscribe","id":"s","customers":["r-1"],"from":0})"));
  ASSERT_EQ(Next(c.get()).at("type"), "subscribed");
  const auto first = Collect(c.get(), "s", 2);
  ASSERT_EQ(first.size(), 2u);
  const Seq last = SeqOf(first.back());
  c->Close();
  c.reset();

  // Missed while away, with events of others in between.
  Post("[" + Event("r-1", "a.three") + "," + Event("x-9", "b.one") + "," + Event("r-1", "a.four") +
       "]");
  auto again = Connect();
  ASSERT_OK(again->Send(R"({"op":"subscribe","id":"s","customers":["r-1"],"from":)" +
                        std::to_string(last) + "}"));
  ASSERT_EQ(Next(again.get()).at("type"), "subscribed");
  const auto rest = Collect(again.get(), "s", 2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].at("type"), "a.three");
  EXPECT_EQ(rest[1].at("type"), "a.four");
  // And live from there on.
  Post("[" + Event("r-1", "a.five") + "]");
  const auto live = Collect(again.get(), "s", 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].at("type"), "a.five");
}

TEST_F(WebSocketTest, SlowConsumerFallsBackToTheLogAndLosesNothing) {
  // A tiny live queue: the subscriber overflows it at once and must be
  // served from the log.
  Start({"--ws-queue-records", "4"});
  auto slow = Connect();
  ASSERT_OK(slow->Send(R"({"op":"subscribe","id":"s","all":true})"));
  ASSERT_EQ(Next(slow.get()).at("type"), "subscribed");
  // 200 batches of 25 events (~600 bytes each) while the client reads nothing.
  const std::string pad(500, 'x');
  for (int b = 0; b < 200; ++b) {
    std::string body = "[";
    for (int i = 0; i < 25; ++i) {
      body += (i ? "," : "") +
              Event("s-" + std::to_string(i), "msg.sent", R"(,"data":{"pad":")" + pad + R"("})");
    }
    Post(body + "]");
  }
  const auto got = Collect(slow.get(), "s", 5000);
  ASSERT_EQ(got.size(), 5000u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(SeqOf(got[i]), i + 1);
  }
  // The server is still healthy and the connection still live.
  Post("[" + Event("s-1", "msg.sent") + "]");
  const auto live = Collect(slow.get(), "s", 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(SeqOf(live[0]), 5001u);
}

// The server's resident memory in bytes (VmRSS).
std::uint64_t RssBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.starts_with("VmRSS:")) {
      return std::stoull(line.substr(6)) * 1024;
    }
  }
  return 0;
}

TEST_F(WebSocketTest, ClientsThatNeverReadDoNotGrowServerMemory) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer's shadow memory grows with every access: RSS says nothing here";
#endif
  // 40 clients follow the whole log and never read a byte. A server that
  // rendered and queued messages for them would spend 40 x 12 MiB on 12 MiB
  // of events. Here each session has at most one message in flight, and a
  // subscription queues at most --ws-queue-records pointers to records the
  // subscriptions share before it falls back to reading the log, so the
  // growth stays near what the log itself costs (about 40 MiB measured).
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in a quarantine (256 MiB by
  // default), which would count here as growth: turn it off for the server.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string saved = asan != nullptr ? asan : "";
  ::setenv("ASAN_OPTIONS",
           (saved + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0").c_str(), 1);
  Start({"--ws-queue-records", "64"});
  ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
#else
  Start({"--ws-queue-records", "64"});
#endif
  std::vector<std::unique_ptr<WsClient>> stuck;
  for (int i = 0; i < 40; ++i) {
    stuck.push_back(Connect());
    ASSERT_NE(stuck.back(), nullptr);
    ASSERT_OK(stuck.back()->Send(R"({"op":"subscribe","id":"s","all":true})"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::uint64_t before = RssBytes(server_->pid());
  const std::string pad(900, 'x');
  for (int b = 0; b < 120; ++b) {  // 120 x 100 events of ~1 KiB: 12 MiB
    std::string body = "[";
    for (int i = 0; i < 100; ++i) {
      body += (i ? "," : "") +
              Event("m-" + std::to_string(i), "msg.sent", R"(,"data":{"pad":")" + pad + R"("})");
    }
    Post(body + "]");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::uint64_t after = RssBytes(server_->pid());
  const double grown_mib = static_cast<double>(after - std::min(after, before)) / (1 << 20);
  std::printf("server RSS %.1f MiB -> %.1f MiB with 40 stuck clients\n",
              static_cast<double>(before) / (1 << 20), static_cast<double>(after) / (1 << 20));
  EXPECT_LT(grown_mib, 96.0);  // unbounded buffering would be about 480 MiB
  // The server still serves everyone else.
  auto fresh = Connect();
  ASSERT_OK(fresh->Send(R"({"op":"subscribe","id":"f","all":true,"from":11990})"));
  EXPECT_EQ(Collect(fresh.get(), "f", 10).size(), 10u);
}

TEST_F(WebSocketTest, CustomerSubscriptionFollowsIdentityLinks) {
  Start();
  Post("[" + Event("other", "x.y") + "]");
  auto c = Connect();
  // Subscribed before the customer exists, by email.
  ASSERT_OK(c->Send(R"({"op":"subscribe","id":"ann","customers":["email:Ann@Example.com"]})"));
  const auto sub = Next(c.get());
  ASSERT_EQ(sub.at("type"), "subscribed");
  EXPECT_EQ(sub.at("customers").at(0).at("profile"), nullptr);

  Post("[" + Event("shop-1", "cart.created", R"(,"identities":{"email":"ann@example.com"})") + "]");
  Post("[" + Event("shop-1", "cart.abandoned") + "]");  // no identity: its stream now follows
  Post("[" +
       Event("desk-7", "call.completed",
             R"(,"identities":{"email":"ann@example.com","phone":"+6281234567890"})") +
       "]");
  Post("[" + Event("sms-1", "sms.received", R"(,"identities":{"phone":"+6281234567890"})") + "," +
       Event("other", "x.z") + "]");
  // The phone joined through desk-7's event, so sms-1 (phone only) is hers.
  const auto got = Collect(c.get(), "ann", 4);
  std::vector<std::string> types;
  for (const auto& e : got) {
    types.emplace_back(e.at("type").as_string());
  }
  EXPECT_THAT(types, ::testing::ElementsAre("cart.created", "cart.abandoned", "call.completed",
                                            "sms.received"));
  EXPECT_TRUE(IsReadTimeout(c->Read(std::chrono::milliseconds(300)).status()));

  // A subscription made now resolves through the view to all three streams.
  auto later = Connect();
  ASSERT_OK(later->Send(R"({"op":"subscribe","id":"x","customers":["phone:+6281234567890"]})"));
  const auto resolved = Next(later.get());
  ASSERT_EQ(resolved.at("type"), "subscribed");
  const auto& streams = resolved.at("customers").at(0).at("streams").as_array();
  EXPECT_EQ(streams.size(), 3u);
  EXPECT_TRUE(resolved.at("customers").at(0).at("profile").is_string());
}

TEST_F(WebSocketTest, TypeAndChannelFilters) {
  Start();
  auto c = Connect();
  ASSERT_OK(
      c->Send(R"({"op":"subscribe","id":"t","all":true,"types":["ticket"],"channels":["email"]})"));
  ASSERT_EQ(Next(c.get()).at("type"), "subscribed");
  Post(R"([{"customer":"a","type":"ticket.opened","channel":"email"},
           {"customer":"a","type":"ticket.opened","channel":"phone"},
           {"customer":"a","type":"tickets.x","channel":"email"},
           {"customer":"b","type":"ticket","channel":"email"}])");
  const auto got = Collect(c.get(), "t", 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(SeqOf(got[0]), 1u);
  EXPECT_EQ(SeqOf(got[1]), 4u);
  EXPECT_TRUE(IsReadTimeout(c->Read(std::chrono::milliseconds(200)).status()));
}

TEST_F(WebSocketTest, BadCommandsGetErrorsAndTheConnectionStays) {
  Start({"--ws-max-subscriptions", "2"});
  auto c = Connect();
  auto error_for = [&](std::string_view command) {
    EXPECT_OK(c->Send(command));
    json::object m = Next(c.get());
    EXPECT_EQ(m.at("type"), "error") << command;
    return std::string(m.at("code").as_string()) + ": " + std::string(m.at("message").as_string());
  };
  EXPECT_THAT(error_for("not json"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_for("[1,2]"), HasSubstr("JSON object"));
  EXPECT_THAT(error_for(R"({"op":"dance"})"), HasSubstr("unknown operation 'dance'"));
  EXPECT_THAT(error_for(R"({"op":"subscribe"})"), HasSubstr("\"all\":true"));
  EXPECT_THAT(error_for(R"({"op":"subscribe","all":true,"from":-1})"), HasSubstr("from:"));
  EXPECT_THAT(error_for(R"({"op":"subscribe","all":true,"from":999})"),
              HasSubstr("beyond the log's head"));
  EXPECT_THAT(error_for(R"({"op":"subscribe","all":true,"types":["Bad Type"]})"),
              HasSubstr("types[0]"));
  EXPECT_THAT(error_for(R"({"op":"subscribe","all":true,"colour":"red"})"),
              HasSubstr("unknown field 'colour'"));
  EXPECT_THAT(error_for(R"({"op":"subscribe","customers":["email:not-an-email"]})"),
              HasSubstr("bad_command"));
  EXPECT_THAT(error_for(R"({"op":"unsubscribe","id":"nope"})"), HasSubstr("unknown_subscription"));
  ASSERT_OK(c->SendBinary("\x01\x02"));
  EXPECT_EQ(Next(c.get()).at("code"), "bad_command");

  ASSERT_OK(c->Send(R"({"op":"subscribe","id":"a","all":true})"));
  EXPECT_EQ(Next(c.get()).at("type"), "subscribed");
  EXPECT_THAT(error_for(R"({"op":"subscribe","id":"a","all":true})"),
              HasSubstr("duplicate_subscription"));
  ASSERT_OK(c->Send(R"({"op":"subscribe","id":"b","all":true})"));
  EXPECT_EQ(Next(c.get()).at("type"), "subscribed");
  EXPECT_THAT(error_for(R"({"op":"subscribe","id":"c","all":true})"),
              HasSubstr("too_many_subscriptions"));
  ASSERT_OK(c->Send(R"({"op":"unsubscribe","id":"a"})"));
  EXPECT_EQ(Next(c.get()).at("type"), "unsubscribed");

  // Still usable.
  ASSERT_OK(c->Send(R"({"op":"ping","data":{"n":7}})"));
  json::object pong = Next(c.get());
  EXPECT_EQ(pong.at("type"), "pong");
  EXPECT_EQ(pong.at("data").at("n"), 7);
}

TEST_F(WebSocketTest, LimitsOnConnectionsAndMessageSize) {
  Start({"--ws-max-connections", "2", "--ws-max-message-bytes", "1024"});
  auto a = Connect();
  auto b = Connect();
  auto refused = WsClient::Connect(server_->port());
  ASSERT_THAT(refused.status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(refused.status().message(), HasSubstr("503"));
  EXPECT_THAT(refused.status().message(), HasSubstr("too many WebSocket connections"));

  ASSERT_OK(a->Send(std::string(2000, ' ') + R"({"op":"ping"})"));
  auto m = a->Read(std::chrono::seconds(5));
  ASSERT_THAT(m.status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(a->close_code(), 1009);  // message too big
  a.reset();
  // A slot is free again.
  for (int i = 0; i < 50; ++i) {
    if (WsClient::Connect(server_->port()).ok()) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "the slot of a closed connection was not given back";
}

TEST_F(WebSocketTest, ASilentPeerIsPingedThenDropped) {
  Start({"--ws-idle-timeout-ms", "1000"});
  auto c = Connect();
  ASSERT_OK(c->Send(R"({"op":"subscribe","all":true})"));
  // Not reading: the client never sees the server's pings, so never
  // answers them. The server gives up after the idle timeout.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  // What arrived before the drop is still readable, then the close.
  Status last;
  for (int i = 0; i < 5; ++i) {
    auto m = c->Read(std::chrono::seconds(2));
    if (!m.ok()) {
      last = m.status();
      break;
    }
  }
  EXPECT_THAT(last, StatusIs(StatusCode::kUnavailable));
  EXPECT_FALSE(IsReadTimeout(last)) << "the server kept the silent connection open";
  // A client that answers pings (by reading) stays connected past the timeout.
  auto live = Connect();
  ASSERT_OK(live->Send(R"({"op":"subscribe","all":true})"));
  ASSERT_EQ(Next(live.get()).at("type"), "subscribed");
  EXPECT_TRUE(IsReadTimeout(live->Read(std::chrono::milliseconds(2500)).status()));
  ASSERT_OK(live->Send(R"({"op":"ping"})"));
  EXPECT_EQ(Next(live.get()).at("type"), "pong");
}

TEST_F(WebSocketTest, PlainGetIsUpgradeRequired) {
  Start();
  auto r = http_->Get("/v1/stream");
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 426);
  EXPECT_EQ(r->Header("upgrade"), "websocket");
  EXPECT_THAT(r->body, HasSubstr("WebSocket endpoint"));
}

TEST_F(WebSocketTest, CloudEventsSubprotocol) {
  Start();
  Post(R"([{"id":"evt-1","customer":"c-1","type":"purchase.completed","channel":"web",
            "time":"2026-11-20T10:00:00Z","data":{"amount":19.90,"currency":"EUR"}}])");
  auto c = Connect("cloudevents.json");
  EXPECT_EQ(c->subprotocol(), "cloudevents.json");
  ASSERT_OK(c->Send(R"({"op":"subscribe","id":"ce","customers":["c-1"],"from":0})"));
  json::object sub = Next(c.get());
  EXPECT_EQ(sub.at("specversion"), "1.0");
  EXPECT_EQ(sub.at("type"), "touchline.stream.subscribed");
  json::object e = Next(c.get());
  EXPECT_EQ(e.at("specversion"), "1.0");
  EXPECT_EQ(e.at("id"), "1");
  EXPECT_EQ(e.at("source"), "/touchline/log");
  EXPECT_EQ(e.at("type"), "purchase.completed");
  EXPECT_EQ(e.at("subject"), "c-1");
  EXPECT_EQ(e.at("time"), "2026-11-20T10:00:00Z");
  EXPECT_EQ(e.at("datacontenttype"), "application/json");
  EXPECT_EQ(e.at("sequence"), "00000000000000000001");
  EXPECT_EQ(e.at("eventid"), "evt-1");
  EXPECT_EQ(e.at("subscription"), "ce");
  EXPECT_EQ(e.at("data").at("currency"), "EUR");
  // Every attribute but data is a string (the spec's extension rule).
  for (const auto& [k, v] : e) {
    if (k != "data") {
      EXPECT_TRUE(v.is_string()) << k;
    }
  }
}

TEST_F(WebSocketTest, ShutdownClosesWithGoingAway) {
  Start();
  auto c = Connect();
  ASSERT_OK(c->Send(R"({"op":"subscribe","all":true})"));
  ASSERT_EQ(Next(c.get()).at("type"), "subscribed");
  std::thread stopper([&] { EXPECT_EQ(server_->Stop(), 0); });
  auto m = c->Read(std::chrono::seconds(10));
  stopper.join();
  ASSERT_THAT(m.status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(c->close_code(), 1001);
  EXPECT_THAT(c->close_reason(), HasSubstr("last seq"));
}

}  // namespace
}  // namespace touchline::testing
