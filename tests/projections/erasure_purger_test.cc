#include "projections/erasure_purger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "projections/customer_view_projection.h"
#include "store/sealing.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::projections {
namespace {

using touchline::testing::MakeEvent;
using touchline::testing::TempDir;

class ErasurePurgerTest : public ::testing::Test {
 protected:
  void Open() {
    log_.reset();
    store::EventLogOptions options;
    options.path = dir_.Sub("db");
    options.block_cache_bytes = 8 << 20;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }
  Seq Erase(const std::string& customer) {
    store::AppendRequest req;
    req.system = true;
    Event e;
    e.customer = customer;
    e.type = std::string(store::kCustomerErasedType);
    req.events.push_back(ProposedEvent{e, {}});
    auto r = log_->Append(std::move(req));
    EXPECT_OK(r);
    return r.ok() ? r->events[0].seq : 0;
  }
  static bool WaitFor(const ErasurePurger& p, Seq seq) {
    for (int i = 0; i < 500 && p.purged_through() < seq; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return p.purged_through() >= seq;
  }

  TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
};

TEST_F(ErasurePurgerTest, PurgesOnceTheProjectionsHaveFoldedTheErasure) {
  Open();
  auto runner = ProjectionRunner::Create(log_.get(), std::make_unique<CustomerViewProjection>());
  ASSERT_OK(runner);
  ASSERT_OK((*runner)->Start());
  ErasurePurger purger(log_.get(), {runner->get()});
  ASSERT_OK(purger.Start());
  Event e = MakeEvent("c-1");
  e.identities = {Identity{"email", "gone@example.com"}};
  ASSERT_OK(log_->Append(store::AppendRequest{{ProposedEvent{e, {}}}, "t"}));
  const Seq erased = Erase("c-1");
  purger.PurgeAfter(erased);
  ASSERT_TRUE(WaitFor(purger, erased));
  EXPECT_GE((*runner)->checkpoint(), erased);
  EXPECT_OK(purger.last_error());
  EXPECT_THAT(log_->PurgedThrough(), testing::IsOkAndHolds(erased));
  purger.Stop();
  (*runner)->Stop();
}

TEST_F(ErasurePurgerTest, AnErasureLeftUnpurgedByACrashIsPurgedAtTheNextStart) {
  Open();
  ASSERT_OK(log_->Append(store::AppendRequest{{ProposedEvent{MakeEvent("c-1"), {}}}, "t"}));
  const Seq erased = Erase("c-1");
  // The process dies before any purge: reopen, and the purger owes one.
  Open();
  EXPECT_THAT(log_->PurgedThrough(), testing::IsOkAndHolds(Seq{0}));
  ErasurePurger purger(log_.get(), {});
  ASSERT_OK(purger.Start());
  EXPECT_TRUE(WaitFor(purger, erased));
}

}  // namespace
}  // namespace touchline::projections
