// The append path: one appender thread, group commit, idempotency and
// expected-version checks. See store/event_log.h for the contract.
#include <rocksdb/write_batch.h>

#include "core/validation.h"
#include "store/internal/event_log_impl.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"

namespace touchline::store::internal {
namespace {

constexpr std::size_t kVersionCacheLimit = 1'000'000;

std::string EventPath(std::size_t i) { return "events[" + std::to_string(i) + "]"; }

// What the group (or the request being built) knows about an event id.
struct IdEntry {
  Seq seq = 0;
  StreamVersion version = 0;
  std::int64_t time_us = 0;
  std::string body;
};

// Renders `event`'s body for comparison with an earlier event with the same
// id. A retry that omits `time` matches whatever time the original got.
std::string BodyForComparison(Event event, std::int64_t stored_time_us) {
  if (!event.time_us.has_value()) {
    event.time_us = stored_time_us;
  }
  return EncodeRecordBody(event);
}

Status IdConflict(std::size_t i, const std::string& id, Seq seq) {
  return Status::AlreadyExists(
      EventPath(i) + ": event id '" + id + "' was already used for a different event (seq " +
      std::to_string(seq) + "); a retry must resend the same event, a new event needs a new id");
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
  for (std::size_t i = 0; i < request.events.size(); ++i) {
    Status s = ValidateEvent(request.events[i].event, EventPath(i));
    if (!s.ok()) {
      done(std::move(s));
      return;
    }
  }
  if (request.actor.empty()) {
    request.actor = "anonymous";
  }
  {
    MutexLock lock(&mu_);
    if (!closing_) {
      queue_.push_back(PendingAppend{std::move(request), std::move(done)});
      queue_cv_.Signal();
      return;
    }
  }
  done(Status::Unavailable("the event log is shutting down"));
}

void EventLogImpl::AppenderLoop() {
  std::vector<PendingAppend> group;
  while (true) {
    group.clear();
    {
      MutexLock lock(&mu_);
      while (queue_.empty() && !closing_) {
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

void EventLogImpl::CommitGroup(std::vector<PendingAppend>* group) {
  rocksdb::WriteBatch batch;
  const std::int64_t now = options_.clock->NowMicros();
  Seq next = head() + 1;
  std::unordered_map<std::string, StreamVersion> group_versions;
  std::unordered_map<std::string, IdEntry> group_ids;
  std::vector<StatusOr<AppendResult>> results;
  results.reserve(group->size());
  auto committed = std::make_shared<std::vector<RecordPtr>>();

  for (auto& pending : *group) {
    AppendRequest& req = pending.request;
    batch.SetSavePoint();
    const Seq request_first = next;
    std::unordered_map<std::string, StreamVersion> versions;  // this request only
    std::unordered_map<std::string, IdEntry> ids;
    std::vector<RecordPtr> records;
    AppendResult result;
    Status status;

    for (std::size_t i = 0; i < req.events.size() && status.ok(); ++i) {
      Event& e = req.events[i].event;
      if (!e.id.empty()) {
        const IdEntry* seen = nullptr;
        if (auto it = ids.find(e.id); it != ids.end()) {
          seen = &it->second;
        } else if (auto git = group_ids.find(e.id); git != group_ids.end()) {
          seen = &git->second;
        }
        if (seen != nullptr) {
          if (BodyForComparison(e, seen->time_us) != seen->body) {
            status = IdConflict(i, e.id, seen->seq);
          } else {
            result.events.push_back({seen->seq, seen->version, true});
          }
          continue;
        }
        std::string seq_bytes;
        auto s = db_->Get({}, cf(ColumnFamily::kEventIds), e.id, &seq_bytes);
        if (s.ok()) {
          if (seq_bytes.size() != 8) {
            status = Status::DataLoss("malformed event id index entry for '" + e.id + "'");
            continue;
          }
          std::string stored;
          status = FromRocks(db_->Get({}, cf(ColumnFamily::kEvents), seq_bytes, &stored),
                             "reading the original of a duplicate event id");
          if (!status.ok()) {
            continue;
          }
          auto rec = DecodeRecord(stored);
          if (!rec.ok()) {
            status = rec.status();
            continue;
          }
          if (!std::string_view(stored).ends_with(BodyForComparison(e, rec->time_us))) {
            status = IdConflict(i, e.id, rec->seq);
          } else {
            result.events.push_back({rec->seq, rec->version, true});
          }
          continue;
        }
        if (!s.IsNotFound()) {
          status = FromRocks(s, "looking up an event id");
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
      const ExpectedVersion& expected = req.events[i].expected_version;
      if (!expected.Matches(current)) {
        status = Status::FailedPrecondition(EventPath(i) + ": expected_version " +
                                            expected.ToString() + " but customer '" + e.customer +
                                            "' is at version " + std::to_string(current));
        continue;
      }
      const StreamVersion version = current + 1;
      const Seq seq = next++;
      if (!e.time_us.has_value()) {
        e.time_us = now;
      }
      std::string body = EncodeRecordBody(e);
      std::string json = EncodeRecord({seq, version, now, req.actor}, e.id, body);
      const std::string event_key = EventKey(seq);
      batch.Put(cf(ColumnFamily::kEvents), event_key, json);
      batch.Put(cf(ColumnFamily::kStreams), StreamKey(e.customer, version),
                StreamEntry(seq, e.type, e.channel));
      if (!e.id.empty()) {
        batch.Put(cf(ColumnFamily::kEventIds), e.id, event_key);
        ids[e.id] = IdEntry{seq, version, *e.time_us, std::move(body)};
      }
      versions[e.customer] = version;
      auto rec = std::make_shared<Record>();
      rec->seq = seq;
      rec->version = version;
      rec->id = e.id;
      rec->customer = e.customer;
      rec->type = e.type;
      rec->channel = e.channel;
      rec->time_us = *e.time_us;
      rec->json = std::move(json);
      records.push_back(std::move(rec));
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
    for (auto& [customer, v] : versions) {
      group_versions[customer] = v;
    }
    for (auto& [id, entry] : ids) {
      group_ids[id] = std::move(entry);
    }
    committed->insert(committed->end(), std::make_move_iterator(records.begin()),
                      std::make_move_iterator(records.end()));
    results.emplace_back(std::move(result));
  }

  if (batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    const Status write_status = FromRocks(db_->Write(wo, &batch), "committing events");
    if (!write_status.ok()) {
      // Nothing of the group is visible or durable; every request that would
      // have written fails as a whole.
      for (auto& r : results) {
        if (r.ok() && !r->AllDuplicates()) {
          r = Status::Unavailable("the write failed and nothing of this request was stored: " +
                                  write_status.message());
        }
      }
    } else {
      if (version_cache_.size() > kVersionCacheLimit) {
        version_cache_.clear();
      }
      for (auto& [customer, v] : group_versions) {
        version_cache_[customer] = v;
      }
      // Invariant: committed records are exactly head+1 .. next-1, in order.
      head_.store(next - 1, std::memory_order_release);
      commit_groups_.fetch_add(1, std::memory_order_relaxed);
      committed_events_.fetch_add(committed->size(), std::memory_order_relaxed);
      hub_->Publish(std::const_pointer_cast<const std::vector<RecordPtr>>(
          std::shared_ptr<std::vector<RecordPtr>>(std::move(committed))));
    }
  }
  for (std::size_t i = 0; i < group->size(); ++i) {
    (*group)[i].done(std::move(results[i]));
  }
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
  if (hub_) {
    hub_->Close();
  }
}

}  // namespace touchline::store::internal
