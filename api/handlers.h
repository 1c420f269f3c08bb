// Route handlers: plain functions of (request, query, services) with no Beast
// types. Each returns the response or a Status that api/http_error.cc turns
// into the JSON error. See api/router.h for the routes.
//
// Thread safety: handlers may run concurrently on any io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/request.h"
#include "api/router.h"
#include "api/segment_codec.h"
#include "sinks/sink_service.h"

namespace touchline::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// POST /v1/events. Calls `respond` after the synced write: 201 with one
// result per event, 200 if every event was an idempotent replay; 400 for bad
// input, 409 on an expected-version conflict or an id reused with another
// body, 503 while shutting down.
void HandleAppend(const Request& request, Services& services, Responder respond);

// GET /v1/events?after=N&limit=M. 400 for a bad parameter.
StatusOr<Response> HandleReadLog(const Request& request, const QueryParams& query,
                                 Services& services);

// GET /v1/customers/{id}/timeline: the events of every stream of the
// customer's profile, newest first (waits for the customer view, like the
// other customer reads; if the view is unavailable, the stream named `id`
// alone). 404 if there are none.
void HandleTimeline(const std::string& id, const QueryParams& query, Services& services,
                    Responder respond);

// The routes over the customer view (api/customer_handlers.cc). Each waits
// for the projection (see api/router.h), then answers through `respond`:
// 404 for an unknown customer, 400 for bad parameters, 503 if the view is
// faulted or still catching up when the wait runs out.
void HandleCustomer(const std::string& id, const QueryParams& query, Services& services,
                    Responder respond);
void HandleCustomerLookup(const QueryParams& query, Services& services, Responder respond);
void HandleNote(const std::string& id, const Request& request, Services& services,
                Responder respond);

// The reminder routes (api/reminder_handlers.cc). Reads wait for the
// reminders projection like customer reads wait for the view; rule changes
// append to "~reminder-rules" (409 when the id exists on create or the
// rules changed concurrently, 404 for an unknown rule).
void HandleCreateRule(const Request& request, Services& services, Responder respond);
void HandlePutRule(const std::string& id, const Request& request, Services& services,
                   Responder respond);
void HandleDeleteRule(const std::string& id, const Request& request, Services& services,
                      Responder respond);
// GET one rule (`id` set) or all of them (`id` empty).
void HandleGetRules(const std::string& id, Services& services, Responder respond);
void HandleListReminders(const QueryParams& query, Services& services, Responder respond);
void HandleGetReminder(const std::string& id, Services& services, Responder respond);
void HandleCustomerReminders(const std::string& id, Services& services, Responder respond);
void HandleCampaign(const std::string& name, Services& services, Responder respond);

// The auditors' routes (api/audit_handlers.cc). Each answers 409 on a log
// created without integrity.
// GET /v1/audit/checkpoint: the newest signed checkpoint (404 before the
// first); POST signs one of the head now (201).
StatusOr<Response> HandleCheckpoint(Services& services);
StatusOr<Response> HandleSignCheckpoint(Services& services);
// GET /v1/audit/public-key: the signing key, as base64 and verifier key.
StatusOr<Response> HandlePublicKey(Services& services);
// GET /v1/audit/proof/inclusion?seq=&tree_size= and
// GET /v1/audit/proof/consistency?from=&to= (tree sizes default to the
// newest checkpoint's). 400 for sizes beyond the head.
StatusOr<Response> HandleInclusionProof(const QueryParams& query, Services& services);
StatusOr<Response> HandleConsistencyProof(const QueryParams& query, Services& services);
// GET /v1/audit/export?from=&to=: the export format (store/log_export.h),
// streamed as NDJSON, never with keys.
StatusOr<Response> HandleExport(const QueryParams& query, Services& services);
// GET /v1/audit/customers/{id} and GET /v1/audit/actors/{actor}: the
// access audit trail, newest first (projections/audit_projection.h);
// ?limit=1..1000 (100), ?after=<next_after>.
void HandleAuditTrail(bool by_actor, const std::string& id, const QueryParams& query,
                      Services& services, Responder respond);
// POST /v1/customers/{id}/erase: appends customer.erased to every stream
// of the person (one request, all or nothing), which destroys their keys;
// 200 with the seqs, and the streams erased before; 404 for an unknown
// customer. The physical purge follows in the background.
void HandleErase(const std::string& id, const Request& request, Services& services,
                 Responder respond);

// GET /v1/projections and POST /v1/projections/{name}/rebuild (404 for an
// unknown name).
StatusOr<Response> HandleProjections(Services& services);
StatusOr<Response> HandleRebuild(const std::string& name, Services& services);

// The foreign ingest routes (api/integration_handlers.cc): the Segment
// Tracking API (api/segment_codec.h: 200 with the counts and refusals, 400
// for what fails a whole call, 415 for another content type) and
// POST /v1/cloudevents (api/cloudevents_codec.h: 201 for a stored event,
// 200 for a duplicate or a batch, 400, 409 for a single event whose
// customer was erased, 415 for no CloudEvent). Both append with
// AppendRequest::Mode::kEachEvent and record refusals (api/ingest.h).
void HandleSegment(SegmentCall call, const Request& request, Services& services, Responder respond);
void HandleCloudEvents(const Request& request, Services& services, Responder respond);
// GET /v1/ingest/refusals?actor=&limit=: recent refusals, newest first. Keys
// with roles ingest and agent see their own; auditor and admin any actor's
// (all by default).
StatusOr<Response> HandleIngestRefusals(const Request& request, const QueryParams& query,
                                        Services& services);

// The sink routes (api/sink_handlers.cc, sinks/sink_service.h), admin only:
// POST /v1/sinks (201 with the secret, shown once; 409 if the id exists),
// GET /v1/sinks and /v1/sinks/{id}, DELETE /v1/sinks/{id}, and
// POST /v1/sinks/{id}/pause|resume|replay (replay's body {"from_seq": N}).
// 503 when the server runs without sinks.
void HandleCreateSink(const Request& request, Services& services, Responder respond);
StatusOr<Response> HandleGetSinks(const std::string& id, Services& services);
void HandleChangeSink(const std::string& id, sinks::SinkChange change, const Request& request,
                      Services& services, Responder respond);

// Helpers shared by the handler files (and the router).

// Runs `work` once `runner` has folded the log's head as of now (read-your-
// writes); `work` answers through the responder it is given. `fallback`
// (optional) answers instead when the projection cannot be waited for
// (absent, faulted, too slow), else 503 naming `what`.
using ProjectionWork = std::function<void(const Responder&)>;
using ProjectionFallback = std::function<StatusOr<Response>(const Status&)>;
void AfterProjectionAsync(projections::ProjectionRunner* runner, std::string_view what,
                          Services& services, Responder respond, ProjectionWork work,
                          ProjectionFallback fallback = nullptr);
// The same for work that answers synchronously.
void AfterProjection(projections::ProjectionRunner* runner, std::string_view what,
                     Services& services, Responder respond,
                     std::function<StatusOr<Response>()> work,
                     ProjectionFallback fallback = nullptr);

void Reply(const Responder& respond, StatusOr<Response> result);
// 201 with one result per event (200 if every event was a replay), or the
// error.
Response AppendResponse(const std::vector<std::string>& ids,
                        const StatusOr<store::AppendResult>& result);
Status CheckParams(const QueryParams& query, std::initializer_list<std::string_view> allowed);
const std::string* FindParam(const QueryParams& query, std::string_view name);
StatusOr<std::optional<std::uint64_t>> GetUint(const QueryParams& query, std::string_view name,
                                               std::uint64_t min, std::uint64_t max);
bool IsJsonContentType(std::string_view content_type);
std::vector<std::string> SplitComma(const std::string& s);

StatusOr<Response> HandleHealthz(Services& services);
// POST /v1/admin/backups {"dir":"/abs/path"}: a backup of the data
// directory (store/backup.h), taken on the calling I/O thread; 201 with
// its id, head, size and duration; 409 while another runs.
StatusOr<Response> HandleBackup(const Request& request, Services& services);
// GET /metrics: the Prometheus exposition (core/metrics.h).
StatusOr<Response> HandleMetrics(Services& services);
// GET /v1/auth/whoami: {"name":...,"role":...,"open_mode":bool}.
StatusOr<Response> HandleWhoAmI(const Request& request, Services& services);
StatusOr<Response> HandleReadyz(Services& services);

}  // namespace touchline::api
