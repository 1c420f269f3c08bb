#include "sinks/sink_service.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <random>

#include "core/metrics.h"
#include "core/time_format.h"
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
}

void SinkService::Supervise() {
  while (true) {
    std::vector<std::unique_ptr<Worker>> finished;
    bool stop = false;
    {
      MutexLock l(&mu_);
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
    if (stop) {
      return;
    }
  }
}

void SinkService::Deliver(Worker* w) {
  store::SinkProgress p;
  std::string secret;
  {
    auto stored = store_->Progress(w->id);
    auto sec = store_->Secret(w->id, w->secret_ref);
    MutexLock l(&mu_);
    const SinkState* s = registry_.Find(w->id);
    if (stored.ok() && stored->has_value() && (*stored)->created_seq == w->created_seq) {
      p = **stored;
    } else if (s != nullptr) {
      p.created_seq = w->created_seq;
      p.cursor = s->start_seq - 1;
    }
    if (!stored.ok()) {
      spdlog::error("sink {}: cannot read its progress ({}); starting at its start", w->id,
                    stored.status().ToString());
    }
    if (sec.ok() && sec->has_value()) {
      secret = **sec;
    } else {
      p.last_error = sec.ok() ? "the sink's secret is missing: delete it and create it again"
                              : "cannot read the sink's secret: " + sec.status().ToString();
      p.last_error_us = clock_->NowMicros();
    }
    w->progress = p;
  }
  Counter& delivered = Metrics::Default().GetCounter("touchline_sink_delivered_events_total",
                                                     "Events a sink's receiver accepted (2xx)",
                                                     Labels({{"sink", w->id}}));
  Counter& failed = Metrics::Default().GetCounter(
      "touchline_sink_failed_requests_total", "Sink requests that got no 2xx (they are retried)",
      Labels({{"sink", w->id}}));
  std::mt19937_64 rng{std::random_device{}()};

  std::vector<store::RecordPtr> batch;
  std::vector<store::RecordPtr> ahead;  // read, not yet looked at: cursor + 1, ...
  std::size_t ahead_pos = 0;
  std::int64_t ahead_read_us = 0;
  Seq batch_end = 0;  // the cursor once the batch is accepted
  std::string webhook_id;
  std::uint32_t attempt = 0;
  bool handshake_ok = false;
  std::int64_t min_interval_us = 0, last_send_us = 0, last_store_us = 0;
  bool dirty = false;
  bool deleted = false;

  auto store_progress = [&] {
    if (auto st = store_->PutProgress(w->id, p); !st.ok()) {
      spdlog::warn("sink {}: cannot store its cursor: {}", w->id, st.ToString());
    }
    dirty = false;
    last_store_us = clock_->NowMicros();
    MutexLock l(&mu_);  // what GET shows, at once
    w->progress = p;
    w->attempt = attempt;
  };
  auto fail = [&](int status, std::string error) {
    p.failed_requests++;
    p.last_error_us = clock_->NowMicros();
    p.last_status = status;
    p.last_error = std::move(error);
    failed.Increment();
  };
  auto backoff = [&](std::optional<std::int64_t> retry_after) {
    const int shift = static_cast<int>(std::min<std::uint32_t>(attempt, 30)) - 1;
    double d = static_cast<double>(
        std::min(options_.backoff_max_us, options_.backoff_base_us << std::max(shift, 0)));
    d *= std::uniform_real_distribution<double>(0.8, 1.2)(rng);
    auto us = static_cast<std::int64_t>(d);
    if (retry_after.has_value()) {
      us = std::max(us, std::min(*retry_after, options_.max_retry_after_us));
    }
    return us;
  };
  // Waits `us` of real time, until the registry changes, or until Stop().
  std::uint64_t seen = 0;
  auto wait = [&](std::int64_t us) {
    MutexLock l(&mu_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (!stopping_ && changes_ == seen) {
      if (!changed_.WaitUntil(&mu_, until)) {
        break;
      }
    }
  };

  while (true) {
    SinkState s;
    {
      MutexLock l(&mu_);
      w->progress = p;
      w->attempt = attempt;
      w->oldest_pending_us = batch.empty() ? 0 : batch.front()->recorded_at_us;
      if (stopping_) {
        break;
      }
      const SinkState* cur = registry_.Find(w->id);
      if (cur == nullptr || cur->created_seq != w->created_seq) {
        deleted = true;
        break;
      }
      s = *cur;
      seen = changes_;
    }
    if (s.generation != p.generation) {  // replayed
      p.generation = s.generation;
      p.cursor = s.replay_from - 1;
      batch.clear();
      ahead.clear();
      ahead_pos = 0;
      attempt = 0;
      store_progress();
      continue;
    }
    if (s.status != SinkStatus::kActive || secret.empty()) {
      if (dirty) {
        store_progress();
      }
      handshake_ok = false;
      attempt = 0;
      {
        MutexLock l(&mu_);
        w->next_attempt_us = 0;
      }
      wait(1'000'000);
      continue;
    }
    if (s.definition.handshake && !handshake_ok) {
      HttpCall call;
      call.method = "OPTIONS";
      call.url = s.definition.url;
      call.headers = {{"WebHook-Request-Origin", options_.origin}};
      const HttpAnswer a = http_->Send(call);
      const std::string_view allowed = a.Header("webhook-allowed-origin");
      std::string verdict;
      if (a.status >= 200 && a.status < 300 && (allowed == "*" || allowed == options_.origin)) {
        handshake_ok = true;
        attempt = 0;
        min_interval_us = 0;
        const std::string_view rate = a.Header("webhook-allowed-rate");
        std::uint64_t per_minute = 0;
        if (std::from_chars(rate.data(), rate.data() + rate.size(), per_minute).ec == std::errc() &&
            per_minute > 0) {
          min_interval_us = static_cast<std::int64_t>(60'000'000 / per_minute);
        }
        verdict = "accepted";
      } else {
        verdict = "refused";
        ++attempt;
        fail(a.status, a.status == 0 ? "handshake: " + a.error
                                     : "handshake: HTTP " + std::to_string(a.status) +
                                           (allowed.empty() ? " without WebHook-Allowed-Origin"
                                                            : " allowing origin '" +
                                                                  std::string(allowed) + "'"));
      }
      const std::int64_t delay = handshake_ok ? 0 : backoff(a.retry_after_us);
      {
        MutexLock l(&mu_);
        w->handshake = verdict;
        w->next_attempt_us = handshake_ok ? 0 : clock_->NowMicros() + delay;
      }
      if (!handshake_ok) {
        store_progress();
        wait(delay);
      }
      continue;
    }
    if (batch.empty()) {
      // Records past the cursor come from the read-ahead, refilled when it
      // is used up or older than a second (a customer erased since must
      // not go out with data).
      bool caught_up = false;
      if (ahead_pos == ahead.size() ||
          clock_->NowMicros() - ahead_read_us > options_.progress_interval_us) {
        auto records = log_->ReadFrom(p.cursor + 1, options_.scan_records);
        if (!records.ok()) {
          ++attempt;
          fail(0, "reading the log: " + records.status().ToString());
          wait(backoff(std::nullopt));
          continue;
        }
        ahead = std::move(records).value();
        ahead_pos = 0;
        ahead_read_us = clock_->NowMicros();
        caught_up = ahead.size() < options_.scan_records;
      }
      Seq scanned = p.cursor;
      std::size_t bytes = 0;
      while (ahead_pos < ahead.size()) {
        const store::RecordPtr& r = ahead[ahead_pos++];
        scanned = r->seq;
        if (s.definition.filter.Matches(*r)) {
          batch.push_back(r);
          bytes += r->json.size();
          if (batch.size() >= s.definition.batch_size || bytes >= options_.max_body_bytes) {
            break;
          }
        }
      }
      if (batch.empty()) {
        if (scanned != p.cursor) {
          p.cursor = scanned;
          dirty = true;
        }
        if (dirty && clock_->NowMicros() - last_store_us >= options_.progress_interval_us) {
          store_progress();
        }
        if (caught_up) {
          wait(std::chrono::duration_cast<std::chrono::microseconds>(options_.poll).count());
        }
        continue;
      }
      p.cursor = batch.front()->seq - 1;  // what came before was skipped
      batch_end = scanned;
      attempt = 0;
      webhook_id = w->id + "." + std::to_string(p.generation) + "." +
                   std::to_string(batch.front()->seq) + "-" + std::to_string(batch.back()->seq);
    } else if (attempt > 0) {
      // Read again: a customer erased since goes out erased.
      std::vector<Seq> seqs;
      for (const auto& r : batch) {
        seqs.push_back(r->seq);
      }
      if (auto again = log_->ReadSeqs(seqs); again.ok()) {
        batch = std::move(again).value();
      }
    }
    if (min_interval_us > 0) {
      const std::int64_t due = last_send_us + min_interval_us - clock_->NowMicros();
      if (due > 0) {
        wait(due);
        continue;  // the registry may have changed
      }
    }

    HttpCall call;
    call.url = s.definition.url;
    if (s.definition.mode == SinkMode::kStructured) {
      AppendCloudEvent(*batch.front(), options_.source, &call.body);
      call.headers.emplace_back("Content-Type", "application/cloudevents+json; charset=utf-8");
    } else {
      call.body.push_back('[');
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i > 0) {
          call.body.push_back(',');
        }
        AppendCloudEvent(*batch[i], options_.source, &call.body);
      }
      call.body.push_back(']');
      call.headers.emplace_back("Content-Type",
                                "application/cloudevents-batch+json; charset=utf-8");
    }
    const std::int64_t now_s = clock_->NowMicros() / 1'000'000;
    auto signature = SignWebhook(secret, webhook_id, now_s, call.body);
    call.headers.emplace_back("webhook-id", webhook_id);
    call.headers.emplace_back("webhook-timestamp", std::to_string(now_s));
    call.headers.emplace_back("webhook-signature", signature.ok() ? *signature : "");
    if (s.definition.handshake) {
      call.headers.emplace_back("WebHook-Request-Origin", options_.origin);
    }
    last_send_us = clock_->NowMicros();
    const HttpAnswer a = http_->Send(call);
    if (a.status >= 200 && a.status < 300) {
      p.cursor = batch_end;
      p.delivered_events += batch.size();
      p.delivered_requests++;
      p.last_success_us = clock_->NowMicros();
      delivered.Increment(batch.size());
      batch.clear();
      attempt = 0;
      // At most once per progress_interval: a write through the WAL waits
      // for the appends' fsync when it joins their write group.
      dirty = true;
      if (clock_->NowMicros() - last_store_us >= options_.progress_interval_us) {
        store_progress();
      }
      MutexLock l(&mu_);
      w->next_attempt_us = 0;
      continue;
    }
    ++attempt;
    fail(a.status, a.status == 0 ? a.error : "HTTP " + std::to_string(a.status));
    store_progress();
    if (a.status == 410) {
      // Gone: disable it and wait for the change (or for an admin).
      StreamVersion version = 0;
      {
        MutexLock l(&mu_);
        version = registry_.version();
      }
      AppendChange(SinkDisabledEvent(w->id, 410, "the receiver answered 410 Gone"), version,
                   "touchline", "sink delivery", [id = w->id](StatusOr<Seq> r) {
                     if (!r.ok()) {
                       spdlog::warn("sink {}: cannot disable it: {}", id, r.status().ToString());
                     }
                   });
      spdlog::warn("sink {}: the receiver answered 410 Gone; the sink is disabled", w->id);
      wait(options_.backoff_base_us);
      continue;
    }
    const std::int64_t delay = backoff(a.retry_after_us);
    {
      MutexLock l(&mu_);
      w->next_attempt_us = clock_->NowMicros() + delay;
    }
    wait(delay);
  }

  if (deleted) {
    for (const Status& st :
         {store_->DeleteProgress(w->id), store_->DeleteSecret(w->id, w->secret_ref)}) {
      if (!st.ok()) {
        spdlog::warn("sink {}: cannot forget its state: {}", w->id, st.ToString());
      }
    }
  } else if (dirty) {
    store_progress();
  }
  MutexLock l(&mu_);
  w->progress = p;
  w->done = true;
  changed_.SignalAll();
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
  log_->AppendAsync(std::move(req), [this, type = std::move(type), data = std::move(data),
                                     actor = std::move(actor), applied = std::move(applied)](
                                        StatusOr<store::AppendResult> r) {
    if (!r.ok()) {
      applied(r.status().IsFailedPrecondition()
                  ? Status::FailedPrecondition(
                        "the sinks changed while this request was checked; retry")
                  : r.status());
      return;
    }
    const AppendedEvent& e = r->events[0];
    Status folded;
    {
      MutexLock l(&mu_);
      folded = registry_.Apply(SinkEvent{e.seq, e.version, type, actor, clock_->NowMicros(), data});
      ++changes_;
      changed_.SignalAll();
    }
    if (!folded.ok()) {
      applied(folded);
      return;
    }
    applied(e.seq);
  });
}

void SinkService::Create(SinkCreate create, std::string actor,
                         std::function<void(StatusOr<CreatedSink>)> done) {
  StreamVersion version = 0;
  {
    MutexLock l(&mu_);
    if (registry_.Find(create.definition.id) != nullptr) {
      done(Status::AlreadyExists("a sink '" + create.definition.id + "' exists; DELETE /v1/sinks/" +
                                 create.definition.id + " first, or choose another id"));
      return;
    }
    version = registry_.version();
  }
  Seq start = 1;
  switch (create.start.from) {
    case SinkStart::From::kEnd:
      start = log_->head() + 1;
      break;
    case SinkStart::From::kBeginning:
      start = 1;
      break;
    case SinkStart::From::kSeq:
      start = create.start.seq;
      break;
  }
  const std::string id = create.definition.id;
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
        auto info = Get(id);
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
  {
    MutexLock l(&mu_);
    const SinkState* s = registry_.Find(id);
    if (s == nullptr) {
      done(Status::NotFound("no sink '" + id + "'"));
      return;
    }
    version = registry_.version();
    before = InfoLocked(*s);
    switch (change) {
      case SinkChange::kPause:
        if (s->status == SinkStatus::kPaused) {
          done(Status::FailedPrecondition("sink '" + id + "' is already paused"));
          return;
        }
        event = SinkChangeEvent("sink.paused", id);
        break;
      case SinkChange::kResume:
        if (s->status == SinkStatus::kActive) {
          done(Status::FailedPrecondition("sink '" + id + "' is not paused or disabled"));
          return;
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
  AppendChange(std::move(event), version, std::move(actor), std::string(RouteOf(change)),
               [this, id, change, before = std::move(before),
                done = std::move(done)](StatusOr<Seq> r) mutable {
                 if (!r.ok()) {
                   done(r.status());
                   return;
                 }
                 if (change == SinkChange::kDelete) {
                   done(std::move(before));
                   return;
                 }
                 done(Get(id));
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

StatusOr<SinkInfo> SinkService::Get(std::string_view id) const {
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
  if (info.lag_us == 0 && info.lag_events > 0) {
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
