// Routing of HTTP requests to handlers, and the Services they use.
//
// Route() matches the path and method against one table (router.cc) that
// also names the permission each route needs, admits the request through
// Services::access (api/auth.h: 401, 403, 429), parses the query, and calls
// the handler. Every answer is counted per route and status, and timed, in
// the metrics (GET /metrics). Most reads answer before Route() returns; a
// read that waits for a projection answers later, from an I/O thread;
// appends answer when the group commit that contains them is synced,
// from the log's writer thread `tl-writer` (store::EventLog::AppendAsync
// names the exceptions); the session posts a later response back to its
// own strand. Unknown paths get 404, a known path with the wrong method 405
// with an Allow header; every error is the uniform JSON error body
// (api/http_error.h).
//
// Routes (v1):
//   POST /v1/events                        append one event or a batch
//   POST /v1/track|identify|page|screen|group|alias|batch|import
//                                          the Segment Tracking API (segment_codec.h)
//   POST /v1/cloudevents                   CloudEvents 1.0 (cloudevents_codec.h);
//                                          OPTIONS: the webhook validation handshake
//   GET  /v1/ingest/refusals               what those two refused lately
//   POST /v1/sinks, GET /v1/sinks[/{id}], DELETE /v1/sinks/{id},
//   POST /v1/sinks/{id}/pause|resume|replay   webhook sinks (sinks/sink_service.h)
//   GET  /v1/events?after=&limit=          the global log in seq order;
//                                          Accept: application/x-ndjson streams
//   GET  /v1/customers/{id}?as_of=         the unified customer view
//   GET  /v1/customers?<identity type>=v   look a customer up by an identity
//   GET  /v1/customers?q=prefix&limit=&after=   search identities by prefix
//   GET  /v1/customers/{id}/timeline?limit=&before=&types=&channels=
//   POST /v1/customers/{id}/notes          an agent's note (note.added)
//   POST /v1/reminder-rules, GET /v1/reminder-rules[/{id}],
//   PUT|DELETE /v1/reminder-rules/{id}     campaign reminder rules (as events)
//   GET  /v1/reminders?status=&campaign=&due_before=&limit=&after=
//   GET  /v1/reminders/{id}                one reminder and its delivery attempts
//   GET  /v1/customers/{id}/reminders      a customer's reminders
//   GET  /v1/campaigns/{name}              a campaign's counts
//   GET  /v1/stream                        WebSocket live stream (ws_session.h)
//   GET  /v1/auth/whoami                   the presented key's name and role
//   GET  /v1/openapi.json                  this API as OpenAPI 3.1 (api/openapi.json)
//   GET  /metrics                          Prometheus text format
//   POST /v1/admin/backups                 back the data directory up
//   GET  /, /console/<file>                the agent console
//   GET  /v1/projections                   projection states, checkpoints, faults
//   POST /v1/projections/{name}/rebuild    refold a projection from seq 0
//   GET  /healthz (the process runs), GET /readyz (503 while draining or
//                                          when the log can no longer write)
//   GET|POST /v1/audit/checkpoint          the newest signed checkpoint; sign one now
//   GET  /v1/audit/public-key              the checkpoint signing key
//   GET  /v1/audit/proof/inclusion?seq=&tree_size=
//   GET  /v1/audit/proof/consistency?from=&to=
//   GET  /v1/audit/export?from=&to=        the log in the export format (NDJSON)
//   GET  /v1/audit/customers/{id}          who read or wrote a customer's data
//   GET  /v1/audit/actors/{actor}          what an actor read or wrote
//   POST /v1/customers/{id}/erase          erase a customer (crypto-shredding)
//
// Access audit: a 2xx answer whose Response::accessed names customers is
// recorded (actor, route, customers) in Services::access_log.
//
// Reads of one customer wait (each wait bounded by
// Services::projection_wait) until the customer view has folded the newest
// acknowledged write that touched that customer (store::EventLog::LastTouch;
// AfterCustomer in customer_handlers.cc, which falls back to the head after
// three waits); other reads of a projection wait until it has folded the
// log's head as of their arrival. Either way a read after an acknowledged
// append reflects it (read-your-writes).
//
// Thread safety: Route() may be called concurrently; Services must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "api/access_log.h"
#include "api/auth.h"
#include "api/ingest.h"
#include "api/json_codec.h"
#include "api/request.h"
#include "api/timeline_cache.h"
#include "projections/customer_view_projection.h"
#include "projections/erasure_purger.h"
#include "projections/projection_runner.h"
#include "store/event_log.h"

namespace touchline::sinks {
class SinkService;
}  // namespace touchline::sinks

namespace touchline::api {

struct Services {
  store::EventLog* log = nullptr;  // not owned
  // The customer view (not owned); null: customer routes answer 503.
  projections::ProjectionRunner* customers = nullptr;
  // The reminders projection (not owned); null: reminder routes answer 503.
  projections::ProjectionRunner* reminders = nullptr;
  // Every running projection (not owned), for /v1/projections and /readyz.
  std::vector<projections::ProjectionRunner*> projections;
  // The limits the customer view folds with (time travel folds with them too).
  projections::IdentityLimits identity_limits;
  // How long a read waits for the customer view to catch up.
  std::chrono::milliseconds projection_wait{2000};
  // Time travel folds at most this many events.
  std::size_t max_as_of_events = 200000;
  // Runs work on an I/O thread (set by the server; null: run inline).
  std::function<void(std::function<void()>)> post;
  ParseLimits parse_limits;
  std::size_t max_page_limit = 1000;  // ?limit= ceiling for JSON pages
  std::size_t ndjson_chunk_records = 1000;
  // Set when the server is draining for shutdown: /readyz answers 503.
  const std::atomic<bool>* draining = nullptr;
  // Authentication, roles and rate limits (not owned); null admits every
  // request as "anonymous" with the admin role (unit tests).
  AccessControl* access = nullptr;
  // The data directory, for backups (empty: POST /v1/admin/backups is 503).
  std::string data_dir;
  // The audit trail projection (not owned); null: its routes answer 503.
  projections::ProjectionRunner* audit = nullptr;
  // Where reads of customer data are recorded (not owned); null: nowhere.
  AccessLog* access_log = nullptr;
  // Makes erasures physical (not owned); null: no purge is asked for.
  projections::ErasurePurger* purger = nullptr;
  // Rendered timeline pages (not owned); null: every page is rendered.
  TimelineCache* timeline_cache = nullptr;
  // Recent refusals of the Segment and CloudEvents routes (not owned);
  // null: none are kept (GET /v1/ingest/refusals is 503).
  IngestRefusals* refusals = nullptr;
  // Webhook sinks (not owned); null: the sink routes answer 503.
  sinks::SinkService* sinks = nullptr;
};

using Responder = std::function<void(Response)>;

// Handles `request`, calling `respond` exactly once (maybe before returning).
// Sets request.actor and request.role once the request is admitted.
void Route(Request& request, Services& services, Responder respond);

// The admission check for a WebSocket upgrade of GET /v1/stream (which also
// accepts ?access_token=), and the error response for a refusal.
Admission AdmitStream(const Request& request, Services& services);
Response DeniedResponse(const Admission& admission);
// Every route: its method (GET also answers HEAD), its path ("{}" is one
// segment) and the permission it needs. api/openapi.json documents exactly
// these (RouterTest.TheOpenApiDescriptionMatchesTheRouteTable in
// tests/api/router_test.cc).
struct RouteInfo {
  std::string_view method;
  std::string_view pattern;
  Permission permission;
};
std::vector<RouteInfo> RouteTable();

// Whether an admitted stream's credentials still hold (rechecked every
// second by the session: a revoked key closes it with 1008).
bool StreamStillAdmitted(const Request& request, Services& services);

}  // namespace touchline::api
