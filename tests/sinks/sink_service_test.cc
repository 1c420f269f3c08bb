// SinkService against a real log and a scripted receiver: order, filters,
// batches, retries, 410, restarts, replay, pause, delete, the handshake and
// erasure.
#include "sinks/sink_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <future>
#include <thread>

#include "core/mutex.h"
#include "sinks/cloudevent_out.h"
#include "store/record_format.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::sinks {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using touchline::testing::MakeEvent;
using touchline::testing::Propose;
using touchline::testing::StatusIs;
using touchline::testing::TempDir;

// A receiver that answers from a script (then 200) and keeps every call.
class ScriptedReceiver final : public HttpSender {
 public:
  struct Call {
    HttpCall call;
    std::chrono::steady_clock::time_point at;
  };
  HttpAnswer Send(const HttpCall& call) override {
    MutexLock l(&mu_);
    calls_.push_back({call, std::chrono::steady_clock::now()});
    if (script_.empty()) {
      HttpAnswer ok;
      ok.status = call.method == "OPTIONS" ? 405 : 200;
      return ok;
    }
    HttpAnswer a = script_.front();
    script_.pop_front();
    return a;
  }
  void Script(std::vector<HttpAnswer> answers) {
    MutexLock l(&mu_);
    script_.assign(answers.begin(), answers.end());
  }
  std::vector<Call> calls() const {
    MutexLock l(&mu_);
    return calls_;
  }
  // The POSTs' events, in order, each as (seq, whole event).
  std::vector<json::object> Events() const {
    std::vector<json::object> out;
    for (const auto& c : calls()) {
      if (c.call.method != "POST") {
        continue;
      }
      json::value v = json::parse(c.call.body);
      if (v.is_array()) {
        for (auto& e : v.as_array()) {
          out.push_back(e.as_object());
        }
      } else {
        out.push_back(v.as_object());
      }
    }
    return out;
  }

 private:
  mutable Mutex mu_;
  std::vector<Call> calls_;
  std::deque<HttpAnswer> script_;
};

std::string_view HeaderOf(const HttpCall& c, std::string_view name) {
  for (const auto& [k, v] : c.headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

HttpAnswer Answer(int status, std::optional<std::int64_t> retry_after_us = std::nullopt,
                  HttpHeaders headers = {}) {
  HttpAnswer a;
  a.status = status;
  a.retry_after_us = retry_after_us;
  a.headers = std::move(headers);
  return a;
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

class SinkServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventLogOptions options;
    options.path = dir_.Sub("db");
    options.sync = false;
    options.checkpoint_events = 0;
    options.checkpoint_interval = std::chrono::milliseconds(0);
    ASSERT_OK_AND_ASSIGN(log_, store::EventLog::Open(options));
    StartService();
  }
  void TearDown() override {
    service_.reset();
    log_.reset();
  }

  void StartService() {
    SinkServiceOptions o;
    o.source = "urn:test";
    o.origin = "touchline.test";
    o.poll = std::chrono::milliseconds(5);
    o.backoff_base_us = 20'000;
    o.backoff_max_us = 200'000;
    ASSERT_OK_AND_ASSIGN(service_,
                         SinkService::Open(log_.get(), &receiver_, SystemClock::Default(), o));
    service_->Start();
  }

  StatusOr<CreatedSink> Create(const std::string& body) {
    ASSIGN_OR_RETURN(auto c, ParseSinkCreate(body));
    std::promise<StatusOr<CreatedSink>> p;
    service_->Create(std::move(c), "admin-key", [&](StatusOr<CreatedSink> r) { p.set_value(r); });
    return p.get_future().get();
  }
  StatusOr<SinkInfo> Change(const std::string& id, SinkChange change, Seq from = 0) {
    std::promise<StatusOr<SinkInfo>> p;
    service_->Change(id, change, from, "admin-key", [&](StatusOr<SinkInfo> r) { p.set_value(r); });
    return p.get_future().get();
  }
  Seq Append(const std::string& customer, const std::string& type, bool system = false) {
    store::AppendRequest req;
    req.actor = "tester";
    req.system = system;
    req.events.push_back(Propose(MakeEvent(customer, type)));
    auto r = log_->Append(std::move(req));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->events[0].seq : 0;
  }
  // Erases `customer` (customer.erased, as touchline appends it).
  Status Erase(const std::string& customer) {
    Event e;
    e.customer = customer;
    e.type = std::string(store::kCustomerErasedType);
    store::AppendRequest req;
    req.actor = "tester";
    req.system = true;
    req.events.push_back(Propose(std::move(e)));
    return log_->Append(std::move(req)).status();
  }
  std::uint64_t Delivered(const std::string& id) {
    auto info = service_->Get(id);
    return info.ok() ? info->progress.delivered_events : 0;
  }
  static std::vector<std::int64_t> Seqs(const std::vector<json::object>& events) {
    std::vector<std::int64_t> out;
    for (const auto& e : events) {
      out.push_back(e.at("seq").as_int64());
    }
    return out;
  }

  TempDir dir_;
  ScriptedReceiver receiver_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<SinkService> service_;
};

TEST_F(SinkServiceTest, DeliversMatchingRecordsInSeqOrderInSignedBatches) {
  const Seq p1 = Append("c-1", "purchase.completed");
  Append("c-1", "note.added");
  const Seq p2 = Append("c-2", "purchase.refunded");
  ASSERT_OK_AND_ASSIGN(auto created, Create(R"({"id":"crm","url":"http://r/in","mode":"batch",
      "batch_size":2,"start":"beginning","filter":{"types":["purchase"]}})"));
  EXPECT_TRUE(created.secret.starts_with("whsec_"));
  const Seq p3 = Append("c-3", "purchase.completed");
  Append("c-3", "ticket.opened");
  ASSERT_TRUE(Eventually([&] { return Delivered("crm") == 3; }));
  EXPECT_EQ(Seqs(receiver_.Events()),
            (std::vector<std::int64_t>{static_cast<std::int64_t>(p1), static_cast<std::int64_t>(p2),
                                       static_cast<std::int64_t>(p3)}));
  const auto calls = receiver_.calls();
  ASSERT_EQ(calls.size(), 2u);  // two, then one
  for (const auto& c : calls) {
    EXPECT_EQ(c.call.url, "http://r/in");
    EXPECT_EQ(HeaderOf(c.call, "Content-Type"),
              "application/cloudevents-batch+json; charset=utf-8");
    const std::string id(HeaderOf(c.call, "webhook-id"));
    const std::string ts(HeaderOf(c.call, "webhook-timestamp"));
    EXPECT_THAT(
        SignWebhook(created.secret, id, std::stoll(ts), c.call.body),
        touchline::testing::IsOkAndHolds(std::string(HeaderOf(c.call, "webhook-signature"))));
    EXPECT_EQ(HeaderOf(c.call, "WebHook-Request-Origin"), "");  // no handshake asked for
  }
  EXPECT_EQ(HeaderOf(calls[0].call, "webhook-id"),
            "crm.0." + std::to_string(p1) + "-" + std::to_string(p2));
  ASSERT_TRUE(Eventually([&] {
    auto info = service_->Get("crm");
    return info.ok() && info->progress.cursor == log_->head() && info->lag_events == 0;
  }));
  ASSERT_OK_AND_ASSIGN(auto info, service_->Get("crm"));
  EXPECT_EQ(info.progress.delivered_requests, 2u);
  EXPECT_EQ(info.progress.failed_requests, 0u);
  EXPECT_EQ(info.state.created_by, "admin-key");
}

TEST_F(SinkServiceTest, StructuredModeSendsOneEventPerRequestFromTheEndByDefault) {
  Append("c-1", "note.added");  // before the sink: not sent
  ASSERT_OK(Create(R"({"id":"one","url":"http://r/"})"));
  const Seq a = Append("c-1", "note.added");
  const Seq b = Append("c-2", "note.added");
  ASSERT_TRUE(Eventually([&] { return Delivered("one") == 2; }));
  const auto calls = receiver_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(HeaderOf(calls[0].call, "Content-Type"), "application/cloudevents+json; charset=utf-8");
  EXPECT_EQ(Seqs(receiver_.Events()), (std::vector<std::int64_t>{static_cast<std::int64_t>(a),
                                                                 static_cast<std::int64_t>(b)}));
  // touchline's own stream (the sink's creation) never goes out.
  for (const auto& e : receiver_.Events()) {
    EXPECT_NE(e.at("subject"), "~sinks");
  }
}

TEST_F(SinkServiceTest, RetriesTheSameRequestAfterRetryAfter) {
  receiver_.Script({Answer(503, 150'000), Answer(0)});
  ASSERT_OK(Create(R"({"id":"r","url":"http://r/","start":"beginning"})"));
  Append("c-1", "note.added");
  ASSERT_TRUE(Eventually([&] { return Delivered("r") == 1; }));
  const auto calls = receiver_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(HeaderOf(calls[0].call, "webhook-id"), HeaderOf(calls[2].call, "webhook-id"));
  EXPECT_EQ(json::parse(calls[0].call.body), json::parse(calls[2].call.body));
  EXPECT_GE(calls[1].at - calls[0].at, std::chrono::milliseconds(140));  // Retry-After
  ASSERT_OK_AND_ASSIGN(auto info, service_->Get("r"));
  EXPECT_EQ(info.progress.failed_requests, 2u);
  EXPECT_EQ(info.progress.delivered_events, 1u);
  EXPECT_EQ(info.attempt, 0u);
  EXPECT_EQ(info.progress.last_status, 0);  // the no-answer one was last
  EXPECT_NE(info.progress.last_error_us, 0);
}

TEST_F(SinkServiceTest, GoneDisablesTheSinkAndResumeSendsTheSameRecords) {
  receiver_.Script({Answer(410)});
  ASSERT_OK(Create(R"({"id":"g","url":"http://r/","start":"beginning"})"));
  Append("c-1", "note.added");
  ASSERT_TRUE(Eventually([&] {
    auto info = service_->Get("g");
    return info.ok() && info->state.status == SinkStatus::kDisabled;
  }));
  ASSERT_OK_AND_ASSIGN(auto info, service_->Get("g"));
  EXPECT_THAT(info.state.disabled_reason, HasSubstr("410"));
  EXPECT_EQ(info.progress.last_status, 410);
  EXPECT_EQ(info.progress.delivered_events, 0u);
  // The change is on the sinks' stream, by touchline.
  store::StreamQuery q;
  q.customer = std::string(kSinkStream);
  ASSERT_OK_AND_ASSIGN(auto page, log_->ReadStream(q));
  ASSERT_FALSE(page.records.empty());
  EXPECT_EQ(page.records[0]->type, "sink.disabled");
  EXPECT_EQ(page.records[0]->actor, "touchline");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(receiver_.calls().size(), 1u);  // nothing more while disabled
  ASSERT_OK(Change("g", SinkChange::kResume));
  ASSERT_TRUE(Eventually([&] { return Delivered("g") == 1; }));
  const auto calls = receiver_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(HeaderOf(calls[0].call, "webhook-id"), HeaderOf(calls[1].call, "webhook-id"));
  EXPECT_THAT(Change("g", SinkChange::kResume), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(SinkServiceTest, ARestartCarriesOnFromTheStoredCursorWithTheSameSecret) {
  ASSERT_OK_AND_ASSIGN(auto created, Create(R"({"id":"k","url":"http://r/","mode":"batch"})"));
  Append("c-1", "note.added");
  Append("c-2", "note.added");
  ASSERT_TRUE(Eventually([&] { return Delivered("k") == 2; }));
  service_.reset();
  const Seq later = Append("c-3", "note.added");
  StartService();
  ASSERT_TRUE(Eventually([&] { return Delivered("k") == 3; }));
  const auto events = receiver_.Events();
  ASSERT_EQ(events.size(), 3u);  // nothing delivered twice
  EXPECT_EQ(events.back().at("seq").as_int64(), static_cast<std::int64_t>(later));
  const auto last = receiver_.calls().back().call;
  EXPECT_THAT(SignWebhook(created.secret, HeaderOf(last, "webhook-id"),
                          std::stoll(std::string(HeaderOf(last, "webhook-timestamp"))), last.body),
              touchline::testing::IsOkAndHolds(std::string(HeaderOf(last, "webhook-signature"))));
}

TEST_F(SinkServiceTest, ReplayGoesBackWithNewWebhookIds) {
  ASSERT_OK(Create(R"({"id":"p","url":"http://r/","start":"beginning"})"));
  const Seq a = Append("c-1", "note.added");
  Append("c-1", "note.added");
  ASSERT_TRUE(Eventually([&] { return Delivered("p") == 2; }));
  ASSERT_OK_AND_ASSIGN(auto info, Change("p", SinkChange::kReplay, a));
  EXPECT_EQ(info.state.generation, 1u);
  ASSERT_TRUE(Eventually([&] { return receiver_.calls().size() == 4; }));
  const auto calls = receiver_.calls();
  EXPECT_EQ(json::parse(calls[0].call.body), json::parse(calls[2].call.body));
  EXPECT_EQ(HeaderOf(calls[2].call, "webhook-id"),
            "p.1." + std::to_string(a) + "-" + std::to_string(a));
  EXPECT_THAT(Change("nope", SinkChange::kReplay, 1), StatusIs(StatusCode::kNotFound));
}

TEST_F(SinkServiceTest, PauseHoldsDeliveryUntilResume) {
  ASSERT_OK(Create(R"({"id":"z","url":"http://r/"})"));
  ASSERT_OK(Change("z", SinkChange::kPause));
  EXPECT_THAT(Change("z", SinkChange::kPause), StatusIs(StatusCode::kFailedPrecondition));
  Append("c-1", "note.added");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(receiver_.calls().empty());
  ASSERT_OK_AND_ASSIGN(auto paused, service_->Get("z"));
  EXPECT_EQ(paused.state.status, SinkStatus::kPaused);
  // The note, and maybe the pause itself: records past the cursor.
  EXPECT_GE(paused.lag_events, 1u);
  EXPECT_EQ(paused.lag_events, paused.head - paused.progress.cursor);
  ASSERT_OK(Change("z", SinkChange::kResume));
  ASSERT_TRUE(Eventually([&] { return Delivered("z") == 1; }));
}

TEST_F(SinkServiceTest, DeleteForgetsTheSinkAndTheIdCanBeCreatedAgain) {
  ASSERT_OK_AND_ASSIGN(auto first, Create(R"({"id":"d","url":"http://r/","start":"beginning"})"));
  EXPECT_THAT(Create(R"({"id":"d","url":"http://r/"})"), StatusIs(StatusCode::kAlreadyExists));
  Append("c-1", "note.added");
  ASSERT_TRUE(Eventually([&] { return Delivered("d") == 1; }));
  ASSERT_OK(Change("d", SinkChange::kDelete));
  EXPECT_THAT(service_->Get("d"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(Change("d", SinkChange::kDelete), StatusIs(StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto second, Create(R"({"id":"d","url":"http://r/","start":"beginning"})"));
  EXPECT_NE(first.secret, second.secret);
  // A new sink starts from its own start, not the old cursor.
  ASSERT_TRUE(Eventually([&] { return Delivered("d") == 1; }));
  EXPECT_EQ(receiver_.Events().size(), 2u);
  const auto last = receiver_.calls().back().call;
  EXPECT_THAT(SignWebhook(second.secret, HeaderOf(last, "webhook-id"),
                          std::stoll(std::string(HeaderOf(last, "webhook-timestamp"))), last.body),
              touchline::testing::IsOkAndHolds(std::string(HeaderOf(last, "webhook-signature"))));
}

TEST_F(SinkServiceTest, TheHandshakeMustAllowTheOriginBeforeAnyDelivery) {
  receiver_.Script({Answer(200, std::nullopt, {{"webhook-allowed-origin", "other.example"}}),
                    Answer(200, std::nullopt, {{"webhook-allowed-origin", "touchline.test"}})});
  ASSERT_OK(Create(R"({"id":"h","url":"http://r/","handshake":true,"start":"beginning"})"));
  Append("c-1", "note.added");
  ASSERT_TRUE(Eventually([&] { return Delivered("h") == 1; }));
  const auto calls = receiver_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].call.method, "OPTIONS");
  EXPECT_EQ(HeaderOf(calls[0].call, "WebHook-Request-Origin"), "touchline.test");
  EXPECT_EQ(calls[1].call.method, "OPTIONS");
  EXPECT_EQ(calls[2].call.method, "POST");
  EXPECT_EQ(HeaderOf(calls[2].call, "WebHook-Request-Origin"), "touchline.test");
  ASSERT_OK_AND_ASSIGN(auto info, service_->Get("h"));
  EXPECT_EQ(info.handshake, "accepted");
  EXPECT_THAT(info.progress.last_error, HasSubstr("other.example"));
}

TEST_F(SinkServiceTest, ACustomerErasedGoesOutErased) {
  auto e = MakeEvent("c-1", "profile.updated");
  e.data = R"({"name":"Secret Name"})";
  e.identities = {Identity{"email", "who@example.com"}};
  store::AppendRequest req;
  req.actor = "tester";
  req.events.push_back(Propose(std::move(e)));
  ASSERT_OK(log_->Append(std::move(req)));
  ASSERT_OK(Erase("c-1"));
  ASSERT_OK(Create(R"({"id":"x","url":"http://r/","start":"beginning","mode":"batch"})"));
  ASSERT_TRUE(Eventually([&] { return Delivered("x") == 2; }));
  const auto events = receiver_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("erased"), true);
  EXPECT_FALSE(events[0].contains("data"));
  EXPECT_EQ(receiver_.calls()[0].call.body.find("Secret Name"), std::string::npos);
  EXPECT_EQ(receiver_.calls()[0].call.body.find("who@example.com"), std::string::npos);
}

TEST_F(SinkServiceTest, ACustomerErasedWhileARequestWaitsToBeRetriedGoesOutErased) {
  receiver_.Script({Answer(503, 1'500'000)});  // retried after 1.5 s
  ASSERT_OK(Create(R"({"id":"w","url":"http://r/","start":"beginning"})"));
  auto e = MakeEvent("c-1", "profile.updated");
  e.data = R"({"name":"Secret Name"})";
  store::AppendRequest req;
  req.actor = "tester";
  req.events.push_back(Propose(std::move(e)));
  ASSERT_OK(log_->Append(std::move(req)));
  ASSERT_TRUE(Eventually([&] { return receiver_.calls().size() == 1; }));
  ASSERT_OK(Erase("c-1"));
  ASSERT_TRUE(Eventually([&] { return Delivered("w") >= 1; }));
  const auto calls = receiver_.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_NE(calls[0].call.body.find("Secret Name"), std::string::npos);  // before the erasure
  EXPECT_EQ(calls[1].call.body.find("Secret Name"), std::string::npos);  // the retry, after it
  EXPECT_EQ(json::parse(calls[1].call.body).at("erased"), true);
}

TEST_F(SinkServiceTest, AStartOrReplayPastTheHeadIsRefused) {
  Append("c-1", "note.added");
  EXPECT_THAT(Create(R"({"id":"f","url":"http://r/","start":99})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("past the log's head")));
  ASSERT_OK(Create(R"({"id":"f","url":"http://r/","start":2})"));  // head + 1: from now on
  EXPECT_THAT(Change("f", SinkChange::kReplay, 1000),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("from_seq")));
}

TEST_F(SinkServiceTest, OtherSinksChangesDoNotCutABackoffShort) {
  receiver_.Script({Answer(503, 800'000)});
  ASSERT_OK(Create(R"({"id":"slow","url":"http://r/","start":"beginning"})"));
  Append("c-1", "note.added");
  ASSERT_TRUE(Eventually([&] { return receiver_.calls().size() == 1; }));
  ASSERT_OK(Create(R"({"id":"other","url":"http://o/"})"));
  ASSERT_OK(Change("other", SinkChange::kPause));
  ASSERT_TRUE(Eventually([&] { return Delivered("slow") == 1; }));
  std::vector<ScriptedReceiver::Call> slow;
  for (const auto& c : receiver_.calls()) {
    if (c.call.url == "http://r/") {
      slow.push_back(c);
    }
  }
  ASSERT_EQ(slow.size(), 2u);
  EXPECT_GE(slow[1].at - slow[0].at, std::chrono::milliseconds(750));
}

}  // namespace
}  // namespace touchline::sinks
