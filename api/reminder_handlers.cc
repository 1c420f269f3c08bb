// The reminder routes (see api/router.h): rules as events on the
// "~reminder-rules" stream, and reads over the reminders projection.
#include <algorithm>
#include <boost/json.hpp>
#include <iterator>

#include "api/handlers.h"
#include "api/http_error.h"
#include "core/time_format.h"
#include "projections/customer_state.h"
#include "projections/reminder_projection.h"
#include "projections/reminder_reader.h"

namespace touchline::api {
namespace {

namespace json = boost::json;
using projections::ReminderRule;

constexpr std::size_t kDefaultReminderLimit = 100;
constexpr std::size_t kMaxReminderScan = 100000;
constexpr std::size_t kMaxRemindersPerStream = 1000;

projections::ProjectionRunner* Runner(Services& s) { return s.reminders; }

projections::ReminderReader Reader(Services& s) {
  return projections::ReminderReader(s.reminders->state());
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
  ASSIGN_OR_RETURN(auto m, Reader(s).Find(id));
  if (!m.has_value()) {
    return Status::NotFound("no reminder '" + std::string(id.substr(0, 100)) + "'");
  }
  return std::move(m).value();
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
                         auto existing = Reader(services).Rule(id);
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
                    const projections::ReminderReader reader = Reader(services);
                    if (!id.empty()) {
                      ASSIGN_OR_RETURN(auto rule, reader.Rule(id));
                      if (!rule.has_value()) {
                        return NoSuchRule(id);
                      }
                      return RuleResponse(200, projections::EncodeReminderRule(*rule));
                    }
                    ASSIGN_OR_RETURN(auto rules, reader.Rules());
                    Response r;
                    r.body = "{\"rules\":[";
                    for (std::size_t i = 0; i < rules.size(); ++i) {
                      r.body += (i > 0 ? "," : "") + projections::EncodeReminderRule(rules[i]);
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
        projections::ReminderQuery q;
        if (const auto* s = FindParam(query, "status")) {
          const auto status = projections::ParseReminderStatus(*s);
          if (!status.has_value()) {
            return Status::InvalidArgument(
                "query parameter 'status' must be pending, due, sent, cancelled or failed");
          }
          q.status = *status;
        }
        ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, services.max_page_limit));
        q.limit = limit.value_or(kDefaultReminderLimit);
        if (const auto* d = FindParam(query, "due_before")) {
          auto t = ParseRfc3339(*d);
          if (!t.ok()) {
            return Status::InvalidArgument(
                "query parameter 'due_before' must be an RFC 3339 time such as "
                "2026-12-01T00:00:00Z");
          }
          q.due_before_us = *t;
        }
        if (const auto* c = FindParam(query, "campaign")) {
          q.campaign = *c;
        }
        if (const auto* a = FindParam(query, "after")) {
          q.after = *a;
        }
        q.max_scan = kMaxReminderScan;
        ASSIGN_OR_RETURN(auto page, Reader(services).List(q));
        Response r;
        r.body = "{\"reminders\":[";
        for (std::size_t i = 0; i < page.reminders.size(); ++i) {
          r.body += (i > 0 ? "," : "") + projections::ReminderJson(page.reminders[i]);
        }
        r.body += "],\"next_after\":" +
                  (page.next_after ? JsonString(*page.next_after) : std::string("null")) + "}";
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
  AfterProjection(Runner(services), "reminders", services, std::move(respond),
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
                    const projections::ReminderReader reader = Reader(services);
                    std::vector<projections::Reminder> all;
                    for (const auto& s : streams) {
                      ASSIGN_OR_RETURN(auto mine, reader.OfCustomer(s, kMaxRemindersPerStream));
                      std::move(mine.begin(), mine.end(), std::back_inserter(all));
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
        ASSIGN_OR_RETURN(auto counts, Reader(services).Campaign(name));
        if (!counts.has_value()) {
          return Status::NotFound("no campaign '" + name.substr(0, 64) +
                                  "': no rule names it and no reminder was scheduled for it");
        }
        const projections::CampaignCounts& c = *counts;
        Response r;
        r.body = "{\"campaign\":" + JsonString(name) +
                 ",\"counts\":" + projections::EncodeCounts(c) +
                 ",\"pending\":" + std::to_string(c.pending()) + "}";
        return r;
      });
}

}  // namespace touchline::api
