#include "sinks/sink_service.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <future>
#include <random>

#include "core/metrics.h"
#include "core/time_format.h"
#include "core/validation.h"
#include "sinks/cloudevent_out.h"

namespace touchline::sinks {
namespace {

namespace json = boost::json;

constexpr std::size_t kStreamPage = 500;

std::string RandomRef() {
  unsigned char b[8];
  randombytes_buf(b, sizeof b);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string_view RouteOf(SinkChange change) {
  switch (change) {
    case SinkChange::kPause:
      return "POST /v1/sinks/{id}/pause";
    case SinkChange::kResume:
      return "POST /v1/sinks/{id}/resume";
    case SinkChange::kReplay:
      return "POST /v1/sinks/{id}/replay";
    case SinkChange::kDelete:
      return "DELETE /v1/sinks/{id}";
  }
  return "";
}

json::array ToArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) {
    a.emplace_back(s);
  }
  return a;
}

}  // namespace

// One sink's delivery thread and what it shows of itself. Every field but
// `thread` is guarded by SinkService::mu_.
struct SinkService::Worker {
  std::string id;
  Seq created_seq = 0;
  std::string secret_ref;
  std::thread thread;
  bool done = false;
  store::SinkProgress progress;
  std::int64_t oldest_pending_us = 0;  // recorded_at of the request due
  std::uint32_t attempt = 0;
  std::int64_t next_attempt_us = 0;
  std::string handshake;
};

std::string EncodeSinkInfo(const SinkInfo& info) {
  const SinkState& s = info.state;
  const SinkDefinition& d = s.definition;
  const store::SinkProgress& p = info.progress;
  json::object o;
  o["id"] = d.id;
  o["url"] = d.url;
  if (!d.description.empty()) {
    o["description"] = d.description;
  }
  o["filter"] = json::object{{"types", ToArray(d.filter.types)},
                             {"channels", ToArray(d.filter.channels)},
                             {"customers", ToArray(d.filter.customers)},
                             {"departments", ToArray(d.filter.departments)}};
  o["mode"] = d.mode == SinkMode::kBatch ? "batch" : "structured";
  o["batch_size"] = d.batch_size;
  o["handshake"] = d.handshake;
  o["status"] = SinkStatusName(s.status);
  if (s.status == SinkStatus::kDisabled) {
    o["disabled_reason"] = s.disabled_reason;
  }
  o["created_at"] = FormatRfc3339(s.created_at_us);
  o["created_by"] = s.created_by;
  o["created_seq"] = s.created_seq;
  o["start_seq"] = s.start_seq;
  o["replays"] = s.generation;
  o["cursor"] = p.cursor;
  o["head"] = info.head;
  o["lag_events"] = info.lag_events;
  o["lag_ms"] = info.lag_us / 1000;
  o["delivered_events"] = p.delivered_events;
  o["delivered_requests"] = p.delivered_requests;
  o["failed_requests"] = p.failed_requests;
  o["last_success_at"] =
      p.last_success_us == 0 ? json::value(nullptr) : json::value(FormatRfc3339(p.last_success_us));
  if (p.last_error_us != 0) {
    o["last_error"] = json::object{{"at", FormatRfc3339(p.last_error_us)},
                                   {"status", p.last_status},
                                   {"message", p.last_error}};
  } else {
    o["last_error"] = nullptr;
  }
  o["attempt"] = info.attempt;
  o["next_attempt_at"] = info.next_attempt_us == 0
                             ? json::value(nullptr)
                             : json::value(FormatRfc3339(info.next_attempt_us));
  if (d.handshake) {
    o["handshake_status"] = info.handshake.empty() ? "pending" : info.handshake;
  }
  return json::serialize(o);
}

SinkService::SinkService(store::EventLog* log, HttpSender* http, const Clock* clock,
                         SinkServiceOptions options, std::unique_ptr<store::SinkStore> store)
    : log_(log),
      http_(http),
      clock_(clock),
      options_(std::move(options)),
      store_(std::move(store)) {}

StatusOr<std::unique_ptr<SinkService>> SinkService::Open(store::EventLog* log, HttpSender* http,
                                                         const Clock* clock,
                                                         SinkServiceOptions options) {
  ASSIGN_OR_RETURN(auto store, store::SinkStore::Open(log));
  std::unique_ptr<SinkService> s(
      new SinkService(log, http, clock, std::move(options), std::move(store)));
  RETURN_IF_ERROR(s->Load());
  return s;
}

SinkService::~SinkService() { Stop(); }

Status SinkService::Load() {
  // The stream newest first, page by page, then folded oldest first.
  std::vector<store::RecordPtr> records;
  store::StreamQuery q;
  q.customer = std::string(kSinkStream);
  q.limit = kStreamPage;
  while (true) {
    ASSIGN_OR_RETURN(auto page, log_->ReadStream(q));
    records.insert(records.end(), page.records.begin(), page.records.end());
    if (!page.next_before.has_value()) {
      break;
    }
    q.before = page.next_before;
  }
  MutexLock l(&mu_);
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    RETURN_IF_ERROR(registry_.Apply(SinkEventOf(**it)));
  }
  // Secrets of sinks deleted (or never created: the append failed) and
  // progress of sinks deleted while the server was down.
  ASSIGN_OR_RETURN(auto refs, store_->SecretRefs());
  for (const auto& [id, ref] : refs) {
    const SinkState* s = registry_.Find(id);
    if (s == nullptr || s->secret_ref != ref) {
      RETURN_IF_ERROR(store_->DeleteSecret(id, ref));
      if (s == nullptr) {
        RETURN_IF_ERROR(store_->DeleteProgress(id));
      }
    }
  }
  return Status::Ok();
}

void SinkService::Start() {
  {
    MutexLock l(&mu_);
    stopping_ = false;
  }
  supervisor_ = std::thread([this] { Supervise(); });
}

void SinkService::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }
  if (supervisor_.joinable()) {
    supervisor_.join();
  }
  // The log runs the callbacks of appends in flight; they use this object.
  MutexLock l(&mu_);
  while (pending_appends_ > 0) {
    changed_.Wait(&mu_);
  }
}

void SinkService::Supervise() {
  while (true) {
    std::vector<std::unique_ptr<Worker>> finished;
    std::vector<Forgotten> forget;
    bool stop = false;
    {
      MutexLock l(&mu_);
      forget.swap(forget_);
      for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->second->done) {
          finished.push_back(std::move(it->second));
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
      stop = stopping_;
      if (stop) {
        // Every worker sees stopping_ and ends.
        for (auto& [id, w] : workers_) {
          finished.push_back(std::move(w));
        }
        workers_.clear();
      } else if (finished.empty()) {
        // A sink deleted and created again gets its worker once the old
        // one has finished (and forgotten its progress).
        for (const auto& [id, s] : registry_.sinks()) {
          if (workers_.contains(id)) {
            continue;
          }
          auto w = std::make_unique<Worker>();
          w->id = id;
          w->created_seq = s.created_seq;
          w->secret_ref = s.secret_ref;
          Worker* raw = w.get();
          workers_.emplace(id, std::move(w));
          raw->thread = std::thread([this, raw] { Deliver(raw); });
        }
        changed_.WaitUntil(&mu_, std::chrono::steady_clock::now() + std::chrono::seconds(1));
      }
    }
    for (auto& w : finished) {
      w->thread.join();
    }
    for (const Forgotten& f : forget) {
      Forget(f);
    }
    if (stop) {
      return;
    }
  }
}

// One sink's delivery loop, in stages. Everything here belongs to the
// worker's thread except what it publishes to its Worker under mu_.
class SinkService::Delivery {
 public:
  Delivery(SinkService* service, Worker* w)
      : sv_(*service),
        w_(w),
        delivered_(Metrics::Default().GetCounter("touchline_sink_delivered_events_total",
                                                 "Events a sink's receiver accepted (2xx)",
                                                 Labels({{"sink", w->id}}))),
        failed_(Metrics::Default().GetCounter("touchline_sink_failed_requests_total",
                                              "Sink requests that got no 2xx (they are retried)",
                                              Labels({{"sink", w->id}}))) {}

  void Run() {
    bool deleted = false;
    switch (Load(&deleted)) {
      case Loaded::kReady:
        while (Snapshot(&deleted)) {
          Step();
        }
        break;
      case Loaded::kBroken:  // shows its error until deleted
        while (Snapshot(&deleted)) {
          Wait(1'000'000);
        }
        break;
      case Loaded::kGone:
        break;
    }
    Finish(deleted);
  }

 private:
  enum class Loaded : std::uint8_t { kReady, kBroken, kGone };

  // One pass of the loop. REQUIRES: Snapshot() just returned true.
  void Step() {
    if (state_.generation != p_.generation) {  // replayed
      p_.generation = state_.generation;
      p_.cursor = state_.replay_from - 1;
      batch_.clear();
      ahead_.clear();
      ahead_pos_ = 0;
      attempt_ = 0;
      StoreProgress();
      return;
    }
    if (state_.status != SinkStatus::kActive) {
      Idle();
      return;
    }
    if (state_.definition.handshake && !handshake_ok_) {
      Handshake();
      return;
    }
    if (batch_.empty() && !FillBatch()) {
      return;
    }
    if (!Fresh()) {
      return;
    }
    if (min_interval_us_ > 0) {
      const std::int64_t due = last_send_us_ + min_interval_us_ - Now();
      if (due > 0) {
        Wait(due);
        return;  // the sink may have changed meanwhile
      }
    }
    Send();
  }

  std::int64_t Now() const { return sv_.clock_->NowMicros(); }

  // Reads the sink's secret and stored progress, retrying storage errors.
  // kGone if the service stops or the sink is deleted meanwhile (then
  // *deleted); kBroken if its secret is missing (nothing brings it back).
  Loaded Load(bool* deleted) {
    while (true) {
      auto stored = sv_.store_->Progress(w_->id);
      auto secret = sv_.store_->Secret(w_->id, w_->secret_ref);
      Status error = !stored.ok() ? stored.status() : secret.status();
      {
        MutexLock l(&sv_.mu_);
        const SinkState* s = sv_.registry_.Find(w_->id);
        if (s == nullptr || s->created_seq != w_->created_seq) {
          *deleted = true;
          return Loaded::kGone;
        }
        if (sv_.stopping_) {
          return Loaded::kGone;
        }
        if (error.ok()) {
          if (stored->has_value() && (*stored)->created_seq == w_->created_seq) {
            p_ = **stored;
          } else {
            p_.created_seq = w_->created_seq;
            p_.cursor = s->start_seq - 1;
          }
          if (secret->has_value()) {
            secret_ = **secret;
            w_->progress = p_;
            return Loaded::kReady;
          }
          p_.last_error = "the sink's secret is missing: delete the sink and create it again";
          p_.last_error_us = Now();
          w_->progress = p_;
          return Loaded::kBroken;
        }
        p_.last_error = "cannot read the sink's state: " + error.ToString();
        p_.last_error_us = Now();
        w_->progress = p_;
      }
      ++attempt_;
      Wait(Backoff(std::nullopt));
    }
  }

  // The sink as it is now (state_, version_), and publishes progress.
  // False when stopping or deleted (*deleted says which).
  bool Snapshot(bool* deleted) {
    MutexLock l(&sv_.mu_);
    Publish();
    if (sv_.stopping_) {
      return false;
    }
    const SinkState* cur = sv_.registry_.Find(w_->id);
    if (cur == nullptr || cur->created_seq != w_->created_seq) {
      *deleted = true;
      return false;
    }
    state_ = *cur;
    version_ = sv_.registry_.version();
    return true;
  }

  // REQUIRES: sv_.mu_ held.
  void Publish() REQUIRES(sv_.mu_) {
    w_->progress = p_;
    w_->attempt = attempt_;
    w_->oldest_pending_us = batch_.empty() ? 0 : batch_.front()->recorded_at_us;
  }

  // Paused or disabled: keep the batch, forget the handshake, wait.
  void Idle() {
    if (dirty_) {
      StoreProgress();
    }
    handshake_ok_ = false;
    attempt_ = 0;
    {
      MutexLock l(&sv_.mu_);
      w_->next_attempt_us = 0;
    }
    Wait(1'000'000);
  }

  void Handshake() {
    HttpCall call;
    call.method = "OPTIONS";
    call.url = state_.definition.url;
    call.headers = {{"WebHook-Request-Origin", sv_.options_.origin}};
    const HttpAnswer a = sv_.http_->Send(call);
    const std::string_view allowed = a.Header("webhook-allowed-origin");
    if (a.status >= 200 && a.status < 300 && (allowed == "*" || allowed == sv_.options_.origin)) {
      handshake_ok_ = true;
      attempt_ = 0;
      min_interval_us_ = 0;
      const std::string_view rate = a.Header("webhook-allowed-rate");
      std::uint64_t per_minute = 0;
      if (std::from_chars(rate.data(), rate.data() + rate.size(), per_minute).ec == std::errc() &&
          per_minute > 0) {
        min_interval_us_ = static_cast<std::int64_t>(60'000'000 / per_minute);
      }
      MutexLock l(&sv_.mu_);
      w_->handshake = "accepted";
      w_->next_attempt_us = 0;
      return;
    }
    ++attempt_;
    Fail(a.status, a.status == 0
                       ? "handshake: " + a.error
                       : "handshake: HTTP " + std::to_string(a.status) +
                             (allowed.empty() ? " without WebHook-Allowed-Origin"
                                              : " allowing origin '" + std::string(allowed) + "'"));
    const std::int64_t delay = Backoff(a.retry_after_us);
    {
      MutexLock l(&sv_.mu_);
      w_->handshake = "refused";
      w_->next_attempt_us = Now() + delay;
    }
    StoreProgress();
    Wait(delay);
  }

  // Makes the next request's batch from the records past the cursor (the
  // read-ahead, refilled when used up or older than kMaxRecordAgeUs).
  // False if there is none yet (it has waited, or must look again).
  bool FillBatch() {
    bool caught_up = false;
    if (ahead_pos_ == ahead_.size() || Now() - ahead_read_us_ > kMaxRecordAgeUs) {
      auto records = sv_.log_->ReadFrom(p_.cursor + 1, sv_.options_.scan_records);
      if (!records.ok()) {
        ++attempt_;
        Fail(0, "reading the log: " + records.status().ToString());
        Wait(Backoff(std::nullopt));
        return false;
      }
      ahead_ = std::move(records).value();
      ahead_pos_ = 0;
      ahead_read_us_ = Now();
      caught_up = ahead_.size() < sv_.options_.scan_records;
    }
    Seq scanned = p_.cursor;
    std::size_t bytes = 0;
    while (ahead_pos_ < ahead_.size()) {
      const store::RecordPtr& r = ahead_[ahead_pos_++];
      scanned = r->seq;
      if (state_.definition.filter.Matches(*r)) {
        batch_.push_back(r);
        bytes += r->json.size();
        if (batch_.size() >= state_.definition.batch_size || bytes >= sv_.options_.max_body_bytes) {
          break;
        }
      }
    }
    if (batch_.empty()) {
      if (scanned != p_.cursor) {
        p_.cursor = scanned;
        dirty_ = true;
      }
      if (dirty_ && Now() - last_store_us_ >= sv_.options_.progress_interval_us) {
        StoreProgress();
      }
      if (caught_up) {
        Wait(std::chrono::duration_cast<std::chrono::microseconds>(sv_.options_.poll).count());
      }
      return false;
    }
    p_.cursor = batch_.front()->seq - 1;  // what came before was skipped
    batch_end_ = scanned;
    batch_read_us_ = ahead_read_us_;
    attempt_ = 0;
    webhook_id_ = w_->id + "." + std::to_string(p_.generation) + "." +
                  std::to_string(batch_.front()->seq) + "-" + std::to_string(batch_.back()->seq);
    return true;
  }

  // Reads the batch again if it was read more than kMaxRecordAgeUs ago (a
  // retry, a pause, a rate limit): a customer erased since goes out
  // erased. False (after a failure and a wait) if the log cannot be read.
  bool Fresh() {
    if (Now() - batch_read_us_ <= kMaxRecordAgeUs) {
      return true;
    }
    std::vector<Seq> seqs;
    seqs.reserve(batch_.size());
    for (const auto& r : batch_) {
      seqs.push_back(r->seq);
    }
    auto again = sv_.log_->ReadSeqs(seqs);
    if (!again.ok()) {
      ++attempt_;
      Fail(0, "reading the log: " + again.status().ToString());
      Wait(Backoff(std::nullopt));
      return false;
    }
    batch_ = std::move(again).value();
    batch_read_us_ = Now();
    return true;
  }

  // One request with the batch, and what its answer does.
  void Send() {
    HttpCall call;
    call.url = state_.definition.url;
    if (state_.definition.mode == SinkMode::kStructured) {
      AppendCloudEvent(*batch_.front(), sv_.options_.source, &call.body);
      call.headers.emplace_back("Content-Type", "application/cloudevents+json; charset=utf-8");
    } else {
      call.body.push_back('[');
      for (std::size_t i = 0; i < batch_.size(); ++i) {
        if (i > 0) {
          call.body.push_back(',');
        }
        AppendCloudEvent(*batch_[i], sv_.options_.source, &call.body);
      }
      call.body.push_back(']');
      call.headers.emplace_back("Content-Type",
                                "application/cloudevents-batch+json; charset=utf-8");
    }
    const std::int64_t now_s = Now() / 1'000'000;
    auto signature = SignWebhook(secret_, webhook_id_, now_s, call.body);
    if (!signature.ok()) {
      ++attempt_;
      Fail(0, "cannot sign: " + signature.status().ToString());
      StoreProgress();
      Wait(Backoff(std::nullopt));
      return;
    }
    call.headers.emplace_back("webhook-id", webhook_id_);
    call.headers.emplace_back("webhook-timestamp", std::to_string(now_s));
    call.headers.emplace_back("webhook-signature", *signature);
    if (state_.definition.handshake) {
      call.headers.emplace_back("WebHook-Request-Origin", sv_.options_.origin);
    }
    last_send_us_ = Now();
    const HttpAnswer a = sv_.http_->Send(call);
    if (a.status >= 200 && a.status < 300) {
      Accepted();
      return;
    }
    ++attempt_;
    Fail(a.status, a.status == 0 ? a.error : "HTTP " + std::to_string(a.status));
    StoreProgress();
    if (a.status == 410) {
      Gone();
      return;
    }
    const std::int64_t delay = Backoff(a.retry_after_us);
    {
      MutexLock l(&sv_.mu_);
      w_->next_attempt_us = Now() + delay;
    }
    Wait(delay);
  }

  void Accepted() {
    p_.cursor = batch_end_;
    p_.delivered_events += batch_.size();
    p_.delivered_requests++;
    p_.last_success_us = Now();
    delivered_.Increment(batch_.size());
    batch_.clear();
    attempt_ = 0;
    // At most once per progress_interval: a write through the WAL waits
    // for the appends' fsync when it joins their write group.
    dirty_ = true;
    if (Now() - last_store_us_ >= sv_.options_.progress_interval_us) {
      StoreProgress();
    }
    MutexLock l(&sv_.mu_);
    w_->next_attempt_us = 0;
  }

  // 410: disables this incarnation of the sink, at the version it was
  // seen at (a pause, a delete or a re-creation since wins), and waits
  // until that change is settled.
  void Gone() {
    spdlog::warn("sink {}: the receiver answered 410 Gone; disabling the sink", w_->id);
    auto settled = std::make_shared<std::promise<void>>();
    auto future = settled->get_future();
    sv_.AppendChange(
        SinkDisabledEvent(w_->id, w_->created_seq, 410, "the receiver answered 410 Gone"), version_,
        "touchline", "sink delivery", [id = w_->id, settled](StatusOr<Seq> r) {
          if (!r.ok()) {
            spdlog::warn("sink {}: not disabled: {}", id, r.status().ToString());
          }
          settled->set_value();
        });
    future.wait();
  }

  void Fail(int status, std::string error) {
    p_.failed_requests++;
    p_.last_error_us = Now();
    p_.last_status = status;
    p_.last_error = std::move(error);
    failed_.Increment();
  }

  std::int64_t Backoff(std::optional<std::int64_t> retry_after) {
    const int shift = static_cast<int>(std::min<std::uint32_t>(attempt_, 30)) - 1;
    double d = static_cast<double>(
        std::min(sv_.options_.backoff_max_us, sv_.options_.backoff_base_us << std::max(shift, 0)));
    d *= std::uniform_real_distribution<double>(0.8, 1.2)(rng_);
    auto us = static_cast<std::int64_t>(d);
    if (retry_after.has_value()) {
      us = std::max(us, std::min(*retry_after, sv_.options_.max_retry_after_us));
    }
    return us;
  }

  // Waits `us` of real time, until this sink changes (status, replay,
  // deletion), or until Stop(). Other sinks' changes do not cut it short.
  void Wait(std::int64_t us) {
    MutexLock l(&sv_.mu_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (!sv_.stopping_ && !ChangedSinceSnapshot()) {
      if (!sv_.changed_.WaitUntil(&sv_.mu_, until)) {
        break;
      }
    }
  }

  // Whether this sink was deleted, paused, resumed, disabled or replayed
  // since the last Snapshot().
  bool ChangedSinceSnapshot() REQUIRES(sv_.mu_) {
    const SinkState* cur = sv_.registry_.Find(w_->id);
    return cur == nullptr || cur->created_seq != w_->created_seq || cur->status != state_.status ||
           cur->generation != state_.generation;
  }

  void StoreProgress() {
    if (auto st = sv_.store_->PutProgress(w_->id, p_); !st.ok()) {
      spdlog::warn("sink {}: cannot store its cursor: {}", w_->id, st.ToString());
    }
    dirty_ = false;
    last_store_us_ = Now();
    MutexLock l(&sv_.mu_);  // what GET shows, at once
    Publish();
  }

  void Finish(bool deleted) {
    if (deleted) {
      sv_.Forget({w_->id, w_->secret_ref, w_->created_seq});
    } else if (dirty_) {
      StoreProgress();
    }
    MutexLock l(&sv_.mu_);
    Publish();
    w_->done = true;
    sv_.changed_.SignalAll();
  }

  // How long records read from the log may wait before they are sent: a
  // customer erased meanwhile must go out erased.
  static constexpr std::int64_t kMaxRecordAgeUs = 1'000'000;

  SinkService& sv_;
  Worker* const w_;
  Counter& delivered_;
  Counter& failed_;
  std::mt19937_64 rng_{std::random_device{}()};

  SinkState state_;  // as of the last Snapshot()
  StreamVersion version_ = 0;
  store::SinkProgress p_;
  std::string secret_;
  std::vector<store::RecordPtr> ahead_;  // read, not yet looked at: cursor + 1, ...
  std::size_t ahead_pos_ = 0;
  std::int64_t ahead_read_us_ = 0;
  std::vector<store::RecordPtr> batch_;
  std::int64_t batch_read_us_ = 0;
  Seq batch_end_ = 0;  // the cursor once the batch is accepted
  std::string webhook_id_;
  std::uint32_t attempt_ = 0;
  bool handshake_ok_ = false;
  std::int64_t min_interval_us_ = 0;
  std::int64_t last_send_us_ = 0;
  std::int64_t last_store_us_ = 0;
  bool dirty_ = false;
};

void SinkService::Deliver(Worker* w) { Delivery(this, w).Run(); }

void SinkService::Forget(const Forgotten& f) {
  Status st = store_->DeleteSecret(f.id, f.ref);
  // The progress only if it is this incarnation's (the id may be in use
  // again already).
  if (auto p = store_->Progress(f.id);
      st.ok() && p.ok() && p->has_value() && (*p)->created_seq == f.created_seq) {
    st = store_->DeleteProgress(f.id);
  }
  if (!st.ok()) {
    spdlog::warn("sink {}: cannot forget its state: {}", f.id, st.ToString());
  }
}

void SinkService::AppendChange(Event event, StreamVersion version, std::string actor,
                               std::string route, std::function<void(StatusOr<Seq>)> applied) {
  store::AppendRequest req;
  req.actor = actor;
  req.route = std::move(route);
  req.system = true;
  std::string type = event.type;
  std::string data = event.data;
  req.events.push_back(ProposedEvent{std::move(event), ExpectedVersion::Exact(version)});
  {
    MutexLock l(&mu_);
    ++pending_appends_;
  }
  // Runs on the log's writer thread: folds the change and wakes whoever
  // waits for it, nothing slow.
  log_->AppendAsync(std::move(req), [this, type = std::move(type), data = std::move(data),
                                     actor = std::move(actor), applied = std::move(applied)](
                                        StatusOr<store::AppendResult> r) {
    Status status = r.status();
    Seq seq = 0;
    if (!status.ok()) {
      if (status.IsFailedPrecondition() &&
          status.message().find("read-only") == std::string::npos) {
        status =
            Status::FailedPrecondition("the sinks changed while this request was checked; retry");
      }
    } else {
      const AppendedEvent& e = r->events[0];
      seq = e.seq;
      MutexLock l(&mu_);
      status = registry_.Apply(SinkEvent{e.seq, e.version, type, actor, clock_->NowMicros(), data});
      ++changes_;
      changed_.SignalAll();
    }
    StatusOr<Seq> out = status.ok() ? StatusOr<Seq>(seq) : StatusOr<Seq>(status);
    applied(std::move(out));
    MutexLock l(&mu_);
    --pending_appends_;
    changed_.SignalAll();
  });
}

void SinkService::Create(SinkCreate create, std::string actor,
                         std::function<void(StatusOr<CreatedSink>)> done) {
  const std::string id = create.definition.id;
  const Seq head = log_->head();
  Seq start = head + 1;
  if (create.start.from == SinkStart::From::kBeginning) {
    start = 1;
  } else if (create.start.from == SinkStart::From::kSeq) {
    start = create.start.seq;
  }
  StreamVersion version = 0;
  Status refused;
  {
    MutexLock l(&mu_);
    version = registry_.version();
    if (registry_.Find(id) != nullptr) {
      refused = Status::AlreadyExists("a sink '" + id + "' exists; DELETE /v1/sinks/" + id +
                                      " first, or choose another id");
    } else if (registry_.sinks().size() >= kMaxSinks) {
      refused = Status::FailedPrecondition("there are already " + std::to_string(kMaxSinks) +
                                           " sinks, the most one server runs; delete one first");
    }
  }
  if (refused.ok() && start > head + 1) {
    refused = InvalidAt("start", "is past the log's head (" + std::to_string(head) +
                                     "): events before it would never be sent");
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  const std::string ref = RandomRef();
  std::string secret = NewWebhookSecret();
  if (auto st = store_->PutSecret(id, ref, secret); !st.ok()) {
    done(st);
    return;
  }
  AppendChange(
      SinkCreatedEvent(create.definition, start, ref), version, std::move(actor), "POST /v1/sinks",
      [this, id, secret = std::move(secret), done = std::move(done)](StatusOr<Seq> r) mutable {
        if (!r.ok()) {
          done(r.status());
          return;
        }
        auto info = Info(id, /*read_lag=*/false);
        if (!info.ok()) {
          done(info.status());
          return;
        }
        done(CreatedSink{std::move(info).value(), std::move(secret)});
      });
}

void SinkService::Change(std::string id, SinkChange change, Seq from_seq, std::string actor,
                         std::function<void(StatusOr<SinkInfo>)> done) {
  StreamVersion version = 0;
  Event event;
  SinkInfo before;
  Status refused;
  {
    MutexLock l(&mu_);
    const SinkState* s = registry_.Find(id);
    if (s == nullptr) {
      refused = Status::NotFound("no sink '" + id + "'");
    } else {
      version = registry_.version();
      before = InfoLocked(*s);
      switch (change) {
        case SinkChange::kPause:
          if (s->status == SinkStatus::kPaused) {
            refused = Status::FailedPrecondition("sink '" + id + "' is already paused");
          }
          event = SinkChangeEvent("sink.paused", id);
          break;
        case SinkChange::kResume:
          if (s->status == SinkStatus::kActive) {
            refused = Status::FailedPrecondition("sink '" + id + "' is not paused or disabled");
          }
          event = SinkChangeEvent("sink.resumed", id);
          break;
        case SinkChange::kReplay:
          event = SinkReplayedEvent(id, from_seq);
          break;
        case SinkChange::kDelete:
          event = SinkChangeEvent("sink.deleted", id);
          break;
      }
    }
  }
  if (refused.ok() && change == SinkChange::kReplay && from_seq > log_->head() + 1) {
    refused = InvalidAt("from_seq", "is past the log's head (" + std::to_string(log_->head()) +
                                        "): events before it would never be sent");
  }
  if (!refused.ok()) {
    done(refused);  // outside the lock: `done` may call Get()
    return;
  }
  AppendChange(
      std::move(event), version, std::move(actor), std::string(RouteOf(change)),
      [this, id, change, before = std::move(before),
       done = std::move(done)](StatusOr<Seq> r) mutable {
        if (!r.ok()) {
          done(r.status());
          return;
        }
        if (change == SinkChange::kDelete) {
          // A sink whose worker has not started has nobody else to
          // forget its secret.
          {
            MutexLock l(&mu_);
            auto w = workers_.find(id);
            if (w == workers_.end() || w->second->created_seq != before.state.created_seq) {
              forget_.push_back({id, before.state.secret_ref, before.state.created_seq});
              changed_.SignalAll();
            }
          }
          done(std::move(before));
          return;
        }
        done(Info(id, /*read_lag=*/false));
      });
}

SinkInfo SinkService::InfoLocked(const SinkState& s) const {
  SinkInfo info;
  info.state = s;
  info.head = log_->head();
  auto it = workers_.find(s.definition.id);
  const Worker* w =
      it != workers_.end() && it->second->created_seq == s.created_seq ? it->second.get() : nullptr;
  if (w != nullptr) {
    info.progress = w->progress;
    info.attempt = w->attempt;
    info.next_attempt_us = w->next_attempt_us;
    info.handshake = w->handshake;
    if (w->oldest_pending_us != 0) {
      info.lag_us = std::max<std::int64_t>(0, clock_->NowMicros() - w->oldest_pending_us);
    }
  } else {
    info.progress.created_seq = s.created_seq;
    info.progress.cursor = s.start_seq - 1;
  }
  info.lag_events = info.head > info.progress.cursor ? info.head - info.progress.cursor : 0;
  return info;
}

StatusOr<SinkInfo> SinkService::Get(std::string_view id) const { return Info(id, true); }

StatusOr<SinkInfo> SinkService::Info(std::string_view id, bool read_lag) const {
  SinkInfo info;
  {
    MutexLock l(&mu_);
    const SinkState* s = registry_.Find(id);
    if (s == nullptr) {
      return Status::NotFound("no sink '" + std::string(id) + "'");
    }
    info = InfoLocked(*s);
  }
  // Without a request in flight, the lag is the age of the first record
  // past the cursor.
  if (read_lag && info.lag_us == 0 && info.lag_events > 0) {
    if (auto r = log_->ReadSeqs({info.progress.cursor + 1}); r.ok() && !r->empty()) {
      info.lag_us = std::max<std::int64_t>(0, clock_->NowMicros() - (*r)[0]->recorded_at_us);
    }
  }
  return info;
}

std::vector<SinkInfo> SinkService::List() const {
  std::vector<std::string> ids;
  {
    MutexLock l(&mu_);
    for (const auto& [id, s] : registry_.sinks()) {
      ids.push_back(id);
    }
  }
  std::vector<SinkInfo> out;
  for (const auto& id : ids) {
    if (auto info = Get(id); info.ok()) {
      out.push_back(std::move(info).value());
    }
  }
  return out;
}

}  // namespace touchline::sinks
