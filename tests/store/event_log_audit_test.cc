// The event log's tamper evidence and erasure: the tree written with each
// commit, proofs, checkpoints and their start-up checks, sealing and
// customer.erased.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "store/event_log.h"
#include "store/key_format.h"
#include "store/sealing.h"
#include "tests/support/fake_clock.h"
#include "tests/support/raw_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using touchline::testing::FakeClock;
using touchline::testing::MakeEvent;
using touchline::testing::Propose;
using touchline::testing::RawDb;
using touchline::testing::StatusIs;
using touchline::testing::TempDir;

class EventLogAuditTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  Status TryReopen(bool integrity = true) {
    log_.reset();
    EventLogOptions options;
    options.path = dir_.Sub("db");
    options.clock = &clock_;
    options.block_cache_bytes = 8 << 20;
    options.integrity = integrity;
    options.checkpoint_events = 0;  // the tests sign when they want to
    options.checkpoint_interval = std::chrono::milliseconds(0);
    auto log = EventLog::Open(options);
    if (!log.ok()) {
      return log.status();
    }
    log_ = std::move(log).value();
    return Status::Ok();
  }
  void Reopen() { ASSERT_OK(TryReopen()); }

  StatusOr<AppendResult> Append(std::vector<ProposedEvent> events, bool system = false) {
    AppendRequest req;
    req.events = std::move(events);
    req.actor = "tester";
    req.system = system;
    return log_->Append(std::move(req));
  }

  Event Personal(const std::string& customer, int n) {
    Event e = MakeEvent(customer, "profile.updated", "", n);
    e.data = "{\"name\":\"CANARY-" + std::to_string(n) + "\"}";
    e.identities = {Identity{"email", "canary" + std::to_string(n) + "@example.com"}};
    return e;
  }

  StatusOr<AppendResult> Erase(const std::string& customer) {
    Event e;
    e.customer = customer;
    e.type = std::string(kCustomerErasedType);
    return Append({Propose(std::move(e))}, /*system=*/true);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(EventLogAuditTest, RecordsAreSealedOnDiskAndOpenOnRead) {
  ASSERT_OK(Append({Propose(Personal("c-1", 1)), Propose(Personal("c-2", 2))}));
  ASSERT_OK_AND_ASSIGN(auto stored, log_->ReadStored(1, 10));
  ASSERT_EQ(stored.size(), 2u);
  for (const auto& s : stored) {
    ASSERT_OK_AND_ASSIGN(Record on_disk, DecodeRecord(s));
    EXPECT_TRUE(on_disk.binary);
    EXPECT_NE(on_disk.private_flags & kPrivateSealed, 0);
    EXPECT_FALSE(on_disk.sealed.empty());
    EXPECT_THAT(s, Not(HasSubstr("CANARY")));
    EXPECT_THAT(s, Not(HasSubstr("canary")));
  }
  ASSERT_OK_AND_ASSIGN(auto records, log_->ReadFrom(1, 10));
  EXPECT_THAT(records[0]->json, HasSubstr("\"identities\":{\"email\":\"canary1@example.com\"},"
                                          "\"data\":{\"name\":\"CANARY-1\"}}"));
  ASSERT_EQ(records[0]->identities.size(), 1u);
  EXPECT_EQ(records[0]->identities[0].value, "canary1@example.com");
  EXPECT_TRUE(records[0]->sealed.empty());
  // The opened record is the stored one rendered, its private part in the
  // clear.
  ASSERT_OK_AND_ASSIGN(Record sealed, DecodeRecord(stored[1]));
  EXPECT_EQ(records[1]->json.substr(0, records[1]->json.find(",\"identities\"")), sealed.json);
  // The same after a restart (keys come from the database then).
  Reopen();
  ASSERT_OK_AND_ASSIGN(auto again, log_->ReadFrom(1, 10));
  EXPECT_EQ(again[0]->json, records[0]->json);
}

TEST_F(EventLogAuditTest, TreeIsWrittenWithEachCommitAndProofsVerify) {
  for (int i = 0; i < 37; ++i) {
    ASSERT_OK(Append({Propose(MakeEvent("c-" + std::to_string(i % 5), "x.y", "", i))}));
  }
  ASSERT_OK(
      Append({Propose(MakeEvent("c-1")), Propose(MakeEvent("c-2")), Propose(MakeEvent("c-3"))}));
  ASSERT_EQ(log_->head(), 40u);
  ASSERT_OK_AND_ASSIGN(auto stored, log_->ReadStored(1, 100));
  CompactRange mine;
  std::vector<Hash> roots{EmptyRoot()};
  for (const auto& s : stored) {
    mine.Append(LeafHash(s), nullptr);
    roots.push_back(mine.Root());
  }
  for (std::uint64_t n = 1; n <= 40; ++n) {
    ASSERT_OK_AND_ASSIGN(Hash root, log_->TreeRoot(n));
    ASSERT_EQ(root, roots[n]) << n;
  }
  for (Seq seq : {1u, 17u, 32u, 40u}) {
    for (std::uint64_t size : {seq, std::uint64_t{33}, std::uint64_t{40}}) {
      if (size < seq) {
        continue;
      }
      ASSERT_OK_AND_ASSIGN(auto proof, log_->InclusionProof(seq, size));
      EXPECT_OK(VerifyInclusion(seq - 1, size, LeafHash(stored[seq - 1]), proof, roots[size]));
    }
  }
  for (std::uint64_t from : {0u, 1u, 7u, 32u, 40u}) {
    ASSERT_OK_AND_ASSIGN(auto proof, log_->ConsistencyProof(from, 40));
    EXPECT_OK(VerifyConsistency(from, 40, proof, roots[from], roots[40]));
  }
  EXPECT_THAT(log_->InclusionProof(41, 41).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(log_->InclusionProof(5, 4).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(log_->ConsistencyProof(5, 41).status(), StatusIs(StatusCode::kInvalidArgument));
  // The tree survives a restart and keeps growing from its right edge.
  Reopen();
  ASSERT_OK(Append({Propose(MakeEvent("c-9"))}));
  ASSERT_OK_AND_ASSIGN(auto last, log_->ReadStored(41, 1));
  mine.Append(LeafHash(last[0]), nullptr);
  ASSERT_OK_AND_ASSIGN(Hash root, log_->TreeRoot(41));
  EXPECT_EQ(root, mine.Root());
}

TEST_F(EventLogAuditTest, FailedRequestsLeaveNoTreeNodes) {
  ASSERT_OK(Append({Propose(MakeEvent("c-1"))}));
  // The second event's precondition fails: nothing of the request stays.
  EXPECT_THAT(
      Append({Propose(MakeEvent("c-2")), Propose(MakeEvent("c-1"), ExpectedVersion::Exact(7))}),
      StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(auto leaf, log_->TreeNode(0, 1));
  EXPECT_FALSE(leaf.has_value());
  ASSERT_OK(Append({Propose(MakeEvent("c-3"))}));
  ASSERT_OK_AND_ASSIGN(auto stored, log_->ReadStored(1, 2));
  ASSERT_OK_AND_ASSIGN(auto second, log_->TreeNode(0, 1));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, LeafHash(stored[1]));
}

TEST_F(EventLogAuditTest, CheckpointsAreSignedConsistentAndCheckedAtStart) {
  ASSERT_OK(Append({Propose(MakeEvent("c-1")), Propose(MakeEvent("c-2"))}));
  clock_.Advance(1000);
  ASSERT_OK_AND_ASSIGN(Checkpoint first, log_->SignCheckpoint());
  EXPECT_EQ(first.tree_size, 2u);
  ASSERT_OK_AND_ASSIGN(PublicKey key, log_->SigningKey());
  EXPECT_OK(VerifyCheckpoint(first, key));
  // Nothing new: the same checkpoint.
  ASSERT_OK_AND_ASSIGN(Checkpoint same, log_->SignCheckpoint());
  EXPECT_EQ(same.note, first.note);
  ASSERT_OK(Append({Propose(MakeEvent("c-3"))}));
  ASSERT_OK_AND_ASSIGN(Checkpoint second, log_->SignCheckpoint());
  EXPECT_EQ(second.tree_size, 3u);
  EXPECT_GT(second.time_us, first.time_us);
  ASSERT_OK_AND_ASSIGN(auto proof, log_->ConsistencyProof(2, 3));
  EXPECT_OK(VerifyConsistency(2, 3, proof, first.root, second.root));
  ASSERT_OK_AND_ASSIGN(auto all, log_->Checkpoints(1, 10));
  ASSERT_EQ(all.size(), 2u);
  // The same key after a restart.
  Reopen();
  ASSERT_OK_AND_ASSIGN(PublicKey again, log_->SigningKey());
  EXPECT_EQ(again.key, key.key);
  ASSERT_OK_AND_ASSIGN(auto latest, log_->LatestCheckpoint());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->tree_size, 3u);
  log_.reset();

  // Remove the newest record behind the log's back: it refuses to start.
  {
    RawDb raw(dir_.Sub("db"));
    ASSERT_TRUE(raw.db()->Delete({}, raw.cf(internal::ColumnFamily::kEvents), EventKey(3)).ok());
  }
  EXPECT_THAT(TryReopen(), StatusIs(StatusCode::kDataLoss, HasSubstr("ends at seq 2")));
}

TEST_F(EventLogAuditTest, AlteredTreeIsRefusedAtStart) {
  ASSERT_OK(Append({Propose(MakeEvent("c-1")), Propose(MakeEvent("c-2"))}));
  ASSERT_OK(log_->SignCheckpoint());
  log_.reset();
  {
    // Leaf 1's entry holds leaf 1 and the node over leaves 0..1.
    RawDb raw(dir_.Sub("db"));
    const std::string bogus(64, 'x');
    ASSERT_TRUE(
        raw.db()->Put({}, raw.cf(internal::ColumnFamily::kMerkle), TreeLeafKey(1), bogus).ok());
  }
  EXPECT_THAT(TryReopen(), StatusIs(StatusCode::kDataLoss, HasSubstr("no longer matches")));
}

TEST_F(EventLogAuditTest, ErasureDestroysTheKeyForGood) {
  ASSERT_OK(Append({Propose(Personal("c-1", 1)), Propose(Personal("c-2", 2))}));
  ASSERT_OK_AND_ASSIGN(auto erased, Erase("c-1"));
  const Seq erased_at = erased.events[0].seq;
  EXPECT_THAT(log_->ErasedAt("c-1"), testing::IsOkAndHolds(std::optional<Seq>(erased_at)));
  EXPECT_THAT(log_->ErasedAt("c-2"), testing::IsOkAndHolds(std::optional<Seq>()));
  ASSERT_OK_AND_ASSIGN(auto records, log_->ReadFrom(1, 10));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_TRUE(records[0]->erased);
  EXPECT_TRUE(records[0]->identities.empty());
  EXPECT_THAT(records[0]->json, HasSubstr("\"data\":\"[erased]\"}"));
  EXPECT_THAT(records[0]->json, Not(HasSubstr("canary")));
  EXPECT_THAT(records[1]->json, HasSubstr("CANARY-2"));  // others are untouched
  EXPECT_EQ(records[2]->type, "customer.erased");
  // Its stream takes nothing more, not even a second erasure.
  EXPECT_THAT(Append({Propose(MakeEvent("c-1"))}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("was erased")));
  EXPECT_THAT(Erase("c-1"), StatusIs(StatusCode::kFailedPrecondition));
  // Only touchline may write it.
  Event forged;
  forged.customer = "c-2";
  forged.type = std::string(kCustomerErasedType);
  EXPECT_THAT(Append({Propose(forged)}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Append({Propose(MakeEvent("~access"))}), StatusIs(StatusCode::kInvalidArgument));
  // After a restart, from the tombstone on disk.
  Reopen();
  ASSERT_OK_AND_ASSIGN(auto again, log_->ReadFrom(1, 1));
  EXPECT_TRUE(again[0]->erased);
  EXPECT_THAT(Append({Propose(MakeEvent("c-1"))}), StatusIs(StatusCode::kFailedPrecondition));
  // The erasure changed no stored byte: the tree still matches its records.
  ASSERT_OK_AND_ASSIGN(auto stored, log_->ReadStored(1, 3));
  CompactRange mine;
  for (const auto& s : stored) {
    mine.Append(LeafHash(s), nullptr);
  }
  ASSERT_OK_AND_ASSIGN(Hash root, log_->TreeRoot(3));
  EXPECT_EQ(root, mine.Root());
  EXPECT_THAT(log_->NewestErasure(), testing::IsOkAndHolds(erased_at));
  EXPECT_THAT(log_->PurgedThrough(), testing::IsOkAndHolds(Seq{0}));
  EXPECT_OK(log_->PurgeErased(erased_at));
  EXPECT_THAT(log_->PurgedThrough(), testing::IsOkAndHolds(erased_at));
}

TEST_F(EventLogAuditTest, RetryOfAnErasedCustomersEventIsRefused) {
  Event e = Personal("c-1", 1);
  e.id = "evt-1";
  ASSERT_OK(Append({Propose(e)}));
  ASSERT_OK(Erase("c-1"));
  EXPECT_THAT(Append({Propose(e)}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("since been erased")));
}

TEST_F(EventLogAuditTest, EachEventModeSkipsAnErasedCustomerOnly) {
  ASSERT_OK(Append({Propose(MakeEvent("gone", "t", "g1", 1))}));
  ASSERT_OK(Erase("gone"));
  AppendRequest req;
  req.actor = "tester";
  req.mode = AppendRequest::Mode::kEachEvent;
  req.events = {Propose(MakeEvent("gone", "t", "", 2)), Propose(MakeEvent("gone", "t", "g1", 1)),
                Propose(MakeEvent("kept", "t", "k1", 3))};
  ASSERT_OK_AND_ASSIGN(AppendResult r, log_->Append(std::move(req)));
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_THAT(r.events[0].refused, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("erased")));
  EXPECT_THAT(r.events[1].refused, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("erased")));
  EXPECT_TRUE(r.events[2].refused.ok());
  EXPECT_FALSE(r.events[2].duplicate);
  EXPECT_EQ(r.events[2].seq, 3u);
  EXPECT_EQ(log_->head(), 3u);
}

TEST_F(EventLogAuditTest, IntegrityModeIsFixedAtCreation) {
  ASSERT_OK(Append({Propose(MakeEvent("c-1"))}));
  log_.reset();
  EXPECT_THAT(TryReopen(/*integrity=*/false), StatusIs(StatusCode::kFailedPrecondition));

  TempDir plain;
  EventLogOptions options;
  options.path = plain.Sub("db");
  options.integrity = false;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(options));
  AppendRequest req;
  req.events.push_back(Propose(Personal("c-1", 1)));
  ASSERT_OK(log->Append(std::move(req)));
  ASSERT_OK_AND_ASSIGN(auto stored, log->ReadStored(1, 1));
  EXPECT_THAT(stored[0], HasSubstr("CANARY-1"));  // no sealing without integrity
  EXPECT_THAT(log->SignCheckpoint().status(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(log->TreeRoot(1).status(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(EventLogAuditTest, OlderDirectoryGetsItsTreeBuiltWhenOpened) {
  ASSERT_OK(
      Append({Propose(MakeEvent("c-1")), Propose(MakeEvent("c-2")), Propose(MakeEvent("c-1"))}));
  ASSERT_OK_AND_ASSIGN(Hash root, log_->TreeRoot(3));
  log_.reset();
  // Make it look like format 2: no tree, no integrity marks.
  {
    RawDb raw(dir_.Sub("db"));
    rocksdb::WriteBatch batch;
    batch.DeleteRange(raw.cf(internal::ColumnFamily::kMerkle), std::string(1, '\0'),
                      std::string(1, '\xff'));
    batch.Put(raw.cf(internal::ColumnFamily::kMeta), std::string(kFormatVersionKey), "2");
    batch.Delete(raw.cf(internal::ColumnFamily::kMeta), std::string(kIntegrityKey));
    ASSERT_TRUE(raw.db()->Write({}, &batch).ok());
  }
  Reopen();
  ASSERT_OK_AND_ASSIGN(Hash rebuilt, log_->TreeRoot(3));
  EXPECT_EQ(rebuilt, root);
  EXPECT_EQ(log_->Stats().format_version, kFormatVersion);
}

}  // namespace
}  // namespace touchline::store
