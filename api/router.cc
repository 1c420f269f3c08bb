#include "api/router.h"

#include <array>
#include <atomic>
#include <boost/url/parse.hpp>
#include <map>
#include <memory>

#include "api/auth.h"
#include "api/console_assets.h"
#include "api/handlers.h"
#include "api/http_error.h"
#include "api/segment_codec.h"
#include "core/metrics.h"
#include "core/mutex.h"

namespace touchline::api {
namespace {

// What a matched route's handler gets: the path's {} parameters in order.
struct Call {
  Request& request;
  const std::vector<std::string>& params;
  const QueryParams& query;
  Services& services;
  Responder respond;
};
using Handler = void (*)(Call&);

struct RouteSpec {
  std::string_view method;   // GET also answers HEAD
  std::string_view pattern;  // segments; "{}" matches one segment
  Permission permission;
  Handler handler;
  // The Segment routes: without an Authorization header, the key may come
  // as the body's "writeKey" (what analytics-node 2.0-3.0 send).
  bool key_in_body = false;
};

template <SegmentCall kCall>
void SegmentRoute(Call& c) {
  HandleSegment(kCall, c.request, c.services, std::move(c.respond));
}

template <sinks::SinkChange kChange>
void SinkChangeRoute(Call& c) {
  HandleChangeSink(c.params[0], kChange, c.request, c.services, std::move(c.respond));
}

// The API description (api/openapi.json), embedded with the console's files.
constexpr std::string_view kOpenApiAsset = "openapi.json";

void ServeOpenApi(Call& c) {
  const ConsoleAsset* asset = FindConsoleAsset(kOpenApiAsset);
  Response r;
  r.content_type = std::string(asset->content_type);
  r.body = std::string(asset->body);
  r.headers.emplace_back("Cache-Control", "no-cache");
  c.respond(std::move(r));
}

void ServeConsole(Call& c) {
  const std::string_view name = c.params.empty() ? std::string_view("index.html") : c.params[0];
  const ConsoleAsset* asset = name == kOpenApiAsset ? nullptr : FindConsoleAsset(name);
  if (asset == nullptr) {
    c.respond(HttpErrorResponse(404, "not_found", "the console has no such file"));
    return;
  }
  Response r;
  r.content_type = std::string(asset->content_type);
  r.body = std::string(asset->body);
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  c.respond(std::move(r));
}

// Every route, with the permission it needs: the one place access is
// decided (api/auth.h has the roles).
const RouteSpec kRoutes[] = {
    {"GET", "/healthz", Permission::kPublic,
     [](Call& c) { Reply(c.respond, HandleHealthz(c.services)); }},
    {"GET", "/readyz", Permission::kPublic,
     [](Call& c) { Reply(c.respond, HandleReadyz(c.services)); }},
    {"GET", "/", Permission::kPublic, ServeConsole},
    {"GET", "/console/{}", Permission::kPublic, ServeConsole},
    {"GET", "/metrics", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleMetrics(c.services)); }},
    {"GET", "/v1/openapi.json", Permission::kPublic, ServeOpenApi},
    {"GET", "/v1/auth/whoami", Permission::kAnyKey,
     [](Call& c) { Reply(c.respond, HandleWhoAmI(c.request, c.services)); }},
    {"GET", "/v1/events", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleReadLog(c.request, c.query, c.services)); }},
    {"POST", "/v1/events", Permission::kWriteEvents,
     [](Call& c) { HandleAppend(c.request, c.services, std::move(c.respond)); }},
    // The Segment Tracking API and CloudEvents (api/segment_codec.h,
    // api/cloudevents_codec.h).
    {"POST", "/v1/track", Permission::kWriteEvents, SegmentRoute<SegmentCall::kTrack>, true},
    {"POST", "/v1/identify", Permission::kWriteEvents, SegmentRoute<SegmentCall::kIdentify>, true},
    {"POST", "/v1/page", Permission::kWriteEvents, SegmentRoute<SegmentCall::kPage>, true},
    {"POST", "/v1/screen", Permission::kWriteEvents, SegmentRoute<SegmentCall::kScreen>, true},
    {"POST", "/v1/group", Permission::kWriteEvents, SegmentRoute<SegmentCall::kGroup>, true},
    {"POST", "/v1/alias", Permission::kWriteEvents, SegmentRoute<SegmentCall::kAlias>, true},
    {"POST", "/v1/batch", Permission::kWriteEvents, SegmentRoute<SegmentCall::kBatch>, true},
    {"POST", "/v1/import", Permission::kWriteEvents, SegmentRoute<SegmentCall::kBatch>, true},
    {"POST", "/v1/cloudevents", Permission::kWriteEvents,
     [](Call& c) { HandleCloudEvents(c.request, c.services, std::move(c.respond)); }},
    // The CloudEvents webhook validation handshake (abuse protection): a
    // sender asks whether it may deliver here; an ingest key may.
    {"OPTIONS", "/v1/cloudevents", Permission::kWriteEvents,
     [](Call& c) {
       Response r;
       r.status = 200;
       r.body = "{}";
       const std::string& origin = c.request.webhook_request_origin;
       r.headers.emplace_back("Allow", "POST, OPTIONS");
       r.headers.emplace_back("WebHook-Allowed-Origin", origin.empty() ? "*" : origin);
       r.headers.emplace_back("WebHook-Allowed-Rate", "*");
       c.respond(std::move(r));
     }},
    {"GET", "/v1/ingest/refusals", Permission::kAnyKey,
     [](Call& c) { Reply(c.respond, HandleIngestRefusals(c.request, c.query, c.services)); }},
    {"GET", "/v1/sinks", Permission::kAdmin,
     [](Call& c) { Reply(c.respond, HandleGetSinks("", c.services)); }},
    {"POST", "/v1/sinks", Permission::kAdmin,
     [](Call& c) { HandleCreateSink(c.request, c.services, std::move(c.respond)); }},
    {"GET", "/v1/sinks/{}", Permission::kAdmin,
     [](Call& c) { Reply(c.respond, HandleGetSinks(c.params[0], c.services)); }},
    {"DELETE", "/v1/sinks/{}", Permission::kAdmin, SinkChangeRoute<sinks::SinkChange::kDelete>},
    {"POST", "/v1/sinks/{}/pause", Permission::kAdmin, SinkChangeRoute<sinks::SinkChange::kPause>},
    {"POST", "/v1/sinks/{}/resume", Permission::kAdmin,
     SinkChangeRoute<sinks::SinkChange::kResume>},
    {"POST", "/v1/sinks/{}/replay", Permission::kAdmin,
     SinkChangeRoute<sinks::SinkChange::kReplay>},
    {"GET", "/v1/customers", Permission::kReadCustomers,
     [](Call& c) { HandleCustomerLookup(c.query, c.services, std::move(c.respond)); }},
    {"GET", "/v1/customers/{}", Permission::kReadCustomers,
     [](Call& c) { HandleCustomer(c.params[0], c.query, c.services, std::move(c.respond)); }},
    {"GET", "/v1/customers/{}/timeline", Permission::kReadCustomers,
     [](Call& c) { HandleTimeline(c.params[0], c.query, c.services, std::move(c.respond)); }},
    {"GET", "/v1/customers/{}/reminders", Permission::kReadCustomers,
     [](Call& c) { HandleCustomerReminders(c.params[0], c.services, std::move(c.respond)); }},
    {"POST", "/v1/customers/{}/notes", Permission::kWriteNotes,
     [](Call& c) { HandleNote(c.params[0], c.request, c.services, std::move(c.respond)); }},
    {"GET", "/v1/reminder-rules", Permission::kReadCustomers,
     [](Call& c) { HandleGetRules("", c.services, std::move(c.respond)); }},
    {"POST", "/v1/reminder-rules", Permission::kAdmin,
     [](Call& c) { HandleCreateRule(c.request, c.services, std::move(c.respond)); }},
    {"GET", "/v1/reminder-rules/{}", Permission::kReadCustomers,
     [](Call& c) { HandleGetRules(c.params[0], c.services, std::move(c.respond)); }},
    {"PUT", "/v1/reminder-rules/{}", Permission::kAdmin,
     [](Call& c) { HandlePutRule(c.params[0], c.request, c.services, std::move(c.respond)); }},
    {"DELETE", "/v1/reminder-rules/{}", Permission::kAdmin,
     [](Call& c) { HandleDeleteRule(c.params[0], c.request, c.services, std::move(c.respond)); }},
    {"GET", "/v1/reminders", Permission::kReadCustomers,
     [](Call& c) { HandleListReminders(c.query, c.services, std::move(c.respond)); }},
    {"GET", "/v1/reminders/{}", Permission::kReadCustomers,
     [](Call& c) { HandleGetReminder(c.params[0], c.services, std::move(c.respond)); }},
    {"GET", "/v1/campaigns/{}", Permission::kReadCustomers,
     [](Call& c) { HandleCampaign(c.params[0], c.services, std::move(c.respond)); }},
    {"POST", "/v1/admin/backups", Permission::kAdmin,
     [](Call& c) { Reply(c.respond, HandleBackup(c.request, c.services)); }},
    {"GET", "/v1/projections", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleProjections(c.services)); }},
    {"POST", "/v1/projections/{}/rebuild", Permission::kAdmin,
     [](Call& c) { Reply(c.respond, HandleRebuild(c.params[0], c.services)); }},
    {"GET", "/v1/audit/checkpoint", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleCheckpoint(c.services)); }},
    {"POST", "/v1/audit/checkpoint", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleSignCheckpoint(c.services)); }},
    {"GET", "/v1/audit/public-key", Permission::kPublic,
     [](Call& c) { Reply(c.respond, HandlePublicKey(c.services)); }},
    {"GET", "/v1/audit/proof/inclusion", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleInclusionProof(c.query, c.services)); }},
    {"GET", "/v1/audit/proof/consistency", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleConsistencyProof(c.query, c.services)); }},
    {"GET", "/v1/audit/export", Permission::kReadAll,
     [](Call& c) { Reply(c.respond, HandleExport(c.query, c.services)); }},
    {"GET", "/v1/audit/customers/{}", Permission::kReadAll,
     [](Call& c) {
       HandleAuditTrail(false, c.params[0], c.query, c.services, std::move(c.respond));
     }},
    {"GET", "/v1/audit/actors/{}", Permission::kReadAll,
     [](Call& c) {
       HandleAuditTrail(true, c.params[0], c.query, c.services, std::move(c.respond));
     }},
    {"POST", "/v1/customers/{}/erase", Permission::kAdmin,
     [](Call& c) { HandleErase(c.params[0], c.request, c.services, std::move(c.respond)); }},
    // A WebSocket upgrade never gets here (the session takes it over after
    // the same admission check, see StreamPermission()).
    {"GET", "/v1/stream", Permission::kReadCustomers,
     [](Call& c) {
       Response r =
           HttpErrorResponse(426, "upgrade_required",
                             "GET /v1/stream is a WebSocket endpoint: connect with a "
                             "WebSocket client (the protocol is in api/README.md, Live stream)");
       r.headers.emplace_back("Upgrade", "websocket");
       r.headers.emplace_back("Connection", "Upgrade");
       c.respond(std::move(r));
     }},
};

// "GET /v1/customers/{id}": how logs and the access audit trail name a route.
std::string RouteName(const RouteSpec& r) {
  std::string out = std::string(r.method) + " ";
  std::string_view p = r.pattern;
  for (auto at = p.find("{}"); at != std::string_view::npos; at = p.find("{}")) {
    out.append(p.substr(0, at));
    out.append("{id}");
    p.remove_prefix(at + 2);
  }
  out.append(p);
  return out;
}

// Matches `segments` against `pattern`, collecting the {} values.
bool Matches(std::string_view pattern, const std::vector<std::string>& segments,
             std::vector<std::string>* params) {
  params->clear();
  if (pattern == "/") {
    return segments.empty() || (segments.size() == 1 && segments[0].empty());
  }
  std::size_t i = 0;
  pattern.remove_prefix(1);
  while (!pattern.empty()) {
    const auto slash = pattern.find('/');
    const std::string_view part = pattern.substr(0, slash);
    if (i >= segments.size()) {
      return false;
    }
    if (part == "{}") {
      params->push_back(segments[i]);
    } else if (part != segments[i]) {
      return false;
    }
    ++i;
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash + 1);
  }
  return i == segments.size();
}

Response MethodNotAllowed(const std::string& method, const std::string& allow) {
  Response r = HttpErrorResponse(
      405, "method_not_allowed",
      "method " + method.substr(0, 16) + " is not allowed here; allowed: " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

Response Denied(const Admission& a) {
  Response r = ErrorResponse(a.status);
  if (a.status.code() == StatusCode::kUnauthenticated) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"touchline\"");
  }
  if (a.retry_after_s > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(a.retry_after_s));
  }
  return r;
}

// Per-route metrics, looked up once so a request touches only atomics.
struct RouteMetrics {
  Histogram* seconds = nullptr;
  std::array<std::atomic<Counter*>, 600> by_status{};  // lazily, by HTTP status
  std::string_view route;
};

RouteMetrics& MetricsFor(std::string_view route) {
  // One per table entry plus "invalid" and "unmatched"; never freed.
  static Mutex mu;
  static auto* all = new std::map<std::string_view, std::unique_ptr<RouteMetrics>>();
  MutexLock lock(&mu);
  auto& slot = (*all)[route];
  if (!slot) {
    slot = std::make_unique<RouteMetrics>();
    slot->route = route;
    slot->seconds = &Metrics::Default().GetHistogram(
        "touchline_http_request_seconds", "From routing a request to its answer, by route",
        Labels({{"route", route}}));
  }
  return *slot;
}

Counter& StatusCounter(RouteMetrics& m, int status) {
  const std::size_t i = status >= 0 && status < 600 ? static_cast<std::size_t>(status) : 0;
  Counter* c = m.by_status[i].load(std::memory_order_acquire);
  if (c == nullptr) {
    c = &Metrics::Default().GetCounter(
        "touchline_http_requests_total", "HTTP requests answered, by route and status",
        Labels({{"route", m.route}, {"status", std::to_string(status)}}));
    m.by_status[i].store(c, std::memory_order_release);
  }
  return *c;
}

// Counts the answer per route and status, and times it.
Responder Measured(RouteMetrics& m, Responder respond) {
  const auto started = std::chrono::steady_clock::now();
  return [&m, started, respond = std::move(respond)](Response r) {
    m.seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    StatusCounter(m, r.status).Increment();
    respond(std::move(r));
  };
}

}  // namespace

Admission AdmitStream(const Request& request, Services& services) {
  if (services.access == nullptr) {
    return Admission{Status::Ok(), store::Principal{"anonymous", store::Role::kAdmin}, 0};
  }
  Admission a = services.access->AdmitAddress(request);
  if (!a.status.ok()) {
    return a;
  }
  return services.access->Admit(request, Permission::kReadCustomers, /*allow_query_token=*/true);
}

bool StreamStillAdmitted(const Request& request, Services& services) {
  return services.access == nullptr ||
         services.access->StillAdmitted(request, Permission::kReadCustomers,
                                        /*allow_query_token=*/true);
}

void Route(Request& request, Services& services, Responder respond) {
  static RouteMetrics& invalid = MetricsFor("invalid");
  static RouteMetrics& unmatched = MetricsFor("unmatched");
  if (services.access != nullptr) {
    // Every request pays the per-address limit, even one for no route.
    Admission a = services.access->AdmitAddress(request);
    if (!a.status.ok()) {
      Measured(unmatched, std::move(respond))(Denied(a));
      return;
    }
  }
  auto url = boost::urls::parse_origin_form(request.target);
  if (!url) {
    Measured(invalid, std::move(respond))(HttpErrorResponse(
        400, "invalid_argument", "the request target is not a valid path and query"));
    return;
  }
  std::vector<std::string> segments;
  for (auto seg : url->segments()) {
    segments.push_back(seg);
  }
  const std::string& m = request.method;
  const std::string_view method = m == "HEAD" ? std::string_view("GET") : std::string_view(m);
  std::vector<std::string> params;
  const RouteSpec* spec = nullptr;
  std::string allow;
  for (const RouteSpec& r : kRoutes) {
    if (!Matches(r.pattern, segments, &params)) {
      continue;
    }
    if (r.method == method) {
      spec = &r;
      break;
    }
    allow += (allow.empty() ? "" : ", ") + std::string(r.method);
  }
  if (spec == nullptr) {
    request.route = m.substr(0, 16) + " (no route)";
    if (!allow.empty()) {
      Measured(unmatched, std::move(respond))(MethodNotAllowed(m, allow));
    } else {
      Measured(unmatched, std::move(respond))(HttpErrorResponse(
          404, "not_found",
          "no route for " + std::string(url->path()).substr(0, 200) + "; see docs/api.md"));
    }
    return;
  }
  static const auto by_route = [] {
    std::array<RouteMetrics*, std::size(kRoutes)> out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = &MetricsFor(kRoutes[i].pattern);
    }
    return out;
  }();
  static const auto route_names = [] {
    std::array<std::string, std::size(kRoutes)> out;
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = RouteName(kRoutes[i]);
    }
    return out;
  }();
  const std::size_t route_index = static_cast<std::size_t>(spec - kRoutes);
  request.route = route_names[route_index];
  Responder measured = Measured(*by_route[route_index], std::move(respond));
  if (spec->key_in_body && request.authorization.empty()) {
    if (std::string key = FindWriteKey(request.body); !key.empty()) {
      request.authorization = "Bearer " + key;
    }
  }
  if (services.access != nullptr) {
    Admission a = services.access->Admit(request, spec->permission);
    if (!a.status.ok()) {
      measured(Denied(a));
      return;
    }
    request.actor = std::move(a.principal.name);
    request.role = a.principal.role;
  } else {
    request.actor = "anonymous";
    request.role = store::Role::kAdmin;
  }
  if (services.access_log != nullptr) {
    // Reads of customer data go to the access audit trail.
    measured = [log = services.access_log, actor = request.actor, route = request.route,
                inner = std::move(measured)](Response r) {
      if (!r.accessed.empty() && r.status >= 200 && r.status < 300) {
        log->Record(actor, route, std::move(r.accessed));
      }
      inner(std::move(r));
    };
  }
  QueryParams query;
  for (auto param : url->params()) {
    query.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  Call call{request, params, query, services, std::move(measured)};
  spec->handler(call);
}

Response DeniedResponse(const Admission& admission) { return Denied(admission); }

std::vector<RouteInfo> RouteTable() {
  std::vector<RouteInfo> out;
  for (const RouteSpec& r : kRoutes) {
    out.push_back({r.method, r.pattern, r.permission});
  }
  return out;
}

}  // namespace touchline::api
