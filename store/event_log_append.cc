// The append path: the appender and writer threads, group commit,
// idempotency and expected-version checks. See store/event_log.h for the
// contract and store/internal/event_log_impl.h for the pipeline.
#include <pthread.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <deque>

#include "core/coding.h"
#include "core/metrics.h"
#include "core/validation.h"
#include "store/internal/event_log_impl.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"
#include "store/merkle.h"
#include "store/sealing.h"

namespace touchline::store::internal {
namespace {

constexpr std::size_t kVersionCacheLimit = 1'000'000;
constexpr std::size_t kKeyCacheLimit = 200'000;

std::string EventPath(std::size_t i) { return "events[" + std::to_string(i) + "]"; }

// True if `e` (body `body`) is a retry of the event described by `original`:
// the same body and, if the retry names a time, the same time. A retry that
// omits `time` matches whatever time the original got.
bool SameEvent(const Event& e, std::string_view body, std::string_view original_body,
               std::int64_t original_time_us) {
  return body == original_body && (!e.time_us.has_value() || *e.time_us == original_time_us);
}

Status IdConflict(std::size_t i, const std::string& id, Seq seq) {
  return Status::AlreadyExists(
      EventPath(i) + ": event id '" + id + "' was already used for a different event (seq " +
      std::to_string(seq) + "); a retry must resend the same event, a new event needs a new id");
}

// Streams and types only touchline itself writes.
Status CheckNotReserved(const Event& e, std::size_t i) {
  if (IsSystemStream(e.customer)) {
    return Status::InvalidArgument(EventPath(i) +
                                   ".customer: customer ids starting with '~' name touchline's own "
                                   "streams; choose another id");
  }
  if (e.type == kCustomerErasedType || TypeMatchesAny(e.type, {"audit"})) {
    return Status::InvalidArgument(
        EventPath(i) + ".type: '" + e.type +
        "' is written by touchline itself (to erase a customer, POST /v1/customers/{id}/erase)");
  }
  return Status::Ok();
}

Status ErasedConflict(std::size_t i, const std::string& customer, Seq erased_seq) {
  return Status::FailedPrecondition(EventPath(i) + ": customer '" + customer +
                                    "' was erased (seq " + std::to_string(erased_seq) +
                                    "); its stream takes no more events");
}

}  // namespace

void EventLogImpl::AppendAsync(AppendRequest request, AppendCallback done) {
  if (options_.read_only) {
    done(Status::FailedPrecondition("the event log was opened read-only"));
    return;
  }
  if (request.events.empty()) {
    done(Status::InvalidArgument("no events to append"));
    return;
  }
  std::vector<std::string> bodies;
  std::vector<std::uint32_t> data_at;
  std::vector<PrivatePart> privates;
  bodies.reserve(request.events.size());
  data_at.reserve(request.events.size());
  privates.reserve(request.events.size());
  for (std::size_t i = 0; i < request.events.size(); ++i) {
    Status s = ValidateEvent(request.events[i].event, EventPath(i));
    if (s.ok() && !request.system) {
      s = CheckNotReserved(request.events[i].event, i);
    }
    if (!s.ok()) {
      done(std::move(s));
      return;
    }
    std::size_t at = 0;
    bodies.push_back(EncodeRecordBody(request.events[i].event, nullptr, &at));
    data_at.push_back(static_cast<std::uint32_t>(at));
    privates.push_back(EncodePrivatePart(request.events[i].event));
  }
  if (request.actor.empty()) {
    request.actor = "anonymous";
  }
  {
    MutexLock lock(&mu_);
    if (!closing_) {
      queue_.push_back(PendingAppend{std::move(request), std::move(bodies), std::move(data_at),
                                     std::move(privates), std::move(done)});
      queue_cv_.Signal();
      return;
    }
  }
  done(Status::Unavailable("the event log is shutting down"));
}

// The pipeline (see store/internal/event_log_impl.h): the appender takes
// every request queued, stages and encodes them as one group, and hands the
// group to the writer once the writer is done with the previous one.
void EventLogImpl::AppenderLoop() {
  pthread_setname_np(pthread_self(), "tl-appender");
  static Counter& stalled = Metrics::Default().GetCounter(
      "touchline_append_stalls_total",
      "Times the appender waited for projections to catch up (backpressure)");
  while (true) {
    std::vector<PendingAppend> group;
    {
      MutexLock lock(&mu_);
      while ((queue_.empty() || paused_) && !closing_) {
        queue_cv_.Wait(&mu_);
      }
      if (queue_.empty()) {
        break;  // closing and drained
      }
      // Backpressure: wait (in steps of a millisecond: folds do not signal
      // here) while the slowest fold is too far behind what is staged.
      bool counted = false;
      while (max_lag_ > 0 && folded_ && !closing_) {
        const Seq staged = next_seq_ - 1;
        const Seq folded = folded_();
        if (staged <= folded || staged - folded <= max_lag_) {
          break;
        }
        if (!counted) {
          stalled.Increment();
          counted = true;
        }
        queue_cv_.WaitUntil(&mu_, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
      }
      std::size_t events = 0;
      while (!queue_.empty() && group.size() < options_.max_group_requests &&
             (group.empty() ||
              events + queue_.front().request.events.size() <= options_.max_group_events)) {
        events += queue_.front().request.events.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(std::move(group));
  }
  Status ignored;
  FinishPrevious(&ignored);  // the last group is answered before Close() returns
  MutexLock lock(&writer_mu_);
  writer_stop_ = true;
  writer_cv_.SignalAll();
}

// REQUIRES: appender thread.
void EventLogImpl::CommitGroup(std::vector<PendingAppend> requests) {
  MaybeResumeAfterNoSpace();
  auto g = std::make_unique<StagedGroup>();
  g->requests = std::move(requests);
  StageRequests(g.get());
  EncodeRecords(g.get());
  // One group is written at a time, in order; this one was staged on top
  // of the previous, so it goes only if that one was written.
  Status failure;
  if (!FinishPrevious(&failure)) {
    FailStaged(g.get(), failure);
    return;
  }
  previous_ = std::move(g);
  MutexLock lock(&writer_mu_);
  writing_ = previous_.get();
  writer_cv_.SignalAll();
}

// REQUIRES: appender thread. Waits until the writer is done with
// previous_, then folds what it staged into the caches. Returns false (and
// the write's error) if it was not written: everything staged since is
// then void, and the appender starts again from what is on disk.
bool EventLogImpl::FinishPrevious(Status* failure) {
  if (previous_ == nullptr) {
    return true;
  }
  {
    MutexLock lock(&writer_mu_);
    while (writing_ != nullptr) {
      writer_cv_.Wait(&writer_mu_);
    }
  }
  std::unique_ptr<StagedGroup> done = std::move(previous_);
  if (!done->write_status.ok()) {
    *failure = done->write_status;
    version_cache_.clear();
    key_cache_.clear();
    next_seq_ = done->first;
    tree_ = done->tree_before;
    return false;
  }
  if (version_cache_.size() > kVersionCacheLimit) {
    version_cache_.clear();
  }
  for (auto& [customer, v] : done->versions) {
    version_cache_[customer] = v;
  }
  if (key_cache_.size() > kKeyCacheLimit) {
    key_cache_.clear();
  }
  for (auto& [customer, entry] : done->keys) {
    key_cache_[customer] = entry;
  }
  return true;
}

// REQUIRES: appender thread; `g` was staged on top of a group whose write
// failed with `failure` (next_seq_ is back at that group's first seq).
// Answers every request: those that needed that group fail whole.
void EventLogImpl::FailStaged(StagedGroup* g, const Status& failure) {
  const Seq void_from = next_seq_;
  for (std::size_t i = 0; i < g->requests.size(); ++i) {
    auto& r = g->results[i];
    if (r.ok() && std::any_of(r->events.begin(), r->events.end(),
                              [&](const AppendedEvent& e) { return e.seq >= void_from; })) {
      r = Status::Unavailable("the write failed and nothing of this request was stored: " +
                              failure.message());
    }
    g->requests[i].done(std::move(r));
  }
}

Status EventLogImpl::LookupIds(StagedGroup* g, std::unordered_map<std::string, IdLookup>* found) {
  std::vector<rocksdb::Slice> keys;
  for (const auto& p : g->requests) {
    for (const auto& e : p.request.events) {
      if (e.event.id.empty()) {
        continue;
      }
      if (previous_ != nullptr && previous_->ids.contains(e.event.id)) {
        continue;  // staged by the group being written: StageRequest looks there
      }
      keys.emplace_back(e.event.id);
    }
  }
  if (keys.empty()) {
    return Status::Ok();
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet({}, cf(ColumnFamily::kEventIds), keys.size(), keys.data(), values.data(),
                statuses.data());
  std::vector<Seq> event_seqs;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      continue;
    }
    RETURN_IF_ERROR(FromRocks(statuses[i], "looking up an event id"));
    if (values[i].size() != 8) {
      return Status::DataLoss("malformed event id index entry for '" + keys[i].ToString() + "'");
    }
    event_seqs.push_back(DecodeEventKey(values[i].ToStringView()));
    ids.push_back(keys[i].ToString());
  }
  // The originals' bodies and times come from their (opened) records.
  ASSIGN_OR_RETURN(auto records, ReadEvents(event_seqs, /*fill_cache=*/false));
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& rec = *records[i];
    const std::size_t body_at = rec.json.find(",\"customer\":");
    if (body_at == std::string::npos) {
      return Status::DataLoss("record at seq " + std::to_string(rec.seq) + " has no body");
    }
    g->stored_bodies.push_back(rec.json.substr(body_at));
    (*found)[ids[i]] =
        IdLookup{rec.seq, rec.version, rec.time_us, g->stored_bodies.back(), rec.erased};
  }
  return Status::Ok();
}

StatusOr<StreamVersion> EventLogImpl::VersionFor(
    const std::string& customer, const std::unordered_map<std::string, StreamVersion>& request,
    const StagedGroup& g) {
  if (auto it = request.find(customer); it != request.end()) {
    return it->second;
  }
  if (auto it = g.versions.find(customer); it != g.versions.end()) {
    return it->second;
  }
  if (previous_ != nullptr) {
    if (auto it = previous_->versions.find(customer); it != previous_->versions.end()) {
      return it->second;
    }
  }
  if (auto it = version_cache_.find(customer); it != version_cache_.end()) {
    return it->second;
  }
  // Not staged since the caches were filled: what is on disk is current.
  return ReadVersion(customer);
}

StatusOr<std::optional<KeyEntry>> EventLogImpl::KeyFor(
    const std::string& customer, const std::unordered_map<std::string, KeyEntry>& request_keys,
    const StagedGroup& g) {
  if (auto it = request_keys.find(customer); it != request_keys.end()) {
    return std::optional<KeyEntry>(it->second);
  }
  if (auto it = g.keys.find(customer); it != g.keys.end()) {
    return std::optional<KeyEntry>(it->second);
  }
  if (previous_ != nullptr) {
    if (auto it = previous_->keys.find(customer); it != previous_->keys.end()) {
      return std::optional<KeyEntry>(it->second);
    }
  }
  if (auto it = key_cache_.find(customer); it != key_cache_.end()) {
    return std::optional<KeyEntry>(it->second);
  }
  std::string value;
  const auto s = db_->Get({}, cf(ColumnFamily::kKeys), customer, &value);
  if (s.IsNotFound()) {
    return std::optional<KeyEntry>();
  }
  RETURN_IF_ERROR(FromRocks(s, "reading a customer key"));
  KeyEntry e;
  if (!DecodeKeyEntry(value, &e)) {
    return Status::DataLoss("malformed key entry for customer '" + customer + "'");
  }
  if (key_cache_.size() > kKeyCacheLimit) {
    key_cache_.clear();
  }
  key_cache_[customer] = e;  // on disk, and nothing staged since: committed state
  return std::optional<KeyEntry>(e);
}

// REQUIRES: appender thread; g->requests set. Stages every request of the
// group: its id checks, versions, keys, seqs and records, and the group's
// WriteBatch entries other than the records themselves (streams, event
// ids, keys). A request is staged whole or not at all.
void EventLogImpl::StageRequests(StagedGroup* g) {
  std::size_t estimate = 64;
  for (const auto& p : g->requests) {
    for (std::size_t i = 0; i < p.bodies.size(); ++i) {
      estimate += p.privates[i].bytes.size() + 2 * p.request.events[i].event.customer.size() +
                  p.request.events[i].event.id.size() + 256;
    }
  }
  g->batch = rocksdb::WriteBatch(estimate);  // one allocation instead of repeated doubling
  g->first = next_seq_;
  g->next = next_seq_;
  g->records = std::make_shared<std::vector<RecordPtr>>();
  g->results.reserve(g->requests.size());
  g->tree_before = tree_;
  // Ids already in the log (or staged by the group being written), looked
  // up for the whole group at once; ids this group stages join them.
  const Status lookup = LookupIds(g, &g->ids);
  for (std::size_t r = 0; r < g->requests.size(); ++r) {
    StageRequest(g, r, lookup);
  }
  next_seq_ = g->next;
}

// REQUIRES: appender thread; called by StageRequests for each request, in
// order. Appends the request's result to g->results.
void EventLogImpl::StageRequest(StagedGroup* g, std::size_t r, const Status& lookup) {
  PendingAppend& pending = g->requests[r];
  AppendRequest& req = pending.request;
  if (!lookup.ok() && std::any_of(req.events.begin(), req.events.end(),
                                  [](const ProposedEvent& e) { return !e.event.id.empty(); })) {
    g->results.emplace_back(lookup);  // only requests that needed the lookup fail
    return;
  }
  rocksdb::WriteBatch& batch = g->batch;
  batch.SetSavePoint();
  const Seq request_first = g->next;
  const std::int64_t now = options_.clock->NowMicros();
  const RecordEncoder encoder(now, req.actor, req.route);
  std::unordered_map<std::string, StreamVersion> versions;  // this request only
  std::unordered_map<std::string, IdLookup> ids;
  // Customers whose next new event must directly follow a duplicate that
  // carried an expected_version: the request asserted that position.
  std::unordered_map<std::string_view, StreamVersion> follows;
  std::unordered_map<std::string, KeyEntry> request_keys;
  std::vector<RecordPtr> records;
  std::vector<StoredForm> forms;  // one per record
  AppendResult result;
  result.events.reserve(req.events.size());
  Status status;
  // What an event the log refuses does to the request (AppendRequest::Mode).
  const bool each = req.mode == AppendRequest::Mode::kEachEvent;
  const auto refuse = [&](Status why) {
    if (each) {
      AppendedEvent skipped;
      skipped.refused = std::move(why);
      result.events.push_back(std::move(skipped));
    } else {
      status = std::move(why);
    }
  };

  for (std::size_t i = 0; i < req.events.size() && status.ok(); ++i) {
    Event& e = req.events[i].event;
    const std::string& body = pending.bodies[i];
    if (!e.id.empty()) {
      const IdLookup* seen = nullptr;
      if (auto it = ids.find(e.id); it != ids.end()) {
        seen = &it->second;
      } else if (auto git = g->ids.find(e.id); git != g->ids.end()) {
        seen = &git->second;
      } else if (previous_ != nullptr) {
        // Staged by the group being written (its bodies live as long as it).
        if (auto pit = previous_->ids.find(e.id); pit != previous_->ids.end()) {
          seen = &pit->second;
        }
      }
      if (seen != nullptr) {
        const ExpectedVersion& expected = req.events[i].expected_version;
        if (seen->erased) {
          refuse(Status::FailedPrecondition(EventPath(i) + ": event id '" + e.id +
                                            "' was appended (seq " + std::to_string(seen->seq) +
                                            ") for a customer who has since been erased"));
        } else if (!each && !SameEvent(e, body, seen->body, seen->time_us)) {
          status = IdConflict(i, e.id, seen->seq);
        } else if (!expected.IsAny() && !expected.Matches(seen->version - 1)) {
          // A retry satisfies its precondition only if the original did.
          refuse(Status::FailedPrecondition(
              EventPath(i) + ": event id '" + e.id + "' was appended at version " +
              std::to_string(seen->version) + ", which does not satisfy expected_version " +
              expected.ToString()));
        } else {
          if (!expected.IsAny()) {
            follows[e.customer] = seen->version;
          }
          result.events.push_back({seen->seq, seen->version, true, {}});
        }
        continue;
      }
    }

    auto current = VersionFor(e.customer, versions, *g);
    if (!current.ok()) {
      status = current.status();
      continue;
    }
    ExpectedVersion expected = req.events[i].expected_version;
    if (auto f = follows.find(e.customer); f != follows.end()) {
      if (expected.IsAny()) {
        expected = ExpectedVersion::Exact(f->second);
      }
      follows.erase(f);
    }
    // Sealing: the stream's key (created with its first sealed record),
    // or the tombstone that refuses it anything more.
    std::optional<KeyEntry> key;
    if (integrity_ && !IsSystemStream(e.customer)) {
      auto k = KeyFor(e.customer, request_keys, *g);
      if (!k.ok()) {
        status = k.status();
        continue;
      }
      key = *k;
      if (key.has_value() && key->state == KeyEntry::State::kErased) {
        refuse(ErasedConflict(i, e.customer, key->erased_seq));
        continue;
      }
    }
    if (!expected.Matches(*current)) {
      refuse(Status::FailedPrecondition(EventPath(i) + ": expected_version " + expected.ToString() +
                                        " but customer '" + e.customer + "' is at version " +
                                        std::to_string(*current)));
      continue;
    }
    const StreamVersion version = *current + 1;
    const Seq seq = g->next++;
    const std::int64_t time_us = e.time_us.value_or(now);
    StoredForm form;
    form.part = &pending.privates[i];
    if (integrity_ && !IsSystemStream(e.customer)) {
      if (e.type == kCustomerErasedType) {
        // Destroys the key in this batch; the erasure event itself holds
        // nothing private and stays readable.
        KeyEntry tombstone;
        tombstone.state = KeyEntry::State::kErased;
        tombstone.erased_seq = seq;
        batch.Put(cf(ColumnFamily::kKeys), e.customer, EncodeKeyEntry(tombstone));
        std::string newest;
        PutFixed64BE(&newest, seq);
        batch.Put(cf(ColumnFamily::kMeta), std::string(kNewestErasureKey), newest);
        request_keys[e.customer] = tombstone;
      } else {
        if (!key.has_value()) {
          key = KeyEntry{KeyEntry::State::kActive, NewDataKey(), 0};
          batch.Put(cf(ColumnFamily::kKeys), e.customer, EncodeKeyEntry(*key));
          request_keys[e.customer] = *key;
        }
        form.key = key->key;
      }
    }
    batch.Put(cf(ColumnFamily::kStreams), StreamKey(e.customer, version),
              StreamEntry(seq, e.type, e.channel));
    if (!e.id.empty()) {
      batch.Put(cf(ColumnFamily::kEventIds), e.id, EventKey(seq));
      ids[e.id] = IdLookup{seq, version, time_us, body};
    }
    versions[e.customer] = version;
    auto rec = std::make_shared<Record>();
    rec->seq = seq;
    rec->version = version;
    rec->id = e.id;
    rec->customer = e.customer;
    rec->type = e.type;
    rec->channel = e.channel;
    rec->department = e.department;
    rec->time_us = time_us;
    rec->recorded_at_us = now;
    rec->actor = req.actor;
    rec->route = req.route;
    rec->identities = e.identities;
    rec->json = encoder.Encode(seq, version, time_us, e.id, body);
    rec->data_at = static_cast<std::uint32_t>(rec->json.size() - body.size() + pending.data_at[i]);
    records.push_back(std::move(rec));
    forms.push_back(form);
    result.events.push_back({seq, version, false, {}});
  }

  if (!status.ok()) {
    // All-or-nothing: forget everything this request staged.
    batch.RollbackToSavePoint().PermitUncheckedError();
    g->next = request_first;
    g->results.emplace_back(std::move(status));
    return;
  }
  batch.PopSavePoint().PermitUncheckedError();
  // Move the map nodes over: no key is copied again.
  while (!versions.empty()) {
    auto node = versions.extract(versions.begin());
    const StreamVersion v = node.mapped();
    if (auto ins = g->versions.insert(std::move(node)); !ins.inserted) {
      ins.position->second = v;
    }
  }
  while (!ids.empty()) {
    g->ids.insert(ids.extract(ids.begin()));  // ids are new to the group
  }
  for (auto& [customer, entry] : request_keys) {
    g->keys[customer] = entry;
  }
  g->forms.insert(g->forms.end(), forms.begin(), forms.end());
  g->records->insert(g->records->end(), std::make_move_iterator(records.begin()),
                     std::make_move_iterator(records.end()));
  g->results.emplace_back(std::move(result));
}

// REQUIRES: appender thread; g staged. The records' stored bytes (sealed
// where they have a private part), their Merkle leaves, and their events
// and tree entries in g->batch, in seq order. The costly part: sealing
// and hashing are split with the helper thread, each worker writing into a
// buffer of its own.
void EventLogImpl::EncodeRecords(StagedGroup* g) {
  const std::vector<RecordPtr>& records = *g->records;
  const std::size_t n = records.size();
  const NonceSalt salt = integrity_ && n > 0 ? NewNonceSalt() : NonceSalt{};
  std::vector<std::pair<std::size_t, std::size_t>> stored_at(n);  // worker buffer offset, size
  std::vector<int> stored_by(n, 0);
  std::vector<Hash> leaves(integrity_ ? n : 0);
  auto& buffers = seal_buffers_;
  for (auto& b : buffers) {
    b.clear();  // keeps its capacity
  }
  const auto store = [&](std::size_t j, int worker) {
    const Record& r = *records[j];
    const StoredForm& f = g->forms[j];
    std::string& out = buffers[static_cast<std::size_t>(worker)];
    const std::size_t at = out.size();
    AppendStoredHeader(r, f.part->flags | (f.key.has_value() ? kPrivateSealed : 0), &out);
    if (f.key.has_value()) {
      SealRawAppend(*f.key, salt, r.seq, r.customer, f.part->bytes, &out);
    } else {
      out.append(f.part->bytes);
    }
    stored_at[j] = {at, out.size() - at};
    stored_by[j] = worker;
    if (integrity_) {
      leaves[j] = LeafHash(std::string_view(out).substr(at));
    }
  };
  if (helper_ != nullptr) {
    helper_->ParallelFor(n, store);
  } else {
    for (std::size_t j = 0; j < n; ++j) {
      store(j, 1);
    }
  }
  CompactRange tree = tree_;
  std::string tree_entry;
  for (std::size_t j = 0; j < n; ++j) {
    const Record& r = *records[j];
    const rocksdb::Slice stored(
        buffers[static_cast<std::size_t>(stored_by[j])].data() + stored_at[j].first,
        stored_at[j].second);
    g->batch.Put(cf(ColumnFamily::kEvents), EventKey(r.seq), stored);
    if (integrity_) {
      const std::uint64_t index = tree.size();
      tree.AppendEntry(leaves[j], &tree_entry);
      g->batch.Put(cf(ColumnFamily::kMerkle), TreeLeafKey(index), tree_entry);
    }
  }
  g->tree_after = tree;
  tree_ = std::move(tree);
}

void EventLogImpl::WriterLoop() {
  pthread_setname_np(pthread_self(), "tl-writer");
  while (true) {
    StagedGroup* g = nullptr;
    {
      MutexLock lock(&writer_mu_);
      while (writing_ == nullptr && !writer_stop_) {
        writer_cv_.Wait(&writer_mu_);
      }
      if (writing_ == nullptr) {
        return;
      }
      g = writing_;
    }
    WriteGroup(g);
    PublishGroup(g);
    MutexLock lock(&writer_mu_);
    writing_ = nullptr;
    writer_cv_.SignalAll();
  }
}

// REQUIRES: writer thread; g encoded, and every earlier group written. The
// one synced write of the group; sets g->write_status.
void EventLogImpl::WriteGroup(StagedGroup* g) {
  if (g->batch.Count() == 0) {
    return;  // only failures and replays: nothing to write
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  static Histogram& commit_seconds = Metrics::Default().GetHistogram(
      "touchline_commit_seconds", "One group commit: the synced RocksDB write (fsync included)");
  static Histogram& group_events = Metrics::Default().GetHistogram(
      "touchline_commit_group_events", "Events per group commit", "", SizeBounds());
  static Counter& bytes_written = Metrics::Default().GetCounter(
      "touchline_append_bytes_total", "Bytes of WriteBatch committed by appends");
  static Counter& events_appended =
      Metrics::Default().GetCounter("touchline_appended_events_total", "Events appended");
  const auto write_started = std::chrono::steady_clock::now();
  const rocksdb::Status rocks_status = db_->Write(wo, &g->batch);
  g->write_status = FromRocks(rocks_status, "committing events");
  commit_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - write_started).count());
  MutexLock lock(&health_mu_);
  if (g->write_status.ok()) {
    group_events.Observe(static_cast<double>(g->records->size()));
    bytes_written.Increment(g->batch.GetDataSize());
    events_appended.Increment(g->records->size());
    // A full disk that accepts writes again is healthy again.
    if (write_error_no_space_) {
      write_error_ = Status::Ok();
      write_error_no_space_ = false;
    }
    return;
  }
  // The first error is kept, unless a full disk is followed by a worse
  // failure: that one is final and must not heal with the disk.
  if (write_error_.ok() || (write_error_no_space_ && !rocks_status.IsNoSpace())) {
    write_error_ = g->write_status;
    write_error_no_space_ = rocks_status.IsNoSpace();
    last_resume_attempt_ = std::chrono::steady_clock::now();
  }
}

// REQUIRES: writer thread; WriteGroup(g) done. Makes a written group
// visible (read caches, then the head, then subscribers) and answers its
// requests; a failed group's requests fail whole.
void EventLogImpl::PublishGroup(StagedGroup* g) {
  const std::vector<RecordPtr>& records = *g->records;
  if (!g->write_status.ok()) {
    // Nothing of the group is visible or durable; every request that would
    // have written fails as a whole. That includes a pure replay of an
    // event first staged in this group.
    for (auto& r : g->results) {
      if (r.ok() && std::any_of(r->events.begin(), r->events.end(),
                                [&](const AppendedEvent& e) { return e.seq >= g->first; })) {
        r = Status::Unavailable("the write failed and nothing of this request was stored: " +
                                g->write_status.message());
      }
    }
  } else if (!records.empty()) {
    // Readers see the group once the head moves: its records and stream
    // entries go into the read caches first.
    tails_->BeginGroup(g->next - 1);
    const std::uint64_t epoch = record_cache_->epoch();  // only this thread erases
    for (const RecordPtr& r : records) {
      tails_->Append(r->customer, r->version, r->seq);
      record_cache_->Insert(r, epoch);
      touches_->Record(*r);
    }
    for (const RecordPtr& r : records) {
      if (r->type == kCustomerErasedType) {
        record_cache_->EraseCustomer(r->customer);  // the key is destroyed on disk
      }
    }
    if (integrity_) {
      MutexLock lock(&checkpoint_mu_);
      events_since_checkpoint_ += records.size();
      if (options_.checkpoint_events > 0 &&
          events_since_checkpoint_ >= options_.checkpoint_events) {
        checkpoint_wanted_ = true;
        checkpoint_cv_.Signal();
      }
    }
    // Invariant: committed records are exactly head+1 .. next-1, in order.
    head_.store(g->next - 1, std::memory_order_release);
    commit_groups_.fetch_add(1, std::memory_order_relaxed);
    committed_events_.fetch_add(records.size(), std::memory_order_relaxed);
    hub_->Publish(g->records);
  }
  for (std::size_t i = 0; i < g->requests.size(); ++i) {
    g->requests[i].done(std::move(g->results[i]));
  }
}

void EventLogImpl::MaybeResumeAfterNoSpace() {
  {
    MutexLock lock(&health_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (write_error_.ok() || !write_error_no_space_ ||
        now - last_resume_attempt_ < std::chrono::seconds(1)) {
      return;
    }
    last_resume_attempt_ = now;
  }
  // Flushes the memtables and opens a new WAL; fails while the disk is
  // still full, and the next group tries again a second later.
  if (db_->Resume().ok()) {
    MutexLock lock(&health_mu_);
    write_error_ = Status::Ok();
    write_error_no_space_ = false;
  }
}

void EventLogImpl::SetBackpressure(std::function<Seq()> folded, Seq max_lag) {
  MutexLock lock(&mu_);
  folded_ = std::move(folded);
  max_lag_ = max_lag;
}

void EventLogImpl::TEST_PauseAppender(bool paused) {
  MutexLock lock(&mu_);
  paused_ = paused;
  queue_cv_.SignalAll();
}

Status EventLogImpl::WriteHealth() const {
  MutexLock lock(&health_mu_);
  if (write_error_.ok()) {
    return Status::Ok();
  }
  return Status::Unavailable("the event log cannot write since: " + write_error_.message());
}

void EventLogImpl::Close() {
  {
    MutexLock lock(&mu_);
    if (closed_) {
      return;
    }
    closing_ = true;
    closed_ = true;
    queue_cv_.SignalAll();
  }
  if (appender_.joinable()) {
    appender_.join();  // drains the queue first, and stops the writer
  }
  if (writer_.joinable()) {
    writer_.join();
  }
  {
    MutexLock lock(&checkpoint_mu_);
    stop_checkpointer_ = true;
    checkpoint_cv_.SignalAll();
  }
  if (checkpointer_.joinable()) {
    checkpointer_.join();  // signs what the drained queue added, then stops
  }
  if (hub_) {
    hub_->Close();
  }
}

}  // namespace touchline::store::internal
