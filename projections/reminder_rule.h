// ReminderRule: what a campaign reminder rule says, as agents and
// integrations write it (POST/PUT /v1/reminder-rules) and as it is stored
// in the `reminder_rule.created|updated` events the reminders projection
// folds (projections/reminder_projection.h).
//
//   {"id": "cart-1d",                      [a-z0-9_-]{1,64}, unique
//    "campaign": "cart-recovery",          groups reminders for reporting
//    "name": "Abandoned cart, next day",   optional, for people
//    "trigger": {...},                     one of the three below
//    "offset": "1d",                       signed duration: 1d, 12h, 30m, -30d, 1d12h
//    "cancel_on": ["purchase.completed"],  event types (dotted prefixes) that
//                                          cancel the customer's pending reminders
//    "window": {"start": "09:00", "end": "17:00",
//               "timezone_trait": "timezone", "timezone": "UTC"},
//    "cap": {"max": 1, "period": "30d"},   at most max reminders per customer
//                                          per period (by due time)
//    "deliver": {"webhook": "http://host:port/path", "queue": "sales",
//                "max_attempts": 5},
//    "message": "Your cart is waiting"}    optional, passed along
//
// Triggers:
//   {"event": "cart.abandoned", "where": {"field": "data.plan", "equals": "gold"}}
//       each matching event schedules a reminder at its time + offset
//       (offset >= 0); `where` is optional and compares one data field to
//       a string, number or boolean;
//   {"date_field": "data.contract_end", "event": "contract.signed"}
//       an event (of that type, or any if "event" is absent) carrying the
//       date (RFC 3339 time or YYYY-MM-DD, midnight UTC) schedules a
//       reminder at date + offset (offset may be negative: before); a later
//       event with another date moves it; a date + offset already past the
//       event is not scheduled;
//   {"inactivity": ["purchase", "message"]}
//       every event of those types (any event if the list is empty) moves
//       the customer's one pending reminder to its time + offset (> 0):
//       it fires only after offset of silence.
//
// Send window: a due time outside [start, end) of local time (in the zone
// named by the customer's trait `timezone_trait`, else `timezone`, else UTC)
// moves to the next start; start > end is a window across midnight.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace touchline::projections {

enum class TriggerKind { kEvent, kDate, kInactivity };

struct ReminderRule {
  std::string id;
  std::string campaign;
  std::string name;
  TriggerKind kind = TriggerKind::kEvent;
  // kEvent: the one trigger type; kDate: the types carrying the date (empty:
  // any); kInactivity: the types that count as contact (empty: any).
  std::vector<std::string> event_types;
  std::string where_field;   // "data.plan" (empty: no condition)
  std::string where_equals;  // minified JSON scalar
  std::string date_field;    // kDate: "data.contract_end"
  std::int64_t offset_us = 0;
  std::vector<std::string> cancel_on;
  bool has_window = false;
  int window_start_min = 0;  // minutes after local midnight
  int window_end_min = 0;
  std::string timezone_trait = "timezone";
  std::string timezone = "UTC";
  std::uint32_t cap_max = 0;  // 0: no cap
  std::int64_t cap_period_us = 0;
  std::string webhook;  // http:// or https:// URL, or empty
  std::string queue;    // agent queue, or empty
  std::uint32_t max_attempts = 5;
  std::string message;
};

// Parses a rule from its JSON text. `id_from_path` (PUT) must match an "id"
// in the body if there is one. Returns InvalidArgument naming the field and
// the fix.
StatusOr<ReminderRule> ParseReminderRule(std::string_view json, std::string_view id_from_path = "");

// The rule as canonical JSON (the form stored in events and returned by GET).
std::string EncodeReminderRule(const ReminderRule& rule);

// "1d", "-30d", "12h", "90m", "1d12h": microseconds. Returns InvalidArgument.
StatusOr<std::int64_t> ParseDuration(std::string_view text, std::string_view path);
std::string FormatDuration(std::int64_t us);

// The first instant at or after `due_us` inside the rule's send window, in
// zone `zone_name` (falls back to the rule's timezone, then UTC, when the
// name is empty or unknown).
std::int64_t NextInWindow(const ReminderRule& rule, std::int64_t due_us,
                          std::string_view zone_name);

// True if a rule id is well formed ([a-z0-9_-]{1,64}).
bool IsValidRuleId(std::string_view id);

}  // namespace touchline::projections
