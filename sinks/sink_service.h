// SinkService: webhook sinks, the log's events pushed on as CloudEvents
// (sinks/cloudevent_out.h) to HTTP endpoints that admins register
// (POST /v1/sinks; sinks/sink_definition.h has the format).
//
// Definitions and lifecycle. Every change is an event on the `~sinks`
// stream (sinks/sink_registry.h), appended with the stream's version as the
// expected version: two concurrent changes cannot both pass their checks
// (the loser gets FailedPrecondition and may retry). At start-up the
// registry is folded from that stream. Each sink's signing secret is made
// when it is created, stored synced beside the log (store/sink_store.h)
// before the `sink.created` event is appended, and returned once.
//
// Delivery. Each sink has a thread that reads the log from its cursor in
// seq order, skips records its filter does not keep, and POSTs the rest:
// one per request in structured mode, up to batch_size in batch mode (a
// batch also stops growing at max_body_bytes). Each request carries
// Content-Type application/cloudevents+json (batch: ...-batch+json) and
// the Standard Webhooks headers webhook-id ("<sink>.<replays>.<first
// seq>-<last seq>": the same on every retry of that request),
// webhook-timestamp (this attempt, Unix seconds) and webhook-signature.
//   - 2xx: the cursor moves past the request's last record. It is stored
//     (through the WAL, unsynced; store/sink_store.h) at most once per
//     progress_interval, and whenever the sink fails, pauses or stops.
//   - 410 Gone: the sink is disabled (a `sink.disabled` event, actor
//     "touchline") and keeps its cursor; resuming retries the same records.
//   - anything else (other statuses, no answer within the client's
//     timeout, a refused connection): the same records are retried after an
//     exponential backoff with jitter, from backoff_base to backoff_max,
//     or after the receiver's Retry-After when that is later (capped at
//     max_retry_after). There is no limit on attempts: the sink holds its
//     place (its lag grows, GET /v1/sinks/{id} shows the last error) until
//     the receiver is back or an admin pauses or deletes it.
//   Records read more than a second before they are sent (a retry, a
//   pause, a rate limit) are read again first, so a customer erased
//   meanwhile goes out erased.
// Delivery is at least once and in seq order: the cursor only ever moves
// past what got a 2xx, so a crash repeats at most the requests accepted
// since it was last stored (a second's worth, by default).
//
// Handshake. A sink with "handshake": true first sends the CloudEvents
// webhook validation request (OPTIONS with WebHook-Request-Origin: origin)
// and delivers only after an answer with WebHook-Allowed-Origin equal to
// the origin or "*"; otherwise it retries it with the same backoff. A
// numeric WebHook-Allowed-Rate (requests per minute) then limits the
// sink's request rate. Every request of such a sink repeats
// WebHook-Request-Origin. The handshake is repeated after a restart or a
// resume.
//
// Pause stops a sink after the request in flight; resume (also of a
// disabled sink) starts it again at once; replay moves the cursor back to
// seq N - 1 (a `sink.replayed` event; a replayed request gets a new
// webhook-id); delete removes it, its secret and its progress. A start or
// replay seq above the head + 1 is refused (it would skip events).
//
// webhook-id names a request, not an event: after a restart the batches
// may be cut differently. Receivers deduplicate on the CloudEvent `id`
// (the seq), which every delivery of an event shares.
//
// Time comes from the injected Clock (backoff waits use real time).
//
// Thread safety: every public method may be called from any thread; the
// completion callbacks run on the log's writer thread (or at once, on the
// caller's, for a change refused before it is appended) and must be quick.
// Lifetime: the log, the sender and the clock must outlive the service;
// Stop() (or the destructor) before closing the log.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/http_sender.h"
#include "core/mutex.h"
#include "core/status.h"
#include "sinks/sink_definition.h"
#include "sinks/sink_registry.h"
#include "store/event_log.h"
#include "store/sink_store.h"

namespace touchline::sinks {

struct SinkServiceOptions {
  // ce `source` of every event sent.
  std::string source = "urn:touchline";
  // WebHook-Request-Origin of the handshake.
  std::string origin = "touchline";
  // How often an idle sink looks for new records.
  std::chrono::milliseconds poll{50};
  std::int64_t backoff_base_us = 1'000'000;
  std::int64_t backoff_max_us = 300'000'000;
  std::int64_t max_retry_after_us = 3'600'000'000;
  std::size_t scan_records = 1000;                // records read per pass
  std::size_t max_body_bytes = 4 << 20;           // a batch stops growing here
  std::int64_t progress_interval_us = 1'000'000;  // store the cursor at most this often
};

// What GET /v1/sinks/{id} shows.
struct SinkInfo {
  SinkState state;
  store::SinkProgress progress;  // progress.cursor is the live cursor
  Seq head = 0;
  std::uint64_t lag_events = 0;  // head - cursor
  // The age of the oldest record past the cursor (0 when caught up).
  std::int64_t lag_us = 0;
  std::uint32_t attempt = 0;         // failed attempts of the request now due
  std::int64_t next_attempt_us = 0;  // when a failed request is retried; 0: none
  std::string handshake;             // "", "pending", "accepted", "refused"
};
std::string EncodeSinkInfo(const SinkInfo& info);

struct CreatedSink {
  SinkInfo info;
  std::string secret;  // shown once
};

enum class SinkChange : std::uint8_t { kPause, kResume, kReplay, kDelete };

class SinkService {
 public:
  static StatusOr<std::unique_ptr<SinkService>> Open(store::EventLog* log, HttpSender* http,
                                                     const Clock* clock,
                                                     SinkServiceOptions options = {});
  ~SinkService();
  SinkService(const SinkService&) = delete;
  SinkService& operator=(const SinkService&) = delete;

  void Start();
  void Stop();

  // Creates a sink. AlreadyExists if the id is taken; FailedPrecondition
  // if the sinks changed meanwhile; a storage error.
  void Create(SinkCreate create, std::string actor,
              std::function<void(StatusOr<CreatedSink>)> done);
  // Pauses, resumes, replays from `from_seq` (>= 1) or deletes sink `id`.
  // NotFound if there is none; FailedPrecondition if it is already in that
  // state (pausing a paused sink, resuming an active one) or the sinks
  // changed meanwhile. `done` gets the sink as it is after the change
  // (for delete: as it was).
  void Change(std::string id, SinkChange change, Seq from_seq, std::string actor,
              std::function<void(StatusOr<SinkInfo>)> done);

  StatusOr<SinkInfo> Get(std::string_view id) const;
  std::vector<SinkInfo> List() const;

  // At most this many sinks (each has a thread).
  static constexpr std::size_t kMaxSinks = 100;

 private:
  struct Worker;
  class Delivery;
  SinkService(store::EventLog* log, HttpSender* http, const Clock* clock,
              SinkServiceOptions options, std::unique_ptr<store::SinkStore> store);

  // Folds the `~sinks` stream and forgets secrets and progress of sinks
  // that no longer exist.
  Status Load();
  // Appends `event` to `~sinks` at `version`; `applied` runs (under mu_)
  // once it is committed and folded.
  void AppendChange(Event event, StreamVersion version, std::string actor, std::string route,
                    std::function<void(StatusOr<Seq>)> applied);
  // Starts workers for sinks without one, joins finished ones and
  // forgets the state of sinks deleted before a worker started.
  void Supervise();
  void Deliver(Worker* w);
  // A deleted sink's secret and progress, to delete.
  struct Forgotten {
    std::string id;
    std::string ref;
    Seq created_seq = 0;
  };
  void Forget(const Forgotten& f);
  SinkInfo InfoLocked(const SinkState& s) const REQUIRES(mu_);
  // `read_lag`: also read the first record past the cursor for the lag
  // (not on the log's writer thread).
  StatusOr<SinkInfo> Info(std::string_view id, bool read_lag) const;

  // Constant after construction
  store::EventLog* const log_;
  HttpSender* const http_;
  const Clock* const clock_;
  const SinkServiceOptions options_;
  const std::unique_ptr<store::SinkStore> store_;

  mutable Mutex mu_;
  CondVar changed_;
  SinkRegistry registry_ GUARDED_BY(mu_);
  std::uint64_t changes_ GUARDED_BY(mu_) = 0;  // registry changes, to wake workers
  bool stopping_ GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<Worker>, std::less<>> workers_ GUARDED_BY(mu_);
  // Sinks deleted without a worker, for Supervise() to forget.
  std::vector<Forgotten> forget_ GUARDED_BY(mu_);
  // Appends of changes whose callbacks have not run: Stop() waits for them.
  std::size_t pending_appends_ GUARDED_BY(mu_) = 0;
  std::thread supervisor_;
};

}  // namespace touchline::sinks
