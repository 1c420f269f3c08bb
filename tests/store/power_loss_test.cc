// Power-loss crash test of the event log: writers append while the disk
// loses power at a random operation (tests/support/power_loss_fs.h drops
// every write that was not fsynced, and undoes file creations and renames
// whose directory was not fsynced), then the log is reopened on what the
// disk kept. Over many crash points, some during the open itself and half
// of them with torn (partly written) unsynced tails, it checks after every
// reopen that
//  - the log opens (a log shorter than its last signed checkpoint would
//    refuse to), seq runs 1..head with no gap, and no event id is stored
//    twice;
//  - every acknowledged event is there at the seq and version it was given,
//    with the body that was sent, and its stored and opened bytes are
//    identical to what the log served before the crash; every record seen
//    after a reopen stays byte-identical through later crashes;
//  - a request that was refused (expected_version conflict, an id reused
//    with another body) left nothing; one cut off by the crash (unknown
//    outcome) left all of its events or none, and retried with the same
//    ids it resolves to exactly one copy;
//  - resending an acknowledged request returns its original seqs as
//    duplicates, before and after the crash (the id index survived);
//  - store::VerifyLog finds nothing: the Merkle tree recomputed from the
//    records matches the stored one and every signed checkpoint.
// Writers send single events, batches, duplicates by id, same ids with
// another body, and expected_version preconditions that hold or conflict.
//
// Seeds: each crash point's seed is printed with any failure;
// TOUCHLINE_POWER_LOSS_SEED=<n> replays a run's base seed and
// TOUCHLINE_POWER_LOSS_ITERATIONS=<n> runs more or fewer crash points.
// Thread scheduling is not replayed, so a seed reproduces the crash point
// and the workload mix, not every interleaving.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "store/event_log.h"
#include "store/internal/event_log_impl.h"
#include "store/log_verifier.h"
#include "store/record_format.h"
#include "tests/support/power_loss_fs.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

using touchline::testing::MakeEvent;
using touchline::testing::PowerLossFs;
using touchline::testing::Propose;
using touchline::testing::TempDir;

constexpr int kWriters = 4;
constexpr int kSharedCustomers = 6;
constexpr int kDefaultIterations = 60;
constexpr std::uint64_t kDefaultSeed = 20261203;
// A crash while appending comes within this many disk operations of the
// start (a commit group is about three: append, flush, sync).
constexpr std::uint64_t kMaxRunOps = 600;

std::uint64_t EnvNumber(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// What became of an event id the test sent with a body of its own.
struct IdFate {
  enum class State : std::uint8_t { kAcked, kRejected, kUnknown };
  State state = State::kUnknown;
  std::string customer;
  std::string body;  // EncodeRecordBody of what was sent
  Seq seq = 0;       // kAcked
  StreamVersion version = 0;
};

// An append whose outcome the crash hid; retried after the reopen.
struct UnknownRequest {
  std::vector<ProposedEvent> events;
};

// Everything the writers sent and learned, and the bytes of every record
// seen so far. Thread-safe.
class Ledger {
 public:
  void Acked(const std::vector<ProposedEvent>& events, const AppendResult& result) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i].event;
      const AppendedEvent& r = result.events[i];
      IdFate& f = ids_[e.id];
      if (r.duplicate) {
        if (f.state == IdFate::State::kAcked) {
          EXPECT_EQ(r.seq, f.seq) << e.id << ": a duplicate names another seq";
          EXPECT_EQ(r.version, f.version) << e.id;
        }
        if (f.state == IdFate::State::kRejected) {
          ADD_FAILURE() << e.id << " was refused, and later reported as stored";
        }
      } else {
        EXPECT_NE(f.state, IdFate::State::kAcked) << e.id << " was written twice";
      }
      f.state = IdFate::State::kAcked;
      f.customer = e.customer;
      f.body = EncodeRecordBody(e);
      f.seq = r.seq;
      f.version = r.version;
      acked_seqs_.insert(r.seq);
    }
    if (!result.AllDuplicates()) {
      acked_requests_.push_back(events);
    }
  }
  void Rejected(const std::vector<ProposedEvent>& events) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    for (const auto& p : events) {
      IdFate& f = ids_[p.event.id];
      EXPECT_NE(f.state, IdFate::State::kAcked) << p.event.id << " acknowledged, then refused";
      f.state = IdFate::State::kRejected;
      f.customer = p.event.customer;
      f.body = EncodeRecordBody(p.event);
    }
  }
  void Unknown(const std::vector<ProposedEvent>& events) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    for (const auto& p : events) {
      IdFate& f = ids_[p.event.id];
      f.state = IdFate::State::kUnknown;
      f.customer = p.event.customer;
      f.body = EncodeRecordBody(p.event);
    }
    unknown_.push_back({events});
  }
  std::vector<UnknownRequest> TakeUnknown() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return std::exchange(unknown_, {});
  }
  // A random acknowledged request, to resend (empty if none).
  std::vector<ProposedEvent> PickAcked(std::mt19937_64* rng) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (acked_requests_.empty()) {
      return {};
    }
    return acked_requests_[(*rng)() % acked_requests_.size()];
  }
  std::map<std::string, IdFate> ids() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return ids_;
  }
  std::set<Seq> acked_seqs() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return acked_seqs_;
  }
  std::size_t acked_events() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return acked_seqs_.size();
  }

 private:
  mutable Mutex mu_;
  std::map<std::string, IdFate> ids_ GUARDED_BY(mu_);
  std::set<Seq> acked_seqs_ GUARDED_BY(mu_);
  std::vector<std::vector<ProposedEvent>> acked_requests_ GUARDED_BY(mu_);
  std::vector<UnknownRequest> unknown_ GUARDED_BY(mu_);
};

// The first bytes seen for a seq: stored (sealed) and opened.
struct Copy {
  std::string stored;
  std::string json;
};

class PowerLossTest : public ::testing::Test {
 protected:
  PowerLossTest() : fs_(std::make_shared<PowerLossFs>()), env_(rocksdb::NewCompositeEnv(fs_)) {
    options_.path = dir_.Sub("db");
    options_.block_cache_bytes = 8 << 20;
    // Checkpoints often, so crashes fall between, during and after them.
    options_.checkpoint_events = 25;
    options_.checkpoint_interval = std::chrono::milliseconds(20);
  }

  // One writer: appends until the power is off. `w` names its ids.
  void Writer(EventLog* log, int w, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    int n = 0;
    auto fresh = [&](const std::string& customer, ExpectedVersion ev = ExpectedVersion::Any()) {
      Event e;
      e.id =
          "i" + std::to_string(iteration_) + "-w" + std::to_string(w) + "-" + std::to_string(n++);
      e.customer = customer;
      e.type = rng() % 3 == 0 ? "ticket.opened" : "note.added";
      e.channel = rng() % 2 == 0 ? "email" : "";
      e.data = R"({"w":)" + std::to_string(w) + R"(,"pad":")" +
               std::string(rng() % 400, static_cast<char>('a' + rng() % 26)) + "\"}";
      return ProposedEvent{std::move(e), ev};
    };
    auto shared = [&] { return "c" + std::to_string(rng() % kSharedCustomers); };
    while (fs_->powered()) {
      std::vector<ProposedEvent> events;
      enum class Kind : std::uint8_t { kFresh, kResend, kOtherBody } kind = Kind::kFresh;
      const int dice = static_cast<int>(rng() % 100);
      if (dice < 40) {
        events.push_back(fresh(shared()));
      } else if (dice < 60) {
        const int size = 2 + static_cast<int>(rng() % 7);
        for (int i = 0; i < size; ++i) {
          events.push_back(fresh(shared()));
        }
        if (rng() % 4 == 0) {
          // A stale precondition refuses the whole batch.
          const std::string c = shared();
          auto v = log->CurrentVersion(c);
          ASSERT_OK(v);
          events.push_back(
              fresh(c, *v > 0 ? ExpectedVersion::Exact(*v - 1) : ExpectedVersion::Exists()));
        }
      } else if (dice < 75) {
        // Optimistic concurrency: holds unless another writer got there first.
        const std::string c = shared();
        auto v = log->CurrentVersion(c);
        ASSERT_OK(v);
        events.push_back(fresh(c, ExpectedVersion::Exact(*v)));
      } else if (dice < 80) {
        // NoStream: holds for a new customer, conflicts for a shared one.
        events.push_back(rng() % 2 == 0 ? fresh("solo-" + std::to_string(iteration_) + "-" +
                                                    std::to_string(w) + "-" + std::to_string(n),
                                                ExpectedVersion::NoStream())
                                        : fresh(shared(), ExpectedVersion::NoStream()));
      } else if (dice < 95) {
        kind = Kind::kResend;
        events = ledger_.PickAcked(&rng);
      } else {
        kind = Kind::kOtherBody;
        events = ledger_.PickAcked(&rng);
        if (!events.empty()) {
          events.resize(1);
          events[0].event.data = R"({"other":"body"})";
          events[0].expected_version = ExpectedVersion::Any();
        }
      }
      if (events.empty()) {
        continue;
      }
      AppendRequest req;
      req.events = events;
      req.actor = "writer-" + std::to_string(w);
      auto r = log->Append(std::move(req));
      if (r.ok()) {
        ASSERT_NE(kind, Kind::kOtherBody) << "an id reused with another body was accepted";
        if (kind == Kind::kResend) {
          for (const auto& e : r->events) {
            EXPECT_TRUE(e.duplicate) << "a resent request was written again";
          }
        }
        ledger_.Acked(events, *r);
      } else if (r.status().code() == StatusCode::kUnavailable) {
        ASSERT_FALSE(fs_->powered()) << "failed with the power on: " << r.status().ToString();
        if (kind == Kind::kFresh) {
          ledger_.Unknown(events);
        }
        return;
      } else if (kind == Kind::kOtherBody) {
        ASSERT_EQ(r.status().code(), StatusCode::kAlreadyExists) << r.status().ToString();
      } else {
        ASSERT_EQ(kind, Kind::kFresh) << r.status().ToString();
        ASSERT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
        ledger_.Rejected(events);
      }
    }
  }

  // Before the log of a crashed disk is closed: the bytes it served for
  // each acknowledged event (it still reads them from its memtables).
  void SnapshotAcked(const EventLog& log) {
    for (const Seq seq : ledger_.acked_seqs()) {
      if (copies_.contains(seq)) {
        continue;
      }
      auto stored = log.ReadStored(seq, 1);
      auto opened = log.ReadSeqs({seq});
      ASSERT_OK(stored);
      ASSERT_OK(opened);
      ASSERT_EQ(stored->size(), 1u);
      copies_[seq] = Copy{(*stored)[0], (*opened)[0]->json};
    }
  }

  // Every check of the file-top comment on a freshly reopened log, then the
  // retries of what the crash left unknown.
  void VerifyAfterReopen(EventLog* log) {
    const Seq head = log->head();
    std::map<std::string, Seq> found;  // event id -> seq
    std::vector<RecordPtr> all;        // all[seq - 1]
    all.reserve(head);
    for (Seq from = 1; from <= head; from += 1000) {
      auto records = log->ReadFrom(from, 1000);
      auto stored = log->ReadStored(from, 1000);
      ASSERT_OK(records);
      ASSERT_OK(stored);
      ASSERT_EQ(records->size(), stored->size());
      ASSERT_EQ(records->size(), std::min<Seq>(1000, head - from + 1));
      for (std::size_t i = 0; i < records->size(); ++i) {
        const Record& r = *(*records)[i];
        ASSERT_EQ(r.seq, from + i) << "gap or reorder in the log";
        ASSERT_TRUE(found.emplace(r.id, r.seq).second) << "event " << r.id << " stored twice";
        auto [copy, first_seen] = copies_.try_emplace(r.seq, Copy{(*stored)[i], r.json});
        if (!first_seen) {
          EXPECT_EQ(copy->second.stored, (*stored)[i]) << "seq " << r.seq << " changed on disk";
          EXPECT_EQ(copy->second.json, r.json) << "seq " << r.seq << " reads differently";
        }
        all.push_back(std::move((*records)[i]));
      }
    }
    const auto ids = ledger_.ids();
    for (const auto& [id, fate] : ids) {
      auto it = found.find(id);
      if (fate.state == IdFate::State::kAcked) {
        ASSERT_NE(it, found.end())
            << "acknowledged event " << id << " (seq " << fate.seq << ") was lost";
        ASSERT_EQ(it->second, fate.seq) << id;
        const Record& r = *all[fate.seq - 1];
        EXPECT_EQ(r.version, fate.version) << id;
        EXPECT_EQ(r.customer, fate.customer) << id;
        EXPECT_TRUE(r.json.ends_with(fate.body)) << id << " is not stored as sent: " << r.json;
      } else if (fate.state == IdFate::State::kRejected) {
        EXPECT_EQ(it, found.end()) << "refused event " << id << " is in the log";
      }
    }
    for (const auto& [id, seq] : found) {
      EXPECT_TRUE(ids.contains(id)) << "seq " << seq << " holds " << id << ", never sent";
    }
    // Requests cut off by the crash: all or nothing, then exactly once.
    for (const auto& u : ledger_.TakeUnknown()) {
      std::size_t present = 0;
      for (const auto& p : u.events) {
        present += found.contains(p.event.id) ? 1 : 0;
      }
      EXPECT_TRUE(present == 0 || present == u.events.size())
          << present << " of the " << u.events.size() << " events of one request survived";
      AppendRequest req;
      req.events = u.events;
      req.actor = "retry";
      auto r = log->Append(std::move(req));
      if (r.ok()) {
        for (std::size_t i = 0; i < u.events.size(); ++i) {
          EXPECT_EQ(r->events[i].duplicate, present > 0) << u.events[i].event.id;
          if (present > 0) {
            EXPECT_EQ(r->events[i].seq, found[u.events[i].event.id]) << u.events[i].event.id;
          }
        }
        ledger_.Acked(u.events, *r);
      } else {
        ASSERT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
        EXPECT_EQ(present, 0u) << "a stored request's retry was refused";
        ledger_.Rejected(u.events);
      }
    }
    auto report = VerifyLog(*log, {});
    ASSERT_OK(report);
    EXPECT_TRUE(report->ok()) << report->Render();
    EXPECT_EQ(report->last, log->head());
    checkpoints_verified_ = report->checkpoints;
  }

  TempDir dir_;
  std::shared_ptr<PowerLossFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  EventLogOptions options_;
  Ledger ledger_;
  std::map<Seq, Copy> copies_;  // main thread only
  int iteration_ = 0;
  std::uint64_t checkpoints_verified_ = 0;
};

TEST_F(PowerLossTest, AcknowledgedEventsSurvivePowerLossAtRandomPoints) {
  const std::uint64_t base_seed = EnvNumber("TOUCHLINE_POWER_LOSS_SEED", kDefaultSeed);
  const int iterations =
      static_cast<int>(EnvNumber("TOUCHLINE_POWER_LOSS_ITERATIONS", kDefaultIterations));
  std::uint64_t open_ops = 0;  // disk operations of the last complete open
  int crashes_in_open = 0;
  int torn_crashes = 0;
  std::uint64_t bytes_lost = 0;
  using Clock = std::chrono::steady_clock;
  Clock::duration in_open{}, in_verify{}, in_appends{}, in_close{};
  for (iteration_ = 0; iteration_ < iterations; ++iteration_) {
    const std::uint64_t seed = base_seed + static_cast<std::uint64_t>(iteration_);
    std::mt19937_64 rng(seed);
    const bool crash_in_open = open_ops > 0 && rng() % 5 == 0;
    const bool torn = rng() % 2 == 0;
    const std::uint64_t cut = crash_in_open ? 1 + rng() % open_ops : 1 + rng() % kMaxRunOps;
    SCOPED_TRACE(::testing::Message()
                 << "TOUCHLINE_POWER_LOSS_SEED=" << base_seed << " iteration " << iteration_
                 << " (seed " << seed << "): power cut at disk operation " << cut
                 << (crash_in_open ? " of the open" : " of the appends")
                 << (torn ? ", torn unsynced tails" : ", unsynced tails dropped"));
    if (crash_in_open) {
      fs_->CutPowerAfter(cut);
    }
    const std::uint64_t ops_before_open = fs_->ops();
    auto t0 = Clock::now();
    auto opened = internal::OpenWithEnv(options_, env_.get());
    in_open += Clock::now() - t0;
    if (!opened.ok()) {
      ASSERT_FALSE(fs_->powered())
          << "the log does not open after a power loss: " << opened.status().ToString();
      crashes_in_open++;
    } else {
      std::unique_ptr<EventLog> log = std::move(opened).value();
      if (fs_->powered()) {
        fs_->CutPowerAfter(0);
        open_ops = fs_->ops() - ops_before_open;
        t0 = Clock::now();
        ASSERT_NO_FATAL_FAILURE(VerifyAfterReopen(log.get()));
        in_verify += Clock::now() - t0;
        t0 = Clock::now();
        fs_->CutPowerAfter(cut);
        std::vector<std::thread> writers;
        for (int w = 0; w < kWriters; ++w) {
          writers.emplace_back([&, w] { Writer(log.get(), w, seed * 31 + w); });
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (fs_->powered() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        fs_->CutPowerNow();  // if the writers stalled before the cut
        for (auto& t : writers) {
          t.join();
        }
        ASSERT_FALSE(HasFatalFailure());
        in_appends += Clock::now() - t0;
      } else {
        crashes_in_open++;
      }
      ASSERT_NO_FATAL_FAILURE(SnapshotAcked(*log));
      t0 = Clock::now();
      log.reset();  // closes RocksDB on the dead disk
      in_close += Clock::now() - t0;
    }
    auto loss = fs_->RestorePower(torn ? &rng : nullptr);
    ASSERT_OK(loss);
    bytes_lost += loss->bytes_lost;
    torn_crashes += torn ? 1 : 0;
  }
  // The last crash's aftermath.
  auto log = internal::OpenWithEnv(options_, env_.get());
  ASSERT_OK(log);
  ASSERT_NO_FATAL_FAILURE(VerifyAfterReopen(log->get()));
  EXPECT_GT(ledger_.acked_events(), 0u);
  EXPECT_GT(checkpoints_verified_, 0u);
  const auto secs = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  std::printf(
      "power loss: %d crashes (%d during an open, %d with torn tails), %zu acknowledged events "
      "verified, %llu unsynced bytes dropped, %llu checkpoints verified, head %llu; seconds in "
      "opens %.1f, checks %.1f, appends %.1f, closes %.1f\n",
      iterations, crashes_in_open, torn_crashes, ledger_.acked_events(),
      static_cast<unsigned long long>(bytes_lost),
      static_cast<unsigned long long>(checkpoints_verified_),
      static_cast<unsigned long long>((*log)->head()), secs(in_open), secs(in_verify),
      secs(in_appends), secs(in_close));
}

// The control: with sync off the log acknowledges writes that are still only
// in the page cache, and the same power cut loses them. If this passes, the
// filesystem really drops what was not synced, so the test above could fail.
TEST_F(PowerLossTest, ControlAnUnsyncedLogLosesAcknowledgedEvents) {
  options_.sync = false;
  // No checkpoints: their synced writes would sync the WAL too.
  options_.checkpoint_events = 0;
  options_.checkpoint_interval = std::chrono::milliseconds(0);
  {
    auto log = internal::OpenWithEnv(options_, env_.get());
    ASSERT_OK(log);
    for (int i = 0; i < 20; ++i) {
      AppendRequest req;
      req.events.push_back(Propose(MakeEvent("c", "note.added", "e" + std::to_string(i))));
      ASSERT_OK((*log)->Append(std::move(req)));
    }
    EXPECT_EQ((*log)->head(), 20u);
    fs_->CutPowerNow();
  }
  auto loss = fs_->RestorePower();
  ASSERT_OK(loss);
  EXPECT_GT(loss->bytes_lost, 0u);
  auto log = internal::OpenWithEnv(options_, env_.get());
  ASSERT_OK(log);
  EXPECT_EQ((*log)->head(), 0u) << "acknowledged but unsynced events survived the power cut";
}

}  // namespace
}  // namespace touchline::store
