#include "projections/reminder_projection.h"

#include <boost/json.hpp>
#include <cstdio>
#include <ostream>

#include "core/time_format.h"
#include "core/validation.h"
#include "projections/internal/reminder_keys.h"
#include "store/sealing.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;
using internal::CampaignKey;
using internal::CapKey;
using internal::CustomerKey;
using internal::CustomerPrefix;
using internal::DeletedRuleKey;
using internal::DeliveryKey;
using internal::DueKey;
using internal::IdFromIndexKey;
using internal::PendingCustomerKey;
using internal::PendingCustomerPrefix;
using internal::ReminderKey;
using internal::RuleKey;
using internal::RulePendingKey;
using internal::RulePendingPrefix;
using internal::SinglePendingKey;
using internal::StatusKey;
using internal::ZoneKey;
using internal::ZonePrefix;

// "Everything" for a scan whose size the state bounds (a customer's or a
// rule's reminders); far below SIZE_MAX so limits can be added to.
constexpr std::size_t kScanAll = std::size_t{1} << 32;

// The record's data object (empty if none or unparsable).
json::object DataOf(const store::Record& rec) {
  json::error_code ec;
  json::value doc = json::parse(rec.json, ec);
  if (ec || !doc.is_object()) {
    return {};
  }
  if (auto* d = doc.as_object().if_contains("data"); d != nullptr && d->is_object()) {
    return std::move(d->as_object());
  }
  return {};
}

// The value at "data.a.b" inside `data`, or null.
const json::value* Field(const json::object& data, std::string_view path) {
  path.remove_prefix(5);  // "data."
  const json::object* o = &data;
  while (true) {
    const auto dot = path.find('.');
    const auto* v = o->if_contains(path.substr(0, dot));
    if (v == nullptr || dot == std::string_view::npos) {
      return v;
    }
    if (!v->is_object()) {
      return nullptr;
    }
    o = &v->as_object();
    path.remove_prefix(dot + 1);
  }
}

std::optional<std::int64_t> ParseDate(const json::value* v) {
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  std::string s(v->as_string());
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    s += "T00:00:00Z";
  }
  auto t = ParseRfc3339(s);
  if (!t.ok()) {
    return std::nullopt;
  }
  return *t;
}

std::string Str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t Int(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_int64()    ? v->as_int64()
         : v != nullptr && v->is_uint64() ? static_cast<std::int64_t>(v->as_uint64())
                                          : 0;
}

bool IsActivity(std::string_view type) {
  return !type.starts_with("profile.") && !type.starts_with("reminder.");
}

}  // namespace

std::string_view ReminderStatusName(ReminderStatus status) {
  switch (status) {
    case ReminderStatus::kPending:
      return "pending";
    case ReminderStatus::kDue:
      return "due";
    case ReminderStatus::kSent:
      return "sent";
    case ReminderStatus::kCancelled:
      return "cancelled";
    case ReminderStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

std::optional<ReminderStatus> ParseReminderStatus(std::string_view name) {
  for (ReminderStatus s : kAllReminderStatuses) {
    if (ReminderStatusName(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& os, ReminderStatus status) {
  return os << ReminderStatusName(status);
}

std::string EncodeReminder(const Reminder& r) {
  json::array attempts;
  for (const auto& a : r.attempts) {
    attempts.push_back(
        json::object{{"n", a.n}, {"at", a.at_us}, {"status", a.status}, {"error", a.error}});
  }
  json::object o{{"id", r.id},
                 {"rule", r.rule},
                 {"campaign", r.campaign},
                 {"customer", r.customer},
                 {"status", ReminderStatusName(r.status)},
                 {"due", r.due_us},
                 {"trigger_seq", r.trigger_seq},
                 {"trigger_time", r.trigger_time_us},
                 {"fired_seq", r.fired_seq},
                 {"fired_at", r.fired_at_us},
                 {"late", r.late},
                 {"reason", r.reason},
                 {"closed_seq", r.closed_seq},
                 {"webhook", r.webhook},
                 {"queue", r.queue},
                 {"message", r.message},
                 {"max_attempts", r.max_attempts},
                 {"attempts", std::move(attempts)},
                 {"next_attempt", r.next_attempt_us}};
  return json::serialize(o);
}

StatusOr<Reminder> DecodeReminder(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return Status::DataLoss("a stored reminder is not valid JSON");
  }
  const auto& o = v.as_object();
  Reminder r;
  r.id = Str(o, "id");
  r.rule = Str(o, "rule");
  r.campaign = Str(o, "campaign");
  r.customer = Str(o, "customer");
  const std::string status = Str(o, "status");
  const auto parsed = ParseReminderStatus(status);
  if (!parsed.has_value()) {
    return Status::DataLoss("a stored reminder has an unknown status '" + status.substr(0, 32) +
                            "'");
  }
  r.status = *parsed;
  r.due_us = Int(o, "due");
  r.trigger_seq = static_cast<Seq>(Int(o, "trigger_seq"));
  r.trigger_time_us = Int(o, "trigger_time");
  r.fired_seq = static_cast<Seq>(Int(o, "fired_seq"));
  r.fired_at_us = Int(o, "fired_at");
  r.late = o.if_contains("late") != nullptr && o.at("late").is_bool() && o.at("late").as_bool();
  r.reason = Str(o, "reason");
  r.closed_seq = static_cast<Seq>(Int(o, "closed_seq"));
  r.webhook = Str(o, "webhook");
  r.queue = Str(o, "queue");
  r.message = Str(o, "message");
  r.max_attempts = static_cast<std::uint32_t>(Int(o, "max_attempts"));
  r.next_attempt_us = Int(o, "next_attempt");
  if (const auto* a = o.if_contains("attempts"); a != nullptr && a->is_array()) {
    for (const auto& e : a->as_array()) {
      if (e.is_object()) {
        const auto& eo = e.as_object();
        r.attempts.push_back(DeliveryAttempt{static_cast<std::uint32_t>(Int(eo, "n")),
                                             Int(eo, "at"), static_cast<int>(Int(eo, "status")),
                                             Str(eo, "error")});
      }
    }
  }
  return r;
}

std::string ReminderJson(const Reminder& r) {
  auto time = [](std::int64_t us) {
    return us > 0 ? json::value(FormatRfc3339(us)) : json::value(nullptr);
  };
  json::array attempts;
  for (const auto& a : r.attempts) {
    attempts.push_back(json::object{{"attempt", a.n},
                                    {"at", FormatRfc3339(a.at_us)},
                                    {"http_status", a.status},
                                    {"error", a.error}});
  }
  const bool waiting = r.status == ReminderStatus::kDue;  // for its next delivery attempt
  json::object o{{"id", r.id},
                 {"rule", r.rule},
                 {"campaign", r.campaign},
                 {"customer", r.customer},
                 {"status", ReminderStatusName(r.status)},
                 {"due", time(r.due_us)},
                 {"trigger_seq", r.trigger_seq},
                 {"fired_at", time(r.fired_at_us)},
                 {"late", r.late},
                 {"reason", r.reason.empty() ? json::value(nullptr) : json::value(r.reason)},
                 {"queue", r.queue.empty() ? json::value(nullptr) : json::value(r.queue)},
                 {"webhook", r.webhook.empty() ? json::value(nullptr) : json::value(r.webhook)},
                 {"message", r.message},
                 {"attempts", std::move(attempts)},
                 {"next_attempt", waiting ? time(r.next_attempt_us) : nullptr}};
  return json::serialize(o);
}

std::string EncodeCounts(const CampaignCounts& c) {
  return json::serialize(json::object{{"scheduled", c.scheduled},
                                      {"due", c.due},
                                      {"sent", c.sent},
                                      {"cancelled_by_conversion", c.cancelled_conversion},
                                      {"cancelled_other", c.cancelled_other},
                                      {"skipped_by_cap", c.skipped_cap},
                                      {"failed", c.failed}});
}

Event CancelledEvent(const Reminder& m, std::string_view reason, Seq cause_seq,
                     std::int64_t time_us) {
  json::object data{
      {"reminder", m.id}, {"rule", m.rule}, {"campaign", m.campaign}, {"reason", reason}};
  if (cause_seq != 0) {
    data["cause_seq"] = cause_seq;
  }
  Event e;
  e.id = "reminder.cancelled." + m.id;
  e.customer = m.customer;
  e.type = "reminder.cancelled";
  e.time_us = time_us;
  e.data = json::serialize(data);
  return e;
}

StatusOr<CampaignCounts> DecodeCounts(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return Status::DataLoss("stored campaign counts are not valid JSON");
  }
  const auto& o = v.as_object();
  CampaignCounts c;
  c.scheduled = static_cast<std::uint64_t>(Int(o, "scheduled"));
  c.due = static_cast<std::uint64_t>(Int(o, "due"));
  c.sent = static_cast<std::uint64_t>(Int(o, "sent"));
  c.cancelled_conversion = static_cast<std::uint64_t>(Int(o, "cancelled_by_conversion"));
  c.cancelled_other = static_cast<std::uint64_t>(Int(o, "cancelled_other"));
  c.skipped_cap = static_cast<std::uint64_t>(Int(o, "skipped_by_cap"));
  c.failed = static_cast<std::uint64_t>(Int(o, "failed"));
  return c;
}

Status ReminderProjection::LoadRules(StateTx* tx) {
  if (rules_.has_value()) {
    return Status::Ok();
  }
  std::map<std::string, ReminderRule> rules;
  std::string after;
  while (true) {
    ASSIGN_OR_RETURN(auto page, tx->Scan(internal::kRulePrefix, after, 256));
    for (const auto& [k, v] : page) {
      ASSIGN_OR_RETURN(auto rule, ParseReminderRule(v));
      rules.emplace(rule.id, std::move(rule));
    }
    if (page.size() < 256) {
      break;
    }
    after = page.back().first;
  }
  rules_ = std::move(rules);
  return Status::Ok();
}

Status ReminderProjection::Apply(const store::Record& rec, StateTx* tx) {
  RETURN_IF_ERROR(LoadRules(tx));
  if (rec.customer == kRuleStream) {
    return ApplyRuleEvent(rec, tx);
  }
  if (rec.type.starts_with("reminder.")) {
    return ApplyReminderEvent(rec, tx);
  }
  if (rec.type == store::kCustomerErasedType) {
    return EraseCustomer(rec, tx);
  }
  if (rules_->empty()) {
    return Status::Ok();
  }
  return ApplyCustomerEvent(rec, tx);
}

Status ReminderProjection::ApplyRuleEvent(const store::Record& rec, StateTx* tx) {
  const json::object data = DataOf(rec);
  if (rec.type == "reminder_rule.created" || rec.type == "reminder_rule.updated") {
    // The API validated it; a rule the fold cannot read is skipped, never a fault.
    auto rule = ParseReminderRule(json::serialize(data));
    if (!rule.ok()) {
      return Status::Ok();
    }
    const std::string id = rule->id;
    tx->Put(RuleKey(id), EncodeReminderRule(*rule));
    (*rules_)[id] = std::move(rule).value();
    return Status::Ok();
  }
  if (rec.type != "reminder_rule.deleted") {
    return Status::Ok();
  }
  const std::string id = Str(data, "id");
  if (rules_->erase(id) == 0) {
    return Status::Ok();
  }
  tx->Delete(RuleKey(id));
  // Its pending reminders are cancelled by the scheduler in pages (one
  // reminder.cancelled each, folded below), so this step stays small
  // however many there are.
  ASSIGN_OR_RETURN(auto pending, tx->Scan(RulePendingPrefix(id), "", 1));
  if (!pending.empty()) {
    tx->Put(DeletedRuleKey(id), "");
  }
  return Status::Ok();
}

Status ReminderProjection::ApplyReminderEvent(const store::Record& rec, StateTx* tx) {
  const json::object data = DataOf(rec);
  ASSIGN_OR_RETURN(auto raw, tx->Get(ReminderKey(Str(data, "reminder"))));
  if (!raw.has_value()) {
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(Reminder m, DecodeReminder(*raw));
  const Reminder before = m;
  CampaignCounts delta;
  if (rec.type == "reminder.due") {
    if (m.status != ReminderStatus::kPending) {
      return Status::Ok();  // cancelled first (the scheduler's check makes this rare)
    }
    m.fired_seq = rec.seq;
    m.fired_at_us = rec.time_us;  // the scheduler's clock when it fired
    m.late = data.if_contains("late") != nullptr && data.at("late").is_bool() &&
             data.at("late").as_bool();
    m.next_attempt_us = m.fired_at_us;
    delta.due = 1;
    if (m.webhook.empty()) {
      // The event on the timeline is the delivery to the agent queue.
      m.status = ReminderStatus::kSent;
      m.closed_seq = rec.seq;
      delta.sent = 1;
    } else {
      m.status = ReminderStatus::kDue;
    }
    const std::string p = SinglePendingKey(m.rule, m.customer);
    ASSIGN_OR_RETURN(auto single, tx->Get(p));
    if (single.has_value() && *single == m.id) {
      tx->Delete(p);
    }
  } else if (rec.type == "reminder.sent") {
    if (m.status != ReminderStatus::kDue) {
      return Status::Ok();
    }
    m.status = ReminderStatus::kSent;
    m.closed_seq = rec.seq;
    m.attempts.push_back(DeliveryAttempt{static_cast<std::uint32_t>(Int(data, "attempt")),
                                         rec.time_us, static_cast<int>(Int(data, "http_status")),
                                         ""});
    delta.sent = 1;
  } else if (rec.type == "reminder.delivery_failed" || rec.type == "reminder.failed") {
    if (m.status != ReminderStatus::kDue) {
      return Status::Ok();
    }
    m.attempts.push_back(DeliveryAttempt{static_cast<std::uint32_t>(Int(data, "attempt")),
                                         rec.time_us, static_cast<int>(Int(data, "http_status")),
                                         Str(data, "error")});
    if (rec.type == "reminder.failed") {
      m.status = ReminderStatus::kFailed;
      m.reason = Str(data, "error");
      m.closed_seq = rec.seq;
      delta.failed = 1;
    } else {
      m.next_attempt_us = Int(data, "retry_at");
    }
  } else if (rec.type == "reminder.cancelled") {
    // Emitted by this fold (the state changed when it was emitted: no-op),
    // or appended by the scheduler for a deleted rule.
    if (m.status != ReminderStatus::kPending) {
      return Status::Ok();
    }
    RETURN_IF_ERROR(Cancel(&m, Str(data, "reason"), rec, tx, /*emit=*/false));
    ASSIGN_OR_RETURN(auto left, tx->Scan(RulePendingPrefix(m.rule), "", 1));
    if (left.empty()) {
      tx->Delete(DeletedRuleKey(m.rule));
    }
    return Status::Ok();
  } else {
    return Status::Ok();
  }
  RETURN_IF_ERROR(Save(&before, m, tx));
  return Count(m.campaign, delta, tx);
}

Status ReminderProjection::ApplyCustomerEvent(const store::Record& rec, StateTx* tx) {
  const bool activity = IsActivity(rec.type);
  // Which rules care about this event?
  std::vector<const ReminderRule*> cancelling;
  std::vector<const ReminderRule*> triggered;
  bool need_data = false;
  std::vector<std::string> traits;
  for (const auto& [id, rule] : *rules_) {
    if (!rule.cancel_on.empty() && TypeMatchesAny(rec.type, rule.cancel_on)) {
      cancelling.push_back(&rule);
    }
    if (rule.has_window &&
        std::find(traits.begin(), traits.end(), rule.timezone_trait) == traits.end()) {
      traits.push_back(rule.timezone_trait);
    }
    bool hit = false;
    switch (rule.kind) {
      case TriggerKind::kEvent:
        hit = activity && TypeMatchesAny(rec.type, rule.event_types);
        need_data = need_data || (hit && !rule.where_field.empty());
        break;
      case TriggerKind::kDate:
        hit = activity && TypeMatchesAny(rec.type, rule.event_types);
        need_data = need_data || hit;
        break;
      case TriggerKind::kInactivity:
        hit = activity && TypeMatchesAny(rec.type, rule.event_types);
        break;
    }
    if (hit) {
      triggered.push_back(&rule);
    }
  }
  json::object data;
  if (need_data || !traits.empty()) {
    data = DataOf(rec);
  }
  // The customer's time zone, from a trait a rule's window names.
  if (const auto* t = data.if_contains("traits"); t != nullptr && t->is_object()) {
    for (const auto& trait : traits) {
      if (const auto* v = t->as_object().if_contains(trait); v != nullptr && v->is_string()) {
        tx->Put(ZoneKey(rec.customer, trait), std::string(v->as_string()));
      }
    }
  }
  // Exit conditions first: a purchase cancels the cart reminder even if it
  // also triggers another rule.
  if (!cancelling.empty()) {
    ASSIGN_OR_RETURN(auto mine, tx->Scan(PendingCustomerPrefix(rec.customer), "", kScanAll));
    for (const auto& [k, unused] : mine) {
      ASSIGN_OR_RETURN(auto raw, tx->Get(ReminderKey(IdFromIndexKey(k))));
      if (!raw.has_value()) {
        continue;
      }
      ASSIGN_OR_RETURN(Reminder m, DecodeReminder(*raw));
      if (m.status != ReminderStatus::kPending) {
        continue;
      }
      for (const ReminderRule* r : cancelling) {
        if (r->id == m.rule) {
          RETURN_IF_ERROR(Cancel(&m, "conversion", rec, tx));
          break;
        }
      }
    }
  }
  for (const ReminderRule* rule : triggered) {
    switch (rule->kind) {
      case TriggerKind::kEvent: {
        if (!rule->where_field.empty()) {
          const json::value* v = Field(data, rule->where_field);
          if (v == nullptr || json::serialize(*v) != rule->where_equals) {
            continue;
          }
        }
        RETURN_IF_ERROR(Schedule(*rule, rec, rec.time_us + rule->offset_us, tx));
        break;
      }
      case TriggerKind::kDate: {
        const auto date = ParseDate(Field(data, rule->date_field));
        if (!date.has_value()) {
          continue;
        }
        std::int64_t due = *date + rule->offset_us;
        if (due < rec.time_us) {
          continue;  // already past when the date became known
        }
        if (rule->has_window) {
          ASSIGN_OR_RETURN(auto zone, tx->Get(ZoneKey(rec.customer, rule->timezone_trait)));
          due = NextInWindow(*rule, due, zone.value_or(""));
        }
        ASSIGN_OR_RETURN(auto single, tx->Get(SinglePendingKey(rule->id, rec.customer)));
        if (single.has_value()) {
          ASSIGN_OR_RETURN(auto raw, tx->Get(ReminderKey(*single)));
          if (raw.has_value()) {
            ASSIGN_OR_RETURN(Reminder old, DecodeReminder(*raw));
            if (old.status == ReminderStatus::kPending && old.due_us == due) {
              continue;  // the same date again
            }
            if (old.status == ReminderStatus::kPending) {
              RETURN_IF_ERROR(Cancel(&old, "rescheduled", rec, tx));
            }
          }
        }
        RETURN_IF_ERROR(Schedule(*rule, rec, due, tx));
        break;
      }
      case TriggerKind::kInactivity: {
        ASSIGN_OR_RETURN(auto single, tx->Get(SinglePendingKey(rule->id, rec.customer)));
        if (single.has_value()) {
          ASSIGN_OR_RETURN(auto raw, tx->Get(ReminderKey(*single)));
          if (raw.has_value()) {
            ASSIGN_OR_RETURN(Reminder m, DecodeReminder(*raw));
            if (m.status == ReminderStatus::kPending) {
              // More activity: the silence starts again.
              ASSIGN_OR_RETURN(auto zone, tx->Get(ZoneKey(rec.customer, rule->timezone_trait)));
              const Reminder before = m;
              m.due_us = NextInWindow(*rule, rec.time_us + rule->offset_us, zone.value_or(""));
              m.trigger_time_us = rec.time_us;
              RETURN_IF_ERROR(Save(&before, m, tx));
              continue;
            }
          }
        }
        RETURN_IF_ERROR(Schedule(*rule, rec, rec.time_us + rule->offset_us, tx));
        break;
      }
    }
  }
  return Status::Ok();
}

Status ReminderProjection::Schedule(const ReminderRule& rule, const store::Record& rec,
                                    std::int64_t due_us, StateTx* tx) {
  if (rule.has_window) {
    ASSIGN_OR_RETURN(auto zone, tx->Get(ZoneKey(rec.customer, rule.timezone_trait)));
    due_us = NextInWindow(rule, due_us, zone.value_or(""));
  }
  if (rule.cap_max > 0) {
    const std::string key = CapKey(rule.id, rec.customer);
    ASSIGN_OR_RETURN(auto raw, tx->Get(key));
    json::array kept;
    std::uint32_t near = 0;
    if (raw.has_value()) {
      json::error_code ec;
      json::value v = json::parse(*raw, ec);
      if (!ec && v.is_array()) {
        for (const auto& t : v.as_array()) {
          if (!t.is_int64() || t.as_int64() <= rec.time_us - rule.cap_period_us) {
            continue;  // can no longer limit anything
          }
          kept.push_back(t);
          const std::int64_t d = t.as_int64() - due_us;
          if ((d < 0 ? -d : d) < rule.cap_period_us) {
            ++near;
          }
        }
      }
    }
    if (near >= rule.cap_max) {
      CampaignCounts delta;
      delta.skipped_cap = 1;
      tx->Put(key, json::serialize(kept));
      return Count(rule.campaign, delta, tx);
    }
    kept.push_back(due_us);
    tx->Put(key, json::serialize(kept));
  }
  Reminder m;
  m.id = rule.id + "." + std::to_string(rec.seq);
  m.rule = rule.id;
  m.campaign = rule.campaign;
  m.customer = rec.customer;
  m.status = ReminderStatus::kPending;
  m.due_us = due_us;
  m.trigger_seq = rec.seq;
  m.trigger_time_us = rec.time_us;
  m.webhook = rule.webhook;
  m.queue = rule.queue;
  m.message = rule.message;
  m.max_attempts = rule.max_attempts;
  RETURN_IF_ERROR(Save(nullptr, m, tx));
  if (rule.kind != TriggerKind::kEvent) {
    tx->Put(SinglePendingKey(rule.id, rec.customer), m.id);
  }
  CampaignCounts delta;
  delta.scheduled = 1;
  return Count(rule.campaign, delta, tx);
}

Status ReminderProjection::EraseCustomer(const store::Record& rec, StateTx* tx) {
  ASSIGN_OR_RETURN(auto all, tx->Scan(CustomerPrefix(rec.customer), "", kScanAll));
  for (const auto& [k, unused] : all) {
    ASSIGN_OR_RETURN(auto raw, tx->Get(ReminderKey(IdFromIndexKey(k))));
    if (!raw.has_value()) {
      continue;
    }
    ASSIGN_OR_RETURN(Reminder m, DecodeReminder(*raw));
    if (m.status == ReminderStatus::kPending) {
      RETURN_IF_ERROR(Cancel(&m, "customer_erased", rec, tx, /*emit=*/false));
    } else if (m.status == ReminderStatus::kDue) {
      const Reminder before = m;
      m.status = ReminderStatus::kFailed;
      m.reason = "customer erased";
      m.closed_seq = rec.seq;
      RETURN_IF_ERROR(Save(&before, m, tx));
      CampaignCounts delta;
      delta.failed = 1;
      RETURN_IF_ERROR(Count(m.campaign, delta, tx));
    }
  }
  const std::string zones = ZonePrefix(rec.customer);
  ASSIGN_OR_RETURN(auto traits, tx->Scan(zones, "", kScanAll));
  for (const auto& [k, unused] : traits) {
    tx->Delete(k);
  }
  return Status::Ok();
}

Status ReminderProjection::Cancel(Reminder* m, std::string_view reason, const store::Record& cause,
                                  StateTx* tx, bool emit) {
  const Reminder before = *m;
  m->status = ReminderStatus::kCancelled;
  m->reason = std::string(reason);
  m->closed_seq = cause.seq;
  RETURN_IF_ERROR(Save(&before, *m, tx));
  const std::string p = SinglePendingKey(m->rule, m->customer);
  ASSIGN_OR_RETURN(auto single, tx->Get(p));
  if (single.has_value() && *single == m->id) {
    tx->Delete(p);
  }
  if (emit) {
    tx->Emit(CancelledEvent(*m, reason, cause.seq, cause.time_us));
  }
  CampaignCounts delta;
  (reason == "conversion" ? delta.cancelled_conversion : delta.cancelled_other) = 1;
  return Count(m->campaign, delta, tx);
}

Status ReminderProjection::Save(const Reminder* before, const Reminder& m, StateTx* tx) {
  if (before != nullptr) {
    tx->Delete(StatusKey(before->status, before->due_us, before->id));
    if (before->status == ReminderStatus::kPending) {
      tx->Delete(DueKey(before->due_us, before->id));
      tx->Delete(RulePendingKey(before->rule, before->id));
      tx->Delete(PendingCustomerKey(before->customer, before->id));
    } else if (before->status == ReminderStatus::kDue) {
      tx->Delete(DeliveryKey(before->next_attempt_us, before->id));
    }
  }
  tx->Put(ReminderKey(m.id), EncodeReminder(m));
  tx->Put(StatusKey(m.status, m.due_us, m.id), "");
  tx->Put(CustomerKey(m.customer, m.id), "");
  if (m.status == ReminderStatus::kPending) {
    tx->Put(DueKey(m.due_us, m.id), "");
    tx->Put(RulePendingKey(m.rule, m.id), "");
    tx->Put(PendingCustomerKey(m.customer, m.id), "");
  } else if (m.status == ReminderStatus::kDue) {
    tx->Put(DeliveryKey(m.next_attempt_us, m.id), "");
  }
  return Status::Ok();
}

Status ReminderProjection::Count(std::string_view campaign, CampaignCounts d, StateTx* tx) {
  // The campaign's counts, then the totals (internal/reminder_keys.h: g/).
  for (const std::string& key : {CampaignKey(campaign), std::string(internal::kTotalsKey)}) {
    ASSIGN_OR_RETURN(auto raw, tx->Get(key));
    CampaignCounts c;
    if (raw.has_value()) {
      ASSIGN_OR_RETURN(c, DecodeCounts(*raw));
    }
    c.scheduled += d.scheduled;
    c.due += d.due;
    c.sent += d.sent;
    c.cancelled_conversion += d.cancelled_conversion;
    c.cancelled_other += d.cancelled_other;
    c.skipped_cap += d.skipped_cap;
    c.failed += d.failed;
    tx->Put(key, EncodeCounts(c));
  }
  return Status::Ok();
}

}  // namespace touchline::projections
