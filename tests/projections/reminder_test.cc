// The reminders projection and scheduler together, in process: a real
// (in-memory) log whose clock is fake, the projection running on its
// thread, the scheduler driven pass by pass (RunOnce) and a fake webhook.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <thread>

#include "core/time_format.h"
#include "projections/customer_view_projection.h"
#include "projections/reminder_projection.h"
#include "projections/reminder_reader.h"
#include "projections/reminder_scheduler.h"
#include "tests/support/fake_clock.h"
#include "tests/support/status_matchers.h"

namespace touchline::projections {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace json = boost::json;

constexpr std::int64_t kDay = 86'400'000'000;
constexpr std::int64_t kHour = 3'600'000'000;

class FakeSender final : public HttpSender {
 public:
  HttpAnswer Send(const HttpCall& call) override {
    std::string key;
    for (const auto& [name, value] : call.headers) {
      if (name == "Idempotency-Key") {
        key = value;
      }
    }
    calls.push_back({call.url, key, call.body});
    if (results.empty()) {
      return HttpAnswer{200, "", std::nullopt, {}};
    }
    HttpAnswer r = results.front();
    results.pop_front();
    return r;
  }
  struct Call {
    std::string url, key, body;
  };
  std::vector<Call> calls;
  std::deque<HttpAnswer> results;
};

class ReminderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(*ParseRfc3339("2026-11-02T10:00:00Z"));
    store::EventLogOptions options;
    options.in_memory = true;
    options.path = "/reminders";
    options.sync = false;
    options.clock = &clock_;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
    StartRunner();
  }
  void TearDown() override {
    scheduler_.reset();
    if (runner_) {
      runner_->Stop();
    }
    if (people_) {
      people_->Stop();
    }
  }

  void StartRunner() {
    RunnerOptions ro;
    ro.poll_interval = std::chrono::milliseconds(2);
    auto runner = ProjectionRunner::Create(log_.get(), std::make_unique<ReminderProjection>(), ro);
    ASSERT_OK(runner);
    runner_ = std::move(runner).value();
    ASSERT_OK(runner_->Start());
    if (!people_) {
      auto people =
          ProjectionRunner::Create(log_.get(), std::make_unique<CustomerViewProjection>(), ro);
      ASSERT_OK(people);
      people_ = std::move(people).value();
      ASSERT_OK(people_->Start());
    }
    SchedulerOptions so;
    so.customer_view = people_.get();
    so.backoff_base_us = 10'000'000;
    scheduler_ =
        std::make_unique<ReminderScheduler>(log_.get(), runner_.get(), &clock_, &sender_, so);
  }

  // Waits until the projection has folded everything, including what it emits.
  void Settle() {
    for (int i = 0; i < 5000; ++i) {
      const Seq head = log_->head();
      if (runner_->checkpoint() >= head && people_->checkpoint() >= head) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        if (log_->head() == head && runner_->checkpoint() >= head &&
            people_->checkpoint() >= head) {
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL() << "the reminders projection did not catch up: " << runner_->status().fault;
  }

  Seq Post(const std::string& customer, const std::string& type, const std::string& data = "{}",
           const std::string& email = "") {
    Event e;
    e.customer = customer;
    e.type = type;
    e.data = data;
    if (!email.empty()) {
      e.identities.push_back(Identity{"email", email});
    }
    store::AppendRequest req{{ProposedEvent{e, {}}}, "test"};
    // The rules live on touchline's own stream, and erasures are its own.
    req.system = store::IsSystemStream(customer) || type == store::kCustomerErasedType;
    auto r = log_->Append(std::move(req));
    EXPECT_OK(r);
    return r.ok() ? r->events[0].seq : 0;
  }
  void Rule(const std::string& json_text, const std::string& type = "reminder_rule.created") {
    Post(std::string(kRuleStream), type, json_text);
  }
  // Runs the scheduler once and lets the projection fold what it appended.
  std::size_t Pass() {
    Settle();
    auto fired = scheduler_->FireDue();
    EXPECT_OK(fired);
    auto swept = scheduler_->SweepDeletedRules();
    EXPECT_OK(swept);
    Settle();
    auto delivered = scheduler_->DeliverDue();
    EXPECT_OK(delivered);
    Settle();
    return (fired.ok() ? *fired : 0) + (swept.ok() ? *swept : 0) +
           (delivered.ok() ? *delivered : 0);
  }

  Reminder Get(const std::string& id) {
    auto m = ReminderReader(runner_->state()).Find(id);
    EXPECT_OK(m);
    if (!m.ok() || !m->has_value()) {
      ADD_FAILURE() << "no reminder " << id;
      return {};
    }
    return **m;
  }
  std::vector<std::string> Pending() {
    auto due = ReminderReader(runner_->state()).DueIndex(1000);
    EXPECT_OK(due);
    std::vector<std::string> out;
    for (const auto& entry : *due) {
      out.push_back(entry.id);
    }
    return out;
  }
  CampaignCounts Counts(const std::string& campaign) {
    auto c = ReminderReader(runner_->state()).Campaign(campaign);
    EXPECT_OK(c);
    return c.ok() && c->has_value() ? **c : CampaignCounts{};
  }
  // The types on a customer's stream, oldest first.
  std::vector<std::string> Types(const std::string& customer) {
    store::StreamQuery q;
    q.customer = customer;
    q.limit = 1000;
    auto page = log_->ReadStream(q);
    EXPECT_OK(page);
    std::vector<std::string> out;
    for (auto it = page->records.rbegin(); it != page->records.rend(); ++it) {
      out.push_back((*it)->type);
    }
    return out;
  }
  std::int64_t Now() const { return clock_.NowMicros(); }

  touchline::testing::FakeClock clock_;
  FakeSender sender_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<ProjectionRunner> runner_;
  std::unique_ptr<ProjectionRunner> people_;  // the customer view
  std::unique_ptr<ReminderScheduler> scheduler_;
};

constexpr const char* kCartRule =
    R"({"id":"cart","campaign":"cart-recovery","offset":"1d",
        "trigger":{"event":"cart.abandoned"},"cancel_on":["purchase.completed"],
        "deliver":{"queue":"sales"},"message":"Your cart is waiting"})";

TEST_F(ReminderTest, EventTriggerFiresOnceAfterItsOffset) {
  Rule(kCartRule);
  const std::int64_t t0 = Now();
  const Seq cart = Post("c-1", "cart.abandoned");
  EXPECT_EQ(Pass(), 0u);
  const std::string id = "cart." + std::to_string(cart);
  EXPECT_EQ(Get(id).status, ReminderStatus::kPending);
  EXPECT_EQ(Get(id).due_us, t0 + kDay);

  clock_.Advance(kDay - 1);
  EXPECT_EQ(Pass(), 0u);  // not yet
  clock_.Advance(1);
  EXPECT_EQ(Pass(), 1u);
  const Reminder m = Get(id);
  EXPECT_EQ(m.status, ReminderStatus::kSent);  // an agent queue: the timeline event is the delivery
  EXPECT_FALSE(m.late);
  EXPECT_EQ(Pass(), 0u);  // never twice
  clock_.Advance(kDay);
  EXPECT_EQ(Pass(), 0u);
  EXPECT_THAT(Types("c-1"), ElementsAre("cart.abandoned", "reminder.due"));
  const CampaignCounts c = Counts("cart-recovery");
  EXPECT_EQ(c.scheduled, 1u);
  EXPECT_EQ(c.due, 1u);
  EXPECT_EQ(c.sent, 1u);
}

TEST_F(ReminderTest, ConditionOnADataField) {
  Rule(R"({"id":"gold","campaign":"vip","offset":"1h","trigger":{"event":"plan.changed",
           "where":{"field":"data.plan.tier","equals":"gold"}},"deliver":{"queue":"vip"}})");
  Post("c-1", "plan.changed", R"({"plan":{"tier":"silver"}})");
  const Seq gold = Post("c-2", "plan.changed", R"({"plan":{"tier":"gold"}})");
  Post("c-3", "plan.changed", R"({"plan":"gold"})");
  Settle();
  EXPECT_THAT(Pending(), ElementsAre("gold." + std::to_string(gold)));
}

TEST_F(ReminderTest, ExitConditionCancelsAndIsCountedAsConversion) {
  Rule(kCartRule);
  const Seq cart = Post("c-1", "cart.abandoned");
  Post("c-2", "cart.abandoned");
  clock_.Advance(kHour);
  Post("c-1", "purchase.completed");
  Settle();
  const Reminder m = Get("cart." + std::to_string(cart));
  EXPECT_EQ(m.status, ReminderStatus::kCancelled);
  EXPECT_EQ(m.reason, "conversion");
  clock_.Advance(kDay);
  EXPECT_EQ(Pass(), 1u);  // only c-2's
  EXPECT_THAT(Types("c-1"),
              ElementsAre("cart.abandoned", "purchase.completed", "reminder.cancelled"));
  const CampaignCounts c = Counts("cart-recovery");
  EXPECT_EQ(c.cancelled_conversion, 1u);
  EXPECT_EQ(c.sent, 1u);
}

TEST_F(ReminderTest, AnExitEventOnAnotherStreamOfThePersonCancelsAtDueTime) {
  Rule(kCartRule);
  const Seq cart = Post("shop-1", "cart.abandoned", "{}", "ann@example.com");
  Post("other", "purchase.completed", "{}", "bob@example.com");  // someone else
  clock_.Advance(kHour);
  // The same person buys through the help desk's stream.
  Post("desk-9", "purchase.completed", "{}", "ann@example.com");
  Settle();
  const std::string id = "cart." + std::to_string(cart);
  EXPECT_EQ(Get(id).status, ReminderStatus::kPending);  // another stream: found when due
  clock_.Advance(kDay);
  EXPECT_EQ(Pass(), 1u);
  const Reminder m = Get(id);
  EXPECT_EQ(m.status, ReminderStatus::kCancelled);
  EXPECT_EQ(m.reason, "conversion");
  EXPECT_THAT(Types("shop-1"), ElementsAre("cart.abandoned", "reminder.cancelled"));
  EXPECT_EQ(Counts("cart-recovery").cancelled_conversion, 1u);
  EXPECT_EQ(Counts("cart-recovery").due, 0u);
}

TEST_F(ReminderTest, AnExitEventTheFoldHasNotSeenHoldsTheFiring) {
  Rule(kCartRule);
  const Seq cart = Post("c-1", "cart.abandoned");
  Settle();
  clock_.Advance(kDay);
  // The purchase lands while the projection is down: the scheduler must not
  // fire from a state that has not seen it.
  runner_->Stop();
  Post("c-1", "purchase.completed");
  auto n = scheduler_->FireDue();
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0u);
  scheduler_.reset();
  StartRunner();
  EXPECT_EQ(Pass(), 0u);
  EXPECT_EQ(Get("cart." + std::to_string(cart)).status, ReminderStatus::kCancelled);
  EXPECT_THAT(Types("c-1"),
              ElementsAre("cart.abandoned", "purchase.completed", "reminder.cancelled"));
}

TEST_F(ReminderTest, DateTriggerBeforeTheDateAndMovesWithIt) {
  Rule(R"({"id":"renew","campaign":"renewals","offset":"-30d",
           "trigger":{"date_field":"data.contract_end"},"deliver":{"queue":"accounts"}})");
  const Seq first = Post("c-1", "contract.signed", R"({"contract_end":"2027-03-01"})");
  Post("c-2", "contract.signed", R"({"contract_end":"2026-11-20"})");  // due already past
  Post("c-3", "contract.signed", R"({"contract_end":"not a date"})");
  Settle();
  const std::string id1 = "renew." + std::to_string(first);
  EXPECT_EQ(Get(id1).due_us, *ParseRfc3339("2027-01-30T00:00:00Z"));
  EXPECT_THAT(Pending(), ElementsAre(id1));
  // The same date again changes nothing; a new date moves the reminder.
  Post("c-1", "contract.viewed", R"({"contract_end":"2027-03-01"})");
  const Seq moved = Post("c-1", "contract.renewed", R"({"contract_end":"2028-03-01T00:00:00Z"})");
  Settle();
  EXPECT_EQ(Get(id1).status, ReminderStatus::kCancelled);
  EXPECT_EQ(Get(id1).reason, "rescheduled");
  const std::string id2 = "renew." + std::to_string(moved);
  EXPECT_THAT(Pending(), ElementsAre(id2));
  EXPECT_EQ(Get(id2).due_us, *ParseRfc3339("2028-01-31T00:00:00Z"));
}

TEST_F(ReminderTest, InactivityFiresOnlyAfterSilence) {
  Rule(R"({"id":"winback","campaign":"winback","offset":"90d",
           "trigger":{"inactivity":["purchase","message"]},"deliver":{"queue":"retention"}})");
  const std::int64_t t0 = Now();
  const Seq first = Post("c-1", "purchase.completed");
  const std::string id = "winback." + std::to_string(first);
  clock_.Advance(10 * kDay);
  Post("c-1", "page.viewed");  // not a contact type: no change
  Settle();
  EXPECT_EQ(Get(id).due_us, t0 + 90 * kDay);
  Post("c-1", "message.received");
  Settle();
  EXPECT_EQ(Get(id).due_us, t0 + 100 * kDay);
  clock_.Set(t0 + 95 * kDay);
  EXPECT_EQ(Pass(), 0u);
  clock_.Set(t0 + 100 * kDay);
  EXPECT_EQ(Pass(), 1u);
  EXPECT_EQ(Get(id).status, ReminderStatus::kSent);
  // Our own events are not customer activity: nothing new is scheduled.
  EXPECT_TRUE(Pending().empty());
}

TEST_F(ReminderTest, SendWindowInTheCustomersTimeZone) {
  Rule(R"({"id":"call","campaign":"follow-up","offset":"10h","trigger":{"event":"call.missed"},
           "window":{"start":"09:00","end":"17:00"},"deliver":{"queue":"sales"}})");
  Post("c-1", "profile.updated", R"({"traits":{"timezone":"Asia/Jakarta"}})");
  clock_.Set(*ParseRfc3339("2026-11-25T10:00:00Z"));
  const Seq missed = Post("c-1", "call.missed");
  const Seq other = Post("c-2", "call.missed");  // no trait: UTC
  Settle();
  // 20:00 UTC is 03:00 in Jakarta: wait for 09:00 there (02:00 UTC).
  EXPECT_EQ(Get("call." + std::to_string(missed)).due_us, *ParseRfc3339("2026-11-26T02:00:00Z"));
  EXPECT_EQ(Get("call." + std::to_string(other)).due_us, *ParseRfc3339("2026-11-26T09:00:00Z"));
}

TEST_F(ReminderTest, FrequencyCapSkipsAndCounts) {
  Rule(R"({"id":"cart","campaign":"cart","offset":"1h","trigger":{"event":"cart.abandoned"},
           "cap":{"max":1,"period":"7d"},"deliver":{"queue":"sales"}})");
  Post("c-1", "cart.abandoned");
  clock_.Advance(kDay);
  Post("c-1", "cart.abandoned");  // within 7 days: skipped
  Post("c-2", "cart.abandoned");  // another customer: fine
  clock_.Advance(8 * kDay);
  Post("c-1", "cart.abandoned");  // a week later: fine again
  Settle();
  EXPECT_EQ(Pending().size(), 3u);
  EXPECT_EQ(Counts("cart").skipped_cap, 1u);
  EXPECT_EQ(Counts("cart").scheduled, 3u);
}

TEST_F(ReminderTest, OverdueAfterARestartFiresOnceAndIsMarkedLate) {
  Rule(kCartRule);
  const Seq cart = Post("c-1", "cart.abandoned");
  Settle();
  // Down for three days.
  runner_->Stop();
  scheduler_.reset();
  clock_.Advance(3 * kDay);
  StartRunner();
  EXPECT_EQ(Pass(), 1u);
  const Reminder m = Get("cart." + std::to_string(cart));
  EXPECT_EQ(m.status, ReminderStatus::kSent);
  EXPECT_TRUE(m.late);
  // Another scheduler (a second restart) fires nothing again.
  scheduler_ = std::make_unique<ReminderScheduler>(log_.get(), runner_.get(), &clock_, &sender_);
  EXPECT_EQ(Pass(), 0u);
  EXPECT_THAT(Types("c-1"), ElementsAre("cart.abandoned", "reminder.due"));
}

TEST_F(ReminderTest, DeletingARuleCancelsItsPendingReminders) {
  Rule(kCartRule);
  const Seq cart = Post("c-1", "cart.abandoned");
  Settle();
  Rule(R"({"id":"cart"})", "reminder_rule.deleted");
  clock_.Advance(2 * kDay);  // due now: must not fire, its rule is gone
  EXPECT_EQ(Pass(), 1u);     // the sweep's cancellation
  EXPECT_EQ(Get("cart." + std::to_string(cart)).status, ReminderStatus::kCancelled);
  EXPECT_EQ(Get("cart." + std::to_string(cart)).reason, "rule_deleted");
  Post("c-1", "cart.abandoned");  // the rule is gone
  clock_.Advance(2 * kDay);
  EXPECT_EQ(Pass(), 0u);
  EXPECT_TRUE(Pending().empty());
  EXPECT_THAT(Types("c-1"), ElementsAre("cart.abandoned", "reminder.cancelled", "cart.abandoned"));
  EXPECT_EQ(Counts("cart-recovery").cancelled_other, 1u);
  auto marker = ReminderReader(runner_->state()).DeletedRules(10);
  ASSERT_OK(marker);
  EXPECT_TRUE(marker->empty());
}

TEST_F(ReminderTest, ADeletedRulesManyRemindersAreCancelledInPages) {
  Rule(kCartRule);
  for (int i = 0; i < 1200; ++i) {  // more than one page of 512
    Post("c-" + std::to_string(i), "cart.abandoned");
  }
  Settle();
  EXPECT_EQ(Pending().size(), 1000u);  // Pending() reads at most 1000
  Rule(R"({"id":"cart"})", "reminder_rule.deleted");
  std::size_t cancelled = 0;
  for (int pass = 0; pass < 10 && cancelled < 1200; ++pass) {
    cancelled += Pass();
  }
  EXPECT_EQ(cancelled, 1200u);
  EXPECT_TRUE(Pending().empty());
  EXPECT_EQ(Counts("cart-recovery").cancelled_other, 1200u);
}

constexpr const char* kHookRule =
    R"({"id":"hook","campaign":"hooks","offset":"1h","trigger":{"event":"cart.abandoned"},
        "deliver":{"webhook":"http://127.0.0.1:9/reminders","max_attempts":3}})";

TEST_F(ReminderTest, WebhookRetriesWithBackoffAndRetryAfterThenSucceeds) {
  Rule(kHookRule);
  const Seq cart = Post("c-1", "cart.abandoned");
  const std::string id = "hook." + std::to_string(cart);
  sender_.results = {{503, "", 120'000'000, {}}, {0, "connection refused", std::nullopt, {}}};
  clock_.Advance(kHour);
  EXPECT_EQ(Pass(), 2u);  // fired, first attempt failed
  Reminder m = Get(id);
  EXPECT_EQ(m.status, ReminderStatus::kDue);
  ASSERT_EQ(m.attempts.size(), 1u);
  EXPECT_EQ(m.attempts[0].status, 503);
  EXPECT_GE(m.next_attempt_us, Now() + 120'000'000);  // Retry-After honoured
  EXPECT_EQ(Pass(), 0u);                              // not before then
  clock_.Set(m.next_attempt_us);
  EXPECT_EQ(Pass(), 1u);  // connection refused
  m = Get(id);
  ASSERT_EQ(m.attempts.size(), 2u);
  EXPECT_EQ(m.attempts[1].error, "connection refused");
  // Backoff with jitter: the second retry waits 10-20 s (base 10 s, doubled, upper half).
  EXPECT_GE(m.next_attempt_us - Now(), 10'000'000);
  EXPECT_LE(m.next_attempt_us - Now(), 20'000'000);
  clock_.Set(m.next_attempt_us);
  EXPECT_EQ(Pass(), 1u);
  m = Get(id);
  EXPECT_EQ(m.status, ReminderStatus::kSent);
  ASSERT_EQ(sender_.calls.size(), 3u);
  for (const auto& c : sender_.calls) {
    EXPECT_EQ(c.key, id);  // the same idempotency key every time
    EXPECT_EQ(c.url, "http://127.0.0.1:9/reminders");
  }
  EXPECT_THAT(sender_.calls[2].body, HasSubstr("\"attempt\":3"));
  EXPECT_EQ(Counts("hooks").sent, 1u);
}

TEST_F(ReminderTest, WebhookGivesUpOnNonRetryableStatusOrAfterMaxAttempts) {
  Rule(kHookRule);
  const Seq a = Post("c-1", "cart.abandoned");
  sender_.results = {{410, "", std::nullopt, {}}};
  clock_.Advance(kHour);
  EXPECT_EQ(Pass(), 2u);
  Reminder m = Get("hook." + std::to_string(a));
  EXPECT_EQ(m.status, ReminderStatus::kFailed);
  EXPECT_THAT(m.reason, HasSubstr("HTTP 410 (not retried)"));

  const Seq b = Post("c-2", "cart.abandoned");
  sender_.results = {
      {500, "", std::nullopt, {}}, {500, "", std::nullopt, {}}, {500, "", std::nullopt, {}}};
  clock_.Advance(kHour);
  for (int i = 0; i < 3; ++i) {
    Pass();
    clock_.Advance(kHour);
  }
  m = Get("hook." + std::to_string(b));
  EXPECT_EQ(m.status, ReminderStatus::kFailed);
  EXPECT_EQ(m.attempts.size(), 3u);
  EXPECT_THAT(m.reason, HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(Counts("hooks").failed, 2u);
  EXPECT_THAT(Types("c-2"),
              ElementsAre("cart.abandoned", "reminder.due", "reminder.delivery_failed",
                          "reminder.delivery_failed", "reminder.failed"));
}

TEST_F(ReminderTest, RebuildReproducesTheState) {
  Rule(kCartRule);
  Rule(kHookRule);
  for (int i = 0; i < 20; ++i) {
    Post("c-" + std::to_string(i % 4), i % 5 == 0 ? "purchase.completed" : "cart.abandoned");
    clock_.Advance(kHour);
  }
  clock_.Advance(kDay);
  Pass();
  Pass();
  auto live = runner_->state().Scan("", "", 100000);
  ASSERT_OK(live);
  // Fold the same log from scratch in memory.
  StateTx tx;
  ReminderProjection fold;
  auto records = log_->ReadFrom(1, 100000);
  ASSERT_OK(records);
  for (const auto& r : *records) {
    ASSERT_OK(fold.Apply(*r, &tx));
  }
  auto rebuilt = tx.Scan("", "", 100000);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(*rebuilt, *live);
}

}  // namespace
}  // namespace touchline::projections

namespace touchline::projections {
namespace {

TEST_F(ReminderTest, ErasureClosesTheCustomersReminders) {
  Rule(kCartRule);
  Rule(R"({"id":"tz","campaign":"windowed","offset":"2d","trigger":{"event":"cart.abandoned"},
           "window":{"start":"09:00","end":"17:00","timezone_trait":"timezone"},
           "deliver":{"queue":"sales"},"message":"m"})");
  Post("c-1", "profile.updated", R"({"traits":{"timezone":"Asia/Jakarta"}})");
  const Seq cart = Post("c-1", "cart.abandoned");
  const Seq other = Post("c-2", "cart.abandoned");
  Settle();
  const std::string id = "cart." + std::to_string(cart);
  ASSERT_EQ(Get(id).status, ReminderStatus::kPending);
  auto zone = runner_->state().Scan(std::string("z/c-1") + '\0', "", 10);
  ASSERT_OK(zone);
  ASSERT_EQ(zone->size(), 1u);

  Post("c-1", std::string(store::kCustomerErasedType));
  Settle();
  EXPECT_EQ(Get(id).status, ReminderStatus::kCancelled);
  EXPECT_EQ(Get(id).reason, "customer_erased");
  EXPECT_EQ(Get("tz." + std::to_string(cart)).status, ReminderStatus::kCancelled);
  EXPECT_EQ(Get("cart." + std::to_string(other)).status, ReminderStatus::kPending);  // not theirs
  zone = runner_->state().Scan(std::string("z/c-1") + '\0', "", 10);
  ASSERT_OK(zone);
  EXPECT_TRUE(zone->empty());
  // Nothing fires for them later.
  clock_.Advance(3 * kDay);
  Pass();
  EXPECT_EQ(Get(id).status, ReminderStatus::kCancelled);
}

}  // namespace
}  // namespace touchline::projections
