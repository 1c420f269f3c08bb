// ReminderProjection ("reminders"): folds campaign reminder rules and the
// customers' timelines into pending reminders with due times, and keeps
// each reminder's life cycle and each campaign's counts. The scheduler
// (reminder_scheduler.h) fires and delivers them by appending events; this
// fold turns those events into state, so the state is always a function of
// the log and a rebuild reproduces it.
//
// Events it folds:
//   reminder_rule.created / .updated (data: the rule, reminder_rule.h),
//   reminder_rule.deleted (data {"id"}) on the stream "~reminder-rules";
//   reminder.due, reminder.sent, reminder.delivery_failed, reminder.failed
//   (appended by the scheduler on the customer's stream);
//   every other event, for triggers, exit conditions and time-zone traits.
// Events it emits: reminder.cancelled (reason "conversion": a cancel_on
// event came first; "rescheduled": a date trigger moved). The scheduler
// appends reminder.cancelled with reason "rule_deleted" for the pending
// reminders of a deleted rule, which this fold applies.
//
// customer.erased (store/sealing.h) closes the customer's open reminders
// (pending ones cancelled with reason "customer_erased", undelivered ones
// failed) and drops their time-zone traits.
//
// Life cycle: pending -> (reminder.due) due -> sent | failed, where "due"
// means fired and waiting for webhook delivery (a rule with only an agent
// queue goes straight to sent: the reminder.due event on the timeline is
// the delivery). pending -> cancelled.
//
// The fold sees one stream at a time: exit conditions on the reminder's own
// stream cancel here; those on other streams of the same person are checked
// by the scheduler when the reminder falls due. Caps and inactivity count
// per stream (the event's `customer`). Events of types reminder.* and
// profile.* never count as customer activity.
//
// State: the key layout is projections/internal/reminder_keys.h (the spec);
// read it through ReminderReader (projections/reminder_reader.h). Besides
// each campaign's counts the fold keeps the counts of all campaigns
// together, so /metrics reads the number of pending reminders in one Get.
//
// Thread safety: as Projection.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/projection.h"
#include "projections/reminder_rule.h"

namespace touchline::projections {

inline constexpr std::string_view kRemindersProjection = "reminders";
inline constexpr std::string_view kRuleStream = "~reminder-rules";

// Where a reminder is in its life cycle (above). Stored, indexed and shown
// by its lower-case name.
enum class ReminderStatus { kPending, kDue, kSent, kCancelled, kFailed };

inline constexpr ReminderStatus kAllReminderStatuses[] = {
    ReminderStatus::kPending, ReminderStatus::kDue, ReminderStatus::kSent,
    ReminderStatus::kCancelled, ReminderStatus::kFailed};

// "pending", "due", "sent", "cancelled" or "failed".
std::string_view ReminderStatusName(ReminderStatus status);
// The status named `name` (exactly as ReminderStatusName spells it), or
// nullopt for any other text.
std::optional<ReminderStatus> ParseReminderStatus(std::string_view name);
// Writes the name (for test failure messages).
std::ostream& operator<<(std::ostream& os, ReminderStatus status);

struct DeliveryAttempt {
  std::uint32_t n = 0;
  std::int64_t at_us = 0;
  int status = 0;  // HTTP status, 0 for a connection error
  std::string error;
};

struct Reminder {
  std::string id;
  std::string rule;
  std::string campaign;
  std::string customer;
  ReminderStatus status = ReminderStatus::kPending;
  std::int64_t due_us = 0;
  Seq trigger_seq = 0;
  std::int64_t trigger_time_us = 0;
  Seq fired_seq = 0;
  std::int64_t fired_at_us = 0;
  bool late = false;
  std::string reason;  // why it was cancelled or failed
  Seq closed_seq = 0;  // the seq that cancelled, sent or failed it
  std::string webhook;
  std::string queue;
  std::string message;
  std::uint32_t max_attempts = 5;
  std::vector<DeliveryAttempt> attempts;
  std::int64_t next_attempt_us = 0;
};

struct CampaignCounts {
  std::uint64_t scheduled = 0;
  std::uint64_t due = 0;  // fired (sent or not yet)
  std::uint64_t sent = 0;
  std::uint64_t cancelled_conversion = 0;
  std::uint64_t cancelled_other = 0;
  std::uint64_t skipped_cap = 0;
  std::uint64_t failed = 0;

  // Scheduled and not yet fired or cancelled.
  std::uint64_t pending() const {
    const std::uint64_t closed = due + cancelled_conversion + cancelled_other;
    return scheduled > closed ? scheduled - closed : 0;
  }
};

// A reminder as stored, and back. DecodeReminder returns DataLoss if `json`
// is not a stored reminder (not JSON, or an unknown status).
std::string EncodeReminder(const Reminder& r);
StatusOr<Reminder> DecodeReminder(std::string_view json);
// The reminder as the API shows it (times as RFC 3339).
std::string ReminderJson(const Reminder& r);
// Counts as stored and as the API shows them, and back. DecodeCounts
// returns DataLoss if `json` is not a JSON object.
std::string EncodeCounts(const CampaignCounts& c);
StatusOr<CampaignCounts> DecodeCounts(std::string_view json);
// The reminder.cancelled event for `m`, with the deterministic id
// "reminder.cancelled.<reminder>", as this fold emits it and the scheduler
// appends it. `cause_seq` (the event that caused it) is omitted when 0.
Event CancelledEvent(const Reminder& m, std::string_view reason, Seq cause_seq,
                     std::int64_t time_us);

class ReminderProjection final : public Projection {
 public:
  std::string_view Name() const override { return kRemindersProjection; }
  // "4": the counts of all campaigns together are kept (a rebuild adds them).
  std::string Version() const override { return "4"; }
  Status Apply(const store::Record& record, StateTx* tx) override;
  void Discard() override { rules_.reset(); }

 private:
  Status LoadRules(StateTx* tx);
  Status ApplyRuleEvent(const store::Record& rec, StateTx* tx);
  Status ApplyReminderEvent(const store::Record& rec, StateTx* tx);
  Status ApplyCustomerEvent(const store::Record& rec, StateTx* tx);
  // customer.erased: the customer's pending reminders are cancelled
  // ("customer_erased"), those waiting for delivery fail, and the time-zone
  // traits kept for them are dropped.
  Status EraseCustomer(const store::Record& rec, StateTx* tx);
  Status Schedule(const ReminderRule& rule, const store::Record& rec, std::int64_t due_us,
                  StateTx* tx);
  // Cancels a pending reminder; `emit` appends reminder.cancelled for it.
  Status Cancel(Reminder* m, std::string_view reason, const store::Record& cause, StateTx* tx,
                bool emit = true);
  // Writes `m` and moves its index entries from where `before` (null for a
  // new reminder) had them.
  Status Save(const Reminder* before, const Reminder& m, StateTx* tx);
  // Adds `delta` to the campaign's counts and to the totals.
  Status Count(std::string_view campaign, CampaignCounts delta, StateTx* tx);

  // Active rules by id (loaded lazily from state; dropped on Discard()).
  std::optional<std::map<std::string, ReminderRule>> rules_;
};

}  // namespace touchline::projections
