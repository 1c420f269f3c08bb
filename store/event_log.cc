// EventLog: open, reads and stats. The append path is in event_log_append.cc.
#include "store/event_log.h"

#include <rocksdb/cache.h>
#include <rocksdb/statistics.h>
#include <rocksdb/utilities/backup_engine.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_buffer_manager.h>
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
  if (options_.memtable_bytes > 0) {
    db_options.write_buffer_manager =
        std::make_shared<rocksdb::WriteBufferManager>(options_.memtable_bytes, cache);
  }
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

  record_cache_ = std::make_unique<RecordCache>(options_.record_cache_bytes);
  tails_ = std::make_unique<StreamTails>(options_.stream_tail_bytes);
  touches_ = std::make_unique<TouchIndex>(options_.touch_window_records, head());
  hub_ = std::make_unique<SubscriptionHub>(
      [this](Seq from, std::size_t max) { return ReadFrom(from, max); }, [this] { return head(); },
      options_.subscription_buffer_records);
  if (!options_.read_only) {
    if (integrity_) {
      helper_ = std::make_unique<HelperThread>();
    }
    next_seq_ = head() + 1;
    writer_ = std::thread([this] { WriterLoop(); });
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

StatusOr<std::vector<RecordPtr>> EventLogImpl::ReadFrom(Seq from, std::size_t limit) const {
  std::vector<RecordPtr> out;
  const Seq head_now = head();
  if (from == 0) {
    from = 1;
  }
  if (limit == 0 || from > head_now) {
    return out;
  }
  // Seqs are dense (1..head), so the range is known. Records in memory are
  // taken from there; the rest are read in key order with one iterator
  // (cheaper than a point lookup each) and not kept: a range read is a
  // replay or a catch-up, and would push hot records out.
  const Seq last = from - 1 + std::min<Seq>(limit, head_now - from + 1);
  out.resize(last - from + 1);
  std::vector<Seq> all(out.size());
  for (Seq s = from; s <= last; ++s) {
    all[s - from] = s;
  }
  record_cache_->LookupMany(all, &out);
  std::vector<Seq> missing;
  for (Seq s = from; s <= last; ++s) {
    if (out[s - from] == nullptr) {
      missing.push_back(s);
    }
  }
  if (missing.empty()) {
    return out;
  }
  std::vector<std::string> values;
  values.reserve(missing.size());
  {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    ro.readahead_size = 2u << 20;
    const std::string upper = EventKey(missing.back() + 1);
    const rocksdb::Slice upper_slice(upper);
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(ColumnFamily::kEvents)));
    std::size_t next = 0;
    for (it->Seek(EventKey(missing.front())); it->Valid() && next < missing.size(); it->Next()) {
      if (it->key().size() != 8) {
        return Status::DataLoss("malformed key in the events column family");
      }
      const Seq seq = DecodeEventKey(it->key().ToStringView());
      if (seq < missing[next]) {
        continue;  // in memory already
      }
      if (seq > missing[next]) {
        break;  // a hole: reported below
      }
      values.emplace_back(it->value().ToStringView());
      ++next;
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading events"));
    if (values.size() != missing.size()) {
      return Status::DataLoss("event " + std::to_string(missing[values.size()]) +
                              " is missing from the log (the head is " + std::to_string(head()) +
                              ")");
    }
  }
  std::vector<std::string_view> views(values.begin(), values.end());
  ASSIGN_OR_RETURN(auto records, DecodeStored(missing, views));
  for (std::size_t i = 0; i < missing.size(); ++i) {
    out[missing[i] - from] = std::make_shared<const Record>(std::move(records[i]));
  }
  return out;
}

StatusOr<std::vector<RecordPtr>> EventLogImpl::ReadEvents(const std::vector<Seq>& seqs,
                                                          bool fill_cache) const {
  std::vector<RecordPtr> out(seqs.size());
  // Taken before reading: records opened before an erasure are not kept
  // if the erasure lands meanwhile (store/internal/record_cache.h).
  const std::uint64_t epoch = record_cache_->epoch();
  std::vector<std::size_t> missing;
  record_cache_->LookupMany(seqs, &out);
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (out[i] == nullptr) {
      missing.push_back(i);
    }
  }
  if (missing.empty()) {
    return out;
  }
  std::vector<std::string> keys;
  std::vector<rocksdb::Slice> slices;
  std::vector<Seq> missing_seqs;
  keys.reserve(missing.size());
  slices.reserve(missing.size());
  missing_seqs.reserve(missing.size());
  for (const std::size_t i : missing) {
    keys.push_back(EventKey(seqs[i]));
    missing_seqs.push_back(seqs[i]);
  }
  for (const auto& k : keys) {
    slices.push_back(ToSlice(k));
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet({}, cf(ColumnFamily::kEvents), keys.size(), slices.data(), values.data(),
                statuses.data(), /*sorted_input=*/false);
  std::vector<std::string_view> views;
  views.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      return Status::DataLoss("event " + std::to_string(missing_seqs[i]) +
                              " is missing from the log (the head is " + std::to_string(head()) +
                              ")");
    }
    RETURN_IF_ERROR(FromRocks(statuses[i], "reading an event"));
    views.push_back(values[i].ToStringView());
  }
  ASSIGN_OR_RETURN(auto records, DecodeStored(missing_seqs, views));
  for (std::size_t j = 0; j < missing.size(); ++j) {
    auto rec = std::make_shared<const Record>(std::move(records[j]));
    if (fill_cache) {
      record_cache_->Insert(rec, epoch);
    }
    out[missing[j]] = std::move(rec);
  }
  return out;
}

StatusOr<std::vector<Record>> EventLogImpl::DecodeStored(
    const std::vector<Seq>& seqs, const std::vector<std::string_view>& stored) const {
  std::vector<Record> out;
  out.reserve(seqs.size());
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    ASSIGN_OR_RETURN(auto rec, DecodeRecord(stored[i]));
    if (rec.seq != seqs[i]) {
      return Status::DataLoss("the record stored under seq " + std::to_string(seqs[i]) +
                              " says seq " + std::to_string(rec.seq));
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
    const bool readable = e.has_value() && e->state == KeyEntry::State::kActive;
    RETURN_IF_ERROR(OpenSealedRecord(&r, readable ? &e->key : nullptr));
  }
  return Status::Ok();
}

StatusOr<std::vector<RecordPtr>> EventLogImpl::ReadSeqs(const std::vector<Seq>& seqs) const {
  const Seq head_now = head();
  for (const Seq s : seqs) {
    if (s == 0 || s > head_now) {
      return Status::NotFound("no event with seq " + std::to_string(s) + " (the head is " +
                              std::to_string(head_now) + ")");
    }
  }
  return ReadEvents(seqs, /*fill_cache=*/true);
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
  const Seq head_now = head();
  if (auto last = tails_->LastVersion(customer, head_now)) {
    return *last;
  }
  return VisibleVersion(NewStreamIterator().get(), customer, head_now);
}

Status EventLogImpl::ReadPageRecords(const std::string& customer,
                                     const std::vector<StreamVersion>& versions,
                                     StreamPage* page) const {
  ASSIGN_OR_RETURN(page->records, ReadEvents(page->seqs, /*fill_cache=*/true));
  for (std::size_t i = 0; i < page->seqs.size(); ++i) {
    if (page->records[i]->version != versions[i] || page->records[i]->customer != customer) {
      return Status::DataLoss("stream entry and event disagree at seq " +
                              std::to_string(page->records[i]->seq));
    }
  }
  return Status::Ok();
}

std::optional<StreamPage> EventLogImpl::PageFromTail(const StreamQuery& q, Seq head_now,
                                                     std::vector<StreamVersion>* versions) const {
  auto tail = tails_->Get(q.customer, head_now);
  if (!tail.has_value()) {
    return std::nullopt;
  }
  StreamPage page;
  page.current_version = tail->last();
  const auto seq_of = [&](StreamVersion v) { return tail->seqs[v - tail->first]; };
  // The newest version the page may hold.
  StreamVersion hi = page.current_version;
  if (q.before.has_value()) {
    hi = *q.before == 0 ? 0 : std::min(*q.before - 1, hi);
  }
  if (q.before_seq.has_value() && hi >= tail->first) {
    if (seq_of(tail->first) >= *q.before_seq) {
      if (tail->first > 1) {
        return std::nullopt;  // the answer lies below the tail
      }
      hi = 0;
    } else {
      // Largest version in [first, hi] whose seq is below before_seq.
      StreamVersion lo = tail->first;  // invariant: seq(lo) < before_seq
      while (lo < hi) {
        const StreamVersion mid = lo + (hi - lo + 1) / 2;
        if (seq_of(mid) < *q.before_seq) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      hi = lo;
    }
  }
  if (hi == 0) {
    return page;  // nothing that old
  }
  if (hi < tail->first) {
    return std::nullopt;
  }
  const std::size_t in_tail = hi - tail->first + 1;
  if (in_tail < q.limit && tail->first > 1) {
    return std::nullopt;  // the page reaches below the tail
  }
  const std::size_t n = std::min(q.limit, in_tail);
  page.seqs.reserve(n);
  versions->reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const StreamVersion v = hi - i;
    page.seqs.push_back(seq_of(v));
    versions->push_back(v);
  }
  if (n == q.limit && versions->back() > 1) {
    page.next_before = versions->back();
    page.next_before_seq = page.seqs.back();
  }
  return page;
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
  const bool filtered = !q.types.empty() || !q.channels.empty();
  std::vector<StreamVersion> versions;  // newest first
  if (!filtered) {
    if (auto from_tail = PageFromTail(q, head_now, &versions)) {
      page = std::move(*from_tail);
      if (q.seqs_only || page.seqs.empty()) {
        return page;
      }
      RETURN_IF_ERROR(ReadPageRecords(q.customer, versions, &page));
      return page;
    }
    versions.clear();
  }
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
  std::vector<Seq> seqs;  // newest first
  std::vector<std::pair<StreamVersion, Seq>> window_matches;
  std::size_t scanned = 0;
  Seq lowest_seq = 0;  // seq of the oldest entry examined
  bool page_full = false;
  while (hi >= 1 && !page_full && scanned < q.max_scan) {
    std::size_t width = filtered ? std::max<std::size_t>(q.limit, 256) : q.limit - seqs.size();
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
      if (seqs.size() == q.limit) {
        page_full = true;  // older matches of this window go to the next page
        break;
      }
      seqs.push_back(m->second);
      versions.push_back(m->first);
    }
    page_full = page_full || seqs.size() == q.limit;
    hi = lo - 1;
  }
  if (page_full && versions.back() > 1) {
    page.next_before = versions.back();
    page.next_before_seq = seqs.back();
  } else if (!page_full && hi >= 1) {
    page.next_before = hi + 1;  // stopped by max_scan
    page.next_before_seq = lowest_seq;
  }
  page.seqs = std::move(seqs);
  if (!filtered && !q.before.has_value() && !q.before_seq.has_value() && !page.seqs.empty() &&
      versions.front() == page.current_version) {
    // The stream's newest entries: remember them for the next newest page.
    tails_->Seed(q.customer, versions.back(),
                 std::vector<Seq>(page.seqs.rbegin(), page.seqs.rend()), head_now);
  }
  if (page.seqs.empty() || q.seqs_only) {
    return page;
  }
  RETURN_IF_ERROR(ReadPageRecords(q.customer, versions, &page));
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
  if (record_cache_ != nullptr) {
    stats.record_cache_hits = record_cache_->hits();
    stats.record_cache_misses = record_cache_->misses();
    stats.record_cache_bytes = record_cache_->usage();
  }
  if (tails_ != nullptr) {
    stats.stream_tail_bytes = tails_->usage();
  }
  return stats;
}

}  // namespace internal
}  // namespace touchline::store
