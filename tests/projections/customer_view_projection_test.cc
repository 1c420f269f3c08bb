#include "projections/customer_view_projection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "core/identity.h"
#include "projections/customer_view.h"
#include "projections/projection_runner.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::projections {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using touchline::testing::StatusIs;
namespace json = boost::json;

// Folds a real (in-memory) log into an in-memory state, record by record.
class CustomerFoldTest : public ::testing::Test {
 protected:
  void SetUp() override { Reset({}); }

  void Reset(IdentityLimits limits) {
    store::EventLogOptions options;
    options.in_memory = true;
    options.path = "/customers";
    options.sync = false;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
    tx_ = std::make_unique<StateTx>();
    limits_ = limits;
    fold_ = std::make_unique<CustomerViewProjection>(limits);
    folded_ = 0;
  }

  // Appends one event: identities as "type:value" strings.
  Seq Append(const std::string& customer, const std::string& type,
             std::vector<std::string> identities = {}, const std::string& data = "{}",
             const std::string& channel = "", std::int64_t time_us = 0) {
    Event e;
    e.customer = customer;
    e.type = type;
    e.data = data;
    e.channel = channel;
    if (time_us != 0) {
      e.time_us = time_us;
    }
    for (const auto& i : identities) {
      auto id = ParseIdentityStringForTest(i);
      e.identities.push_back(id);
    }
    CanonicalizeIdentities(&e.identities);
    auto r = log_->Append(store::AppendRequest{{ProposedEvent{e, {}}}, "test"});
    EXPECT_OK(r);
    return r.ok() ? r->events[0].seq : 0;
  }

  static Identity ParseIdentityStringForTest(const std::string& s) {
    auto id = ParseIdentityString(s, "test");
    EXPECT_OK(id);
    return id.ok() ? *id : Identity{};
  }

  // Folds every record not folded yet.
  void Fold() {
    auto records = log_->ReadFrom(folded_ + 1, 100000);
    ASSERT_OK(records);
    for (const auto& r : *records) {
      ASSERT_OK(fold_->Apply(*r, tx_.get()));
      folded_ = r->seq;
    }
    ASSERT_OK(fold_->Flush(tx_.get()));
  }

  // The live profile of `text`; fails the test if there is none.
  ProfileState Profile(const std::string& text) {
    auto id = ResolveProfileId(*tx_, text);
    EXPECT_OK(id);
    if (!id.ok() || !id->has_value()) {
      ADD_FAILURE() << "no profile for " << text;
      return {};
    }
    auto p = LoadLiveProfile(*tx_, **id);
    EXPECT_OK(p);
    return p.ok() ? *p : ProfileState{};
  }

  std::string ProfileOf(const std::string& text) { return Profile(text).id; }

  json::object View(const std::string& text) {
    auto v = RenderCustomerView(*tx_, Profile(text), *log_);
    EXPECT_OK(v);
    return v.ok() ? json::parse(*v).as_object() : json::object{};
  }

  // Folds the whole log again with cold caches (every record in its own
  // batch, caches dropped after each) and expects byte-identical state: the
  // fold must not depend on batching or on what its caches held.
  void ExpectColdFoldEqual() {
    StateTx cold;
    CustomerViewProjection fold(limits_);
    auto records = log_->ReadFrom(1, 100000);
    ASSERT_OK(records);
    for (const auto& r : *records) {
      if (r->seq > folded_) {
        break;
      }
      ASSERT_OK(fold.Apply(*r, &cold));
      ASSERT_OK(fold.Flush(&cold));
      fold.Discard();
    }
    auto a = tx_->Scan("", "", SIZE_MAX);
    auto b = cold.Scan("", "", SIZE_MAX);
    ASSERT_OK(a);
    ASSERT_OK(b);
    EXPECT_EQ(*a, *b);
  }

  std::vector<std::string> EmittedTypes() const {
    std::vector<std::string> out;
    for (const auto& e : tx_->emitted()) {
      out.push_back(e.type);
    }
    return out;
  }

  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<StateTx> tx_;
  std::unique_ptr<CustomerViewProjection> fold_;
  IdentityLimits limits_;
  Seq folded_ = 0;
};

TEST_F(CustomerFoldTest, UnknownIdentitiesStartAProfile) {
  Append("c-1", "ticket.opened", {"email:alice@example.com"});
  Fold();
  const ProfileState p = Profile("c-1");
  EXPECT_EQ(p.id, "p-1");
  EXPECT_THAT(p.identities, ElementsAre("customer:c-1", "email:alice@example.com"));
  EXPECT_EQ(ProfileOf("email:alice@example.com"), "p-1");
  EXPECT_EQ(ProfileOf("p-1"), "p-1");
  // An event naming only the stream joins the same profile.
  Append("c-1", "note.added");
  Fold();
  EXPECT_EQ(Profile("c-1").identities.size(), 2u);
  auto none = ResolveProfileId(*tx_, "email:bob@example.com");
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
}

TEST_F(CustomerFoldTest, MergeChainsEndInTheOldestProfile) {
  Append("c-a", "email.sent", {"email:a@example.com"});    // p-1
  Append("c-b", "call.logged", {"phone:+6281234567890"});  // p-2
  Append("c-c", "social.like", {"social.twitter:alice"});  // p-3
  Fold();
  EXPECT_NE(ProfileOf("c-a"), ProfileOf("c-b"));
  // A + B.
  Append("c-b", "identify", {"email:a@example.com"});
  Fold();
  EXPECT_EQ(ProfileOf("c-b"), "p-1");
  EXPECT_THAT(EmittedTypes(), ElementsAre("profile.merged"));
  EXPECT_EQ(tx_->emitted()[0].id, "touchline.merged.4.p-2");
  // Then B + C, through an identity p-1 got from B.
  Append("c-c", "identify", {"phone:+6281234567890"});
  Fold();
  const ProfileState p = Profile("c-c");
  EXPECT_EQ(p.id, "p-1");
  EXPECT_THAT(p.Streams(), ElementsAre("c-a", "c-b", "c-c"));
  ASSERT_EQ(p.merged.size(), 2u);
  EXPECT_EQ(p.merged[0].profile, "p-2");
  EXPECT_EQ(p.merged[1].profile, "p-3");
  // Old profile ids still resolve, through their merge stubs.
  EXPECT_EQ(ProfileOf("p-2"), "p-1");
  EXPECT_EQ(ProfileOf("p-3"), "p-1");
  EXPECT_EQ(ProfileOf("social.twitter:alice"), "p-1");
  ExpectColdFoldEqual();
}

TEST_F(CustomerFoldTest, OneEventCanMergeSeveralProfiles) {
  Append("c-a", "t", {"email:a@example.com"});
  Append("c-b", "t", {"email:b@example.com"});
  Append("c-c", "t", {"email:c@example.com"});
  Append("c-new", "t", {"email:a@example.com", "email:b@example.com", "email:c@example.com"});
  Fold();
  EXPECT_EQ(ProfileOf("c-new"), "p-1");
  EXPECT_EQ(ProfileOf("c-c"), "p-1");
  EXPECT_EQ(Profile("p-1").Streams().size(), 4u);
}

TEST_F(CustomerFoldTest, BlockedValuesNeverLink) {
  const std::vector<std::string> junk = {"null", "undefined", "0", "-1", "anonymous", " NULL "};
  for (std::size_t i = 0; i < junk.size(); ++i) {
    Append("c-" + std::to_string(i), "t", {"anonymous_id:" + junk[i], "email:" + junk[i]});
  }
  Append("c-x", "t", {"email:null", "user_id:undefined"});
  Fold();
  std::set<std::string> profiles;
  for (std::size_t i = 0; i < junk.size(); ++i) {
    profiles.insert(ProfileOf("c-" + std::to_string(i)));
  }
  profiles.insert(ProfileOf("c-x"));
  EXPECT_EQ(profiles.size(), junk.size() + 1);
  auto unlinked = ResolveProfileId(*tx_, "anonymous_id:null");
  ASSERT_OK(unlinked);
  EXPECT_FALSE(unlinked->has_value());
}

TEST_F(CustomerFoldTest, LimitsRefuseARunawayMergeButKeepTheEvent) {
  auto limits = IdentityLimits::Parse("email=2");
  ASSERT_OK(limits);
  Reset(*limits);
  Append("c-1", "t", {"email:a1@example.com", "email:a2@example.com"});
  Append("c-2", "t", {"email:b1@example.com"});
  // Linking would give p-1 three emails: refused, recorded, emitted.
  const Seq link = Append("c-2", "t", {"email:a1@example.com"});
  // A third email on p-1 itself: refused too.
  Append("c-1", "t", {"email:a3@example.com"});
  Fold();
  EXPECT_EQ(ProfileOf("c-1"), "p-1");
  EXPECT_EQ(ProfileOf("c-2"), "p-2");
  const ProfileState p = Profile("c-1");
  ASSERT_EQ(p.refused.size(), 2u);
  EXPECT_EQ(p.refused[0].seq, link);
  EXPECT_EQ(p.refused[0].what, "p-2");
  EXPECT_THAT(p.refused[0].reason, HasSubstr("3 email identities; the limit is 2"));
  EXPECT_EQ(p.refused[1].what, "email:a3@example.com");
  EXPECT_EQ(p.refused_total, 2u);
  EXPECT_THAT(EmittedTypes(), ElementsAre("profile.merge_refused", "profile.merge_refused"));
  auto a3 = ResolveProfileId(*tx_, "email:a3@example.com");
  ASSERT_OK(a3);
  EXPECT_FALSE(a3->has_value());
  // The events themselves are counted where they were sent.
  EXPECT_EQ(View("c-2").at("events").as_int64(), 2);
  ExpectColdFoldEqual();
}

TEST_F(CustomerFoldTest, UnmergeRestoresAMergedProfileAndKeepsThemApart) {
  Append("c-a", "t", {"email:a@example.com"});
  Append("c-b", "t", {"phone:+6281234567890"});
  Append("c-b", "t", {"email:a@example.com"});  // wrong link: merges p-2 into p-1
  Fold();
  ASSERT_EQ(ProfileOf("c-b"), "p-1");
  Append("c-a", "profile.unmerged", {}, R"({"profile":"c-a","merged_profile":"p-2"})");
  Fold();
  EXPECT_EQ(ProfileOf("c-b"), "p-2");
  EXPECT_EQ(ProfileOf("phone:+6281234567890"), "p-2");
  EXPECT_EQ(ProfileOf("c-a"), "p-1");
  EXPECT_EQ(ProfileOf("email:a@example.com"), "p-1");  // moved later than the merge
  EXPECT_THAT(Profile("p-1").separated, ElementsAre("p-2"));
  EXPECT_THAT(Profile("p-2").separated, ElementsAre("p-1"));
  // A later event linking them again is refused...
  Append("c-b", "t", {"email:a@example.com"});
  Fold();
  EXPECT_EQ(ProfileOf("c-b"), "p-2");
  EXPECT_THAT(Profile("p-1").refused.back().reason, HasSubstr("an agent unmerged"));
  // ...until an agent merges them on purpose.
  Append("c-a", "profile.merged", {}, R"({"profiles":["c-b","email:a@example.com"]})");
  Fold();
  EXPECT_EQ(ProfileOf("c-b"), "p-1");
  EXPECT_TRUE(Profile("p-1").separated.empty());
  ExpectColdFoldEqual();
}

TEST_F(CustomerFoldTest, UnmergeByIdentitiesStartsANewProfile) {
  Append("c-a", "t", {"email:a@example.com", "email:shared@example.com"});
  Fold();
  const Seq s = Append("c-a", "profile.unmerged", {},
                       R"({"profile":"p-1","identities":["email:Shared@Example.com"]})");
  Fold();
  EXPECT_EQ(ProfileOf("email:shared@example.com"), "p-" + std::to_string(s));
  EXPECT_EQ(ProfileOf("email:a@example.com"), "p-1");
  // Malformed or impossible corrections are no-ops, never faults.
  for (const char* data :
       {R"({"profile":"nobody","identities":["email:a@example.com"]})",
        R"({"profile":"p-1","identities":["customer:c-a","email:a@example.com"]})",
        R"({"profile":"p-1","merged_profile":"p-99"})", R"({"profile":7})", R"({})"}) {
    Append("c-a", "profile.unmerged", {}, data);
  }
  Fold();
  EXPECT_THAT(Profile("p-1").identities, ElementsAre("customer:c-a", "email:a@example.com"));
  ExpectColdFoldEqual();
}

TEST_F(CustomerFoldTest, CorrectionsThatChangeNothingLeaveNoTrace) {
  auto limits = IdentityLimits::Parse("email=1");
  ASSERT_OK(limits);
  Reset(*limits);
  Append("c-a", "t", {"email:a@example.com"});
  Append("c-b", "t", {"phone:+6281234567890"});
  Append("c-x", "t", {"phone:+6281234567890", "email:a@example.com"});  // merges p-2 into p-1
  Fold();
  ASSERT_EQ(ProfileOf("c-b"), "p-1");
  Append("c-a", "profile.unmerged", {}, R"({"profile":"c-a","merged_profile":"p-2"})");
  Append("c-b", "t", {"email:b@example.com"});
  // Over the email limit: the agent's merge is refused, and so the
  // separation it would have lifted stays.
  Append("c-a", "profile.merged", {}, R"({"profiles":["c-a","c-b"]})");
  // A split that would leave nothing behind does nothing.
  Append(
      "c-b", "profile.unmerged", {},
      R"({"profile":"c-b","identities":["customer:c-b","phone:+6281234567890","email:b@example.com"]})");
  // A correction posted to a new stream, splitting identities off: the
  // profile that event started for its stream takes them.
  Append("c-new", "profile.unmerged", {},
         R"({"profile":"c-b","identities":["email:b@example.com"]})");
  Fold();
  EXPECT_NE(ProfileOf("c-b"), ProfileOf("c-a"));
  EXPECT_EQ(ProfileOf("email:b@example.com"), ProfileOf("c-new"));
  EXPECT_THAT(Profile("c-new").Streams(), ElementsAre("c-new"));
  EXPECT_THAT(Profile("c-a").separated, ElementsAre("p-2"));
  ExpectColdFoldEqual();
}

TEST_F(CustomerFoldTest, EmittedEventsAreNoOpsWhenFolded) {
  Append("c-a", "t", {"email:a@example.com"});
  Append("c-b", "t", {"email:a@example.com", "phone:+6281234567890"});
  Append("c-c", "t", {"phone:+6281234567890"});
  Fold();
  const std::string before = *tx_->Get(ProfileKey("p-1")).value();
  // Append what the fold emitted, as the runner would, and fold it.
  for (const Event& e : std::vector<Event>(tx_->emitted())) {
    ASSERT_OK(log_->Append(store::AppendRequest{{ProposedEvent{e, {}}}, "touchline"}));
  }
  Fold();
  EXPECT_EQ(*tx_->Get(ProfileKey("p-1")).value(), before);
}

TEST_F(CustomerFoldTest, AggregatesCombineAcrossStreams) {
  const std::int64_t t0 = 1'790'000'000'000'000;
  Append("c-a", "identify", {"email:a@example.com"}, R"({"traits":{"name":"Al","plan":"gold"}})",
         "web", t0 + 10);
  Append("c-a", "ticket.opened", {}, R"({"ticket_id":"T1","subject":"Where is my parcel?"})",
         "email", t0 + 20);
  Append("c-b", "ticket.opened", {"email:a@example.com"}, R"({"ticket_id":7})", "chat", t0 + 30);
  Append("c-b", "ticket.closed", {}, R"({"ticket_id":"T1"})", "email", t0 + 40);
  Append("c-b", "purchase.completed", {}, R"({"amount":49.9,"currency":"eur"})", "web", t0 + 50);
  Append("c-a", "purchase.completed", {}, R"({"total":10.05,"currency":"EUR"})", "store", t0 + 60);
  Append("c-a", "purchase.refunded", {}, R"({"amount":5})", "", t0 + 70);
  // An older trait arriving late does not win; a newer one does.
  Append("c-b", "identify", {}, R"({"traits":{"name":"Old"}})", "web", t0 + 5);
  Append("c-b", "identify", {}, R"({"traits":{"plan":"platinum"}})", "phone", t0 + 80);
  Fold();
  const json::object v = View("c-a");
  EXPECT_EQ(v.at("profile").as_string(), "p-1");
  EXPECT_EQ(v.at("events").as_int64(), 9);
  EXPECT_EQ(v.at("traits").at("name").at("value").as_string(), "Al");
  EXPECT_EQ(v.at("traits").at("plan").at("value").as_string(), "platinum");
  EXPECT_EQ(v.at("traits").at("plan").at("channel").as_string(), "phone");
  const auto& tickets = v.at("open_tickets").as_array();
  ASSERT_EQ(tickets.size(), 1u);
  EXPECT_EQ(tickets[0].at("ticket_id").as_string(), "7");
  EXPECT_EQ(v.at("lifetime_value").at("EUR").as_double(), 59.95);
  EXPECT_EQ(v.at("lifetime_value").at("XXX").as_int64(), -5);
  EXPECT_EQ(v.at("channels").at("email").at("count").as_int64(), 2) << json::serialize(v);
  EXPECT_EQ(v.at("types").at("ticket.opened").as_int64(), 2);
  EXPECT_EQ(v.at("recent_events").as_array().size(), 9u);
  EXPECT_EQ(v.at("recent_events").as_array()[0].at("seq").as_int64(), 9);
}

TEST_F(CustomerFoldTest, IdentityLimitsParse) {
  auto l = IdentityLimits::Parse("email=3,*=7,social.twitter=1");
  ASSERT_OK(l);
  EXPECT_EQ(l->For("email"), 3u);
  EXPECT_EQ(l->For("phone"), 5u);
  EXPECT_EQ(l->For("user_id"), 7u);
  EXPECT_EQ(l->For("social.twitter"), 1u);
  for (const char* bad : {"email", "email=0", "email=x", "Email=3", "=3"}) {
    EXPECT_THAT(IdentityLimits::Parse(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
}

// The state after folding live, in batches of every size, is byte-for-byte
// the state after a rebuild from seq 0.
TEST(CustomerRebuildTest, LiveFoldEqualsRebuildByteForByte) {
  touchline::testing::TempDir dir;
  store::EventLogOptions options;
  options.path = dir.Sub("db");
  options.sync = false;
  auto log = store::EventLog::Open(options);
  ASSERT_OK(log);
  RunnerOptions ropts;
  ropts.max_batch = 7;
  auto runner =
      ProjectionRunner::Create(log->get(), std::make_unique<CustomerViewProjection>(), ropts);
  ASSERT_OK(runner);
  ASSERT_OK((*runner)->Start());
  std::mt19937 rng(42);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int i = 0; i < 1500; ++i) {
    Event e;
    e.customer = "c-" + std::to_string(pick(300));
    e.type = std::vector<std::string>{"email.sent", "ticket.opened", "purchase.completed",
                                      "identify", "call.logged"}[static_cast<std::size_t>(pick(5))];
    e.channel =
        std::vector<std::string>{"email", "phone", "web", ""}[static_cast<std::size_t>(pick(4))];
    e.data = R"({"amount":1.5,"ticket_id":")" + std::to_string(pick(5)) + R"(","traits":{"n":)" +
             std::to_string(i) + "}}";
    if (pick(3) == 0) {
      e.identities.push_back({"email", "u" + std::to_string(pick(200)) + "@example.com"});
    }
    if (pick(4) == 0) {
      e.identities.push_back({"phone", "+62812" + std::to_string(1000000 + pick(150))});
    }
    if (pick(50) == 0) {
      e.type = "profile.unmerged";
      e.data = R"({"profile":")" + e.customer + R"(","identities":["email:u1@example.com"]})";
      e.identities.clear();
    }
    CanonicalizeIdentities(&e.identities);
    ASSERT_OK((*log)->Append(store::AppendRequest{{ProposedEvent{e, {}}}, "test"}));
  }
  // Wait for the live fold, including the events it emitted.
  for (int i = 0; i < 500 && (*runner)->checkpoint() < (*log)->head(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // emitted events land
  for (int i = 0; i < 500 && (*runner)->checkpoint() < (*log)->head(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*runner)->Stop();
  ASSERT_EQ((*runner)->checkpoint(), (*log)->head());
  EXPECT_GT((*log)->head(), 1500u) << "the graph should have merged and emitted events";
  auto snapshot = [&]() {
    auto all = (*runner)->state().Scan("", "", SIZE_MAX);
    EXPECT_OK(all);
    std::vector<std::pair<std::string, std::string>> kept;
    for (auto& kv : *all) {
      if (!kv.first.starts_with("~outbox/")) {
        kept.push_back(std::move(kv));
      }
    }
    return kept;
  };
  const auto live = snapshot();
  EXPECT_GT(live.size(), 600u);
  runner->reset();
  RunnerOptions big;
  big.max_batch = 1000;
  auto rebuild =
      ProjectionRunner::Create(log->get(), std::make_unique<CustomerViewProjection>(), big);
  ASSERT_OK(rebuild);
  ASSERT_OK((*rebuild)->CatchUp(/*rebuild=*/true, nullptr));
  auto all = (*rebuild)->state().Scan("", "", SIZE_MAX);
  ASSERT_OK(all);
  std::vector<std::pair<std::string, std::string>> rebuilt;
  for (auto& kv : *all) {
    if (!kv.first.starts_with("~outbox/")) {
      rebuilt.push_back(std::move(kv));
    }
  }
  ASSERT_EQ(live.size(), rebuilt.size());
  for (std::size_t i = 0; i < live.size(); ++i) {
    ASSERT_EQ(live[i], rebuilt[i]) << "first difference at key " << live[i].first;
  }
}

}  // namespace
}  // namespace touchline::projections

namespace touchline::projections {
namespace {

TEST_F(CustomerFoldTest, ErasureDropsThePersonWholeAndAColdFoldAgrees) {
  Append("crm-1", "identify", {"email:zq@example.org", "phone:+6281299887766"},
         R"({"traits":{"name":"Zebulon"}})");
  Append("shop-2", "ticket.opened", {"email:zq@example.org"}, R"({"subject":"parcel"})");
  Append("c-other", "ticket.opened", {"email:other@example.org"});
  Fold();
  const std::string person = ProfileOf("crm-1");
  ASSERT_EQ(ProfileOf("shop-2"), person);
  ASSERT_EQ(View("email:zq@example.org").at("traits").at("name").at("value"), "Zebulon");

  store::AppendRequest erase;
  erase.actor = "admin";
  erase.system = true;
  for (const char* s : {"crm-1", "shop-2"}) {
    Event e;
    e.customer = s;
    e.type = std::string(store::kCustomerErasedType);
    erase.events.push_back(ProposedEvent{e, {}});
  }
  ASSERT_OK(log_->Append(std::move(erase)));
  Fold();

  for (const char* id : {"crm-1", "shop-2", "email:zq@example.org", "phone:+6281299887766"}) {
    auto pid = ResolveProfileId(*tx_, id);
    ASSERT_OK(pid);
    EXPECT_FALSE(pid->has_value()) << id;
  }
  auto pid = ResolveProfileId(*tx_, person);
  ASSERT_OK(pid);
  EXPECT_FALSE(pid->has_value());
  auto state = tx_->Scan("", "", SIZE_MAX);
  ASSERT_OK(state);
  for (const auto& [k, v] : *state) {
    EXPECT_EQ((k + v).find("zq@"), std::string::npos) << k;
    EXPECT_EQ((k + v).find("Zebulon"), std::string::npos) << k;
    EXPECT_EQ((k + v).find("6281299887766"), std::string::npos) << k;
  }
  EXPECT_EQ(ProfileOf("email:other@example.org"), ProfileOf("c-other"));
  // Folding the log again (its erased records now carry no identities or
  // data) ends in the same state.
  ExpectColdFoldEqual();
}

}  // namespace
}  // namespace touchline::projections
