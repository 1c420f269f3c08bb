#include "store/subscription.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "store/event_log.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

using touchline::testing::MakeEvent;
using touchline::testing::Propose;
using touchline::testing::StatusIs;
using touchline::testing::TempDir;

class SubscriptionTest : public ::testing::Test {
 protected:
  void Open(std::size_t buffer_records = 8192, bool sync = true) {
    EventLogOptions options;
    options.path = dir_.Sub("db");
    options.sync = sync;
    options.subscription_buffer_records = buffer_records;
    auto log = EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  void AppendN(int n, const std::string& customer = "c") {
    for (int i = 0; i < n; ++i) {
      AppendRequest req;
      req.events.push_back(Propose(MakeEvent(customer)));
      ASSERT_OK(log_->Append(std::move(req)));
    }
  }

  // Reads until `count` records arrived (or 20 s passed).
  std::vector<RecordPtr> Collect(Subscription* sub, std::size_t count) {
    std::vector<RecordPtr> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto batch = sub->Next(500, std::chrono::milliseconds(100));
      EXPECT_OK(batch);
      if (!batch.ok()) {
        break;
      }
      out.insert(out.end(), batch->begin(), batch->end());
    }
    return out;
  }

  static void ExpectContiguous(const std::vector<RecordPtr>& records, Seq first, Seq last) {
    ASSERT_EQ(records.size(), last - first + 1);
    for (std::size_t i = 0; i < records.size(); ++i) {
      ASSERT_EQ(records[i]->seq, first + i) << "at index " << i;
    }
  }

  TempDir dir_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(SubscriptionTest, CatchUpThenLive) {
  Open();
  AppendN(30);
  auto sub = log_->Subscribe(0);
  auto history = Collect(sub.get(), 30);
  ExpectContiguous(history, 1, 30);
  AppendN(5);
  auto live = Collect(sub.get(), 5);
  ExpectContiguous(live, 31, 35);
  EXPECT_EQ(sub->position(), 35u);
}

TEST_F(SubscriptionTest, StartsAfterTheGivenPosition) {
  Open();
  AppendN(10);
  auto sub = log_->Subscribe(7);
  ExpectContiguous(Collect(sub.get(), 3), 8, 10);
}

TEST_F(SubscriptionTest, NextTimesOutEmpty) {
  Open();
  auto sub = log_->Subscribe(0);
  auto batch = sub->Next(10, std::chrono::milliseconds(20));
  ASSERT_OK(batch);
  EXPECT_TRUE(batch->empty());
  auto polled = sub->Poll(10);
  ASSERT_OK(polled);
  EXPECT_TRUE(polled->empty());
}

TEST_F(SubscriptionTest, NoGapNoDuplicateUnderConcurrentAppends) {
  Open(8192, /*sync=*/false);
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 1500;
  AppendN(100);
  std::atomic<bool> go{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      while (!go) {
      }
      for (int i = 0; i < kPerWriter; ++i) {
        AppendRequest req;
        req.events.push_back(Propose(MakeEvent("w" + std::to_string(w))));
        if (i % 7 == 0) {
          req.events.push_back(Propose(MakeEvent("shared")));
        }
        ASSERT_OK(log_->Append(std::move(req)));
      }
    });
  }
  // Subscribers join at different moments and from different positions, so
  // the hand-over from disk to live happens while appends are in flight.
  std::vector<std::unique_ptr<Subscription>> subs;
  subs.push_back(log_->Subscribe(0));
  go = true;
  std::mt19937 rng(42);
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    subs.push_back(log_->Subscribe(rng() % (log_->head() + 1)));
  }
  for (auto& w : writers) {
    w.join();
  }
  const Seq head = log_->head();
  const Seq expected_head = 100 + kWriters * (kPerWriter + (kPerWriter + 6) / 7);
  EXPECT_EQ(head, expected_head);
  for (auto& sub : subs) {
    const Seq start = sub->position();
    auto got = Collect(sub.get(), head - start);
    ExpectContiguous(got, start + 1, head);
  }
}

TEST_F(SubscriptionTest, SlowConsumerFallsBackToDiskWithoutLoss) {
  Open(/*buffer_records=*/16, /*sync=*/false);
  auto sub = log_->Subscribe(0);
  AppendN(500);  // far beyond the 16-record live buffer
  ExpectContiguous(Collect(sub.get(), 500), 1, 500);
  AppendN(3);
  ExpectContiguous(Collect(sub.get(), 3), 501, 503);
}

TEST_F(SubscriptionTest, NotifierFiresOnCommit) {
  Open();
  auto sub = log_->Subscribe(0);
  std::atomic<int> notified{0};
  sub->SetNotifier([&] { notified++; });
  AppendN(2);
  EXPECT_GE(notified.load(), 2);
  auto got = sub->Poll(10);
  ASSERT_OK(got);
  EXPECT_EQ(got->size(), 2u);
}

TEST_F(SubscriptionTest, CloseEndsSubscriptions) {
  Open();
  auto sub = log_->Subscribe(0);
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log_->Close();
  });
  auto r = sub->Next(10, std::chrono::seconds(10));
  closer.join();
  EXPECT_THAT(r, StatusIs(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace touchline::store
