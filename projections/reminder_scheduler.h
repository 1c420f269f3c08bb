// ReminderScheduler: fires pending reminders when they fall due and
// delivers fired ones to their webhooks, by appending events that the
// reminders projection folds (reminder_projection.h). It keeps nothing of
// its own: every decision is read from the projection's state, so after a
// restart it carries on where the log says it stopped. It reads that state
// through ReminderReader (reminder_reader.h).
//
// Firing. Every `poll` (real time) it reads the timer index (pending, by
// due time) up to the clock's now and appends `reminder.due` for each
// reminder due, with the id "reminder.due.<reminder>" (so never twice) on
// the customer's stream with expected_version = the stream's version, and
// only once the projection has folded that version. An event for the
// customer that lands in between (say the purchase that cancels the
// reminder) makes the append fail, and the next pass sees the cancellation:
// an exit condition racing with firing never fires a cancelled reminder.
// Reminders more than `late_after` past due when fired (the server was
// down) are marked late.
//
// Delivery. Fired reminders with a webhook are POSTed (JSON body, header
// Idempotency-Key: <reminder id>) when their next attempt is due: 2xx
// appends `reminder.sent`; 400, 401, 403, 404, 405 and 410 append
// `reminder.failed` at once; anything else (other statuses, connection
// errors, timeouts) appends `reminder.delivery_failed` with the next attempt
// after an exponential backoff with jitter (or the server's Retry-After, if
// later), until `max_attempts`, then `reminder.failed`. Delivery is
// at-least-once: a crash after the POST and before the event repeats the
// POST with the same key.
//
// Exit conditions across a person's streams. The fold cancels on a
// `cancel_on` event of the reminder's own stream at once; one on another
// stream of the same person (per the customer view) is found when the
// reminder falls due, and the scheduler then appends `reminder.cancelled`
// (reason "conversion") instead of firing.
//
// Deleted rules. Deleting a rule only marks it (one fold step, whatever
// the number of its reminders); the firing loop then cancels its pending
// reminders in pages by appending `reminder.cancelled` (reason
// "rule_deleted"), and never fires a reminder whose rule is gone.
//
// Time comes from the injected Clock (tests use a fake one).
//
// Thread safety: Start()/Stop() from one thread; RunOnce() is for tests
// (not while started). Lifetime: the log, the runner, the clock and the
// sender must outlive the scheduler.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/http_sender.h"
#include "core/mutex.h"
#include "projections/projection_runner.h"
#include "projections/reminder_projection.h"
#include "store/event_log.h"

namespace touchline::projections {

struct SchedulerOptions {
  std::chrono::milliseconds poll{100};
  std::int64_t late_after_us = 60'000'000;
  std::int64_t backoff_base_us = 1'000'000;
  std::int64_t backoff_max_us = 3'600'000'000;
  std::size_t batch = 512;  // reminders read per pass
  // Told about a pass that failed (a storage error); the loop carries on.
  std::function<void(const Status&)> on_error;
  // The customer view (optional, not owned): when set, a reminder about to
  // fire is cancelled instead if a `cancel_on` event happened after its
  // trigger on any other stream of the same person.
  ProjectionRunner* customer_view = nullptr;
};

class ReminderScheduler {
 public:
  ReminderScheduler(store::EventLog* log, ProjectionRunner* reminders, const Clock* clock,
                    HttpSender* sender, SchedulerOptions options = {});
  ~ReminderScheduler();
  ReminderScheduler(const ReminderScheduler&) = delete;
  ReminderScheduler& operator=(const ReminderScheduler&) = delete;

  void Start();
  void Stop();

  // One pass of each loop: fires what is due, then delivers what is due.
  // Returns the number of events appended, or the first storage error.
  StatusOr<std::size_t> RunOnce();
  StatusOr<std::size_t> FireDue();
  StatusOr<std::size_t> DeliverDue();
  // Cancels (in pages of `batch`) the pending reminders of deleted rules.
  StatusOr<std::size_t> SweepDeletedRules();

 private:
  // The customer stream's version if the projection has folded all of it,
  // else nullopt.
  StatusOr<std::optional<StreamVersion>> FoldedVersion(const std::string& customer) const;
  // The seq of a `cancel_on` event after the trigger on another stream of
  // the reminder's person, or 0.
  StatusOr<Seq> ConversionElsewhere(const Reminder& m, const ReminderRule& rule) const;
  void Loop(bool fire);
  // Forgets in-flight appends the projection has folded.
  void Prune(std::map<std::string, Seq>* in_flight) const;
  std::int64_t Backoff(std::uint32_t attempt, std::optional<std::int64_t> retry_after);

  // Constant after construction
  store::EventLog* const log_;
  ProjectionRunner* const runner_;
  const Clock* const clock_;
  HttpSender* const sender_;
  const SchedulerOptions options_;

  // Appended but not yet folded, by reminder id: not acted on again. Each
  // map belongs to one loop.
  std::map<std::string, Seq> firing_;
  std::map<std::string, Seq> delivering_;
  std::map<std::string, Seq> sweeping_;          // the fire loop's too
  std::mt19937_64 rng_{std::random_device{}()};  // delivery loop only

  std::atomic<bool> stop_{false};
  std::thread fire_thread_;
  std::thread deliver_thread_;
};

}  // namespace touchline::projections
