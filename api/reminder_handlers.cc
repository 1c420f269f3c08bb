// The reminder routes (see api/router.h): rules as events on the
// "~reminder-rules" stream, and reads over the reminders projection.
#include <boost/json.hpp>

#include "api/handlers.h"
#include "api/http_error.h"
#include "core/time_format.h"
#include "projections/customer_state.h"
#include "projections/reminder_projection.h"

namespace touchline::api {
namespace {

namespace json = boost::json;
using projections::ReminderRule;

constexpr std::size_t kDefaultReminderLimit = 100;
constexpr std::size_t kMaxReminderScan = 100000;
constexpr const char* kStatuses[] = {"pending", "due", "sent", "cancelled", "failed"};

projections::ProjectionRunner* Runner(Services& s) { return s.reminders; }

StatusOr<std::optional<ReminderRule>> LoadRule(Services& s, std::string_view id) {
  ASSIGN_OR_RETURN(auto raw, s.reminders->state().Get(projections::RuleKey(id)));
  if (!raw.has_value()) {
    return std::optional<ReminderRule>();
  }
  ASSIGN_OR_RETURN(auto rule, projections::ParseReminderRule(*raw));
  return std::optional<ReminderRule>(std::move(rule));
}

Status NoSuchRule(std::string_view id) {
  return Status::NotFound("no reminder rule '" + std::string(id.substr(0, 64)) + "'");
}

// The rules stream's version now. A rule change reads it before waiting
// for the projection (which then reflects every rule event up to it), checks
// the rule, and appends with exactly that version: two concurrent changes
// cannot both pass their checks.
StatusOr<StreamVersion> RulesVersion(Services& s) {
  return s.log->CurrentVersion(std::string(projections::kRuleStream));
}

void AppendRuleEvent(Services& s, StreamVersion version, std::string actor, std::string type,
                     std::string data, Response ok, const Responder& reply) {
  Event e;
  e.customer = std::string(projections::kRuleStream);
  e.type = std::move(type);
  e.data = std::move(data);
  store::AppendRequest req;
  req.actor = std::move(actor);
  req.route = e.type == "reminder_rule.created"   ? "POST /v1/reminder-rules"
              : e.type == "reminder_rule.deleted" ? "DELETE /v1/reminder-rules/{id}"
                                                  : "PUT /v1/reminder-rules/{id}";
  req.system = true;  // the rules live on touchline's own stream
  req.events.push_back(ProposedEvent{std::move(e), ExpectedVersion::Exact(version)});
  s.log->AppendAsync(
      std::move(req), [reply, ok = std::move(ok)](StatusOr<store::AppendResult> r) mutable {
        if (!r.ok()) {
          Reply(reply, r.status().IsFailedPrecondition()
                           ? Status::FailedPrecondition(
                                 "the reminder rules changed while this request was checked; retry")
                           : r.status());
          return;
        }
        ok.body.insert(ok.body.size() - 1, ",\"seq\":" + std::to_string(r->events[0].seq));
        reply(std::move(ok));
      });
}

// The rule in the body, or false after answering 415 (not JSON, like every
// other write route) or 400 (what to fix).
std::optional<ReminderRule> ParseRuleBody(const Request& request, std::string_view id_from_path,
                                          const Responder& respond) {
  if (!IsJsonContentType(request.content_type)) {
    respond(HttpErrorResponse(415, "unsupported_media_type",
                              "send the rule as JSON with Content-Type: application/json"));
    return std::nullopt;
  }
  auto rule = projections::ParseReminderRule(request.body, id_from_path);
  if (!rule.ok()) {
    Reply(respond, rule.status());
    return std::nullopt;
  }
  return std::move(rule).value();
}

Response RuleResponse(int status, const std::string& rule_json) {
  Response r;
  r.status = status;
  r.body = "{\"rule\":" + rule_json + "}";
  return r;
}

StatusOr<projections::Reminder> LoadReminder(Services& s, std::string_view id) {
  ASSIGN_OR_RETURN(auto raw, s.reminders->state().Get(projections::ReminderKey(id)));
  if (!raw.has_value()) {
    return Status::NotFound("no reminder '" + std::string(id.substr(0, 100)) + "'");
  }
  return projections::DecodeReminder(*raw);
}

// A rule change: with the rules stream's version read first, waits for the
// projection, checks that rule `id` exists (`create`: that it does not),
// and appends `type` with `data` under exactly that version.
void ChangeRule(Services& services, const Request& request, Responder respond, std::string id,
                bool create, std::string type, std::string data, Response ok) {
  auto version = RulesVersion(services);
  if (!version.ok()) {
    Reply(respond, version.status());
    return;
  }
  AfterProjectionAsync(Runner(services), "reminders", services, std::move(respond),
                       [&services, v = *version, actor = request.actor, id = std::move(id), create,
                        type = std::move(type), data = std::move(data),
                        ok = std::move(ok)](const Responder& reply) mutable {
                         auto existing = LoadRule(services, id);
                         if (!existing.ok()) {
                           Reply(reply, existing.status());
                           return;
                         }
                         if (create && existing->has_value()) {
                           Reply(reply, Status::AlreadyExists("a reminder rule '" + id +
                                                              "' exists; PUT /v1/reminder-rules/" +
                                                              id + " to change it"));
                           return;
                         }
                         if (!create && !existing->has_value()) {
                           Reply(reply, NoSuchRule(id));
                           return;
                         }
                         AppendRuleEvent(services, v, std::move(actor), std::move(type),
                                         std::move(data), std::move(ok), reply);
                       });
}

}  // namespace

void HandleCreateRule(const Request& request, Services& services, Responder respond) {
  auto rule = ParseRuleBody(request, "", respond);
  if (!rule.has_value()) {
    return;
  }
  std::string json = projections::EncodeReminderRule(*rule);
  Response ok = RuleResponse(201, json);
  ChangeRule(services, request, std::move(respond), rule->id, /*create=*/true,
             "reminder_rule.created", std::move(json), std::move(ok));
}

void HandlePutRule(const std::string& id, const Request& request, Services& services,
                   Responder respond) {
  auto rule = ParseRuleBody(request, id, respond);
  if (!rule.has_value()) {
    return;
  }
  std::string json = projections::EncodeReminderRule(*rule);
  Response ok = RuleResponse(200, json);
  ChangeRule(services, request, std::move(respond), id, /*create=*/false, "reminder_rule.updated",
             std::move(json), std::move(ok));
}

void HandleDeleteRule(const std::string& id, const Request& request, Services& services,
                      Responder respond) {
  Response ok;
  ok.body = "{\"deleted\":" + JsonString(id) + "}";
  ChangeRule(services, request, std::move(respond), id, /*create=*/false, "reminder_rule.deleted",
             "{\"id\":" + JsonString(id) + "}", std::move(ok));
}

void HandleGetRules(const std::string& id, Services& services, Responder respond) {
  AfterProjection(Runner(services), "reminders", services, std::move(respond),
                  [&services, id]() -> StatusOr<Response> {
                    if (!id.empty()) {
                      ASSIGN_OR_RETURN(auto rule, LoadRule(services, id));
                      if (!rule.has_value()) {
                        return NoSuchRule(id);
                      }
                      return RuleResponse(200, projections::EncodeReminderRule(*rule));
                    }
                    ASSIGN_OR_RETURN(auto rules, services.reminders->state().Scan("r/", "", 10000));
                    Response r;
                    r.body = "{\"rules\":[";
                    for (std::size_t i = 0; i < rules.size(); ++i) {
                      r.body += (i > 0 ? "," : "") + rules[i].second;
                    }
                    r.body += "]}";
                    return r;
                  });
}

void HandleListReminders(const QueryParams& query, Services& services, Responder respond) {
  AfterProjection(
      Runner(services), "reminders", services, std::move(respond),
      [&services, query]() -> StatusOr<Response> {
        RETURN_IF_ERROR(CheckParams(query, {"status", "campaign", "due_before", "limit", "after"}));
        std::string status = "pending";
        if (const auto* s = FindParam(query, "status")) {
          status = *s;
          if (std::find(std::begin(kStatuses), std::end(kStatuses), status) ==
              std::end(kStatuses)) {
            return Status::InvalidArgument(
                "query parameter 'status' must be pending, due, sent, cancelled or failed");
          }
        }
        ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, services.max_page_limit));
        const std::size_t want = limit.value_or(kDefaultReminderLimit);
        std::optional<std::int64_t> due_before;
        if (const auto* d = FindParam(query, "due_before")) {
          auto t = ParseRfc3339(*d);
          if (!t.ok()) {
            return Status::InvalidArgument(
                "query parameter 'due_before' must be an RFC 3339 time such as "
                "2026-12-01T00:00:00Z");
          }
          due_before = *t;
        }
        const std::string* campaign = FindParam(query, "campaign");
        const std::string prefix = projections::StatusIndexPrefix(status);
        std::string after;
        if (const auto* a = FindParam(query, "after")) {
          after = prefix + *a;
        }
        std::vector<std::string> out;
        std::optional<std::string> next;
        std::size_t scanned = 0;
        bool done = false;
        while (!done && out.size() < want && scanned < kMaxReminderScan) {
          ASSIGN_OR_RETURN(auto page, services.reminders->state().Scan(prefix, after, 256));
          for (const auto& [key, unused] : page) {
            ++scanned;
            after = key;
            const std::int64_t due =
                projections::TimeFromIndexKey(std::string_view(key).substr(prefix.size() - 2));
            if (due_before.has_value() && due >= *due_before) {
              done = true;
              break;
            }
            ASSIGN_OR_RETURN(auto m, LoadReminder(services, projections::IdFromIndexKey(key)));
            if (campaign != nullptr && m.campaign != *campaign) {
              continue;
            }
            out.push_back(projections::ReminderJson(m));
            if (out.size() == want) {
              next = key.substr(prefix.size());
              break;
            }
          }
          if (page.size() < 256) {
            done = true;
          }
        }
        if (!done && out.size() < want) {
          next = after.substr(prefix.size());  // scan bound reached: continue from here
        }
        Response r;
        r.body = "{\"reminders\":[";
        for (std::size_t i = 0; i < out.size(); ++i) {
          r.body += (i > 0 ? "," : "") + out[i];
        }
        r.body += "],\"next_after\":" + (next ? JsonString(*next) : std::string("null")) + "}";
        return r;
      });
}

void HandleGetReminder(const std::string& id, Services& services, Responder respond) {
  AfterProjection(Runner(services), "reminders", services, std::move(respond),
                  [&services, id]() -> StatusOr<Response> {
                    ASSIGN_OR_RETURN(auto m, LoadReminder(services, id));
                    Response r;
                    r.body = projections::ReminderJson(m);
                    return r;
                  });
}

void HandleCustomerReminders(const std::string& id, Services& services, Responder respond) {
  AfterProjection(
      Runner(services), "reminders", services, std::move(respond),
      [&services, id]() -> StatusOr<Response> {
        // Every stream of the person when the customer view knows them.
        std::vector<std::string> streams = {id};
        if (services.customers != nullptr) {
          const auto& state = services.customers->state();
          ASSIGN_OR_RETURN(auto pid, projections::ResolveProfileId(state, id));
          if (pid.has_value()) {
            ASSIGN_OR_RETURN(auto profile, projections::LoadLiveProfile(state, *pid));
            streams = profile.Streams();
          }
        }
        std::vector<projections::Reminder> all;
        for (const auto& s : streams) {
          ASSIGN_OR_RETURN(auto keys, services.reminders->state().Scan(
                                          projections::CustomerIndexPrefix(s), "", 1000));
          for (const auto& [key, unused] : keys) {
            ASSIGN_OR_RETURN(auto m, LoadReminder(services, projections::IdFromIndexKey(key)));
            all.push_back(std::move(m));
          }
        }
        std::sort(all.begin(), all.end(),
                  [](const auto& a, const auto& b) { return a.due_us > b.due_us; });
        Response r;
        r.accessed = streams;
        r.body = "{\"customer\":" + JsonString(id) + ",\"reminders\":[";
        for (std::size_t i = 0; i < all.size(); ++i) {
          r.body += (i > 0 ? "," : "") + projections::ReminderJson(all[i]);
        }
        r.body += "]}";
        return r;
      });
}

void HandleCampaign(const std::string& name, Services& services, Responder respond) {
  AfterProjection(
      Runner(services), "reminders", services, std::move(respond),
      [&services, name]() -> StatusOr<Response> {
        ASSIGN_OR_RETURN(auto raw, services.reminders->state().Get(projections::CampaignKey(name)));
        projections::CampaignCounts c;
        if (raw.has_value()) {
          ASSIGN_OR_RETURN(c, projections::DecodeCounts(*raw));
        } else {
          // Nothing scheduled yet: a campaign exists once a rule names it.
          ASSIGN_OR_RETURN(auto rules, services.reminders->state().Scan("r/", "", 10000));
          const bool named = std::any_of(rules.begin(), rules.end(), [&](const auto& kv) {
            auto rule = projections::ParseReminderRule(kv.second);
            return rule.ok() && rule->campaign == name;
          });
          if (!named) {
            return Status::NotFound("no campaign '" + name.substr(0, 64) +
                                    "': no rule names it and no reminder was scheduled for it");
          }
        }
        const std::uint64_t closed = c.due + c.cancelled_conversion + c.cancelled_other;
        Response r;
        r.body =
            "{\"campaign\":" + JsonString(name) + ",\"counts\":" + projections::EncodeCounts(c) +
            ",\"pending\":" + std::to_string(c.scheduled > closed ? c.scheduled - closed : 0) + "}";
        return r;
      });
}

}  // namespace touchline::api
