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
// State keys (values are compact JSON):
//   r/<rule>                       the rule (active rules only)
//   m/<reminder>                   the reminder
//   d/<due:20 digits>/<reminder>   pending, by due time (the timer index)
//   q/<at:20 digits>/<reminder>    fired, waiting for delivery at `at`
//   s/<status>/<due:20>/<reminder> every reminder by status, then due time
//   a/<customer>\0<reminder>       every reminder of a customer
//   c/<customer>\0<reminder>       pending reminders of a customer
//   x/<rule>/<reminder>            pending reminders of a rule
//   dr/<rule>                      a deleted rule whose pending reminders
//                                  the scheduler is still cancelling
//   p/<rule>\0<customer>           the one pending reminder of a date or
//                                  inactivity rule for a customer
//   z/<customer>\0<trait>          the customer's time-zone trait value
//   k/<campaign>                   counts
//   t/<rule>\0<customer>           due times counted by the rule's cap
// Reminder ids are "<rule>.<seq of the triggering event>".
//
// Thread safety: as Projection.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "projections/projection.h"
#include "projections/reminder_rule.h"

namespace touchline::projections {

inline constexpr std::string_view kRemindersProjection = "reminders";
inline constexpr std::string_view kRuleStream = "~reminder-rules";

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
  std::string status;  // pending, due, sent, cancelled, failed
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
};

std::string EncodeReminder(const Reminder& r);
StatusOr<Reminder> DecodeReminder(std::string_view json);
// The reminder as the API shows it (times as RFC 3339).
std::string ReminderJson(const Reminder& r);
std::string EncodeCounts(const CampaignCounts& c);
// The reminder.cancelled event for `m`, with the deterministic id
// "reminder.cancelled.<reminder>", as this fold emits it and the scheduler
// appends it. `cause_seq` (the event that caused it) is omitted when 0.
Event CancelledEvent(const Reminder& m, std::string_view reason, Seq cause_seq,
                     std::int64_t time_us);
StatusOr<CampaignCounts> DecodeCounts(std::string_view json);

// Key helpers shared with the scheduler and the API.
std::string ReminderKey(std::string_view id);
std::string DueIndexPrefix();       // "d/"
std::string DeliveryIndexPrefix();  // "q/"
std::string StatusIndexPrefix(std::string_view status);
std::string CustomerIndexPrefix(std::string_view customer);
std::string RuleKey(std::string_view rule);
std::string RulePendingPrefix(std::string_view rule);  // "x/<rule>/"
std::string DeletedRulePrefix();                       // "dr/"
std::string PendingCustomerPrefix(std::string_view customer);
std::string CampaignKey(std::string_view campaign);
// The reminder id at the end of an index key.
std::string_view IdFromIndexKey(std::string_view key);
// The time in a d/ or q/ key.
std::int64_t TimeFromIndexKey(std::string_view key);

class ReminderProjection final : public Projection {
 public:
  std::string_view Name() const override { return kRemindersProjection; }
  std::string Version() const override { return "3"; }
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
  Status Save(const Reminder& before_status, const Reminder& m, StateTx* tx);
  Status Count(std::string_view campaign, CampaignCounts delta, StateTx* tx);

  // Active rules by id (loaded lazily from state; dropped on Discard()).
  std::optional<std::map<std::string, ReminderRule>> rules_;
};

}  // namespace touchline::projections
