// ReminderReader: typed reads of the reminders projection's state (rules,
// reminders and their indexes, campaign counts), so that no caller builds
// or takes apart a state key. The fold (reminder_projection.h) writes the
// state; its key layout is internal (projections/internal/reminder_keys.h)
// and known only to the fold and this class, as Kvrocks' `redis::Hash`
// owns the layout of a hash. The API's reminder routes, /metrics and the
// scheduler read through it.
//
// Reads are not a snapshot: each call sees the state as committed when it
// runs, and a multi-key call (a page, a customer's reminders) reads keys
// one after another, so it may see a commit land between them. Callers
// that need the fold to have reached a seq wait for it first
// (ProjectionRunner::WaitFor).
//
// Errors: every method returns the storage error of the StateReader
// underneath (Unavailable, DataLoss, Internal), and DataLoss when stored
// state is unreadable (a reminder or counts that do not decode, an index
// entry whose reminder is missing, a stored rule that does not parse).
// Nothing else unless a method says so.
//
// Thread safety: as thread-safe as the StateReader (a ProjectionRunner's
// state() is); the reader holds nothing else.
// Lifetime: `state` must outlive the reader; a reader is cheap to make per
// request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "projections/reminder_projection.h"
#include "projections/reminder_rule.h"
#include "store/state_store.h"

namespace touchline::projections {

// A page request over the reminders of one status, in due-time order.
struct ReminderQuery {
  ReminderStatus status = ReminderStatus::kPending;
  // Only reminders of this campaign (the others are read and skipped).
  std::optional<std::string> campaign;
  // Only reminders due strictly before this time (microseconds); the page
  // ends at the first one due at or after it.
  std::optional<std::int64_t> due_before_us;
  // Continue after this cursor: a page's `next_after` ("" to start).
  std::string after;
  // Reminders per page. REQUIRES: limit > 0.
  std::size_t limit = 100;
  // Index entries read at most per call (bounds a campaign filter that
  // matches little); a page that stops at this bound has a `next_after`.
  std::size_t max_scan = 100000;
};

struct ReminderPage {
  std::vector<Reminder> reminders;  // by due time, then id
  // The cursor for the next page ("<due:20 digits>/<reminder id>", shown to
  // API clients as is), or nullopt if there is nothing more.
  std::optional<std::string> next_after;
};

// One entry of a time-ordered index: the reminder `id` and its time.
struct ReminderTime {
  std::int64_t at_us = 0;
  std::string id;
};

class ReminderReader {
 public:
  explicit ReminderReader(const store::StateReader& state) : state_(state) {}

  // --- Rules

  // The active rule `id`, or nullopt if there is none (never created, or
  // deleted).
  StatusOr<std::optional<ReminderRule>> Rule(std::string_view id) const;
  // Every active rule, by id.
  StatusOr<std::vector<ReminderRule>> Rules() const;

  // --- Reminders

  // The reminder `id`, or nullopt if there is none.
  StatusOr<std::optional<Reminder>> Find(std::string_view id) const;
  // One page of the reminders with `query.status` (see ReminderQuery).
  StatusOr<ReminderPage> List(const ReminderQuery& query) const;
  // The first `limit` reminders (of any status) of the stream `customer`,
  // by reminder id.
  StatusOr<std::vector<Reminder>> OfCustomer(std::string_view customer, std::size_t limit) const;

  // --- Counts

  // The counts of campaign `name`; zero counts for a campaign that nothing
  // was scheduled for yet but an active rule names; nullopt for a campaign
  // that neither a rule nor a reminder knows.
  StatusOr<std::optional<CampaignCounts>> Campaign(std::string_view name) const;
  // Reminders scheduled and not yet fired or cancelled, over all campaigns
  // (CampaignCounts::pending of the totals the fold keeps): one read.
  StatusOr<std::uint64_t> PendingCount() const;

  // --- The scheduler's work lists

  // The first `limit` pending reminders by due time, earliest first.
  StatusOr<std::vector<ReminderTime>> DueIndex(std::size_t limit) const;
  // The first `limit` fired reminders waiting for webhook delivery, by the
  // time of their next attempt, earliest first.
  StatusOr<std::vector<ReminderTime>> DeliveryQueue(std::size_t limit) const;
  // The first `limit` deleted rules whose pending reminders are still being
  // cancelled, by rule id.
  StatusOr<std::vector<std::string>> DeletedRules(std::size_t limit) const;
  // The ids of the first `limit` pending reminders of rule `rule`, by id.
  StatusOr<std::vector<std::string>> PendingOfRule(std::string_view rule, std::size_t limit) const;

 private:
  // The reminder an index entry names; DataLoss if it is missing.
  StatusOr<Reminder> Indexed(std::string_view id) const;
  // The entries of the time-ordered index under `prefix`.
  StatusOr<std::vector<ReminderTime>> TimeIndex(std::string_view prefix, std::size_t limit) const;

  const store::StateReader& state_;
};

}  // namespace touchline::projections
