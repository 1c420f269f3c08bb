// ReminderReader over state the reminders fold wrote (an in-memory log
// folded into a StateTx, no runner threads), and over hand-made state for
// what the fold never writes (damaged entries).
#include "projections/reminder_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/time_format.h"
#include "projections/internal/reminder_keys.h"
#include "projections/reminder_projection.h"
#include "store/event_log.h"
#include "tests/support/fake_clock.h"
#include "tests/support/status_matchers.h"

namespace touchline::projections {
namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using touchline::testing::IsOkAndHolds;
using touchline::testing::StatusIs;

constexpr std::int64_t kDay = 86'400'000'000;
constexpr std::int64_t kHour = 3'600'000'000;

constexpr const char* kCartRule =
    R"({"id":"cart","campaign":"cart-recovery","offset":"1d",
        "trigger":{"event":"cart.abandoned"},"cancel_on":["purchase.completed"],
        "deliver":{"queue":"sales"},"message":"Your cart is waiting"})";
constexpr const char* kChurnRule =
    R"({"id":"churn","campaign":"winback","offset":"2d",
        "trigger":{"event":"plan.cancelled"},"deliver":{"queue":"sales"}})";

class ReminderReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(*ParseRfc3339("2026-11-02T10:00:00Z"));
    store::EventLogOptions options;
    options.in_memory = true;
    options.path = "/reminder-reader";
    options.sync = false;
    options.clock = &clock_;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  Seq Post(const std::string& customer, const std::string& type, const std::string& data = "{}") {
    Event e;
    e.customer = customer;
    e.type = type;
    e.data = data;
    store::AppendRequest req{{ProposedEvent{e, {}}}, "test"};
    req.system = store::IsSystemStream(customer);
    auto r = log_->Append(std::move(req));
    EXPECT_OK(r);
    return r.ok() ? r->events[0].seq : 0;
  }
  void Rule(const std::string& json, const std::string& type = "reminder_rule.created") {
    Post(std::string(kRuleStream), type, json);
  }
  // Folds what was appended since the last call into state_.
  void Fold() {
    auto records = log_->ReadFrom(folded_ + 1, 100000);
    ASSERT_OK(records);
    for (const auto& r : *records) {
      ASSERT_OK(fold_.Apply(*r, &state_));
      folded_ = r->seq;
    }
  }
  std::vector<std::string> Ids(const std::vector<Reminder>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) {
      out.push_back(m.id);
    }
    return out;
  }
  static std::string Id(std::string_view rule, Seq seq) {
    return std::string(rule) + "." + std::to_string(seq);
  }

  touchline::testing::FakeClock clock_;
  std::unique_ptr<store::EventLog> log_;
  ReminderProjection fold_;
  StateTx state_;
  Seq folded_ = 0;
  const ReminderReader reader_{state_};
};

TEST_F(ReminderReaderTest, StatusNamesRoundTrip) {
  for (ReminderStatus s : kAllReminderStatuses) {
    EXPECT_EQ(ParseReminderStatus(ReminderStatusName(s)), s);
  }
  EXPECT_EQ(ReminderStatusName(ReminderStatus::kCancelled), "cancelled");
  EXPECT_EQ(ParseReminderStatus(""), std::nullopt);
  EXPECT_EQ(ParseReminderStatus("Pending"), std::nullopt);
}

TEST_F(ReminderReaderTest, RulesOneAndAll) {
  EXPECT_THAT(reader_.Rules(), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(reader_.Rule("cart"), IsOkAndHolds(Eq(std::nullopt)));
  Rule(kChurnRule);
  Rule(kCartRule);
  Fold();
  ASSERT_OK_AND_ASSIGN(auto cart, reader_.Rule("cart"));
  ASSERT_TRUE(cart.has_value());
  EXPECT_EQ(cart->campaign, "cart-recovery");
  ASSERT_OK_AND_ASSIGN(auto rules, reader_.Rules());
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].id, "cart");  // by id
  EXPECT_EQ(rules[1].id, "churn");
  // GET /v1/reminder-rules shows each rule as the fold stored it.
  auto stored = state_.Get(internal::RuleKey("churn"));
  ASSERT_OK(stored);
  EXPECT_EQ(EncodeReminderRule(rules[1]), stored->value());

  Rule(R"({"id":"cart"})", "reminder_rule.deleted");
  Fold();
  EXPECT_THAT(reader_.Rule("cart"), IsOkAndHolds(Eq(std::nullopt)));
  ASSERT_OK_AND_ASSIGN(rules, reader_.Rules());
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].id, "churn");
}

TEST_F(ReminderReaderTest, FindAndACustomersReminders) {
  Rule(kCartRule);
  Rule(kChurnRule);
  const Seq a = Post("c-1", "cart.abandoned");
  const Seq b = Post("c-2", "cart.abandoned");
  const Seq c = Post("c-1", "plan.cancelled");
  Fold();
  ASSERT_OK_AND_ASSIGN(auto m, reader_.Find(Id("cart", a)));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->customer, "c-1");
  EXPECT_EQ(m->status, ReminderStatus::kPending);
  EXPECT_EQ(m->due_us, clock_.NowMicros() + kDay);
  EXPECT_THAT(reader_.Find("cart.999"), IsOkAndHolds(Eq(std::nullopt)));

  ASSERT_OK_AND_ASSIGN(auto mine, reader_.OfCustomer("c-1", 100));
  EXPECT_THAT(Ids(mine), ElementsAre(Id("cart", a), Id("churn", c)));  // by id
  ASSERT_OK_AND_ASSIGN(mine, reader_.OfCustomer("c-1", 1));
  EXPECT_THAT(Ids(mine), ElementsAre(Id("cart", a)));
  ASSERT_OK_AND_ASSIGN(mine, reader_.OfCustomer("c-2", 100));
  EXPECT_THAT(Ids(mine), ElementsAre(Id("cart", b)));
  // "c-1" is not a prefix match for "c-10".
  EXPECT_THAT(reader_.OfCustomer("c-", 100), IsOkAndHolds(IsEmpty()));
}

TEST_F(ReminderReaderTest, ListPagesByDueTimeWithFilters) {
  Rule(kCartRule);
  Rule(kChurnRule);
  std::vector<std::string> carts;
  std::string churn;
  for (int i = 0; i < 5; ++i) {
    carts.push_back(Id("cart", Post("c-" + std::to_string(i), "cart.abandoned")));
    clock_.Advance(kHour);
  }
  churn = Id("churn", Post("c-9", "plan.cancelled"));  // due a day after the carts
  const std::int64_t first_due = *ParseRfc3339("2026-11-03T10:00:00Z");
  Fold();

  ReminderQuery q;
  q.limit = 2;
  ASSERT_OK_AND_ASSIGN(auto page, reader_.List(q));
  EXPECT_THAT(Ids(page.reminders), ElementsAre(carts[0], carts[1]));
  ASSERT_TRUE(page.next_after.has_value());
  q.after = *page.next_after;
  ASSERT_OK_AND_ASSIGN(page, reader_.List(q));
  EXPECT_THAT(Ids(page.reminders), ElementsAre(carts[2], carts[3]));
  q.after = *page.next_after;
  ASSERT_OK_AND_ASSIGN(page, reader_.List(q));
  EXPECT_THAT(Ids(page.reminders), ElementsAre(carts[4], churn));
  ASSERT_TRUE(page.next_after.has_value());  // a full page: maybe more
  q.after = *page.next_after;
  ASSERT_OK_AND_ASSIGN(page, reader_.List(q));
  EXPECT_THAT(page.reminders, IsEmpty());
  EXPECT_EQ(page.next_after, std::nullopt);

  // The cursor API clients see: the due time as 20 digits, '/', the id.
  const std::int64_t churn_due = first_due + kDay + 5 * kHour;
  EXPECT_EQ(q.after, "0000" + std::to_string(churn_due) + "/" + churn);

  ReminderQuery by_campaign;
  by_campaign.campaign = "winback";
  ASSERT_OK_AND_ASSIGN(page, reader_.List(by_campaign));
  EXPECT_THAT(Ids(page.reminders), ElementsAre(churn));
  EXPECT_EQ(page.next_after, std::nullopt);

  ReminderQuery before;
  before.due_before_us = first_due + 2 * kHour;  // carts[0] and [1]; [2] is due exactly then
  ASSERT_OK_AND_ASSIGN(page, reader_.List(before));
  EXPECT_THAT(Ids(page.reminders), ElementsAre(carts[0], carts[1]));
  EXPECT_EQ(page.next_after, std::nullopt);

  ReminderQuery sent;
  sent.status = ReminderStatus::kSent;
  EXPECT_THAT(reader_.List(sent),
              IsOkAndHolds(::testing::Field(&ReminderPage::reminders, IsEmpty())));
}

TEST_F(ReminderReaderTest, ListStopsAtTheScanBoundWithACursor) {
  Rule(kCartRule);
  Rule(kChurnRule);
  for (int i = 0; i < 300; ++i) {  // more than one Scan page (256)
    Post("c-" + std::to_string(i), "cart.abandoned");
  }
  const std::string churn = Id("churn", Post("c-9", "plan.cancelled"));  // due last
  Fold();
  ReminderQuery q;
  q.campaign = "winback";
  q.max_scan = 1;  // stop after the first Scan page
  ASSERT_OK_AND_ASSIGN(auto page, reader_.List(q));
  EXPECT_THAT(page.reminders, IsEmpty());
  ASSERT_TRUE(page.next_after.has_value());  // not the end: continue from the bound
  q.after = *page.next_after;
  ASSERT_OK_AND_ASSIGN(page, reader_.List(q));
  EXPECT_THAT(Ids(page.reminders), ElementsAre(churn));
  EXPECT_EQ(page.next_after, std::nullopt);
}

TEST_F(ReminderReaderTest, CampaignCountsAndThePendingTotal) {
  EXPECT_THAT(reader_.PendingCount(), IsOkAndHolds(0u));
  EXPECT_THAT(reader_.Campaign("cart-recovery"), IsOkAndHolds(Eq(std::nullopt)));
  Rule(kCartRule);
  Rule(kChurnRule);
  Fold();
  // Named by a rule, nothing scheduled yet: zero counts.
  ASSERT_OK_AND_ASSIGN(auto counts, reader_.Campaign("cart-recovery"));
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->scheduled, 0u);

  Post("c-1", "cart.abandoned");
  Post("c-2", "cart.abandoned");
  Post("c-3", "plan.cancelled");
  clock_.Advance(kHour);
  Post("c-1", "purchase.completed");  // cancels c-1's cart reminder
  Fold();
  ASSERT_OK_AND_ASSIGN(counts, reader_.Campaign("cart-recovery"));
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->scheduled, 2u);
  EXPECT_EQ(counts->cancelled_conversion, 1u);
  EXPECT_EQ(counts->pending(), 1u);
  ASSERT_OK_AND_ASSIGN(auto winback, reader_.Campaign("winback"));
  ASSERT_TRUE(winback.has_value());
  EXPECT_EQ(winback->pending(), 1u);
  // The total is kept by the fold: no scan over campaigns.
  EXPECT_THAT(reader_.PendingCount(), IsOkAndHolds(2u));
  ASSERT_OK_AND_ASSIGN(auto due, reader_.DueIndex(100));
  EXPECT_EQ(due.size(), 2u);

  // A campaign nothing knows, and the rule that named one deleted.
  EXPECT_THAT(reader_.Campaign("nope"), IsOkAndHolds(Eq(std::nullopt)));
  Rule(R"({"id":"churn"})", "reminder_rule.deleted");
  Fold();
  EXPECT_THAT(reader_.DeletedRules(10), IsOkAndHolds(ElementsAre("churn")));
  ASSERT_OK_AND_ASSIGN(auto ids, reader_.PendingOfRule("churn", 10));
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_TRUE(ids[0].starts_with("churn."));
  // Its counts still exist, so the campaign does.
  ASSERT_OK_AND_ASSIGN(winback, reader_.Campaign("winback"));
  EXPECT_TRUE(winback.has_value());
}

TEST_F(ReminderReaderTest, TheSchedulersIndexesAreInTimeOrder) {
  Rule(kChurnRule);  // 2 days
  Rule(kCartRule);   // 1 day
  const Seq churn = Post("c-1", "plan.cancelled");
  clock_.Advance(kHour);
  const Seq cart = Post("c-2", "cart.abandoned");
  const std::int64_t now = clock_.NowMicros();
  Fold();
  ASSERT_OK_AND_ASSIGN(auto due, reader_.DueIndex(10));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, Id("cart", cart));
  EXPECT_EQ(due[0].at_us, now + kDay);
  EXPECT_EQ(due[1].id, Id("churn", churn));
  EXPECT_EQ(due[1].at_us, now - kHour + 2 * kDay);
  ASSERT_OK_AND_ASSIGN(due, reader_.DueIndex(1));
  EXPECT_EQ(due.size(), 1u);
  EXPECT_THAT(reader_.DeliveryQueue(10), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(reader_.DeletedRules(10), IsOkAndHolds(IsEmpty()));
}

TEST_F(ReminderReaderTest, DamagedStateIsDataLoss) {
  // An index entry whose reminder is gone.
  state_.Put(internal::StatusKey(ReminderStatus::kPending, 5, "cart.1"), "");
  EXPECT_THAT(reader_.List(ReminderQuery{}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("without its reminder")));
  state_.Put(internal::CustomerKey("c-1", "cart.1"), "");
  EXPECT_THAT(reader_.OfCustomer("c-1", 10), StatusIs(StatusCode::kDataLoss));
  // A reminder with a status nobody knows.
  state_.Put(internal::ReminderKey("cart.1"), R"({"id":"cart.1","status":"lost"})");
  EXPECT_THAT(reader_.Find("cart.1"),
              StatusIs(StatusCode::kDataLoss, HasSubstr("unknown status 'lost'")));
  // A malformed time index key, and a rule that does not parse.
  state_.Put(std::string(internal::kDuePrefix) + "12/x", "");
  EXPECT_THAT(reader_.DueIndex(10), StatusIs(StatusCode::kDataLoss, HasSubstr("malformed")));
  state_.Put(internal::RuleKey("bad"), "{}");
  EXPECT_THAT(reader_.Rules(), StatusIs(StatusCode::kDataLoss, HasSubstr("unreadable rule")));
  EXPECT_THAT(reader_.Rule("bad"), StatusIs(StatusCode::kDataLoss));
  state_.Put(std::string(internal::kTotalsKey), "not json");
  EXPECT_THAT(reader_.PendingCount(), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace touchline::projections
