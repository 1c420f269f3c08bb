// The append path: one appender thread, group commit, idempotency and
// expected-version checks. See store/event_log.h for the contract.
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
  std::vector<PrivatePart> privates;
  bodies.reserve(request.events.size());
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
    bodies.push_back(EncodeRecordBody(request.events[i].event));
    privates.push_back(EncodePrivatePart(request.events[i].event));
  }
  if (request.actor.empty()) {
    request.actor = "anonymous";
  }
  {
    MutexLock lock(&mu_);
    if (!closing_) {
      queue_.push_back(PendingAppend{std::move(request), std::move(bodies), std::move(privates),
                                     std::move(done)});
      queue_cv_.Signal();
      return;
    }
  }
  done(Status::Unavailable("the event log is shutting down"));
}

void EventLogImpl::AppenderLoop() {
  pthread_setname_np(pthread_self(), "tl-appender");
  std::vector<PendingAppend> group;
  while (true) {
    group.clear();
    {
      MutexLock lock(&mu_);
      while ((queue_.empty() || paused_) && !closing_) {
        queue_cv_.Wait(&mu_);
      }
      if (queue_.empty()) {
        return;  // closing and drained
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
    CommitGroup(&group);
  }
}

Status EventLogImpl::LookupIds(const std::vector<PendingAppend>& group,
                               std::unordered_map<std::string, IdLookup>* found,
                               std::deque<std::string>* storage) {
  std::vector<rocksdb::Slice> keys;
  for (const auto& p : group) {
    for (const auto& e : p.request.events) {
      if (!e.event.id.empty()) {
        keys.emplace_back(e.event.id);
      }
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
    storage->push_back(rec.json.substr(body_at));
    (*found)[ids[i]] = IdLookup{rec.seq, rec.version, rec.time_us, storage->back(), rec.erased};
  }
  return Status::Ok();
}

StatusOr<std::optional<KeyEntry>> EventLogImpl::KeyFor(
    const std::string& customer, const std::unordered_map<std::string, KeyEntry>& request_keys,
    const std::unordered_map<std::string, KeyEntry>& group_keys) {
  if (auto it = request_keys.find(customer); it != request_keys.end()) {
    return std::optional<KeyEntry>(it->second);
  }
  if (auto it = group_keys.find(customer); it != group_keys.end()) {
    return std::optional<KeyEntry>(it->second);
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
  key_cache_[customer] = e;  // committed state: the appender is the only writer
  return std::optional<KeyEntry>(e);
}

void EventLogImpl::CommitGroup(std::vector<PendingAppend>* group) {
  MaybeResumeAfterNoSpace();
  std::size_t estimate = 64;
  for (const auto& p : *group) {
    for (std::size_t i = 0; i < p.bodies.size(); ++i) {
      estimate += p.bodies[i].size() + 2 * p.request.events[i].event.customer.size() + 320;
    }
  }
  rocksdb::WriteBatch batch(estimate);  // one allocation instead of repeated doubling
  const std::int64_t now = options_.clock->NowMicros();
  const Seq group_first = head() + 1;
  Seq next = group_first;
  std::vector<StatusOr<AppendResult>> results;
  results.reserve(group->size());
  auto committed = std::make_shared<std::vector<RecordPtr>>();

  // Ids already in the log, looked up for the whole group at once. Ids
  // staged by this group are added as requests succeed.
  std::unordered_map<std::string, IdLookup> group_ids;
  std::deque<std::string> stored_bodies;
  const Status lookup = LookupIds(*group, &group_ids, &stored_bodies);
  std::unordered_map<std::string, StreamVersion> group_versions;
  // Keys created and customers erased by the requests that succeeded, and
  // the leaf hashes of their records, in seq order.
  std::unordered_map<std::string, KeyEntry> group_keys;
  std::vector<StoredForm> group_forms;  // parallel to *committed
  const NonceSalt salt = integrity_ ? NewNonceSalt() : NonceSalt{};

  for (auto& pending : *group) {
    AppendRequest& req = pending.request;
    if (!lookup.ok() && std::any_of(req.events.begin(), req.events.end(),
                                    [](const ProposedEvent& e) { return !e.event.id.empty(); })) {
      results.emplace_back(lookup);  // only requests that needed the lookup fail
      continue;
    }
    batch.SetSavePoint();
    const Seq request_first = next;
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

    for (std::size_t i = 0; i < req.events.size() && status.ok(); ++i) {
      Event& e = req.events[i].event;
      const std::string& body = pending.bodies[i];
      if (!e.id.empty()) {
        const IdLookup* seen = nullptr;
        if (auto it = ids.find(e.id); it != ids.end()) {
          seen = &it->second;
        } else if (auto git = group_ids.find(e.id); git != group_ids.end()) {
          seen = &git->second;
        }
        if (seen != nullptr) {
          const ExpectedVersion& expected = req.events[i].expected_version;
          if (seen->erased) {
            status = Status::FailedPrecondition(EventPath(i) + ": event id '" + e.id +
                                                "' was appended (seq " + std::to_string(seen->seq) +
                                                ") for a customer who has since been erased");
          } else if (!SameEvent(e, body, seen->body, seen->time_us)) {
            status = IdConflict(i, e.id, seen->seq);
          } else if (!expected.IsAny() && !expected.Matches(seen->version - 1)) {
            // A retry satisfies its precondition only if the original did.
            status = Status::FailedPrecondition(
                EventPath(i) + ": event id '" + e.id + "' was appended at version " +
                std::to_string(seen->version) + ", which does not satisfy expected_version " +
                expected.ToString());
          } else {
            if (!expected.IsAny()) {
              follows[e.customer] = seen->version;
            }
            result.events.push_back({seen->seq, seen->version, true});
          }
          continue;
        }
      }

      StreamVersion current = 0;
      if (auto it = versions.find(e.customer); it != versions.end()) {
        current = it->second;
      } else if (auto git = group_versions.find(e.customer); git != group_versions.end()) {
        current = git->second;
      } else if (auto cit = version_cache_.find(e.customer); cit != version_cache_.end()) {
        current = cit->second;
      } else {
        auto v = ReadVersion(e.customer);
        if (!v.ok()) {
          status = v.status();
          continue;
        }
        current = *v;
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
        auto k = KeyFor(e.customer, request_keys, group_keys);
        if (!k.ok()) {
          status = k.status();
          continue;
        }
        key = *k;
        if (key.has_value() && key->state == KeyEntry::State::kErased) {
          status = ErasedConflict(i, e.customer, key->erased_seq);
          continue;
        }
      }
      if (!expected.Matches(current)) {
        status = Status::FailedPrecondition(EventPath(i) + ": expected_version " +
                                            expected.ToString() + " but customer '" + e.customer +
                                            "' is at version " + std::to_string(current));
        continue;
      }
      const StreamVersion version = current + 1;
      const Seq seq = next++;
      const std::int64_t time_us = e.time_us.value_or(now);
      std::string json = encoder.Encode(seq, version, time_us, e.id, body);
      const std::string event_key = EventKey(seq);
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
        batch.Put(cf(ColumnFamily::kEventIds), e.id, event_key);
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
      rec->json = std::move(json);
      records.push_back(std::move(rec));
      forms.push_back(form);
      result.events.push_back({seq, version, false});
    }

    if (!status.ok()) {
      // All-or-nothing: forget everything this request staged.
      batch.RollbackToSavePoint().PermitUncheckedError();
      next = request_first;
      results.emplace_back(std::move(status));
      continue;
    }
    batch.PopSavePoint().PermitUncheckedError();
    // Move the map nodes over: no key is copied again.
    while (!versions.empty()) {
      auto node = versions.extract(versions.begin());
      const StreamVersion v = node.mapped();
      if (auto r = group_versions.insert(std::move(node)); !r.inserted) {
        r.position->second = v;
      }
    }
    while (!ids.empty()) {
      group_ids.insert(ids.extract(ids.begin()));  // ids are new to the group
    }
    for (auto& [customer, entry] : request_keys) {
      group_keys[customer] = entry;
    }
    group_forms.insert(group_forms.end(), forms.begin(), forms.end());
    committed->insert(committed->end(), std::make_move_iterator(records.begin()),
                      std::make_move_iterator(records.end()));
    results.emplace_back(std::move(result));
  }

  // The records' stored bytes: sealed where they have a private part,
  // hashed into leaves; the costly part, so split with the helper thread.
  // Each worker writes the sealed records into one buffer of its own (one
  // allocation per group, not one per record).
  const std::size_t n = committed->size();
  std::vector<std::pair<std::size_t, std::size_t>> stored_at(n);  // worker buffer offset, size
  std::vector<int> stored_by(n, 0);
  std::vector<Hash> leaves(integrity_ ? n : 0);
  auto& buffers = seal_buffers_;
  for (auto& b : buffers) {
    b.clear();  // keeps its capacity: no fresh pages to fault in per group
  }
  // Each worker writes the stored records into one buffer of its own (one
  // allocation per group, not one per record).
  const auto store = [&](std::size_t j, int worker) {
    const Record& r = *(*committed)[j];
    const StoredForm& f = group_forms[j];
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
  // Then, in seq order: the records, and the tree they grow (one entry per
  // record), in the same batch.
  CompactRange tree = tree_;
  std::string tree_entry;
  for (std::size_t j = 0; j < n; ++j) {
    const Record& r = *(*committed)[j];
    const rocksdb::Slice stored(
        buffers[static_cast<std::size_t>(stored_by[j])].data() + stored_at[j].first,
        stored_at[j].second);
    batch.Put(cf(ColumnFamily::kEvents), EventKey(r.seq), stored);
    if (integrity_) {
      const std::uint64_t index = tree.size();
      tree.AppendEntry(leaves[j], &tree_entry);
      batch.Put(cf(ColumnFamily::kMerkle), TreeLeafKey(index), tree_entry);
    }
  }

  if (batch.Count() > 0) {
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
    const rocksdb::Status rocks_status = db_->Write(wo, &batch);
    const Status write_status = FromRocks(rocks_status, "committing events");
    commit_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - write_started).count());
    if (write_status.ok()) {
      group_events.Observe(static_cast<double>(committed->size()));
      bytes_written.Increment(batch.GetDataSize());
      events_appended.Increment(committed->size());
    }
    if (!write_status.ok()) {
      {
        MutexLock lock(&health_mu_);
        // The first error is kept, unless a full disk is followed by a
        // worse failure: that one is final and must not heal with the disk.
        if (write_error_.ok() || (write_error_no_space_ && !rocks_status.IsNoSpace())) {
          write_error_ = write_status;
          write_error_no_space_ = rocks_status.IsNoSpace();
          last_resume_attempt_ = std::chrono::steady_clock::now();
        }
      }
      // Nothing of the group is visible or durable; every request that would
      // have written fails as a whole.
      // That includes a pure replay of an event first staged in this group.
      for (auto& r : results) {
        if (r.ok() && std::any_of(r->events.begin(), r->events.end(),
                                  [&](const AppendedEvent& e) { return e.seq >= group_first; })) {
          r = Status::Unavailable("the write failed and nothing of this request was stored: " +
                                  write_status.message());
        }
      }
    } else {
      {
        // A full disk that accepts writes again is healthy again.
        MutexLock lock(&health_mu_);
        if (write_error_no_space_) {
          write_error_ = Status::Ok();
          write_error_no_space_ = false;
        }
      }
      if (version_cache_.size() > kVersionCacheLimit) {
        version_cache_.clear();
      }
      for (auto& [customer, v] : group_versions) {
        version_cache_[customer] = v;
      }
      if (key_cache_.size() > kKeyCacheLimit) {
        key_cache_.clear();
      }
      for (auto& [customer, entry] : group_keys) {
        key_cache_[customer] = entry;
      }
      if (integrity_ && n > 0) {
        tree_ = std::move(tree);
        MutexLock lock(&checkpoint_mu_);
        events_since_checkpoint_ += n;
        if (options_.checkpoint_events > 0 &&
            events_since_checkpoint_ >= options_.checkpoint_events) {
          checkpoint_wanted_ = true;
          checkpoint_cv_.Signal();
        }
      }
      // Readers see the group once the head moves: its records and stream
      // entries go into the read caches first.
      tails_->BeginGroup(next - 1);
      const std::uint64_t epoch = record_cache_->epoch();  // the appender erases
      for (const RecordPtr& r : *committed) {
        tails_->Append(r->customer, r->version, r->seq);
        record_cache_->Insert(r, epoch);
        touches_->Record(*r);
      }
      for (const RecordPtr& r : *committed) {
        if (r->type == kCustomerErasedType) {
          record_cache_->EraseCustomer(r->customer);  // the key is destroyed on disk
        }
      }
      // Invariant: committed records are exactly head+1 .. next-1, in order.
      head_.store(next - 1, std::memory_order_release);
      commit_groups_.fetch_add(1, std::memory_order_relaxed);
      committed_events_.fetch_add(committed->size(), std::memory_order_relaxed);
      hub_->Publish(std::move(committed));
    }
  }
  for (std::size_t i = 0; i < group->size(); ++i) {
    (*group)[i].done(std::move(results[i]));
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
    appender_.join();  // drains the queue first
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
