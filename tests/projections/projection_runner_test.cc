#include "projections/projection_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::projections {
namespace {

using ::testing::HasSubstr;
using touchline::testing::MakeEvent;
using touchline::testing::StatusIs;

// Counts events per type; fails on type "poison" while `poisoned` is set;
// emits one "echo.seen" event per "echo.request".
class CountingProjection final : public Projection {
 public:
  CountingProjection(std::string name, std::string version, std::atomic<bool>* poisoned,
                     std::atomic<int>* applied)
      : name_(std::move(name)),
        version_(std::move(version)),
        poisoned_(poisoned),
        applied_(applied) {}

  std::string_view Name() const override { return name_; }
  std::string Version() const override { return version_; }
  Status Apply(const store::Record& r, StateTx* tx) override {
    ++*applied_;
    if (r.type == "poison" && poisoned_->load()) {
      return Status::InvalidArgument("cannot fold poison");
    }
    ASSIGN_OR_RETURN(auto v, tx->Get(r.type));
    tx->Put(r.type, std::to_string(v ? std::stoi(*v) + 1 : 1));
    if (r.type == "echo.request") {
      Event e;
      e.id = "echo." + std::to_string(r.seq);
      e.customer = r.customer;
      e.type = "echo.seen";
      e.time_us = r.time_us;
      tx->Emit(std::move(e));
    }
    return Status::Ok();
  }

 private:
  const std::string name_;
  const std::string version_;
  std::atomic<bool>* const poisoned_;
  std::atomic<int>* const applied_;
};

class ProjectionRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store::EventLogOptions options;
    options.path = dir_.Sub("db");
    options.sync = false;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  std::unique_ptr<ProjectionRunner> Runner(const std::string& name, const std::string& version,
                                           std::atomic<bool>* poisoned = nullptr) {
    RunnerOptions o;
    o.max_batch = 3;
    o.catch_up_batch = 3;
    o.poll_interval = std::chrono::milliseconds(5);
    auto r =
        ProjectionRunner::Create(log_.get(),
                                 std::make_unique<CountingProjection>(
                                     name, version, poisoned ? poisoned : &poisoned_, &applied_),
                                 o);
    EXPECT_OK(r);
    return r.ok() ? std::move(r).value() : nullptr;
  }

  void Append(const std::string& type, int n = 1) {
    for (int i = 0; i < n; ++i) {
      ASSERT_OK(log_->Append(
          store::AppendRequest{{touchline::testing::Propose(MakeEvent("c-1", type))}, "test"}));
    }
  }

  // Waits (bounded) for the runner to reach `seq`; returns the wait's status.
  static Status WaitFor(ProjectionRunner* r, Seq seq, int ms = 5000) {
    std::promise<Status> p;
    r->WaitFor(seq, std::chrono::milliseconds(ms), [&p](Status s) { p.set_value(std::move(s)); });
    return p.get_future().get();
  }

  static std::string Count(ProjectionRunner* r, const std::string& type) {
    auto v = r->state().Get(type);
    EXPECT_OK(v);
    return v.ok() && v->has_value() ? **v : "0";
  }

  touchline::testing::TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
  std::atomic<bool> poisoned_{false};
  std::atomic<int> applied_{0};
};

TEST_F(ProjectionRunnerTest, FoldsLiveAndResumesFromItsCheckpoint) {
  Append("a", 5);
  auto r = Runner("count", "v1");
  ASSERT_OK(r->Start());
  Append("a", 4);
  ASSERT_OK(WaitFor(r.get(), 9));
  EXPECT_EQ(Count(r.get(), "a"), "9");
  EXPECT_EQ(r->status().state, "running");
  r.reset();  // stops; the state and checkpoint are committed
  applied_ = 0;
  Append("b", 2);
  r = Runner("count", "v1");
  ASSERT_OK(r->Start());
  ASSERT_OK(WaitFor(r.get(), 11));
  EXPECT_EQ(applied_.load(), 2) << "only the records after the checkpoint are folded again";
  EXPECT_EQ(Count(r.get(), "a"), "9");
  EXPECT_EQ(Count(r.get(), "b"), "2");
}

TEST_F(ProjectionRunnerTest, ANewVersionRebuildsFromSeqZero) {
  Append("a", 4);
  {
    auto r = Runner("count", "v1");
    ASSERT_OK(r->Start());
    ASSERT_OK(WaitFor(r.get(), 4));
  }
  applied_ = 0;
  auto r = Runner("count", "v2");
  ASSERT_OK(r->Start());
  ASSERT_OK(WaitFor(r.get(), 4));
  EXPECT_EQ(applied_.load(), 4);
  EXPECT_EQ(Count(r.get(), "a"), "4") << "state from v1 was dropped, not added to";
  EXPECT_EQ(r->status().version, "v2");
}

TEST_F(ProjectionRunnerTest, AFaultStopsOnlyThatProjectionUntilRebuilt) {
  poisoned_ = true;
  auto bad = Runner("bad", "v1");
  std::atomic<bool> never{false};
  auto good = Runner("good", "v1", &never);
  ASSERT_OK(bad->Start());
  ASSERT_OK(good->Start());
  Append("a", 2);
  Append("poison");
  Append("a", 2);
  ASSERT_OK(WaitFor(good.get(), 5));
  EXPECT_EQ(Count(good.get(), "poison"), "1");
  // The faulted one committed everything before the bad record, and says where it stopped.
  EXPECT_THAT(WaitFor(bad.get(), 5),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("faulted at seq 3")));
  const ProjectionStatus st = bad->status();
  EXPECT_EQ(st.state, "faulted");
  EXPECT_EQ(st.fault_seq, 3u);
  EXPECT_EQ(st.checkpoint, 2u);
  EXPECT_THAT(st.fault, HasSubstr("cannot fold poison"));
  EXPECT_EQ(Count(bad.get(), "a"), "2");
  // Fixed (the poison now folds), a rebuild resumes it.
  poisoned_ = false;
  bad->RequestRebuild();
  ASSERT_OK(WaitFor(bad.get(), 5));
  EXPECT_EQ(bad->status().state, "running");
  EXPECT_EQ(Count(bad.get(), "a"), "4");
}

TEST_F(ProjectionRunnerTest, WaitForTimesOutWhileBehindAndFailsWhenStopped) {
  auto r = Runner("count", "v1");
  ASSERT_OK(r->Start());
  EXPECT_THAT(WaitFor(r.get(), 100, 30),
              StatusIs(StatusCode::kUnavailable, HasSubstr("catching up")));
  r->Stop();
  EXPECT_THAT(WaitFor(r.get(), 100), StatusIs(StatusCode::kUnavailable));
}

TEST_F(ProjectionRunnerTest, EmittedEventsAreAppendedOnceEvenAfterARebuild) {
  auto r = Runner("echo", "v1");
  ASSERT_OK(r->Start());
  Append("echo.request", 3);
  // 3 requests + 3 emitted echoes, which the runner also folds.
  for (int i = 0; i < 200 && r->checkpoint() < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_OK(WaitFor(r.get(), 6));
  EXPECT_EQ(Count(r.get(), "echo.seen"), "3");
  r->RequestRebuild();  // re-emits the same ids: the log keeps the originals
  Append("a");
  ASSERT_OK(WaitFor(r.get(), 7));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(log_->head(), 7u);
  EXPECT_EQ(Count(r.get(), "echo.seen"), "3");
  // The outbox drains: nothing is left to re-send at the next start.
  Append("a");
  ASSERT_OK(WaitFor(r.get(), 8));
  r->Stop();
  auto outbox = r->state().Scan("~outbox/", "", 100);
  ASSERT_OK(outbox);
  EXPECT_TRUE(outbox->empty());
}

TEST_F(ProjectionRunnerTest, CatchUpFoldsOfflineWithProgress) {
  Append("a", 10);
  auto r = Runner("count", "v1");
  std::vector<Seq> progress;
  ASSERT_OK(r->CatchUp(/*rebuild=*/true, [&](Seq done, Seq total) {
    EXPECT_EQ(total, 10u);
    progress.push_back(done);
  }));
  EXPECT_EQ(Count(r.get(), "a"), "10");
  EXPECT_EQ(progress.back(), 10u);
  EXPECT_GE(progress.size(), 3u);  // batches of 3
  poisoned_ = true;
  Append("poison");
  EXPECT_THAT(r->CatchUp(false, nullptr),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("failed at seq 11")));
}

}  // namespace
}  // namespace touchline::projections
