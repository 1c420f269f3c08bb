#include "projections/projection_runner.h"

#include <pthread.h>

#include <boost/json.hpp>
#include <deque>

#include "core/coding.h"

namespace touchline::projections {
namespace {

// Outbox entries live in the projection's own state, under this prefix, so
// they commit atomically with the state that emitted them.
constexpr std::string_view kOutboxPrefix = "~outbox/";

std::string OutboxKey(Seq seq, std::uint64_t n) {
  std::string key(kOutboxPrefix);
  PutFixed64BE(&key, seq);
  PutFixed64BE(&key, n);
  return key;
}

std::string EncodeOutbox(const Event& e) {
  boost::json::object o{{"id", e.id},           {"customer", e.customer}, {"type", e.type},
                        {"channel", e.channel}, {"time_us", *e.time_us},  {"data", e.data}};
  return boost::json::serialize(o);
}

StatusOr<Event> DecodeOutbox(std::string_view text) {
  try {
    const auto o = boost::json::parse(text).as_object();
    Event e;
    e.id = o.at("id").as_string();
    e.customer = o.at("customer").as_string();
    e.type = o.at("type").as_string();
    e.channel = o.at("channel").as_string();
    e.time_us = o.at("time_us").to_number<std::int64_t>();
    e.data = o.at("data").as_string();
    return e;
  } catch (const std::exception& ex) {
    return Status::DataLoss(std::string("corrupt outbox entry: ") + ex.what());
  }
}

}  // namespace

StatusOr<std::unique_ptr<ProjectionRunner>> ProjectionRunner::Create(
    store::EventLog* log, std::unique_ptr<Projection> projection, RunnerOptions options) {
  ASSIGN_OR_RETURN(auto store, log->OpenStateStore(projection->Name()));
  return std::unique_ptr<ProjectionRunner>(
      new ProjectionRunner(log, std::move(projection), std::move(store), options));
}

ProjectionRunner::ProjectionRunner(store::EventLog* log, std::unique_ptr<Projection> projection,
                                   std::unique_ptr<store::StateStore> store, RunnerOptions options)
    : log_(log), projection_(std::move(projection)), store_(std::move(store)), options_(options) {}

ProjectionRunner::~ProjectionRunner() { Stop(); }

Status ProjectionRunner::PrepareVersion(bool force_reset) {
  ASSIGN_OR_RETURN(store::StateMeta meta, store_->ReadMeta());
  const std::string version = projection_->Version();
  if (force_reset || meta.version != version) {
    RETURN_IF_ERROR(store_->Reset(version));
    projection_->Discard();
    meta.checkpoint = 0;
  }
  checkpoint_.store(meta.checkpoint, std::memory_order_release);
  MutexLock lock(&mu_);
  if (meta.checkpoint < log_->head()) {
    rebuild_from_ = meta.checkpoint;
    rebuild_target_ = meta.checkpoint == 0 ? log_->head() : 0;
    rebuild_started_ = std::chrono::steady_clock::now();
  }
  return Status::Ok();
}

Status ProjectionRunner::Start() {
  RETURN_IF_ERROR(PrepareVersion(false));
  ASSIGN_OR_RETURN(auto pending, store_->Scan(kOutboxPrefix, "", SIZE_MAX));
  std::vector<std::pair<std::string, Event>> entries;
  for (auto& [key, value] : pending) {
    ASSIGN_OR_RETURN(Event e, DecodeOutbox(value));
    entries.emplace_back(key, std::move(e));
  }
  EmitOutbox(std::move(entries));
  {
    MutexLock lock(&mu_);
    running_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void ProjectionRunner::Stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
  MutexLock lock(&mu_);
  running_ = false;
  while (emitting_ > 0) {
    emitted_cv_.Wait(&mu_);
  }
}

namespace {

// Reads the log ahead, chunk by chunk, on a thread of its own, so that
// decoding and opening records overlaps with folding them. At most two
// chunks wait.
class Prefetcher {
 public:
  using Chunk = StatusOr<std::vector<store::RecordPtr>>;

  Prefetcher(const store::EventLog* log, Seq from, Seq to, std::size_t chunk)
      : thread_([this, log, from, to, chunk] { Run(log, from, to, chunk); }) {}
  ~Prefetcher() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    thread_.join();
  }

  // The next chunk; an empty one after the last.
  Chunk Next() {
    MutexLock lock(&mu_);
    while (ready_.empty()) {
      cv_.Wait(&mu_);
    }
    Chunk c = std::move(ready_.front());
    ready_.pop_front();
    cv_.SignalAll();
    return c;
  }

 private:
  void Run(const store::EventLog* log, Seq from, Seq to, std::size_t chunk) {
    pthread_setname_np(pthread_self(), "tl-prefetch");
    while (true) {
      Chunk c = from > to ? Chunk(std::vector<store::RecordPtr>())
                          : log->ReadFrom(from, std::min<Seq>(chunk, to - from + 1));
      const bool last = !c.ok() || c->empty();
      if (!last) {
        from = c->back()->seq + 1;
      }
      MutexLock lock(&mu_);
      while (ready_.size() >= 2 && !stop_) {
        cv_.Wait(&mu_);
      }
      if (stop_) {
        return;
      }
      ready_.push_back(std::move(c));
      cv_.SignalAll();
      if (last) {
        return;
      }
    }
  }

  Mutex mu_;
  CondVar cv_;
  std::deque<Chunk> ready_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

Status ProjectionRunner::CatchUp(bool rebuild, const ProgressCallback& progress) {
  RETURN_IF_ERROR(PrepareVersion(rebuild));
  const Seq target = log_->head();
  Prefetcher ahead(log_, checkpoint() + 1, target, options_.catch_up_batch);
  while (checkpoint() < target) {
    ASSIGN_OR_RETURN(auto records, ahead.Next());
    if (records.empty()) {
      return Status::DataLoss("the log ended at seq " + std::to_string(checkpoint()) +
                              " before its head " + std::to_string(target));
    }
    RETURN_IF_ERROR(FoldBatch(records, /*emit=*/false));
    {
      MutexLock lock(&mu_);
      if (faulted_) {
        return Status::FailedPrecondition("projection " + std::string(name()) + " failed at seq " +
                                          std::to_string(fault_seq_) + ": " + fault_);
      }
    }
    if (progress) {
      progress(checkpoint(), target);
    }
  }
  return Status::Ok();
}

void ProjectionRunner::Loop() {
  pthread_setname_np(pthread_self(), "tl-projection");
  auto sub = log_->Subscribe(checkpoint());
  while (!stop_.load()) {
    // Read together: RequestRebuild() clears the fault and sets the flag
    // under the same lock, so a cleared fault always comes with a rebuild
    // (the subscription of a faulted runner is past the bad record).
    bool faulted = false;
    bool rebuild = false;
    {
      MutexLock lock(&mu_);
      faulted = faulted_;
      rebuild = rebuild_requested_.exchange(false);
    }
    if (rebuild) {
      {
        // A batch that faulted after RequestRebuild() cleared the fault
        // must not survive the rebuild.
        MutexLock lock(&mu_);
        faulted_ = false;
        fault_.clear();
        fault_seq_ = 0;
      }
      Status s = PrepareVersion(/*force_reset=*/true);
      projection_->Discard();
      if (!s.ok()) {
        SetFault(0, s);
      }
      sub = log_->Subscribe(0);
      continue;
    }
    if (faulted) {
      ServeWaiters(false);
      std::this_thread::sleep_for(options_.poll_interval);
      continue;
    }
    auto batch = sub->Next(options_.max_batch, options_.poll_interval);
    if (!batch.ok()) {
      // A read error (or the log closing under us) faults the projection;
      // the thread stays to answer waiters until Stop().
      SetFault(checkpoint() + 1, batch.status());
      continue;
    }
    if (!batch->empty()) {
      Status s = FoldBatch(*batch, /*emit=*/true);
      if (!s.ok()) {
        SetFault(batch->front()->seq, s);
      }
    }
    ServeWaiters(false);
  }
  // Forget outbox entries already appended (their deletion rides on the
  // next commit otherwise).
  bool pending = false;
  {
    MutexLock lock(&mu_);
    pending = !outbox_done_.empty() && !faulted_;
  }
  if (pending) {
    StateTx tx(store_.get());
    Commit(&tx, checkpoint(), false).IgnoreError();  // retried at the next start
  }
  {
    // From here on WaitFor() answers at once: no waiter is left behind.
    MutexLock lock(&mu_);
    running_ = false;
  }
  ServeWaiters(true);
}

Status ProjectionRunner::FoldBatch(const std::vector<store::RecordPtr>& records, bool emit) {
  StateTx tx(store_.get());
  std::size_t i = 0;
  Status error;
  for (; i < records.size(); ++i) {
    error = projection_->Apply(*records[i], &tx);
    if (!error.ok()) {
      break;
    }
  }
  if (error.ok()) {
    return Commit(&tx, records.back()->seq, emit);
  }
  // Commit what precedes the failing record (folds are deterministic, so
  // folding the prefix again gives the same state), then stop there.
  projection_->Discard();
  tx.Clear();
  for (std::size_t j = 0; j < i; ++j) {
    RETURN_IF_ERROR(projection_->Apply(*records[j], &tx));
  }
  if (i > 0) {
    RETURN_IF_ERROR(Commit(&tx, records[i - 1]->seq, emit));
  }
  projection_->Discard();
  SetFault(records[i]->seq, error);
  return Status::Ok();
}

Status ProjectionRunner::Commit(StateTx* tx, Seq checkpoint, bool emit) {
  RETURN_IF_ERROR(projection_->Flush(tx));
  std::vector<store::StateWrite> writes = tx->TakeWrites();
  std::vector<std::pair<std::string, Event>> entries;
  for (const Event& e : tx->emitted()) {
    std::string key = OutboxKey(checkpoint, outbox_counter_++);
    writes.push_back(store::StateWrite{key, EncodeOutbox(e)});
    entries.emplace_back(std::move(key), e);
  }
  std::vector<std::string> done;
  {
    MutexLock lock(&mu_);
    done.swap(outbox_done_);
  }
  for (auto& key : done) {
    writes.push_back(store::StateWrite{key, std::nullopt});
  }
  Status s = store_->Commit(writes, checkpoint);
  if (!s.ok()) {
    projection_->Discard();  // its cache holds what was not written
    MutexLock lock(&mu_);
    outbox_done_.insert(outbox_done_.end(), done.begin(), done.end());
    return s;
  }
  checkpoint_.store(checkpoint, std::memory_order_release);
  if (emit) {
    EmitOutbox(std::move(entries));
  }
  return Status::Ok();
}

void ProjectionRunner::EmitOutbox(std::vector<std::pair<std::string, Event>> entries) {
  for (auto& [key, event] : entries) {
    {
      MutexLock lock(&mu_);
      ++emitting_;
    }
    store::AppendRequest request;
    request.actor = "touchline";
    request.route = "projection " + std::string(projection_->Name());
    request.events.push_back(ProposedEvent{std::move(event), ExpectedVersion::Any()});
    log_->AppendAsync(std::move(request), [this, key = std::move(key)](
                                              StatusOr<store::AppendResult> result) {
      MutexLock lock(&mu_);
      // Accepted (or already there): forget it. Anything else (the log is
      // closing, the disk failed): keep it for the next start.
      if (result.ok() || result.status().IsAlreadyExists() || result.status().IsInvalidArgument()) {
        outbox_done_.push_back(key);
      }
      // Signalled under the lock: Stop() cannot return (and the runner
      // cannot be destroyed) before this callback has unlocked.
      --emitting_;
      emitted_cv_.SignalAll();
    });
  }
}

void ProjectionRunner::SetFault(Seq seq, const Status& error) {
  MutexLock lock(&mu_);
  faulted_ = true;
  fault_seq_ = seq;
  fault_ = error.ToString();
}

void ProjectionRunner::WaitFor(Seq seq, std::chrono::milliseconds timeout, WaitCallback done) {
  if (checkpoint() >= seq) {
    done(Status::Ok());
    return;
  }
  Status fault;
  {
    MutexLock lock(&mu_);
    if (faulted_) {
      fault = Status::FailedPrecondition("projection " + std::string(name()) +
                                         " is faulted at seq " + std::to_string(fault_seq_) + " (" +
                                         fault_ + "); rebuild it with POST /v1/projections/" +
                                         std::string(name()) + "/rebuild or restart the server");
    } else if (!running_) {
      fault = Status::Unavailable("projection " + std::string(name()) + " is not running");
    } else {
      waiters_.push_back(Waiter{seq, std::chrono::steady_clock::now() + timeout, std::move(done)});
      return;
    }
  }
  done(fault);
}

void ProjectionRunner::RequestRebuild() {
  // Cleared here, not when the thread gets to it, so that a reader arriving
  // in between waits for the rebuild instead of seeing the old fault.
  MutexLock lock(&mu_);
  faulted_ = false;
  fault_.clear();
  fault_seq_ = 0;
  rebuild_requested_.store(true);
}

void ProjectionRunner::ServeWaiters(bool stopping) {
  std::vector<std::pair<WaitCallback, Status>> ready;
  {
    MutexLock lock(&mu_);
    const auto now = std::chrono::steady_clock::now();
    const Seq cp = checkpoint();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      Status s;
      bool answer = true;
      if (cp >= it->seq) {
        s = Status::Ok();
      } else if (faulted_) {
        s = Status::FailedPrecondition("projection " + std::string(name()) + " is faulted at seq " +
                                       std::to_string(fault_seq_) + " (" + fault_ +
                                       "); rebuild it with POST /v1/projections/" +
                                       std::string(name()) + "/rebuild or restart the server");
      } else if (stopping) {
        s = Status::Unavailable("the server is shutting down");
      } else if (now >= it->deadline) {
        s = Status::Unavailable("projection " + std::string(name()) + " is at seq " +
                                std::to_string(cp) + ", still catching up to seq " +
                                std::to_string(it->seq) + "; retry shortly");
      } else {
        answer = false;
      }
      if (answer) {
        ready.emplace_back(std::move(it->done), std::move(s));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [done, s] : ready) {
    done(std::move(s));
  }
}

ProjectionStatus ProjectionRunner::status() const {
  ProjectionStatus st;
  st.name = std::string(name());
  st.version = projection_->Version();
  st.checkpoint = checkpoint();
  st.head = log_->head();
  MutexLock lock(&mu_);
  st.fault_seq = fault_seq_;
  st.fault = fault_;
  if (faulted_) {
    st.state = "faulted";
  } else if (!running_) {
    st.state = "stopped";
  } else if (st.checkpoint < rebuild_target_) {
    st.state = "rebuilding";
    st.rebuild_target = rebuild_target_;
  } else {
    st.state = "running";
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - rebuild_started_).count();
  if (st.state == "rebuilding" && secs > 0) {
    st.events_per_second = static_cast<double>(st.checkpoint - rebuild_from_) / secs;
  }
  return st;
}

}  // namespace touchline::projections
