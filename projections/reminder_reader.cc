#include "projections/reminder_reader.h"

#include "projections/internal/reminder_keys.h"

namespace touchline::projections {
namespace {

// Keys read per Scan when walking a whole prefix.
constexpr std::size_t kPage = 256;

Status Corrupt(std::string_view what, std::string_view key) {
  // Keys may hold '\0' (internal/reminder_keys.h): show them up to it.
  return Status::DataLoss("reminders state: " + std::string(what) + " at key '" +
                          std::string(key.substr(0, key.find('\0'))) + "'");
}

StatusOr<ReminderRule> DecodeRule(std::string_view key, std::string_view value) {
  auto rule = ParseReminderRule(value);
  if (!rule.ok()) {
    return Corrupt("an unreadable rule (" + rule.status().message() + ")", key);
  }
  return std::move(rule).value();
}

}  // namespace

StatusOr<std::optional<ReminderRule>> ReminderReader::Rule(std::string_view id) const {
  const std::string key = internal::RuleKey(id);
  ASSIGN_OR_RETURN(auto raw, state_.Get(key));
  if (!raw.has_value()) {
    return std::optional<ReminderRule>();
  }
  ASSIGN_OR_RETURN(auto rule, DecodeRule(key, *raw));
  return std::optional<ReminderRule>(std::move(rule));
}

StatusOr<std::vector<ReminderRule>> ReminderReader::Rules() const {
  std::vector<ReminderRule> out;
  std::string after;
  while (true) {
    ASSIGN_OR_RETURN(auto page, state_.Scan(internal::kRulePrefix, after, kPage));
    for (const auto& [key, value] : page) {
      ASSIGN_OR_RETURN(auto rule, DecodeRule(key, value));
      out.push_back(std::move(rule));
    }
    if (page.size() < kPage) {
      return out;
    }
    after = page.back().first;
  }
}

StatusOr<std::optional<Reminder>> ReminderReader::Find(std::string_view id) const {
  ASSIGN_OR_RETURN(auto raw, state_.Get(internal::ReminderKey(id)));
  if (!raw.has_value()) {
    return std::optional<Reminder>();
  }
  ASSIGN_OR_RETURN(auto m, DecodeReminder(*raw));
  return std::optional<Reminder>(std::move(m));
}

StatusOr<Reminder> ReminderReader::Indexed(std::string_view id) const {
  ASSIGN_OR_RETURN(auto m, Find(id));
  if (!m.has_value()) {
    return Corrupt("an index entry without its reminder", internal::ReminderKey(id));
  }
  return std::move(m).value();
}

StatusOr<ReminderPage> ReminderReader::List(const ReminderQuery& query) const {
  const std::string prefix = internal::StatusPrefix(query.status);
  // A cursor is an index key without its prefix; any text is accepted and
  // simply continues after it.
  std::string after = query.after.empty() ? std::string() : prefix + query.after;
  ReminderPage out;
  std::size_t scanned = 0;
  bool done = false;
  while (!done && out.reminders.size() < query.limit && scanned < query.max_scan) {
    ASSIGN_OR_RETURN(auto page, state_.Scan(prefix, after, kPage));
    for (const auto& [key, unused] : page) {
      ++scanned;
      after = key;
      const auto entry = internal::ParseTimedKey(key, prefix.size());
      if (!entry.has_value()) {
        return Corrupt("a malformed status index entry", key);
      }
      if (query.due_before_us.has_value() && entry->at_us >= *query.due_before_us) {
        done = true;
        break;
      }
      ASSIGN_OR_RETURN(Reminder m, Indexed(entry->id));
      if (query.campaign.has_value() && m.campaign != *query.campaign) {
        continue;
      }
      out.reminders.push_back(std::move(m));
      if (out.reminders.size() == query.limit) {
        out.next_after = key.substr(prefix.size());
        break;
      }
    }
    if (page.size() < kPage) {
      done = true;
    }
  }
  if (!done && out.reminders.size() < query.limit) {
    // The scan bound was reached: continue from here.
    out.next_after = after.empty() ? query.after : after.substr(prefix.size());
  }
  return out;
}

StatusOr<std::vector<Reminder>> ReminderReader::OfCustomer(std::string_view customer,
                                                           std::size_t limit) const {
  ASSIGN_OR_RETURN(auto keys, state_.Scan(internal::CustomerPrefix(customer), "", limit));
  std::vector<Reminder> out;
  out.reserve(keys.size());
  for (const auto& [key, unused] : keys) {
    ASSIGN_OR_RETURN(Reminder m, Indexed(internal::IdFromIndexKey(key)));
    out.push_back(std::move(m));
  }
  return out;
}

StatusOr<std::optional<CampaignCounts>> ReminderReader::Campaign(std::string_view name) const {
  ASSIGN_OR_RETURN(auto raw, state_.Get(internal::CampaignKey(name)));
  if (raw.has_value()) {
    ASSIGN_OR_RETURN(auto counts, DecodeCounts(*raw));
    return std::optional<CampaignCounts>(counts);
  }
  // Nothing scheduled yet: a campaign exists once a rule names it.
  ASSIGN_OR_RETURN(auto rules, Rules());
  for (const auto& rule : rules) {
    if (rule.campaign == name) {
      return std::optional<CampaignCounts>(CampaignCounts{});
    }
  }
  return std::optional<CampaignCounts>();
}

StatusOr<std::uint64_t> ReminderReader::PendingCount() const {
  ASSIGN_OR_RETURN(auto raw, state_.Get(internal::kTotalsKey));
  if (!raw.has_value()) {
    return std::uint64_t{0};
  }
  ASSIGN_OR_RETURN(auto totals, DecodeCounts(*raw));
  return totals.pending();
}

StatusOr<std::vector<ReminderTime>> ReminderReader::TimeIndex(std::string_view prefix,
                                                              std::size_t limit) const {
  ASSIGN_OR_RETURN(auto keys, state_.Scan(prefix, "", limit));
  std::vector<ReminderTime> out;
  out.reserve(keys.size());
  for (const auto& [key, unused] : keys) {
    const auto entry = internal::ParseTimedKey(key, prefix.size());
    if (!entry.has_value()) {
      return Corrupt("a malformed time index entry", key);
    }
    out.push_back(ReminderTime{entry->at_us, std::string(entry->id)});
  }
  return out;
}

StatusOr<std::vector<ReminderTime>> ReminderReader::DueIndex(std::size_t limit) const {
  return TimeIndex(internal::kDuePrefix, limit);
}

StatusOr<std::vector<ReminderTime>> ReminderReader::DeliveryQueue(std::size_t limit) const {
  return TimeIndex(internal::kDeliveryPrefix, limit);
}

StatusOr<std::vector<std::string>> ReminderReader::DeletedRules(std::size_t limit) const {
  ASSIGN_OR_RETURN(auto keys, state_.Scan(internal::kDeletedRulePrefix, "", limit));
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& [key, unused] : keys) {
    out.push_back(key.substr(internal::kDeletedRulePrefix.size()));
  }
  return out;
}

StatusOr<std::vector<std::string>> ReminderReader::PendingOfRule(std::string_view rule,
                                                                 std::size_t limit) const {
  ASSIGN_OR_RETURN(auto keys, state_.Scan(internal::RulePendingPrefix(rule), "", limit));
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& [key, unused] : keys) {
    out.emplace_back(internal::IdFromIndexKey(key));
  }
  return out;
}

}  // namespace touchline::projections
