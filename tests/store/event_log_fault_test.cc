// The log on a disk that fails its fsyncs: nothing unsynced is acknowledged,
// the failure is reported as Unavailable, later writes are refused rather
// than guessed at, reads keep working, and a reopen on a healthy disk has
// every acknowledged event with no gap.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <thread>
#include <utility>

#include "store/event_log.h"
#include "store/internal/event_log_impl.h"
#include "tests/support/fault_injection_fs.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

using touchline::testing::FaultInjectionFs;
using touchline::testing::MakeEvent;
using touchline::testing::Propose;
using touchline::testing::StatusIs;
using touchline::testing::TempDir;

StatusOr<AppendResult> AppendOne(EventLog* log, const std::string& id) {
  AppendRequest req;
  req.events.push_back(Propose(MakeEvent("c", "note.added", id)));
  return log->Append(std::move(req));
}

TEST(EventLogFaultTest, FailedFsyncIsNeverAcknowledged) {
  TempDir dir;
  auto fs = std::make_shared<FaultInjectionFs>();
  auto env = rocksdb::NewCompositeEnv(fs);
  EventLogOptions options;
  options.path = dir.Sub("db");
  {
    auto log = internal::OpenWithEnv(options, env.get());
    ASSERT_OK(log);
    ASSERT_OK(AppendOne(log->get(), "before-1"));
    ASSERT_OK(AppendOne(log->get(), "before-2"));

    fs->FailWalSyncs(true);
    EXPECT_THAT(AppendOne(log->get(), "during"), StatusIs(StatusCode::kUnavailable));
    EXPECT_GT(fs->failed_syncs(), 0);
    EXPECT_EQ((*log)->head(), 2u);  // not published to readers or subscribers

    // The disk recovers, but the log does not pretend the failed write did
    // not happen: it keeps refusing writes until it is reopened.
    fs->FailWalSyncs(false);
    EXPECT_THAT(AppendOne(log->get(), "after"), StatusIs(StatusCode::kUnavailable));
    EXPECT_THAT((*log)->WriteHealth(),
                StatusIs(StatusCode::kUnavailable, ::testing::HasSubstr("injected fsync")));
    auto read = (*log)->ReadFrom(1, 10);
    ASSERT_OK(read);
    EXPECT_EQ(read->size(), 2u);
  }
  // Reopened on a healthy disk: the acknowledged events are there, the log
  // is gap-free, and the event whose fsync failed is either absent or stored
  // once (its outcome was unknown to the client, which may retry it).
  auto log = EventLog::Open(options);
  ASSERT_OK(log);
  EXPECT_OK((*log)->WriteHealth());
  const Seq head = (*log)->head();
  EXPECT_GE(head, 2u);
  EXPECT_LE(head, 3u);
  auto all = (*log)->ReadFrom(1, 10);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), head);
  EXPECT_EQ((*all)[0]->id, "before-1");
  EXPECT_EQ((*all)[1]->id, "before-2");
  auto retry = AppendOne(log->get(), "during");
  ASSERT_OK(retry);
  EXPECT_EQ(retry->events[0].duplicate, head == 3);
  EXPECT_EQ((*log)->head(), 3u);
}

// Queues the same event twice (a client's first attempt and its retry) while
// the appender is paused, so both land in one commit group; `before_resume`
// runs just before the group is committed. Returns both outcomes.
std::pair<StatusOr<AppendResult>, StatusOr<AppendResult>> AttemptAndRetryInOneGroup(
    internal::EventLogImpl* log, const std::function<void()>& before_resume) {
  log->TEST_PauseAppender(true);
  std::promise<StatusOr<AppendResult>> first, retry;
  for (auto* p : {&first, &retry}) {
    AppendRequest req;
    req.events.push_back(Propose(MakeEvent("c", "note.added", "same-id")));
    log->AppendAsync(std::move(req), [p](StatusOr<AppendResult> r) { p->set_value(std::move(r)); });
  }
  before_resume();
  log->TEST_PauseAppender(false);
  return {first.get_future().get(), retry.get_future().get()};
}

TEST(EventLogFaultTest, FullDiskRefusesWritesKeepsReadsAndResumesWhenSpaceReturns) {
  TempDir dir;
  auto fs = std::make_shared<FaultInjectionFs>();
  auto env = rocksdb::NewCompositeEnv(fs);
  EventLogOptions options;
  options.path = dir.Sub("db");
  {
    auto log = internal::OpenWithEnv(options, env.get());
    ASSERT_OK(log);
    ASSERT_OK(AppendOne(log->get(), "before-1"));
    ASSERT_OK(AppendOne(log->get(), "before-2"));

    fs->FailWalAppendsNoSpace(true);
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(AppendOne(log->get(), "during-" + std::to_string(i)),
                  StatusIs(StatusCode::kUnavailable));
    }
    EXPECT_EQ((*log)->head(), 2u);
    EXPECT_THAT((*log)->WriteHealth(), StatusIs(StatusCode::kUnavailable));
    auto read = (*log)->ReadFrom(1, 10);
    ASSERT_OK(read);
    EXPECT_EQ(read->size(), 2u);

    // Space returns: within about a second writes are accepted again.
    fs->FailWalAppendsNoSpace(false);
    Status last;
    for (int i = 0; i < 50; ++i) {
      auto r = AppendOne(log->get(), "after");
      last = r.status();
      if (r.ok()) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_OK(last);
    EXPECT_OK((*log)->WriteHealth());
    ASSERT_OK(AppendOne(log->get(), "after-2"));
    EXPECT_EQ((*log)->head(), 4u);
  }
  // Reopened: exactly the acknowledged events, gap-free.
  auto log = internal::OpenWithEnv(options, env.get());
  ASSERT_OK(log);
  auto read = (*log)->ReadFrom(1, 10);
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 4u);
  EXPECT_EQ((*read)[2]->id, "after");
  EXPECT_EQ((*read)[3]->seq, 4u);
}

TEST(EventLogFaultTest, ReplayOfAnEventStagedInAFailedGroupIsNotAcknowledged) {
  TempDir dir;
  auto fs = std::make_shared<FaultInjectionFs>();
  auto env = rocksdb::NewCompositeEnv(fs);
  EventLogOptions options;
  options.path = dir.Sub("db");
  auto opened = internal::OpenWithEnv(options, env.get());
  ASSERT_OK(opened);
  auto* log = static_cast<internal::EventLogImpl*>(opened->get());
  // The group's fsync fails: the retry must not be told the event is stored.
  auto [first, retry] = AttemptAndRetryInOneGroup(log, [&] { fs->FailWalSyncs(true); });
  EXPECT_THAT(first, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(retry, StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(log->head(), 0u);
}

TEST(EventLogFaultTest, RetryInTheSameGroupIsADuplicateWhenTheWriteSucceeds) {
  TempDir dir;
  EventLogOptions options;
  options.path = dir.Sub("db");
  auto opened = internal::OpenWithEnv(options, nullptr);
  ASSERT_OK(opened);
  auto* log = static_cast<internal::EventLogImpl*>(opened->get());
  auto [a, b] = AttemptAndRetryInOneGroup(log, [] {});
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_FALSE(a->events[0].duplicate);
  EXPECT_TRUE(b->events[0].duplicate);
  EXPECT_EQ(b->events[0].seq, a->events[0].seq);
  EXPECT_EQ(log->Stats().commit_groups, 1u);  // really one group
}

}  // namespace
}  // namespace touchline::store
