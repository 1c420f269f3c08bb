#include "api/stream_hub.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/event_log.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::api {
namespace {

using touchline::testing::MakeEvent;
using touchline::testing::Propose;
using touchline::testing::TempDir;

class StreamHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventLogOptions options;
    options.path = dir_.Sub("db");
    options.sync = false;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  void StartHub(std::size_t max_queue = 1024) {
    StreamHubOptions o;
    o.max_queue_records = max_queue;
    o.catch_up_chunk = 7;  // small, so catch-up takes several polls
    hub_ = std::make_unique<StreamHub>(log_.get(), nullptr, o);
    hub_->Start();
  }

  Seq Append(const std::string& customer, const std::string& type = "note.added",
             std::vector<Identity> identities = {}, std::string channel = "") {
    store::AppendRequest req;
    Event e = MakeEvent(customer, type);
    e.identities = std::move(identities);
    e.channel = std::move(channel);
    req.events.push_back(Propose(std::move(e)));
    auto r = log_->Append(std::move(req));
    EXPECT_OK(r);
    return r.ok() ? r->events[0].seq : 0;
  }

  // Polls until `count` records came or 10 s passed (also waiting for the
  // dispatcher, which delivers asynchronously).
  std::vector<Seq> Drain(StreamFeed* feed, std::size_t count) {
    std::vector<Seq> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto b = feed->Poll(3);
      EXPECT_OK(b);
      if (!b.ok()) {
        break;
      }
      for (const auto& r : b->records) {
        out.push_back(r->seq);
      }
      if (b->records.empty() && !b->more) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    return out;
  }

  std::unique_ptr<StreamFeed> Subscribe(StreamFilter f, Seq after,
                                        std::function<void()> notify = nullptr) {
    auto feed = hub_->Subscribe(f, after, std::move(notify));
    EXPECT_OK(feed);
    return feed.ok() ? std::move(feed).value() : nullptr;
  }

  static std::vector<Seq> Range(Seq from, Seq to) {
    std::vector<Seq> v;
    for (Seq s = from; s <= to; ++s) {
      v.push_back(s);
    }
    return v;
  }

  TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<StreamHub> hub_;
};

TEST_F(StreamHubTest, CatchUpThenLiveWithoutGapOrDuplicate) {
  for (int i = 0; i < 20; ++i) {
    Append("c");
  }
  StartHub();
  std::atomic<int> notified{0};
  auto feed = Subscribe({}, 5, [&] { notified.fetch_add(1); });
  EXPECT_EQ(Drain(feed.get(), 15), Range(6, 20));
  // Caught up: the next poll joins the dispatcher, then appends are pushed.
  ASSERT_OK(feed->Poll(10));
  for (int i = 0; i < 10; ++i) {
    Append("c");
  }
  EXPECT_EQ(Drain(feed.get(), 10), Range(21, 30));
  EXPECT_GT(notified.load(), 0);
  EXPECT_EQ(feed->position(), 30u);
}

TEST_F(StreamHubTest, HandOverUnderConcurrentAppends) {
  StartHub();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      Append("c");
    }
  });
  while (log_->head() < 200) {
    std::this_thread::yield();
  }
  auto feed = Subscribe({}, 50);
  std::vector<Seq> got = Drain(feed.get(), 500);
  stop = true;
  writer.join();
  ASSERT_GE(got.size(), 500u);
  got.resize(500);
  EXPECT_EQ(got, Range(51, 550));
}

TEST_F(StreamHubTest, OverflowFallsBackToTheLog) {
  StartHub(/*max_queue=*/2);
  auto feed = Subscribe({}, 0);
  ASSERT_OK(feed->Poll(10));  // live now
  for (int i = 0; i < 50; ++i) {
    Append("c");
  }
  // Wait until the dispatcher has seen them all, without consuming.
  while (hub_->dispatched() < 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(Drain(feed.get(), 50), Range(1, 50));
  Append("c");
  EXPECT_EQ(Drain(feed.get(), 1), Range(51, 51));
}

TEST_F(StreamHubTest, CustomerFilterFollowsIdentityLinks) {
  StartHub();
  StreamFilter f;
  f.customers = {"email:ann@example.com"};
  auto feed = Subscribe(f, 0);
  ASSERT_EQ(feed->resolved().size(), 1u);
  EXPECT_EQ(feed->resolved()[0].profile, "");  // no customer view here
  Append("other");
  const Seq linked = Append("shop-1", "cart.created", {{"email", "ann@example.com"}});
  const Seq follow = Append("shop-1", "cart.abandoned");
  Append("other");
  EXPECT_EQ(Drain(feed.get(), 2), (std::vector<Seq>{linked, follow}));
}

TEST_F(StreamHubTest, TypeAndChannelFilters) {
  Append("a", "ticket.opened", {}, "email");
  Append("a", "ticket.opened", {}, "phone");
  Append("a", "tickets.opened", {}, "email");
  Append("b", "ticket", {}, "email");
  StartHub();
  StreamFilter f;
  f.types = {"ticket"};
  f.channels = {"email"};
  auto feed = Subscribe(f, 0);
  EXPECT_EQ(Drain(feed.get(), 2), (std::vector<Seq>{1, 4}));
}

TEST_F(StreamHubTest, StreamFilterMatchesOnlyThatStream) {
  StartHub();
  StreamFilter f;
  f.customers = {"c-2"};
  auto feed = Subscribe(f, 0);
  ASSERT_OK(feed->Poll(1));
  Append("c-1");
  const Seq mine = Append("c-2");
  Append("c-3");
  EXPECT_EQ(Drain(feed.get(), 1), (std::vector<Seq>{mine}));
  while (hub_->dispatched() < 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto rest = feed->Poll(10);
  ASSERT_OK(rest);
  EXPECT_TRUE(rest->records.empty());
}

TEST_F(StreamHubTest, FeedsComeAndGoWhileTheDispatcherRuns) {
  StartHub();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      Append("c-" + std::to_string(log_->head() % 5));
    }
  });
  for (int i = 0; i < 200; ++i) {
    StreamFilter f;
    if (i % 2 == 0) {
      f.customers = {"c-" + std::to_string(i % 5)};
    }
    auto feed = Subscribe(f, log_->head());
    ASSERT_OK(feed->Poll(5));
    ASSERT_OK(feed->Poll(5));
  }
  stop = true;
  writer.join();
  EXPECT_EQ(hub_->feed_count(), 0u);
}

TEST_F(StreamHubTest, RejectsMalformedCustomerIds) {
  StartHub();
  StreamFilter f;
  f.customers = {std::string("bad\x01id")};
  EXPECT_THAT(hub_->Subscribe(f, 0, nullptr).status(),
              touchline::testing::StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace touchline::api
