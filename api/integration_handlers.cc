// The foreign ingest routes: the Segment Tracking API, CloudEvents, and the
// refusals they keep (api/ingest.h).
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "api/cloudevents_codec.h"
#include "api/handlers.h"
#include "api/http_error.h"
#include "api/ingest.h"
#include "api/segment_codec.h"
#include "core/metrics.h"
#include "core/validation.h"

namespace touchline::api {
namespace {

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Counter& RefusedCounter(std::string_view source) {
  return Metrics::Default().GetCounter("touchline_ingest_refused_total",
                                       "Messages refused by the Segment and CloudEvents routes",
                                       Labels({{"source", source}}));
}

// Counts, keeps and logs (without the values) what a request refused.
void NoteRefusals(std::string_view source, const Request& request, Services& services,
                  const std::vector<IngestRefusal>& refused) {
  if (refused.empty()) {
    return;
  }
  RefusedCounter(source).Increment(refused.size());
  if (services.refusals != nullptr) {
    services.refusals->Record(request.actor, request.route, NowMicros(), refused);
  }
  spdlog::warn("{}: {} message(s) refused for actor '{}' (GET /v1/ingest/refusals says why)",
               request.route, refused.size(), request.actor);
}

using Answer = std::function<Response(const IngestOutcome&)>;

// Appends what `batch` holds, each event on its own (AppendRequest::Mode::
// kEachEvent), then answers with `answer`. Append errors (shutdown, I/O)
// answer as errors: nothing was acknowledged, and the sender retries.
void AppendIngest(IngestBatch batch, std::string_view source, const Request& request,
                  Services& services, Answer answer, Responder respond) {
  std::vector<std::string> ids;
  ids.reserve(batch.events.size());
  for (const ProposedEvent& e : batch.events) {
    ids.push_back(e.event.id);
  }
  store::AppendRequest append;
  append.events = std::move(batch.events);
  append.actor = request.actor;
  append.route = request.route;
  append.mode = store::AppendRequest::Mode::kEachEvent;
  auto done = [batch = std::move(batch), ids = std::move(ids), source,
               request_actor = request.actor, route = request.route, &services,
               answer = std::move(answer),
               respond = std::move(respond)](StatusOr<store::AppendResult> result) mutable {
    if (!result.ok()) {
      respond(ErrorResponse(result.status()));
      return;
    }
    IngestOutcome outcome = CombineOutcome(std::move(batch), std::move(ids), *result);
    Request who;
    who.actor = std::move(request_actor);
    who.route = std::move(route);
    NoteRefusals(source, who, services, outcome.refused);
    respond(answer(outcome));
  };
  if (append.events.empty()) {
    done(store::AppendResult{});
    return;
  }
  services.log->AppendAsync(std::move(append), std::move(done));
}

Response JsonAnswer(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool IsSegmentContentType(std::string_view ct) {
  // analytics.js posts text/plain to avoid a CORS preflight.
  const std::string_view media = TrimBlanks(ct.substr(0, ct.find(';')));
  return IsJsonContentType(ct) || media == "text/plain";
}

}  // namespace

void HandleSegment(SegmentCall call, const Request& request, Services& services,
                   Responder respond) {
  if (!IsSegmentContentType(request.content_type)) {
    respond(HttpErrorResponse(415, "unsupported_media_type",
                              "send Segment messages as JSON with Content-Type: application/json"));
    return;
  }
  SegmentLimits limits;
  limits.max_depth = services.parse_limits.max_depth;
  auto parsed = ParseSegment(request.body, call, NowMicros(), limits);
  if (!parsed.ok()) {
    NoteRefusals("segment", request, services, {IngestRefusal{0, "", parsed.status().message()}});
    respond(ErrorResponse(parsed.status()));
    return;
  }
  AppendIngest(
      std::move(parsed).value(), "segment", request, services,
      [](const IngestOutcome& outcome) {
        return JsonAnswer(200, RenderIngestAnswer(outcome, false));
      },
      std::move(respond));
}

void HandleCloudEvents(const Request& request, Services& services, Responder respond) {
  const auto mode = CloudEventsModeFor(request.content_type, !request.ce_headers.empty());
  if (!mode) {
    respond(HttpErrorResponse(
        415, "unsupported_media_type",
        "send a CloudEvent in binary mode (ce-specversion, ce-id, ce-source and ce-type headers, "
        "the data as the body), in structured mode (Content-Type: application/cloudevents+json) "
        "or as a batch (Content-Type: application/cloudevents-batch+json); see docs/api.md"));
    return;
  }
  StatusOr<IngestBatch> parsed =
      *mode == CloudEventsMode::kBinary
          ? ParseBinaryCloudEvent(request.ce_headers, request.content_type, request.body,
                                  services.parse_limits.max_depth)
          : ParseStructuredCloudEvents(request.body, *mode == CloudEventsMode::kBatch,
                                       services.parse_limits.max_events,
                                       services.parse_limits.max_depth);
  if (!parsed.ok()) {
    NoteRefusals("cloudevents", request, services,
                 {IngestRefusal{0, "", parsed.status().message()}});
    respond(ErrorResponse(parsed.status()));
    return;
  }
  const bool batch = *mode == CloudEventsMode::kBatch;
  AppendIngest(
      std::move(parsed).value(), "cloudevents", request, services,
      [batch](const IngestOutcome& outcome) {
        if (!batch && !outcome.refused.empty()) {
          // One event, refused by the log (its customer was erased).
          return ErrorResponse(Status::FailedPrecondition(outcome.refused[0].error));
        }
        const int status = !batch && outcome.accepted == 1 ? 201 : 200;
        return JsonAnswer(status, RenderIngestAnswer(outcome, true));
      },
      std::move(respond));
}

StatusOr<Response> HandleIngestRefusals(const Request& request, const QueryParams& query,
                                        Services& services) {
  RETURN_IF_ERROR(CheckParams(query, {"actor", "limit"}));
  ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, 1000));
  const std::string* actor = FindParam(query, "actor");
  const bool sees_all =
      request.role == store::Role::kAuditor || request.role == store::Role::kAdmin;
  std::string who = actor != nullptr ? *actor : std::string();
  if (!sees_all) {
    if (actor != nullptr && *actor != request.actor) {
      return Status::PermissionDenied(
          "a key with role " + std::string(store::RoleName(request.role)) +
          " sees only its own refusals; drop ?actor= (roles auditor and admin see any actor's)");
    }
    who = request.actor;
  }
  if (services.refusals == nullptr) {
    return Status::Unavailable("this server keeps no ingest refusals");
  }
  Response r;
  r.body = services.refusals->Render(who, limit.value_or(100));
  return r;
}

}  // namespace touchline::api
