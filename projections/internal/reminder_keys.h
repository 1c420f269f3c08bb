// The reminders projection's state layout: the one place that spells its
// keys. The fold (projections/reminder_projection.cc) writes them and
// ReminderReader (projections/reminder_reader.h) reads them; nothing else
// may build or take apart these keys: the API, the scheduler and the tools
// read reminders through ReminderReader.
//
// This comment is the format spec. Keys (values are compact JSON unless
// noted; <due:20> and <at:20> are microseconds since the epoch as 20 decimal
// digits, so keys sort by time):
//   r/<rule>                       the rule (active rules only)
//   m/<reminder>                   the reminder (EncodeReminder)
//   d/<due:20>/<reminder>          pending, by due time (the timer index); ""
//   q/<at:20>/<reminder>           fired, waiting for delivery at `at`; ""
//   s/<status>/<due:20>/<reminder> every reminder by status name, then due
//                                  time; ""
//   a/<customer>\0<reminder>       every reminder of a customer; ""
//   c/<customer>\0<reminder>       pending reminders of a customer; ""
//   x/<rule>/<reminder>            pending reminders of a rule; ""
//   dr/<rule>                      a deleted rule whose pending reminders
//                                  the scheduler is still cancelling; ""
//   p/<rule>\0<customer>           the one pending reminder of a date or
//                                  inactivity rule for a customer: its id
//   z/<customer>\0<trait>          the customer's time-zone trait value
//   k/<campaign>                   the campaign's counts (EncodeCounts)
//   g/                             the counts of all campaigns together
//                                  (the sum of every k/), so the number of
//                                  pending reminders costs one read
//   t/<rule>\0<customer>           due times counted by the rule's cap
// Reminder ids are "<rule>.<seq of the triggering event>"; rule ids are
// [a-z0-9_-]{1,64} (reminder_rule.h), so neither holds '/' or '\0'.
// Changing this layout changes ReminderProjection::Version().
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "projections/reminder_projection.h"

namespace touchline::projections::internal {

inline constexpr std::string_view kRulePrefix = "r/";
inline constexpr std::string_view kDuePrefix = "d/";
inline constexpr std::string_view kDeliveryPrefix = "q/";
inline constexpr std::string_view kDeletedRulePrefix = "dr/";
inline constexpr std::string_view kTotalsKey = "g/";

std::string RuleKey(std::string_view rule);
std::string ReminderKey(std::string_view id);
std::string DueKey(std::int64_t due_us, std::string_view id);
std::string DeliveryKey(std::int64_t at_us, std::string_view id);
std::string StatusPrefix(ReminderStatus status);  // "s/<status>/"
std::string StatusKey(ReminderStatus status, std::int64_t due_us, std::string_view id);
std::string CustomerPrefix(std::string_view customer);  // "a/<customer>\0"
std::string CustomerKey(std::string_view customer, std::string_view id);
std::string PendingCustomerPrefix(std::string_view customer);  // "c/<customer>\0"
std::string PendingCustomerKey(std::string_view customer, std::string_view id);
std::string RulePendingPrefix(std::string_view rule);  // "x/<rule>/"
std::string RulePendingKey(std::string_view rule, std::string_view id);
std::string DeletedRuleKey(std::string_view rule);
std::string SinglePendingKey(std::string_view rule, std::string_view customer);
std::string ZonePrefix(std::string_view customer);  // "z/<customer>\0"
std::string ZoneKey(std::string_view customer, std::string_view trait);
std::string CampaignKey(std::string_view campaign);
std::string CapKey(std::string_view rule, std::string_view customer);

// The reminder id at the end of an index key (after its last '/' or '\0').
std::string_view IdFromIndexKey(std::string_view key);

// A time-ordered index key taken apart: "<prefix><at:20>/<id>".
struct TimedKey {
  std::int64_t at_us = 0;
  std::string_view id;
};
// `key` taken apart after its first `prefix_size` bytes, or nullopt if
// what follows is not 20 digits, '/' and a non-empty id.
std::optional<TimedKey> ParseTimedKey(std::string_view key, std::size_t prefix_size);

}  // namespace touchline::projections::internal
