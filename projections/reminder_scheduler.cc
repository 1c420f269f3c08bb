#include "projections/reminder_scheduler.h"

#include <pthread.h>

#include <boost/json.hpp>
#include <future>

#include "core/time_format.h"
#include "projections/customer_state.h"
#include "projections/reminder_projection.h"
#include "projections/reminder_reader.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

bool NonRetryable(int status) {
  return status == 400 || status == 401 || status == 403 || status == 404 || status == 405 ||
         status == 410;
}

// Appends each request on its own (so one conflict fails only itself) and
// waits for all; they share group commits.
std::vector<StatusOr<store::AppendResult>> AppendAll(store::EventLog* log,
                                                     std::vector<store::AppendRequest> reqs) {
  std::vector<std::promise<StatusOr<store::AppendResult>>> done(reqs.size());
  std::vector<std::future<StatusOr<store::AppendResult>>> results;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    results.push_back(done[i].get_future());
    log->AppendAsync(std::move(reqs[i]), [p = &done[i]](StatusOr<store::AppendResult> r) {
      p->set_value(std::move(r));
    });
  }
  std::vector<StatusOr<store::AppendResult>> out;
  for (auto& f : results) {
    out.push_back(f.get());
  }
  return out;
}

}  // namespace

StatusOr<std::optional<StreamVersion>> ReminderScheduler::FoldedVersion(
    const std::string& customer) const {
  store::StreamQuery q;
  q.customer = customer;
  q.limit = 1;
  q.seqs_only = true;
  ASSIGN_OR_RETURN(auto page, log_->ReadStream(q));
  if (!page.seqs.empty() && page.seqs.front() > runner_->checkpoint()) {
    return std::optional<StreamVersion>();
  }
  return std::optional<StreamVersion>(page.current_version);
}

StatusOr<Seq> ReminderScheduler::ConversionElsewhere(const Reminder& m,
                                                     const ReminderRule& rule) const {
  if (options_.customer_view == nullptr) {
    return Seq{0};
  }
  if (rule.cancel_on.empty()) {
    return Seq{0};
  }
  const store::StateReader& people = options_.customer_view->state();
  ASSIGN_OR_RETURN(auto pid, ResolveProfileId(people, m.customer));
  if (!pid.has_value()) {
    return Seq{0};
  }
  ASSIGN_OR_RETURN(auto profile, LoadLiveProfile(people, *pid));
  for (const auto& stream : profile.Streams()) {
    if (stream == m.customer) {
      continue;  // the fold handles the reminder's own stream
    }
    store::StreamQuery q;
    q.customer = stream;
    q.types = rule.cancel_on;
    q.limit = 1;
    q.seqs_only = true;
    ASSIGN_OR_RETURN(auto page, log_->ReadStream(q));
    if (!page.seqs.empty() && page.seqs.front() > m.trigger_seq) {
      return page.seqs.front();
    }
  }
  return Seq{0};
}

ReminderScheduler::ReminderScheduler(store::EventLog* log, ProjectionRunner* reminders,
                                     const Clock* clock, HttpSender* sender,
                                     SchedulerOptions options)
    : log_(log), runner_(reminders), clock_(clock), sender_(sender), options_(options) {}

ReminderScheduler::~ReminderScheduler() { Stop(); }

void ReminderScheduler::Start() {
  stop_ = false;
  fire_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tl-remind-fire");
    Loop(true);
  });
  deliver_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tl-remind-send");
    Loop(false);
  });
}

void ReminderScheduler::Stop() {
  stop_ = true;
  if (fire_thread_.joinable()) {
    fire_thread_.join();
  }
  if (deliver_thread_.joinable()) {
    deliver_thread_.join();
  }
}

void ReminderScheduler::Loop(bool fire) {
  while (!stop_.load()) {
    StatusOr<std::size_t> n = fire ? FireDue() : DeliverDue();
    if (fire && n.ok()) {
      auto swept = SweepDeletedRules();
      n = swept.ok() ? StatusOr<std::size_t>(*n + *swept) : swept;
    }
    if (!n.ok() && !n.status().IsUnavailable() && options_.on_error) {
      options_.on_error(n.status());
    }
    if (n.ok() && *n > 0) {
      continue;  // maybe more
    }
    std::this_thread::sleep_for(options_.poll);
  }
}

StatusOr<std::size_t> ReminderScheduler::RunOnce() {
  ASSIGN_OR_RETURN(std::size_t fired, FireDue());
  ASSIGN_OR_RETURN(std::size_t swept, SweepDeletedRules());
  ASSIGN_OR_RETURN(std::size_t delivered, DeliverDue());
  return fired + swept + delivered;
}

void ReminderScheduler::Prune(std::map<std::string, Seq>* in_flight) const {
  const Seq folded = runner_->checkpoint();
  std::erase_if(*in_flight, [folded](const auto& kv) { return kv.second <= folded; });
}

StatusOr<std::size_t> ReminderScheduler::FireDue() {
  Prune(&firing_);
  const std::int64_t now = clock_->NowMicros();
  const ReminderReader reader(runner_->state());
  ASSIGN_OR_RETURN(auto due, reader.DueIndex(options_.batch));
  std::vector<store::AppendRequest> reqs;
  std::vector<std::string> ids;
  for (const auto& [at_us, id] : due) {
    if (at_us > now) {
      break;
    }
    if (firing_.contains(id)) {
      continue;
    }
    ASSIGN_OR_RETURN(auto found, reader.Find(id));
    if (!found.has_value()) {
      continue;
    }
    Reminder m = std::move(found).value();
    // Fire only on a stream the fold has fully seen (checked before the
    // reminder is read again, so a cancellation folded in between is seen),
    // and only if nothing lands on it first (the expected version).
    ASSIGN_OR_RETURN(auto version, FoldedVersion(m.customer));
    if (!version.has_value()) {
      continue;
    }
    ASSIGN_OR_RETURN(found, reader.Find(id));
    if (!found.has_value()) {
      continue;
    }
    m = std::move(found).value();
    if (m.status != ReminderStatus::kPending) {
      continue;
    }
    // A deleted rule's reminders are cancelled by SweepDeletedRules().
    ASSIGN_OR_RETURN(auto rule, reader.Rule(m.rule));
    if (!rule.has_value()) {
      continue;
    }
    ASSIGN_OR_RETURN(Seq conversion, ConversionElsewhere(m, *rule));
    if (conversion != 0) {
      Event e = CancelledEvent(m, "conversion", conversion, now);
      store::AppendRequest req;
      req.actor = "touchline";
      req.route = "reminder scheduler";
      req.events.push_back(ProposedEvent{std::move(e), ExpectedVersion::Exact(*version)});
      reqs.push_back(std::move(req));
      ids.push_back(id);
      continue;
    }
    Event e;
    e.id = "reminder.due." + id;
    e.customer = m.customer;
    e.type = "reminder.due";
    e.time_us = now;
    const bool late = now - m.due_us > options_.late_after_us;
    json::object data{{"reminder", id},         {"rule", m.rule},
                      {"campaign", m.campaign}, {"due", FormatRfc3339(m.due_us)},
                      {"late", late},           {"message", m.message}};
    if (!m.queue.empty()) {
      data["queue"] = m.queue;
    }
    e.data = json::serialize(data);
    store::AppendRequest req;
    req.actor = "touchline";
    req.route = "reminder scheduler";
    req.events.push_back(ProposedEvent{std::move(e), ExpectedVersion::Exact(*version)});
    reqs.push_back(std::move(req));
    ids.push_back(id);
  }
  if (reqs.empty()) {
    return 0;
  }
  std::size_t appended = 0;
  auto results = AppendAll(log_, std::move(reqs));
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      firing_[ids[i]] = results[i]->events[0].seq;
      ++appended;
    } else if (!results[i].status().IsFailedPrecondition()) {
      return results[i].status();
    }
    // FailedPrecondition: the customer moved meanwhile; the next pass decides.
  }
  return appended;
}

std::int64_t ReminderScheduler::Backoff(std::uint32_t attempt,
                                        std::optional<std::int64_t> retry_after) {
  std::int64_t delay = options_.backoff_base_us;
  for (std::uint32_t i = 1; i < attempt && delay < options_.backoff_max_us; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, options_.backoff_max_us);
  // Jitter: somewhere in the upper half, so retries from many reminders spread.
  delay = delay / 2 + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(delay / 2 + 1));
  if (retry_after.has_value() && *retry_after > delay) {
    delay = std::min(*retry_after, std::int64_t{24} * 3'600'000'000);
  }
  return delay;
}

StatusOr<std::size_t> ReminderScheduler::DeliverDue() {
  Prune(&delivering_);
  const ReminderReader reader(runner_->state());
  ASSIGN_OR_RETURN(auto queue, reader.DeliveryQueue(options_.batch));
  std::size_t appended = 0;
  for (const auto& [at_us, id] : queue) {
    if (stop_.load()) {
      break;
    }
    const std::int64_t now = clock_->NowMicros();
    if (at_us > now) {
      break;
    }
    if (delivering_.contains(id)) {
      continue;
    }
    ASSIGN_OR_RETURN(auto found, reader.Find(id));
    if (!found.has_value()) {
      continue;
    }
    const Reminder m = std::move(found).value();
    if (m.status != ReminderStatus::kDue || m.webhook.empty()) {
      continue;
    }
    // A state the fold has not finished (a rebuild, a restart) may show a
    // reminder as due that was delivered since: wait until it has.
    ASSIGN_OR_RETURN(auto folded, FoldedVersion(m.customer));
    if (!folded.has_value()) {
      continue;
    }
    const auto attempt = static_cast<std::uint32_t>(m.attempts.size() + 1);
    std::string body = json::serialize(json::object{{"reminder", m.id},
                                                    {"rule", m.rule},
                                                    {"campaign", m.campaign},
                                                    {"customer", m.customer},
                                                    {"due", FormatRfc3339(m.due_us)},
                                                    {"fired_at", FormatRfc3339(m.fired_at_us)},
                                                    {"late", m.late},
                                                    {"message", m.message},
                                                    {"queue", m.queue},
                                                    {"attempt", attempt}});
    HttpCall call;
    call.url = m.webhook;
    call.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", m.id}};
    call.body = std::move(body);
    const HttpAnswer r = sender_->Send(call);
    const bool ok = r.status >= 200 && r.status < 300;
    const bool give_up = !ok && (NonRetryable(r.status) || attempt >= m.max_attempts);
    const std::string error = ok              ? ""
                              : r.status == 0 ? r.error
                                              : "HTTP " + std::to_string(r.status);
    Event e;
    e.customer = m.customer;
    const std::int64_t at = clock_->NowMicros();
    e.time_us = at;
    json::object data{{"reminder", m.id}, {"attempt", attempt}, {"http_status", r.status}};
    if (ok) {
      e.id = "reminder.sent." + m.id;
      e.type = "reminder.sent";
    } else if (give_up) {
      e.id = "reminder.failed." + m.id;
      e.type = "reminder.failed";
      data["error"] = NonRetryable(r.status)
                          ? error + " (not retried)"
                          : error + " (gave up after " + std::to_string(attempt) + " attempts)";
    } else {
      e.id = "reminder.attempt." + m.id + "." + std::to_string(attempt);
      e.type = "reminder.delivery_failed";
      data["error"] = error;
      data["retry_at"] = at + Backoff(attempt, r.retry_after_us);
    }
    e.data = json::serialize(data);
    store::AppendRequest req;
    req.actor = "touchline";
    req.route = "reminder scheduler";
    req.events.push_back(ProposedEvent{std::move(e), ExpectedVersion::Any()});
    auto result = log_->Append(std::move(req));
    if (!result.ok() && result.status().IsAlreadyExists()) {
      continue;  // this attempt was recorded before (a re-fold); the fold will catch up
    }
    RETURN_IF_ERROR(result.status());
    delivering_[id] = result->events[0].seq;
    ++appended;
  }
  return appended;
}

StatusOr<std::size_t> ReminderScheduler::SweepDeletedRules() {
  Prune(&sweeping_);
  const ReminderReader reader(runner_->state());
  ASSIGN_OR_RETURN(auto deleted, reader.DeletedRules(16));
  std::vector<store::AppendRequest> reqs;
  std::vector<std::string> ids;
  for (const std::string& rule : deleted) {
    ASSIGN_OR_RETURN(auto pending, reader.PendingOfRule(rule, options_.batch - reqs.size()));
    for (const std::string& id : pending) {
      if (sweeping_.contains(id)) {
        continue;
      }
      ASSIGN_OR_RETURN(auto found, reader.Find(id));
      if (!found.has_value()) {
        continue;
      }
      Event e = CancelledEvent(*found, "rule_deleted", 0, clock_->NowMicros());
      store::AppendRequest req;
      req.actor = "touchline";
      req.route = "reminder scheduler";
      req.events.push_back(ProposedEvent{std::move(e), ExpectedVersion::Any()});
      reqs.push_back(std::move(req));
      ids.push_back(id);
    }
    if (reqs.size() >= options_.batch) {
      break;
    }
  }
  std::size_t appended = 0;
  auto results = AppendAll(log_, std::move(reqs));
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      sweeping_[ids[i]] = results[i]->events[0].seq;
      ++appended;
    } else if (!results[i].status().IsAlreadyExists()) {
      return results[i].status();
    }
  }
  return appended;
}

}  // namespace touchline::projections
