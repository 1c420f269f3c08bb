// The sink routes (see api/router.h): webhook sinks, admin only, over
// sinks::SinkService (sinks/sink_service.h).
#include <boost/json.hpp>

#include "api/handlers.h"
#include "api/http_error.h"
#include "sinks/sink_service.h"

namespace touchline::api {
namespace {

namespace json = boost::json;

Response SinkResponse(int status, const sinks::SinkInfo& info) {
  Response r;
  r.status = status;
  r.body = "{\"sink\":" + sinks::EncodeSinkInfo(info) + "}";
  return r;
}

bool Available(Services& s, const Responder& respond) {
  if (s.sinks == nullptr) {
    respond(HttpErrorResponse(503, "unavailable", "webhook sinks are not running on this server"));
    return false;
  }
  return true;
}

// The seq of POST /v1/sinks/{id}/replay's body {"from_seq": N}.
StatusOr<Seq> ParseReplay(const Request& request) {
  boost::system::error_code ec;
  json::value v = json::parse(request.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* from = o != nullptr ? o->if_contains("from_seq") : nullptr;
  if (from == nullptr || !from->is_int64() || from->get_int64() < 1 || o->size() != 1) {
    return Status::InvalidArgument(
        "the body must be {\"from_seq\": N}: the seq (>= 1) to deliver from again");
  }
  return static_cast<Seq>(from->get_int64());
}

}  // namespace

void HandleCreateSink(const Request& request, Services& services, Responder respond) {
  if (!Available(services, respond)) {
    return;
  }
  if (!IsJsonContentType(request.content_type)) {
    respond(HttpErrorResponse(415, "unsupported_media_type",
                              "send the sink as JSON with Content-Type: application/json"));
    return;
  }
  auto create = sinks::ParseSinkCreate(request.body);
  if (!create.ok()) {
    Reply(respond, create.status());
    return;
  }
  services.sinks->Create(std::move(create).value(), request.actor,
                         [respond = std::move(respond)](StatusOr<sinks::CreatedSink> r) {
                           if (!r.ok()) {
                             Reply(respond, r.status());
                             return;
                           }
                           Response out;
                           out.status = 201;
                           out.body = "{\"sink\":" + sinks::EncodeSinkInfo(r->info) +
                                      ",\"secret\":" + JsonString(r->secret) + "}";
                           out.headers.emplace_back("Location",
                                                    "/v1/sinks/" + r->info.state.definition.id);
                           respond(std::move(out));
                         });
}

StatusOr<Response> HandleGetSinks(const std::string& id, Services& services) {
  if (services.sinks == nullptr) {
    return Status::Unavailable("webhook sinks are not running on this server");
  }
  if (!id.empty()) {
    ASSIGN_OR_RETURN(auto info, services.sinks->Get(id));
    return SinkResponse(200, info);
  }
  Response r;
  r.body = "{\"sinks\":[";
  bool first = true;
  for (const auto& info : services.sinks->List()) {
    r.body += (first ? "" : ",") + sinks::EncodeSinkInfo(info);
    first = false;
  }
  r.body += "]}";
  return r;
}

void HandleChangeSink(const std::string& id, sinks::SinkChange change, const Request& request,
                      Services& services, Responder respond) {
  if (!Available(services, respond)) {
    return;
  }
  Seq from = 0;
  if (change == sinks::SinkChange::kReplay) {
    if (!IsJsonContentType(request.content_type)) {
      respond(
          HttpErrorResponse(415, "unsupported_media_type",
                            "send {\"from_seq\": N} as JSON with Content-Type: application/json"));
      return;
    }
    auto seq = ParseReplay(request);
    if (!seq.ok()) {
      Reply(respond, seq.status());
      return;
    }
    from = *seq;
  }
  services.sinks->Change(id, change, from, request.actor,
                         [respond = std::move(respond), change](StatusOr<sinks::SinkInfo> r) {
                           if (!r.ok()) {
                             Reply(respond, r.status());
                             return;
                           }
                           if (change == sinks::SinkChange::kDelete) {
                             Response out;
                             out.body = "{\"deleted\":" + JsonString(r->state.definition.id) + "}";
                             respond(std::move(out));
                             return;
                           }
                           respond(SinkResponse(200, *r));
                         });
}

}  // namespace touchline::api
