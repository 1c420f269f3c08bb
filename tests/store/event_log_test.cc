#include "store/event_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <future>
#include <thread>
#include <tuple>

#include "store/key_format.h"
#include "tests/support/fake_clock.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using touchline::testing::FakeClock;
using touchline::testing::MakeEvent;
using touchline::testing::Propose;
using touchline::testing::StatusIs;
using touchline::testing::TempDir;

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    log_.reset();
    EventLogOptions options;
    options.path = dir_.Sub("db");
    options.clock = &clock_;
    options.block_cache_bytes = 8 << 20;
    auto log = EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  StatusOr<AppendResult> Append(std::vector<ProposedEvent> events) {
    AppendRequest req;
    req.events = std::move(events);
    req.actor = "tester";
    return log_->Append(std::move(req));
  }

  StatusOr<AppendResult> AppendOne(Event e, ExpectedVersion ev = ExpectedVersion::Any()) {
    return Append({Propose(std::move(e), ev)});
  }

  // Appends `e` without waiting; the future holds the answer.
  std::future<StatusOr<AppendResult>> AppendLater(Event e) {
    auto answered = std::make_shared<std::promise<StatusOr<AppendResult>>>();
    auto answer = answered->get_future();
    AppendRequest req;
    req.events = {Propose(std::move(e))};
    req.actor = "tester";
    log_->AppendAsync(std::move(req),
                      [answered](StatusOr<AppendResult> r) { answered->set_value(std::move(r)); });
    return answer;
  }

  std::vector<Seq> Seqs(const std::vector<RecordPtr>& records) {
    std::vector<Seq> out;
    for (const auto& r : records) {
      out.push_back(r->seq);
    }
    return out;
  }

  std::vector<StreamVersion> Versions(const std::vector<RecordPtr>& records) {
    std::vector<StreamVersion> out;
    for (const auto& r : records) {
      out.push_back(r->version);
    }
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(EventLogTest, AssignsGapFreeSeqAndPerCustomerVersions) {
  auto r = Append({Propose(MakeEvent("a")), Propose(MakeEvent("b")), Propose(MakeEvent("a"))});
  ASSERT_OK(r);
  EXPECT_THAT(r->events, ElementsAre(AppendedEvent{1, 1, false, {}}, AppendedEvent{2, 1, false, {}},
                                     AppendedEvent{3, 2, false, {}}));
  ASSERT_OK(AppendOne(MakeEvent("b")));
  EXPECT_EQ(log_->head(), 4u);
  EXPECT_THAT(log_->CurrentVersion("a"), testing::IsOkAndHolds(2u));
  EXPECT_THAT(log_->CurrentVersion("b"), testing::IsOkAndHolds(2u));
  EXPECT_THAT(log_->CurrentVersion("nobody"), testing::IsOkAndHolds(0u));
}

TEST_F(EventLogTest, StoresTheCanonicalRecord) {
  Event e = MakeEvent("c-1", "ticket.opened", "evt-1");
  e.channel = "email";
  ASSERT_OK(AppendOne(e));
  auto records = log_->ReadFrom(1, 10);
  ASSERT_OK(records);
  ASSERT_EQ(records->size(), 1u);
  const Record& rec = *(*records)[0];
  EXPECT_EQ(rec.id, "evt-1");
  EXPECT_EQ(rec.customer, "c-1");
  EXPECT_EQ(rec.channel, "email");
  EXPECT_EQ(rec.time_us, clock_.NowMicros());  // time defaults to recorded_at
  EXPECT_THAT(rec.json, HasSubstr("\"actor\":\"tester\""));
  EXPECT_THAT(rec.json, HasSubstr("\"data\":{\"n\":0}"));
}

TEST_F(EventLogTest, RejectsInvalidEvents) {
  EXPECT_THAT(Append({}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(AppendOne(MakeEvent("c", "Not.Valid")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("events[0].type")));
  Event e = MakeEvent("c");
  e.data = "[]";
  EXPECT_THAT(AppendOne(e), StatusIs(StatusCode::kInvalidArgument, HasSubstr("data")));
  EXPECT_EQ(log_->head(), 0u);
}

TEST_F(EventLogTest, ExpectedVersionAny) {
  ASSERT_OK(AppendOne(MakeEvent("c"), ExpectedVersion::Any()));
  ASSERT_OK(AppendOne(MakeEvent("c"), ExpectedVersion::Any()));
}

TEST_F(EventLogTest, ExpectedVersionNoStream) {
  ASSERT_OK(AppendOne(MakeEvent("c"), ExpectedVersion::NoStream()));
  EXPECT_THAT(AppendOne(MakeEvent("c"), ExpectedVersion::NoStream()),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("is at version 1")));
}

TEST_F(EventLogTest, ExpectedVersionExists) {
  EXPECT_THAT(AppendOne(MakeEvent("c"), ExpectedVersion::Exists()),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("is at version 0")));
  ASSERT_OK(AppendOne(MakeEvent("c")));
  ASSERT_OK(AppendOne(MakeEvent("c"), ExpectedVersion::Exists()));
}

TEST_F(EventLogTest, ExpectedVersionExact) {
  ASSERT_OK(AppendOne(MakeEvent("c"), ExpectedVersion::Exact(0)));
  ASSERT_OK(AppendOne(MakeEvent("c"), ExpectedVersion::Exact(1)));
  EXPECT_THAT(AppendOne(MakeEvent("c"), ExpectedVersion::Exact(1)),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("expected_version 1 but customer 'c' is at version 2")));
  EXPECT_THAT(AppendOne(MakeEvent("c"), ExpectedVersion::Exact(5)),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(log_->head(), 2u);
}

TEST_F(EventLogTest, ExpectedVersionAppliesWithinABatch) {
  // The second event's precondition sees the first event of the same batch.
  ASSERT_OK(Append({Propose(MakeEvent("c"), ExpectedVersion::NoStream()),
                    Propose(MakeEvent("c"), ExpectedVersion::Exact(1))}));
  EXPECT_THAT(log_->CurrentVersion("c"), testing::IsOkAndHolds(2u));
}

TEST_F(EventLogTest, BatchIsAllOrNothing) {
  ASSERT_OK(AppendOne(MakeEvent("x")));
  auto r = Append({Propose(MakeEvent("a", "t", "id-a")), Propose(MakeEvent("b")),
                   Propose(MakeEvent("x"), ExpectedVersion::Exact(7))});
  EXPECT_THAT(r, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("events[2]")));
  EXPECT_EQ(log_->head(), 1u);
  EXPECT_THAT(log_->CurrentVersion("a"), testing::IsOkAndHolds(0u));
  // The id of the failed batch was not consumed.
  auto again = AppendOne(MakeEvent("a", "t", "id-a"));
  ASSERT_OK(again);
  EXPECT_FALSE(again->events[0].duplicate);
  EXPECT_EQ(again->events[0].seq, 2u);
}

TEST_F(EventLogTest, IdempotentReplayReturnsTheOriginal) {
  auto first = AppendOne(MakeEvent("c", "t", "evt-1", 5));
  ASSERT_OK(first);
  ASSERT_OK(AppendOne(MakeEvent("c")));
  clock_.Advance(60'000'000);
  auto replay = AppendOne(MakeEvent("c", "t", "evt-1", 5));
  ASSERT_OK(replay);
  EXPECT_THAT(replay->events, ElementsAre(AppendedEvent{1, 1, true, {}}));
  EXPECT_TRUE(replay->AllDuplicates());
  EXPECT_EQ(log_->head(), 2u);
}

TEST_F(EventLogTest, ReplayIgnoresExpectedVersion) {
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "evt-1"), ExpectedVersion::NoStream()));
  // A retry of the same request must not fail just because it succeeded.
  auto replay = AppendOne(MakeEvent("c", "t", "evt-1"), ExpectedVersion::NoStream());
  ASSERT_OK(replay);
  EXPECT_TRUE(replay->events[0].duplicate);
}

TEST_F(EventLogTest, ReplayedPreconditionMustHaveHeldForTheOriginal) {
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "a"), ExpectedVersion::Exact(0)));
  EXPECT_THAT(AppendOne(MakeEvent("c", "t", "a"), ExpectedVersion::Exact(5)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("appended at version 1")));
}

TEST_F(EventLogTest, NewEventsAfterAReplayedPreconditionMustFollowTheOriginal) {
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "a"), ExpectedVersion::Exact(0)));
  // Resending the first event with its precondition plus a new one: the new
  // one lands right after the original, as the request asserted.
  auto r = Append({Propose(MakeEvent("c", "t", "a"), ExpectedVersion::Exact(0)),
                   Propose(MakeEvent("c", "t", "b"))});
  ASSERT_OK(r);
  EXPECT_THAT(r->events,
              ElementsAre(AppendedEvent{1, 1, true, {}}, AppendedEvent{2, 2, false, {}}));
  // Once someone else has written after it, the same shape is a conflict
  // rather than a silent lost update.
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "x")));
  EXPECT_THAT(Append({Propose(MakeEvent("c", "t", "b"), ExpectedVersion::Exact(1)),
                      Propose(MakeEvent("c", "t", "new"))}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("is at version 3")));
  EXPECT_EQ(log_->head(), 3u);
}

TEST_F(EventLogTest, ReadStreamRejectsZeroLimits) {
  StreamQuery q;
  q.customer = "c";
  q.limit = 0;
  EXPECT_THAT(log_->ReadStream(q), StatusIs(StatusCode::kInvalidArgument));
  q.limit = 1;
  q.max_scan = 0;
  EXPECT_THAT(log_->ReadStream(q), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(EventLogTest, ReplayWithExplicitTimeMustMatch) {
  Event e = MakeEvent("c", "t", "evt-1");
  e.time_us = 1'000'000;
  ASSERT_OK(AppendOne(e));
  Event retry = e;
  retry.time_us.reset();  // omitted: matches whatever the original had
  EXPECT_OK(AppendOne(retry));
  retry.time_us = 2'000'000;  // a different explicit time is a different event
  EXPECT_THAT(AppendOne(retry), StatusIs(StatusCode::kAlreadyExists));
}

TEST_F(EventLogTest, SameIdDifferentBodyIsAConflict) {
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "evt-1", 1)));
  EXPECT_THAT(AppendOne(MakeEvent("c", "t", "evt-1", 2)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("evt-1")));
  EXPECT_THAT(AppendOne(MakeEvent("other", "t", "evt-1", 1)), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(log_->head(), 1u);
}

TEST_F(EventLogTest, DuplicateIdsInsideOneRequest) {
  auto same = Append({Propose(MakeEvent("c", "t", "d", 1)), Propose(MakeEvent("c", "t", "d", 1))});
  ASSERT_OK(same);
  EXPECT_THAT(same->events,
              ElementsAre(AppendedEvent{1, 1, false, {}}, AppendedEvent{1, 1, true, {}}));
  EXPECT_EQ(log_->head(), 1u);
  auto different =
      Append({Propose(MakeEvent("c", "t", "e", 1)), Propose(MakeEvent("c", "t", "e", 2))});
  EXPECT_THAT(different, StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(log_->head(), 1u);
}

TEST_F(EventLogTest, EachEventModeRefusesOneAndWritesTheRest) {
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "first", 1)));
  AppendRequest req;
  req.actor = "tester";
  req.mode = AppendRequest::Mode::kEachEvent;
  req.events = {Propose(MakeEvent("a", "t", "a1", 1)),
                Propose(MakeEvent("c", "t", "", 2), ExpectedVersion::NoStream()),
                Propose(MakeEvent("c", "t", "first", 99)),  // same id, other body
                Propose(MakeEvent("a", "t", "a1", 1)), Propose(MakeEvent("b", "t", "", 3))};
  ASSERT_OK_AND_ASSIGN(AppendResult r, log_->Append(std::move(req)));
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[0], (AppendedEvent{2, 1, false, {}}));
  EXPECT_THAT(r.events[1].refused,
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("events[1]: expected_version")));
  EXPECT_EQ(r.events[1].seq, 0u);
  // First write wins: a retry rebuilt with another body is a duplicate.
  EXPECT_EQ(r.events[2], (AppendedEvent{1, 1, true, {}}));
  EXPECT_EQ(r.events[3], (AppendedEvent{2, 1, true, {}}));
  EXPECT_EQ(r.events[4], (AppendedEvent{3, 1, false, {}}));
  EXPECT_FALSE(r.AllDuplicates());
  EXPECT_EQ(log_->head(), 3u);
  ASSERT_OK_AND_ASSIGN(auto records, log_->ReadFrom(1, 10));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]->customer, "c");
  EXPECT_EQ(records[1]->customer, "a");
  EXPECT_EQ(records[2]->customer, "b");
}

TEST_F(EventLogTest, ConcurrentRetriesOfOneEventWriteItOnce) {
  std::vector<std::thread> threads;
  std::vector<StatusOr<AppendResult>> results(16, Status::Internal("unset"));
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] { results[t] = AppendOne(MakeEvent("c", "t", "same-id", 9)); });
  }
  for (auto& t : threads) {
    t.join();
  }
  int originals = 0;
  for (const auto& r : results) {
    ASSERT_OK(r);
    EXPECT_EQ(r->events[0].seq, 1u);
    originals += r->events[0].duplicate ? 0 : 1;
  }
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(log_->head(), 1u);
}

TEST_F(EventLogTest, BackpressureHoldsAppendsWhileTheFoldIsTooFarBehind) {
  std::atomic<Seq> folded{0};
  log_->SetBackpressure([&] { return folded.load(); }, 2);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(AppendOne(MakeEvent("c")));  // lag 0, 1, 2: within the limit
  }
  // Lag 3 > 2: the next append waits for the fold.
  auto answer = AppendLater(MakeEvent("c"));
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_EQ(log_->head(), 3u);
  folded = 3;
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto result = answer.get();
  ASSERT_OK(result);
  EXPECT_EQ(result->events[0].seq, 4u);
}

TEST_F(EventLogTest, CloseAnswersAnAppendHeldByBackpressure) {
  log_->SetBackpressure([] { return Seq{0}; }, 1);
  ASSERT_OK(AppendOne(MakeEvent("c")));
  ASSERT_OK(AppendOne(MakeEvent("c")));
  auto answer = AppendLater(MakeEvent("c"));
  log_.reset();  // must not wait for a fold that never comes
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

TEST_F(EventLogTest, ReadFromPaginatesInSeqOrder) {
  for (int i = 0; i < 25; ++i) {
    ASSERT_OK(AppendOne(MakeEvent("c" + std::to_string(i % 3))));
  }
  auto page = log_->ReadFrom(1, 10);
  ASSERT_OK(page);
  ASSERT_EQ(page->size(), 10u);
  EXPECT_EQ(page->front()->seq, 1u);
  page = log_->ReadFrom(21, 10);
  ASSERT_OK(page);
  EXPECT_EQ(Seqs(*page), (std::vector<Seq>{21, 22, 23, 24, 25}));
  page = log_->ReadFrom(26, 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->empty());
}

TEST_F(EventLogTest, ReadStreamNewestFirstWithCursor) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK(Append({Propose(MakeEvent("c")), Propose(MakeEvent("other"))}));
  }
  StreamQuery q;
  q.customer = "c";
  q.limit = 3;
  auto page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(page->current_version, 7u);
  EXPECT_EQ(Versions(page->records), (std::vector<StreamVersion>{7, 6, 5}));
  ASSERT_TRUE(page->next_before.has_value());
  q.before = page->next_before;
  page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(Versions(page->records), (std::vector<StreamVersion>{4, 3, 2}));
  q.before = page->next_before;
  page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(Versions(page->records), (std::vector<StreamVersion>{1}));
  EXPECT_FALSE(page->next_before.has_value());
}

TEST_F(EventLogTest, ReadStreamExactPageHasNoExtraCursor) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(AppendOne(MakeEvent("c")));
  }
  StreamQuery q;
  q.customer = "c";
  q.limit = 3;
  auto page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(page->records.size(), 3u);
  EXPECT_FALSE(page->next_before.has_value());
}

TEST_F(EventLogTest, ReadStreamUnknownCustomerIsEmpty) {
  ASSERT_OK(AppendOne(MakeEvent("ab")));
  StreamQuery q;
  q.customer = "a";  // a prefix of an existing customer id
  auto page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(page->current_version, 0u);
  EXPECT_TRUE(page->records.empty());
}

TEST_F(EventLogTest, ReadStreamFiltersByTypeSegmentsAndChannel) {
  auto add = [&](const char* type, const char* channel) {
    Event e = MakeEvent("c", type);
    e.channel = channel;
    ASSERT_OK(AppendOne(e));
  };
  add("ticket.opened", "email");     // v1
  add("ticket.closed", "phone");     // v2
  add("tickets.bulk", "email");      // v3
  add("ticket", "chat");             // v4
  add("purchase.completed", "web");  // v5
  StreamQuery q;
  q.customer = "c";
  q.types = {"ticket"};
  auto page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(Versions(page->records), (std::vector<StreamVersion>{4, 2, 1}));
  q.channels = {"email", "chat"};
  page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(Versions(page->records), (std::vector<StreamVersion>{4, 1}));
  q.types = {"ticket.closed", "purchase"};
  q.channels.clear();
  page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_EQ(Versions(page->records), (std::vector<StreamVersion>{5, 2}));
}

TEST_F(EventLogTest, FilteredPagesAcrossManyWindowsAreCompleteAndOrdered) {
  std::vector<ProposedEvent> batch;
  for (int i = 1; i <= 700; ++i) {
    batch.push_back(Propose(MakeEvent("c", i % 3 == 0 ? "wanted.thing" : "other")));
  }
  ASSERT_OK(Append(std::move(batch)));
  for (std::size_t limit : {1u, 7u, 100u, 1000u}) {
    StreamQuery q;
    q.customer = "c";
    q.types = {"wanted"};
    q.limit = limit;
    std::vector<StreamVersion> all;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = log_->ReadStream(q);
      ASSERT_OK(page);
      ASSERT_LE(page->records.size(), limit);
      for (const auto& r : page->records) {
        all.push_back(r->version);
      }
      if (!page->next_before.has_value()) {
        break;
      }
      q.before = page->next_before;
    }
    ASSERT_EQ(all.size(), 233u) << "limit " << limit;
    for (std::size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(all[i], 699 - 3 * i) << "limit " << limit;
    }
  }
}

TEST_F(EventLogTest, ReadStreamScanLimitReturnsACursor) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(AppendOne(MakeEvent("c", i == 0 ? "rare" : "common")));
  }
  StreamQuery q;
  q.customer = "c";
  q.types = {"rare"};
  q.max_scan = 8;
  auto page = log_->ReadStream(q);
  ASSERT_OK(page);
  EXPECT_TRUE(page->records.empty());
  ASSERT_TRUE(page->next_before.has_value());
  EXPECT_EQ(*page->next_before, 13u);
  // Following the cursors finds the rare event.
  std::vector<StreamVersion> found;
  while (page->next_before.has_value()) {
    q.before = page->next_before;
    page = log_->ReadStream(q);
    ASSERT_OK(page);
    for (const auto& r : page->records) {
      found.push_back(r->version);
    }
  }
  EXPECT_EQ(found, (std::vector<StreamVersion>{1}));
}

TEST_F(EventLogTest, ReopenKeepsEverything) {
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "evt-1", 1)));
  ASSERT_OK(AppendOne(MakeEvent("c", "t", "evt-2", 2)));
  ASSERT_OK(AppendOne(MakeEvent("d")));
  auto before = log_->ReadFrom(1, 100);
  ASSERT_OK(before);
  Reopen();
  EXPECT_EQ(log_->head(), 3u);
  auto after = log_->ReadFrom(1, 100);
  ASSERT_OK(after);
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i]->json, (*before)[i]->json);
  }
  // Versions continue, idempotency survives.
  auto next = AppendOne(MakeEvent("c"), ExpectedVersion::Exact(2));
  ASSERT_OK(next);
  EXPECT_EQ(next->events[0].seq, 4u);
  EXPECT_EQ(next->events[0].version, 3u);
  auto replay = AppendOne(MakeEvent("c", "t", "evt-1", 1));
  ASSERT_OK(replay);
  EXPECT_TRUE(replay->events[0].duplicate);
  EXPECT_THAT(AppendOne(MakeEvent("c", "t", "evt-2", 99)), StatusIs(StatusCode::kAlreadyExists));
}

TEST_F(EventLogTest, ReadOnlyOpenSeesDataAndRefusesWrites) {
  ASSERT_OK(AppendOne(MakeEvent("c")));
  EventLogOptions options;
  options.path = dir_.Sub("db");
  options.read_only = true;
  auto ro = EventLog::Open(options);  // alongside the open writer, as tlctl does
  ASSERT_OK(ro);
  EXPECT_EQ((*ro)->head(), 1u);
  AppendRequest req;
  req.events.push_back(Propose(MakeEvent("c")));
  EXPECT_THAT((*ro)->Append(std::move(req)), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(EventLogTest, ReadOnlyOpenOfMissingDirectoryIsNotFound) {
  EventLogOptions options;
  options.path = dir_.Sub("nothing-here");
  options.read_only = true;
  EXPECT_THAT(EventLog::Open(options), StatusIs(StatusCode::kNotFound));
}

TEST_F(EventLogTest, LiveRecordsCarryEveryFieldADiskReadDecodes) {
  auto sub = log_->Subscribe(0);
  Event e = MakeEvent("c-1", "identify", "e-1");
  e.channel = "web";
  e.department = "sales";
  e.time_us = 1'700'000'000'000'000;
  e.identities = {{"email", "a@b.c"}, {"phone", "+6281234567890"}};
  ASSERT_OK(AppendOne(e));
  auto live = sub->Next(10, std::chrono::seconds(5));
  ASSERT_OK(live);
  ASSERT_EQ(live->size(), 1u);
  const store::RecordPtr live_record = (*live)[0];
  sub.reset();
  Reopen();  // an empty record cache: the record comes off the disk
  auto disk = log_->ReadFrom(1, 1);
  ASSERT_OK(disk);
  const Record& a = *live_record;
  const Record& b = *(*disk)[0];
  EXPECT_EQ(a.json, b.json);
  EXPECT_EQ(std::tie(a.seq, a.version, a.id, a.customer, a.type, a.channel, a.department, a.time_us,
                     a.recorded_at_us, a.identities),
            std::tie(b.seq, b.version, b.id, b.customer, b.type, b.channel, b.department, b.time_us,
                     b.recorded_at_us, b.identities));
  EXPECT_EQ(b.department, "sales");
  EXPECT_EQ(b.identities.size(), 2u);
  EXPECT_NE(b.recorded_at_us, 0);
}

TEST_F(EventLogTest, ReadStreamBeforeSeqSkipsNewerEntries) {
  // c-1 gets seqs 1, 3, 5, ...; c-2 the even ones.
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(AppendOne(MakeEvent(i % 2 == 0 ? "c-1" : "c-2")));
  }
  StreamQuery q;
  q.customer = "c-1";
  q.limit = 3;
  for (Seq before : {21u, 20u, 19u, 8u, 2u, 1u}) {
    q.before_seq = before;
    auto page = log_->ReadStream(q);
    ASSERT_OK(page);
    std::vector<Seq> want;
    for (Seq s = 19; s >= 1 && want.size() < 3; s -= 2) {
      if (s < before) {
        want.push_back(s);
      }
      if (s == 1) {
        break;
      }
    }
    EXPECT_EQ(Seqs(page->records), want) << "before_seq " << before;
    if (page->next_before.has_value()) {
      EXPECT_EQ(page->next_before_seq, want.back());
    }
  }
}

TEST_F(EventLogTest, StateStoreCommitsStateWithItsCheckpoint) {
  auto state = log_->OpenStateStore("view");
  ASSERT_OK(state);
  auto meta = (*state)->ReadMeta();
  ASSERT_OK(meta);
  EXPECT_EQ(meta->checkpoint, 0u);
  EXPECT_EQ(meta->version, "");
  ASSERT_OK((*state)->Reset("v1"));
  ASSERT_OK((*state)->Commit({{"k/1", "a"}, {"k/2", "b"}, {"k/3", "c"}, {"x", "y"}}, 7));
  ASSERT_OK((*state)->Commit({{"k/2", std::nullopt}}, 9));
  // Another projection's slice is separate.
  auto other = log_->OpenStateStore("other");
  ASSERT_OK(other);
  ASSERT_OK((*other)->Commit({{"k/0", "z"}}, 1));
  Reopen();
  state = log_->OpenStateStore("view");
  ASSERT_OK(state);
  meta = (*state)->ReadMeta();
  ASSERT_OK(meta);
  EXPECT_EQ(meta->checkpoint, 9u);
  EXPECT_EQ(meta->version, "v1");
  auto rows = (*state)->Scan("k/", "", 10);
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, (std::vector<std::pair<std::string, std::string>>{{"k/1", "a"}, {"k/3", "c"}}));
  rows = (*state)->Scan("k/", "k/1", 10);
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].first, "k/3");
  ASSERT_OK((*state)->Reset("v2"));
  auto gone = (*state)->Get("x");
  ASSERT_OK(gone);
  EXPECT_FALSE(gone->has_value());
  auto kept = log_->OpenStateStore("other");
  ASSERT_OK(kept);
  auto z = (*kept)->Get("k/0");
  ASSERT_OK(z);
  EXPECT_EQ(z->value_or(""), "z");
  EXPECT_THAT(log_->OpenStateStore("Bad Name"), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(EventLogTest, RefusesANewerFormat) {
  log_.reset();
  {
    // Rewrite the format version as a future build would.
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies({}, dir_.Sub("db"), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const auto& n : names) {
      descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open({}, dir_.Sub("db"), descs, &handles, &raw).ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "meta") {
        ASSERT_TRUE(raw->Put({}, handles[i], std::string(kFormatVersionKey), "99").ok());
      }
    }
    for (auto* h : handles) {
      ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    }
    delete raw;
  }
  EventLogOptions options;
  options.path = dir_.Sub("db");
  EXPECT_THAT(EventLog::Open(options),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("newer")));
}

TEST_F(EventLogTest, ConcurrentAppendsShareCommitGroups) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_OK(AppendOne(MakeEvent("c" + std::to_string(t))));
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(log_->head(), static_cast<Seq>(kThreads * kPerThread));
  const auto stats = log_->Stats();
  EXPECT_EQ(stats.committed_events, static_cast<std::uint64_t>(kThreads * kPerThread));
  // Requests that queued during a sync were merged into one write.
  EXPECT_LT(stats.commit_groups, static_cast<std::uint64_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_THAT(log_->CurrentVersion("c" + std::to_string(t)),
                testing::IsOkAndHolds(static_cast<StreamVersion>(kPerThread)));
  }
}

TEST_F(EventLogTest, CloseRejectsNewAppends) {
  log_->Close();
  EXPECT_THAT(AppendOne(MakeEvent("c")), StatusIs(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace touchline::store
