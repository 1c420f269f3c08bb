// EventLog: open, reads and stats. The append path is in event_log_append.cc.
#include "store/event_log.h"

#include <rocksdb/cache.h>
#include <rocksdb/statistics.h>
#include <rocksdb/utilities/backup_engine.h>
#include <rocksdb/utilities/options_util.h>
#include <sodium.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <limits>

#include "core/coding.h"
#include "core/validation.h"
#include "store/internal/event_log_impl.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"

namespace touchline::store {

bool AppendResult::AllDuplicates() const {
  for (const auto& e : events) {
    if (!e.duplicate) {
      return false;
    }
  }
  return !events.empty();
}

StatusOr<std::unique_ptr<EventLog>> EventLog::Open(const EventLogOptions& options) {
  return internal::OpenWithEnv(options, nullptr);
}

StatusOr<AppendResult> EventLog::Append(AppendRequest request) {
  std::promise<StatusOr<AppendResult>> promise;
  auto future = promise.get_future();
  AppendAsync(std::move(request),
              [&promise](StatusOr<AppendResult> result) { promise.set_value(std::move(result)); });
  return future.get();
}

namespace internal {
namespace {

rocksdb::Slice ToSlice(const std::string& s) { return {s.data(), s.size()}; }

}  // namespace

StatusOr<std::unique_ptr<EventLog>> OpenWithEnv(const EventLogOptions& options, rocksdb::Env* env) {
  auto log = std::make_unique<EventLogImpl>(options, env);
  RETURN_IF_ERROR(log->Init());
  return std::unique_ptr<EventLog>(std::move(log));
}

EventLogImpl::EventLogImpl(const EventLogOptions& options, rocksdb::Env* env)
    : options_(options), env_(env) {}

EventLogImpl::~EventLogImpl() {
  Close();
  if (db_) {
    for (auto* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    handles_.clear();
    // Close() flushes nothing we need (the WAL is synced); it reports
    // background errors, which the next open would report again.
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
}

Status EventLogImpl::Init() {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  if (options_.max_group_requests == 0 || options_.max_group_events == 0 ||
      options_.subscription_buffer_records == 0) {
    return Status::InvalidArgument(
        "max_group_requests, max_group_events and subscription_buffer_records must be positive");
  }
  rocksdb::DBOptions db_options = MakeDbOptions();
  if (env_ != nullptr) {
    db_options.env = env_;
  } else if (options_.in_memory) {
    mem_env_.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    db_options.env = mem_env_.get();
  }
  // Tickers only (no timers or histograms): the block cache hit rate for
  // /metrics at a cost too small to measure.
  db_options.statistics = rocksdb::CreateDBStatistics();
  db_options.statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  auto cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  block_cache_ = cache;
  const auto descriptors = MakeColumnFamilyDescriptors(cache);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options_.read_only) {
    if (!options_.in_memory && !std::filesystem::exists(options_.path + "/CURRENT")) {
      return Status::NotFound("no touchline data directory at '" + options_.path + "'");
    }
    s = rocksdb::DB::OpenForReadOnly(db_options, options_.path, descriptors, &handles_, &raw);
  } else {
    if (!options_.in_memory) {
      std::error_code ec;
      std::filesystem::create_directories(options_.path, ec);
      if (ec) {
        return Status::Unavailable("cannot create data directory '" + options_.path +
                                   "': " + ec.message());
      }
    }
    s = rocksdb::DB::Open(db_options, options_.path, descriptors, &handles_, &raw);
  }
  RETURN_IF_ERROR(FromRocks(s, "opening '" + options_.path + "'"));
  db_.reset(raw);

  // The head is the last key of `events`: keys are dense 1..head.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(ColumnFamily::kEvents)));
    it->SeekToLast();
    RETURN_IF_ERROR(FromRocks(it->status(), "finding the head"));
    if (it->Valid()) {
      if (it->key().size() != 8) {
        return Status::DataLoss("malformed key in the events column family");
      }
      head_.store(DecodeEventKey(it->key().ToStringView()));
    }
  }
  ASSIGN_OR_RETURN(const int stored_format, CheckFormatVersion());
  RETURN_IF_ERROR(InitIntegrity(stored_format));
  RETURN_IF_ERROR(MarkFormatVersion());

  hub_ = std::make_unique<SubscriptionHub>(
      [this](Seq from, std::size_t max) { return ReadShared(from, max); },
      [this] { return head(); }, options_.subscription_buffer_records);
  if (!options_.read_only) {
    if (integrity_) {
      helper_ = std::make_unique<HelperThread>();
    }
    appender_ = std::thread([this] { AppenderLoop(); });
    if (integrity_) {
      checkpointer_ = std::thread([this] { CheckpointerLoop(); });
    }
  }
  return Status::Ok();
}

StatusOr<int> EventLogImpl::CheckFormatVersion() {
  std::string value;
  auto s = db_->Get({}, cf(ColumnFamily::kMeta), std::string(kFormatVersionKey), &value);
  if (s.IsNotFound()) {
    if (head() != 0) {
      return Status::DataLoss("data directory has events but no format version");
    }
    return 0;  // a new directory
  }
  RETURN_IF_ERROR(FromRocks(s, "reading the format version"));
  int version = 0;
  try {
    version = std::stoi(value);
  } catch (const std::exception&) {
    return Status::DataLoss("unreadable format version '" + value + "'");
  }
  if (version > kFormatVersion) {
    return Status::FailedPrecondition("data directory '" + options_.path + "' has format version " +
                                      std::to_string(version) +
                                      ", newer than this build supports (" +
                                      std::to_string(kFormatVersion) + "); upgrade touchline");
  }
  if (version < 1) {
    return Status::DataLoss("invalid format version " + value);
  }
  return version;
}

Status EventLogImpl::MarkFormatVersion() {
  if (options_.read_only) {
    return Status::Ok();
  }
  // Every older format is a subset of this one (InitIntegrity has built
  // what format 3 adds): mark it upgraded.
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, cf(ColumnFamily::kMeta), std::string(kFormatVersionKey),
                            std::to_string(kFormatVersion)),
                   "writing the format version");
}

StatusOr<std::vector<RecordPtr>> EventLogImpl::ReadShared(Seq from, std::size_t max) const {
  ASSIGN_OR_RETURN(auto records, ReadFrom(from, max));
  std::vector<RecordPtr> out;
  out.reserve(records.size());
  for (auto& r : records) {
    out.push_back(std::make_shared<const Record>(std::move(r)));
  }
  return out;
}

StatusOr<std::vector<Record>> EventLogImpl::ReadFrom(Seq from, std::size_t limit) const {
  std::vector<Record> out;
  const Seq head_now = head();
  if (from == 0) {
    from = 1;
  }
  if (limit == 0 || from > head_now) {
    return out;
  }
  // Seqs are dense (1..head), so the range is read by key.
  const Seq last = from - 1 + std::min<Seq>(limit, head_now - from + 1);
  std::vector<std::string> keys;
  keys.reserve(last - from + 1);
  for (Seq s = from; s <= last; ++s) {
    keys.push_back(EventKey(s));
  }
  ASSIGN_OR_RETURN(out, ReadEvents(keys));
  return out;
}

StatusOr<std::vector<Record>> EventLogImpl::ReadEvents(const std::vector<std::string>& keys) const {
  std::vector<Record> out;
  if (keys.empty()) {
    return out;
  }
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const auto& k : keys) {
    slices.push_back(ToSlice(k));
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet({}, cf(ColumnFamily::kEvents), keys.size(), slices.data(), values.data(),
                statuses.data(), /*sorted_input=*/false);
  out.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Seq seq = DecodeEventKey(keys[i]);
    if (statuses[i].IsNotFound()) {
      return Status::DataLoss("event " + std::to_string(seq) +
                              " is missing from the log (the head is " + std::to_string(head()) +
                              ")");
    }
    RETURN_IF_ERROR(FromRocks(statuses[i], "reading an event"));
    ASSIGN_OR_RETURN(auto rec, DecodeRecord(values[i].ToStringView()));
    if (rec.seq != seq) {
      return Status::DataLoss("the record stored under seq " + std::to_string(seq) + " says seq " +
                              std::to_string(rec.seq));
    }
    out.push_back(std::move(rec));
  }
  RETURN_IF_ERROR(OpenSealed(&out));
  return out;
}

Status EventLogImpl::OpenSealed(std::vector<Record>* records) const {
  // One key read per customer of the batch, all at once.
  std::vector<std::string> customers;
  for (const auto& r : *records) {
    if (!r.sealed.empty()) {
      customers.push_back(r.customer);
    }
  }
  if (customers.empty()) {
    return Status::Ok();
  }
  std::sort(customers.begin(), customers.end());
  customers.erase(std::unique(customers.begin(), customers.end()), customers.end());
  std::vector<rocksdb::Slice> keys;
  keys.reserve(customers.size());
  for (const auto& c : customers) {
    keys.push_back(ToSlice(c));
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet({}, cf(ColumnFamily::kKeys), keys.size(), keys.data(), values.data(),
                statuses.data(), /*sorted_input=*/true);
  std::vector<std::optional<KeyEntry>> entries(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      continue;  // no key (an export imported without keys): as erased
    }
    RETURN_IF_ERROR(FromRocks(statuses[i], "reading a customer key"));
    KeyEntry e;
    if (!DecodeKeyEntry(values[i].ToStringView(), &e)) {
      return Status::DataLoss("malformed key entry for a customer");
    }
    entries[i] = e;
  }
  for (auto& r : *records) {
    if (r.sealed.empty()) {
      continue;
    }
    const auto at = static_cast<std::size_t>(
        std::lower_bound(customers.begin(), customers.end(), r.customer) - customers.begin());
    const auto& e = entries[at];
    if (!e.has_value() || e->state == KeyEntry::State::kErased) {
      RETURN_IF_ERROR(OpenRecord(&r, nullptr));
      continue;
    }
    ASSIGN_OR_RETURN(std::string plain, Unseal(e->key, r.seq, r.customer, r.sealed));
    RETURN_IF_ERROR(OpenRecord(&r, &plain));
  }
  return Status::Ok();
}

StatusOr<std::vector<Record>> EventLogImpl::ReadSeqs(const std::vector<Seq>& seqs) const {
  const Seq head_now = head();
  std::vector<std::string> keys;
  keys.reserve(seqs.size());
  for (const Seq s : seqs) {
    if (s == 0 || s > head_now) {
      return Status::NotFound("no event with seq " + std::to_string(s) + " (the head is " +
                              std::to_string(head_now) + ")");
    }
    keys.push_back(EventKey(s));
  }
  return ReadEvents(keys);
}

std::unique_ptr<rocksdb::Iterator> EventLogImpl::NewStreamIterator() const {
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, cf(ColumnFamily::kStreams)));
}

StatusOr<StreamVersion> EventLogImpl::ReadVersion(const std::string& customer) const {
  return VisibleVersion(NewStreamIterator().get(), customer, std::numeric_limits<Seq>::max());
}

StatusOr<StreamVersion> EventLogImpl::CurrentVersion(const std::string& customer) const {
  if (customer.empty() || customer.size() > 255) {
    return StreamVersion{0};
  }
  return VisibleVersion(NewStreamIterator().get(), customer, head());
}

StatusOr<StreamVersion> EventLogImpl::VisibleVersion(rocksdb::Iterator* it,
                                                     const std::string& customer, Seq head) const {
  // The newest entry can belong to a group that is written but not yet
  // published (seq > head); readers must not see it, so step back past it.
  const std::string prefix = StreamPrefix(customer);
  for (it->SeekForPrev(StreamKey(customer, std::numeric_limits<StreamVersion>::max()));
       it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    std::string_view c;
    StreamVersion v = 0;
    StreamEntryView entry;
    if (!DecodeStreamKey(it->key().ToStringView(), &c, &v) ||
        !DecodeStreamEntry(it->value().ToStringView(), &entry)) {
      return Status::DataLoss("malformed entry in the streams column family");
    }
    if (entry.seq <= head) {
      return v;
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading a stream version"));
  return StreamVersion{0};
}

StatusOr<StreamPage> EventLogImpl::ReadStream(const StreamQuery& q) const {
  if (q.limit == 0 || q.max_scan == 0) {
    return Status::InvalidArgument("a stream query needs limit and max_scan of at least 1");
  }
  StreamPage page;
  if (q.customer.empty() || q.customer.size() > 255) {
    return page;
  }
  const Seq head_now = head();
  const std::string prefix = StreamPrefix(q.customer);
  const auto it = NewStreamIterator();
  ASSIGN_OR_RETURN(StreamVersion version, VisibleVersion(it.get(), q.customer, head_now));
  if (version == 0) {
    return page;  // no such stream (yet)
  }
  page.current_version = version;
  std::string_view customer;
  // Versions are dense (1..current), so a page is found by scanning windows
  // of versions forwards, newest window first: skiplist iterators step
  // forwards in O(1) but backwards in O(log n).
  StreamVersion hi = q.before.has_value() ? std::min(*q.before - 1, version) : version;
  if (q.before.has_value() && *q.before == 0) {
    hi = 0;
  }
  if (q.before_seq.has_value() && hi >= 1) {
    ASSIGN_OR_RETURN(hi, LastVersionBelow(q.customer, hi, *q.before_seq));
  }
  const bool filtered = !q.types.empty() || !q.channels.empty();
  std::vector<std::string> keys;  // newest first
  std::vector<StreamVersion> versions;
  std::vector<std::pair<StreamVersion, Seq>> window_matches;
  std::size_t scanned = 0;
  Seq lowest_seq = 0;  // seq of the oldest entry examined
  bool page_full = false;
  while (hi >= 1 && !page_full && scanned < q.max_scan) {
    std::size_t width = filtered ? std::max<std::size_t>(q.limit, 256) : q.limit - keys.size();
    width = std::min(width, q.max_scan - scanned);
    const StreamVersion lo = hi >= width ? hi - width + 1 : 1;
    window_matches.clear();
    for (it->Seek(StreamKey(q.customer, lo)); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      if (!DecodeStreamKey(it->key().ToStringView(), &customer, &version)) {
        return Status::DataLoss("malformed key in the streams column family");
      }
      if (version > hi) {
        break;
      }
      StreamEntryView entry;
      if (!DecodeStreamEntry(it->value().ToStringView(), &entry)) {
        return Status::DataLoss("malformed value in the streams column family");
      }
      ++scanned;
      if (version == lo) {
        lowest_seq = entry.seq;
      }
      if (TypeMatchesAny(entry.type, q.types) && ChannelMatchesAny(entry.channel, q.channels)) {
        window_matches.emplace_back(version, entry.seq);
      }
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading a stream"));
    for (auto m = window_matches.rbegin(); m != window_matches.rend(); ++m) {
      if (keys.size() == q.limit) {
        page_full = true;  // older matches of this window go to the next page
        break;
      }
      keys.push_back(EventKey(m->second));
      versions.push_back(m->first);
    }
    page_full = page_full || keys.size() == q.limit;
    hi = lo - 1;
  }
  if (page_full && versions.back() > 1) {
    page.next_before = versions.back();
    page.next_before_seq = DecodeEventKey(keys.back());
  } else if (!page_full && hi >= 1) {
    page.next_before = hi + 1;  // stopped by max_scan
    page.next_before_seq = lowest_seq;
  }
  page.seqs.reserve(keys.size());
  for (const auto& k : keys) {
    page.seqs.push_back(DecodeEventKey(k));
  }
  if (keys.empty() || q.seqs_only) {
    return page;
  }
  ASSIGN_OR_RETURN(page.records, ReadEvents(keys));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (page.records[i].version != versions[i] || page.records[i].customer != q.customer) {
      return Status::DataLoss("stream entry and event disagree at seq " +
                              std::to_string(page.records[i].seq));
    }
  }
  return page;
}

StatusOr<StreamVersion> EventLogImpl::LastVersionBelow(const std::string& customer,
                                                       StreamVersion hi, Seq before_seq) const {
  // Seqs grow with versions: find the largest version in [1, hi] whose seq
  // is below before_seq, by bisection over point lookups.
  StreamVersion lo = 0;  // invariant: lo == 0 or seq(lo) < before_seq
  while (lo < hi) {
    const StreamVersion mid = lo + (hi - lo + 1) / 2;
    std::string value;
    auto s = db_->Get({}, cf(ColumnFamily::kStreams), StreamKey(customer, mid), &value);
    RETURN_IF_ERROR(FromRocks(s, "reading a stream entry"));
    StreamEntryView entry;
    if (!DecodeStreamEntry(value, &entry)) {
      return Status::DataLoss("malformed value in the streams column family");
    }
    if (entry.seq < before_seq) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

std::unique_ptr<Subscription> EventLogImpl::Subscribe(Seq after) { return hub_->Subscribe(after); }

StatusOr<BackupInfo> EventLogImpl::Backup(const std::string& backup_dir) {
  if (options_.read_only || options_.in_memory) {
    return Status::FailedPrecondition("a read-only or in-memory log cannot be backed up");
  }
  rocksdb::BackupEngine* raw = nullptr;
  RETURN_IF_ERROR(
      FromRocks(rocksdb::BackupEngine::Open(rocksdb::Env::Default(),
                                            rocksdb::BackupEngineOptions(backup_dir), &raw),
                "opening backup directory '" + backup_dir + "'"));
  std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  BackupInfo info;
  info.head = head();
  rocksdb::CreateBackupOptions create;
  // Flushing first puts every acknowledged event in an SST file, so the
  // backup needs no WAL.
  create.flush_before_backup = true;
  RETURN_IF_ERROR(FromRocks(engine->CreateNewBackupWithMetadata(
                                create, db_.get(), "head=" + std::to_string(info.head), &info.id),
                            "backing up"));
  rocksdb::BackupInfo meta;
  if (engine->GetBackupInfo(info.id, &meta).ok()) {
    info.bytes = meta.size;
  }
  return info;
}

EventLogStats EventLogImpl::Stats() const {
  EventLogStats stats;
  stats.head = head();
  stats.format_version = kFormatVersion;
  stats.commit_groups = commit_groups_.load();
  stats.committed_events = committed_events_.load();
  for (std::size_t i = 0; i < handles_.size(); ++i) {
    ColumnFamilyStats c;
    c.name = std::string(ColumnFamilyName(static_cast<ColumnFamily>(i)));
    db_->GetIntProperty(handles_[i], "rocksdb.estimate-num-keys", &c.estimated_keys);
    db_->GetIntProperty(handles_[i], "rocksdb.total-sst-files-size", &c.sst_bytes);
    db_->GetIntProperty(handles_[i], "rocksdb.cur-size-all-mem-tables", &c.memtable_bytes);
    db_->GetIntProperty(handles_[i], "rocksdb.estimate-pending-compaction-bytes",
                        &c.pending_compaction_bytes);
    stats.column_families.push_back(std::move(c));
  }
  db_->GetIntProperty("rocksdb.num-running-compactions", &stats.running_compactions);
  if (const auto& st = db_->GetOptions().statistics) {
    stats.block_cache_hits = st->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
    stats.block_cache_misses = st->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
  }
  stats.block_cache_bytes = block_cache_ != nullptr ? block_cache_->GetUsage() : 0;
  return stats;
}

}  // namespace internal
}  // namespace touchline::store
