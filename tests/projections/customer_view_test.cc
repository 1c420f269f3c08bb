#include "projections/customer_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "core/identity.h"
#include "tests/support/status_matchers.h"

namespace touchline::projections {
namespace {

using ::testing::ElementsAre;
using touchline::testing::StatusIs;
namespace json = boost::json;

class CustomerViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventLogOptions options;
    options.in_memory = true;
    options.path = "/view";
    options.sync = false;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  Seq Append(const std::string& customer, const std::string& type,
             const std::vector<Identity>& identities = {}, const std::string& channel = "") {
    Event e;
    e.customer = customer;
    e.type = type;
    e.channel = channel;
    e.identities = identities;
    CanonicalizeIdentities(&e.identities);
    auto r = log_->Append(store::AppendRequest{{ProposedEvent{e, {}}}, "test"});
    EXPECT_OK(r);
    return r.ok() ? r->events[0].seq : 0;
  }

  void Fold() {
    auto records = log_->ReadFrom(folded_ + 1, 1000000);
    ASSERT_OK(records);
    for (const auto& r : *records) {
      ASSERT_OK(fold_.Apply(*r, &state_));
      folded_ = r->seq;
    }
    ASSERT_OK(fold_.Flush(&state_));
  }

  std::vector<std::string> Streams(const std::string& id) {
    auto pid = ResolveProfileId(state_, id);
    EXPECT_OK(pid);
    auto p = LoadLiveProfile(state_, pid->value_or("none"));
    EXPECT_OK(p);
    return p.ok() ? p->Streams() : std::vector<std::string>{};
  }

  std::unique_ptr<store::EventLog> log_;
  StateTx state_;
  CustomerViewProjection fold_;
  Seq folded_ = 0;
};

TEST_F(CustomerViewTest, TimelinePagesMergeStreamsBySeqWithoutGapsOrDuplicates) {
  // Three streams of one person, interleaved with someone else's events.
  Append("a", "t", {{"email", "p@x.io"}}, "email");
  Append("b", "t", {{"email", "p@x.io"}}, "phone");
  Append("c", "t", {{"email", "p@x.io"}}, "chat");
  for (int i = 0; i < 60; ++i) {
    Append(std::vector<std::string>{"a", "b", "c", "other"}[i % 4],
           i % 3 == 0 ? "ticket.opened" : "email.sent", {}, i % 2 ? "email" : "web");
  }
  Fold();
  const auto streams = Streams("a");
  ASSERT_EQ(streams.size(), 3u);
  for (const bool filtered : {false, true}) {
    TimelineQuery q;
    q.streams = streams;
    q.limit = 7;
    if (filtered) {
      q.types = {"ticket"};
      q.channels = {"web"};
      q.max_scan = 5;  // forces scan-limited pages and cutoffs
    }
    std::vector<Seq> seen;
    for (int page = 0; page < 100; ++page) {
      auto p = ReadTimeline(*log_, q);
      ASSERT_OK(p);
      for (const auto& r : p->records) {
        EXPECT_NE(r->customer, "other");
        if (filtered) {
          EXPECT_EQ(r->type, "ticket.opened");
          EXPECT_EQ(r->channel, "web");
        }
        seen.push_back(r->seq);
      }
      if (!p->next_before_seq) {
        break;
      }
      q.before_seq = p->next_before_seq;
    }
    // Expected: every matching seq of the three streams, newest first.
    std::vector<Seq> want;
    auto all = log_->ReadFrom(1, 1000);
    ASSERT_OK(all);
    for (auto it = all->rbegin(); it != all->rend(); ++it) {
      const store::Record& r = **it;
      if (r.customer != "other" && r.type.starts_with("profile.") == false &&
          (!filtered || (r.type == "ticket.opened" && r.channel == "web"))) {
        want.push_back(r.seq);
      }
    }
    EXPECT_EQ(seen, want) << (filtered ? "filtered" : "unfiltered");
  }
}

TEST_F(CustomerViewTest, AsOfBeforeTheLinkShowsSeparatePeople) {
  Append("c-mail", "email.sent", {{"email", "al@x.io"}}, "email");
  Append("c-call", "call.logged", {{"phone", "+6281234567890"}}, "phone");
  const Seq link = Append("c-mail", "identify", {{"phone", "+6281234567890"}}, "web");
  Fold();
  ASSERT_EQ(Streams("c-call").size(), 2u);
  IdentityLimits limits;
  auto before = RenderCustomerViewAsOf(*log_, state_, "c-call", AsOf{link - 1, {}}, limits, 100);
  ASSERT_OK(before);
  const auto b = json::parse(*before).as_object();
  EXPECT_EQ(b.at("profile").as_string(), "p-2");
  EXPECT_EQ(b.at("customers").as_array().size(), 1u);
  EXPECT_EQ(b.at("as_of").at("current_profile").as_string(), "p-1");
  auto after = RenderCustomerViewAsOf(*log_, state_, "c-call", AsOf{link, {}}, limits, 100);
  ASSERT_OK(after);
  EXPECT_EQ(json::parse(*after).at("customers").as_array().size(), 2u);
  // Unknown then, and too much to fold, are reported.
  EXPECT_THAT(RenderCustomerViewAsOf(*log_, state_, "c-call", AsOf{1, {}}, limits, 100),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(RenderCustomerViewAsOf(*log_, state_, "c-call", AsOf{link, {}}, limits, 2),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RenderCustomerViewAsOf(*log_, state_, "nobody", AsOf{link, {}}, limits, 100),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(CustomerViewTest, SearchFindsIdentitiesByPrefixInPages) {
  for (int i = 0; i < 25; ++i) {
    Append("c-" + std::to_string(i), "t",
           {{"email", "ann" + std::to_string(100 + i) + "@x.io"},
            {"user_id", "Ann-" + std::to_string(i)}});
  }
  Append("c-bob", "t", {{"email", "bob@x.io"}});
  Fold();
  std::set<std::string> found;
  std::string after;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto page = SearchIdentities(state_, "ANN", after, 10);
    ASSERT_OK(page);
    for (const auto& h : page->hits) {
      EXPECT_TRUE(found.insert(h.identity).second) << "duplicate " << h.identity;
      EXPECT_FALSE(h.profile.empty());
    }
    if (!page->next_after) {
      break;
    }
    after = *page->next_after;
  }
  EXPECT_EQ(found.size(), 50u);  // 25 emails + 25 user ids, case-insensitively
  EXPECT_EQ(pages, 4);
  EXPECT_TRUE(found.contains("user_id:Ann-3"));
  auto bob = SearchIdentities(state_, "bob@", "", 10);
  ASSERT_OK(bob);
  ASSERT_EQ(bob->hits.size(), 1u);
  EXPECT_EQ(bob->hits[0].identity, "email:bob@x.io");
}

TEST_F(CustomerViewTest, ViewListsIdentitiesMergesAndNewestEvents) {
  Append("a", "t", {{"email", "m@x.io"}});
  Append("b", "t", {{"phone", "+6281234567890"}});
  for (int i = 0; i < 12; ++i) {
    Append(i % 2 ? "a" : "b", "email.sent", {}, "email");
  }
  Append("b", "identify", {{"email", "m@x.io"}});
  Fold();
  auto pid = ResolveProfileId(state_, "b");
  ASSERT_OK(pid);
  auto p = LoadLiveProfile(state_, pid->value());
  ASSERT_OK(p);
  auto view = RenderCustomerView(state_, *p, *log_);
  ASSERT_OK(view);
  const auto v = json::parse(*view).as_object();
  EXPECT_EQ(v.at("profile").as_string(), "p-1");
  EXPECT_EQ(v.at("identities").at("email").as_array()[0].as_string(), "m@x.io");
  EXPECT_EQ(v.at("merged_profiles").as_array()[0].at("profile").as_string(), "p-2");
  const auto& recent = v.at("recent_events").as_array();
  ASSERT_EQ(recent.size(), 10u);
  EXPECT_EQ(recent[0].at("seq").as_int64(), 15);
  EXPECT_EQ(recent[9].at("seq").as_int64(), 6);
  EXPECT_EQ(v.at("events").as_int64(), 15);
  EXPECT_EQ(v.at("channels").at("email").at("count").as_int64(), 12);
}

}  // namespace
}  // namespace touchline::projections
