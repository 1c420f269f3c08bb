#include "projections/reminder_rule.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "core/validation.h"
#include "projections/time_zone.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

constexpr std::int64_t kMinute = 60'000'000;
constexpr std::int64_t kMaxOffset = 3650LL * 24 * 60 * kMinute;  // ten years

Status Bad(const std::string& m) { return Status::InvalidArgument(m); }

StatusOr<std::string> GetString(const json::object& o, std::string_view key, std::string_view path,
                                std::size_t max, bool required) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    if (required) {
      return Bad(std::string(path) + std::string(key) + ": required");
    }
    return std::string();
  }
  if (!v->is_string() || v->as_string().empty() || v->as_string().size() > max ||
      !IsPrintableUtf8(v->as_string())) {
    return Bad(std::string(path) + std::string(key) + ": must be a string of 1-" +
               std::to_string(max) + " printable characters");
  }
  return std::string(v->as_string());
}

StatusOr<std::vector<std::string>> GetTypes(const json::value& v, std::string path) {
  std::vector<std::string> out;
  if (!v.is_array() || v.as_array().size() > 50) {
    return Bad(path + ": must be an array of at most 50 event types");
  }
  for (std::size_t i = 0; i < v.as_array().size(); ++i) {
    const auto& t = v.as_array()[i];
    const std::string p = path + "[" + std::to_string(i) + "]";
    if (!t.is_string()) {
      return Bad(p + ": must be an event type such as \"purchase.completed\"");
    }
    RETURN_IF_ERROR(ValidateEventType(t.as_string(), p));
    out.emplace_back(t.as_string());
  }
  return out;
}

StatusOr<int> ParseClock(const json::object& o, std::string_view key) {
  ASSIGN_OR_RETURN(std::string s, GetString(o, key, "window.", 5, true));
  if (s.size() != 5 || s[2] != ':' || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) ||
      !std::isdigit(static_cast<unsigned char>(s[3])) ||
      !std::isdigit(static_cast<unsigned char>(s[4]))) {
    return Bad("window." + std::string(key) + ": must be HH:MM, e.g. \"09:00\"");
  }
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 24 || m > 59 || (h == 24 && m != 0)) {
    return Bad("window." + std::string(key) + ": " + s + " is not a time of day");
  }
  return h * 60 + m;
}

Status CheckFieldPath(std::string_view path, std::string_view where) {
  if (!path.starts_with("data.") || path.size() > 200 || path.ends_with(".") ||
      path.find("..") != std::string_view::npos) {
    return Bad(std::string(where) + ": must be a path into the event's data, e.g. \"data.plan\"");
  }
  return Status::Ok();
}

}  // namespace

bool IsValidRuleId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

StatusOr<std::int64_t> ParseDuration(std::string_view text, std::string_view path) {
  auto bad = [&] {
    return Bad(std::string(path) +
               ": must be a duration such as \"1d\", \"12h\", \"30m\", \"1d12h\" or \"-30d\"");
  };
  std::string_view s = text;
  int sign = 1;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return bad();
  }
  std::int64_t total = 0;
  while (!s.empty()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) {
      n = n * 10 + (s[digits] - '0');
      if (++digits > 7) {
        return bad();
      }
    }
    if (digits == 0 || digits == s.size()) {
      return bad();
    }
    const char unit = s[digits];
    s.remove_prefix(digits + 1);
    switch (unit) {
      case 'd':
        total += n * 24 * 60 * kMinute;
        break;
      case 'h':
        total += n * 60 * kMinute;
        break;
      case 'm':
        total += n * kMinute;
        break;
      case 's':
        total += n * 1'000'000;
        break;
      default:
        return bad();
    }
    if (total > kMaxOffset) {
      return Bad(std::string(path) + ": at most 3650 days");
    }
  }
  return sign * total;
}

std::string FormatDuration(std::int64_t us) {
  std::string out = us < 0 ? "-" : "";
  std::int64_t v = us < 0 ? -us : us;
  const std::int64_t day = 24 * 60 * kMinute;
  const std::int64_t hour = 60 * kMinute;
  if (v >= day) {
    out += std::to_string(v / day) + "d";
    v %= day;
  }
  if (v >= hour) {
    out += std::to_string(v / hour) + "h";
    v %= hour;
  }
  if (v >= kMinute) {
    out += std::to_string(v / kMinute) + "m";
    v %= kMinute;
  }
  if (v > 0 || out.empty() || out == "-") {
    out += std::to_string(v / 1'000'000) + "s";
  }
  return out;
}

StatusOr<ReminderRule> ParseReminderRule(std::string_view text, std::string_view id_from_path) {
  json::parse_options opt;
  opt.max_depth = 8;
  json::error_code ec;
  json::value doc = json::parse(text, ec, {}, opt);
  if (ec || !doc.is_object()) {
    return Bad("the body must be a JSON object describing the rule (see docs/reminders.md)");
  }
  const auto& o = doc.as_object();
  static const std::vector<std::string_view> kKnown = {"id",      "campaign",  "name",   "trigger",
                                                       "offset",  "cancel_on", "window", "cap",
                                                       "deliver", "message"};
  for (const auto& [k, unused] : o) {
    if (std::find(kKnown.begin(), kKnown.end(), k) == kKnown.end()) {
      return Bad(std::string(k).substr(0, 64) +
                 ": unknown field (a rule has id, campaign, name, trigger, offset, cancel_on, "
                 "window, cap, deliver, message)");
    }
  }
  ReminderRule r;
  ASSIGN_OR_RETURN(r.id, GetString(o, "id", "", 64, id_from_path.empty()));
  if (r.id.empty()) {
    r.id = std::string(id_from_path);
  } else if (!id_from_path.empty() && r.id != id_from_path) {
    return Bad("id: '" + r.id + "' does not match the rule in the path, '" +
               std::string(id_from_path) + "'");
  }
  if (!IsValidRuleId(r.id)) {
    return Bad("id: must be 1-64 characters of a-z, 0-9, '-' and '_'");
  }
  ASSIGN_OR_RETURN(r.campaign, GetString(o, "campaign", "", 64, true));
  ASSIGN_OR_RETURN(r.name, GetString(o, "name", "", 200, false));
  ASSIGN_OR_RETURN(r.message, GetString(o, "message", "", 2000, false));

  const auto* trig = o.if_contains("trigger");
  if (trig == nullptr || !trig->is_object()) {
    return Bad(
        "trigger: required, e.g. {\"event\": \"cart.abandoned\"}, {\"date_field\": "
        "\"data.contract_end\"} or {\"inactivity\": [\"purchase\"]}");
  }
  const auto& t = trig->as_object();
  if (const auto* inactivity = t.if_contains("inactivity")) {
    r.kind = TriggerKind::kInactivity;
    ASSIGN_OR_RETURN(r.event_types, GetTypes(*inactivity, "trigger.inactivity"));
    if (t.size() != 1) {
      return Bad("trigger: an inactivity trigger has only \"inactivity\"");
    }
  } else if (t.contains("date_field")) {
    r.kind = TriggerKind::kDate;
    ASSIGN_OR_RETURN(r.date_field, GetString(t, "date_field", "trigger.", 200, true));
    RETURN_IF_ERROR(CheckFieldPath(r.date_field, "trigger.date_field"));
    ASSIGN_OR_RETURN(std::string event, GetString(t, "event", "trigger.", 128, false));
    if (!event.empty()) {
      RETURN_IF_ERROR(ValidateEventType(event, "trigger.event"));
      r.event_types.push_back(event);
    }
    for (const auto& [k, unused] : t) {
      if (k != "date_field" && k != "event") {
        return Bad("trigger." + std::string(k).substr(0, 64) +
                   ": unknown field (a date trigger has date_field and event)");
      }
    }
  } else {
    r.kind = TriggerKind::kEvent;
    ASSIGN_OR_RETURN(std::string event, GetString(t, "event", "trigger.", 128, true));
    RETURN_IF_ERROR(ValidateEventType(event, "trigger.event"));
    r.event_types.push_back(event);
    for (const auto& [k, v] : t) {
      if (k == "event") {
        continue;
      }
      if (k != "where" || !v.is_object()) {
        return Bad("trigger." + std::string(k).substr(0, 64) +
                   ": unknown field (an event trigger has event and where)");
      }
      const auto& w = v.as_object();
      ASSIGN_OR_RETURN(r.where_field, GetString(w, "field", "trigger.where.", 200, true));
      RETURN_IF_ERROR(CheckFieldPath(r.where_field, "trigger.where.field"));
      const auto* eq = w.if_contains("equals");
      if (eq == nullptr || !(eq->is_string() || eq->is_number() || eq->is_bool()) ||
          w.size() != 2) {
        return Bad(
            "trigger.where: must be {\"field\": \"data.x\", \"equals\": <string, number "
            "or boolean>}");
      }
      r.where_equals = json::serialize(*eq);
    }
  }

  ASSIGN_OR_RETURN(std::string offset,
                   GetString(o, "offset", "", 32, r.kind != TriggerKind::kEvent));
  if (!offset.empty()) {
    ASSIGN_OR_RETURN(r.offset_us, ParseDuration(offset, "offset"));
  }
  if (r.kind == TriggerKind::kEvent && r.offset_us < 0) {
    return Bad("offset: an event trigger reminds after the event; use a positive delay");
  }
  if (r.kind == TriggerKind::kInactivity && r.offset_us <= 0) {
    return Bad("offset: the silence that triggers the reminder, e.g. \"90d\"; must be positive");
  }
  if (const auto* c = o.if_contains("cancel_on")) {
    ASSIGN_OR_RETURN(r.cancel_on, GetTypes(*c, "cancel_on"));
  }
  if (const auto* w = o.if_contains("window")) {
    if (!w->is_object()) {
      return Bad("window: must be {\"start\": \"09:00\", \"end\": \"17:00\"}");
    }
    const auto& wo = w->as_object();
    for (const auto& [k, unused] : wo) {
      if (k != "start" && k != "end" && k != "timezone_trait" && k != "timezone") {
        return Bad("window." + std::string(k).substr(0, 64) +
                   ": unknown field (start, end, timezone_trait, timezone)");
      }
    }
    r.has_window = true;
    ASSIGN_OR_RETURN(r.window_start_min, ParseClock(wo, "start"));
    ASSIGN_OR_RETURN(r.window_end_min, ParseClock(wo, "end"));
    if (r.window_start_min == r.window_end_min) {
      return Bad("window: start and end are equal; omit the window to send at any time");
    }
    ASSIGN_OR_RETURN(std::string trait, GetString(wo, "timezone_trait", "window.", 64, false));
    if (!trait.empty()) {
      r.timezone_trait = trait;
    }
    ASSIGN_OR_RETURN(std::string zone, GetString(wo, "timezone", "window.", 64, false));
    if (!zone.empty()) {
      if (auto z = TimeZone::Find(zone); !z.ok()) {
        return Bad("window.timezone: " + z.status().message());
      }
      r.timezone = zone;
    }
  }
  if (const auto* c = o.if_contains("cap")) {
    const auto* max = c->is_object() ? c->as_object().if_contains("max") : nullptr;
    const auto* period = c->is_object() ? c->as_object().if_contains("period") : nullptr;
    if (max == nullptr || !max->is_number() || !max->is_int64() || max->as_int64() < 1 ||
        max->as_int64() > 1000 || period == nullptr || !period->is_string() ||
        c->as_object().size() != 2) {
      return Bad("cap: must be {\"max\": 1..1000, \"period\": \"30d\"}");
    }
    r.cap_max = static_cast<std::uint32_t>(max->as_int64());
    ASSIGN_OR_RETURN(r.cap_period_us, ParseDuration(period->as_string(), "cap.period"));
    if (r.cap_period_us <= 0) {
      return Bad("cap.period: must be positive");
    }
  }
  const auto* d = o.if_contains("deliver");
  if (d != nullptr && !d->is_object()) {
    return Bad("deliver: must be {\"webhook\": \"http://...\", \"queue\": \"...\"}");
  }
  if (d != nullptr) {
    const auto& dobj = d->as_object();
    for (const auto& [k, unused] : dobj) {
      if (k != "webhook" && k != "queue" && k != "max_attempts") {
        return Bad("deliver." + std::string(k).substr(0, 64) +
                   ": unknown field (webhook, queue, max_attempts)");
      }
    }
    ASSIGN_OR_RETURN(r.webhook, GetString(dobj, "webhook", "deliver.", 2000, false));
    ASSIGN_OR_RETURN(r.queue, GetString(dobj, "queue", "deliver.", 64, false));
    if (!r.webhook.empty()) {
      auto url = boost::urls::parse_absolute_uri(r.webhook);
      if (!url || (url->scheme() != "http" && url->scheme() != "https") || !url->has_authority() ||
          url->host().empty()) {
        return Bad(
            "deliver.webhook: must be an http:// or https:// URL with a host, e.g. "
            "https://crm.internal/reminders");
      }
    }
    if (const auto* n = dobj.if_contains("max_attempts")) {
      if (!n->is_int64() || n->as_int64() < 1 || n->as_int64() > 50) {
        return Bad("deliver.max_attempts: must be 1..50");
      }
      r.max_attempts = static_cast<std::uint32_t>(n->as_int64());
    }
  }
  if (r.webhook.empty() && r.queue.empty()) {
    return Bad("deliver: give a webhook URL, an agent queue, or both");
  }
  return r;
}

std::string EncodeReminderRule(const ReminderRule& r) {
  json::object o;
  o["id"] = r.id;
  o["campaign"] = r.campaign;
  if (!r.name.empty()) {
    o["name"] = r.name;
  }
  json::object t;
  json::array types;
  for (const auto& ty : r.event_types) {
    types.emplace_back(ty);
  }
  switch (r.kind) {
    case TriggerKind::kEvent:
      t["event"] = r.event_types.empty() ? "" : r.event_types[0];
      if (!r.where_field.empty()) {
        json::object w;
        w["field"] = r.where_field;
        w["equals"] = json::parse(r.where_equals);
        t["where"] = std::move(w);
      }
      break;
    case TriggerKind::kDate:
      t["date_field"] = r.date_field;
      if (!r.event_types.empty()) {
        t["event"] = r.event_types[0];
      }
      break;
    case TriggerKind::kInactivity:
      t["inactivity"] = std::move(types);
      break;
  }
  o["trigger"] = std::move(t);
  o["offset"] = FormatDuration(r.offset_us);
  json::array cancel;
  for (const auto& c : r.cancel_on) {
    cancel.emplace_back(c);
  }
  o["cancel_on"] = std::move(cancel);
  if (r.has_window) {
    auto clock = [](int m) {
      const int h = (m / 60) % 100;
      const int min = m % 60;
      return std::string{static_cast<char>('0' + h / 10), static_cast<char>('0' + h % 10), ':',
                         static_cast<char>('0' + min / 10), static_cast<char>('0' + min % 10)};
    };
    o["window"] = json::object{{"start", clock(r.window_start_min)},
                               {"end", clock(r.window_end_min)},
                               {"timezone_trait", r.timezone_trait},
                               {"timezone", r.timezone}};
  }
  if (r.cap_max > 0) {
    o["cap"] = json::object{{"max", r.cap_max}, {"period", FormatDuration(r.cap_period_us)}};
  }
  json::object d;
  if (!r.webhook.empty()) {
    d["webhook"] = r.webhook;
  }
  if (!r.queue.empty()) {
    d["queue"] = r.queue;
  }
  d["max_attempts"] = r.max_attempts;
  o["deliver"] = std::move(d);
  if (!r.message.empty()) {
    o["message"] = r.message;
  }
  return json::serialize(o);
}

std::int64_t NextInWindow(const ReminderRule& rule, std::int64_t due_us,
                          std::string_view zone_name) {
  if (!rule.has_window) {
    return due_us;
  }
  std::shared_ptr<const TimeZone> zone;
  if (!zone_name.empty()) {
    if (auto z = TimeZone::Find(zone_name); z.ok()) {
      zone = *z;
    }
  }
  if (!zone) {
    auto z = TimeZone::Find(rule.timezone);
    zone = z.ok() ? *z : TimeZone::Utc();
  }
  constexpr std::int64_t kDay = 86400;
  // Whole seconds (round up, so the result is never before due).
  const std::int64_t due_s = due_us / 1'000'000 + (due_us % 1'000'000 > 0 ? 1 : 0);
  const std::int64_t local = due_s + zone->OffsetAt(due_s);
  const std::int64_t day = local >= 0 ? local / kDay : (local - kDay + 1) / kDay;
  const std::int64_t minute = (local - day * kDay) / 60;
  const int start = rule.window_start_min;
  const int end = rule.window_end_min;
  const bool inside =
      start < end ? (minute >= start && minute < end) : (minute >= start || minute < end);
  if (inside) {
    return due_us;
  }
  // The next start: today if it is still ahead, else tomorrow.
  std::int64_t start_local = day * kDay + static_cast<std::int64_t>(start) * 60;
  if (start_local <= local) {
    start_local += kDay;
  }
  return zone->ToUtc(start_local) * 1'000'000;
}

}  // namespace touchline::projections
