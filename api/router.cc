#include "api/router.h"

#include <boost/url/parse.hpp>

#include "api/console_assets.h"
#include "api/handlers.h"
#include "api/http_error.h"

namespace touchline::api {
namespace {

Response MethodNotAllowed(const std::string& method, std::string_view allow) {
  Response r = HttpErrorResponse(
      405, "method_not_allowed",
      "method " + method.substr(0, 16) + " is not allowed here; allowed: " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

}  // namespace

void Route(const Request& request, Services& services, Responder respond) {
  auto url = boost::urls::parse_origin_form(request.target);
  if (!url) {
    respond(HttpErrorResponse(400, "invalid_argument",
                              "the request target is not a valid path and query"));
    return;
  }
  std::vector<std::string> segments;
  for (auto seg : url->segments()) {
    segments.push_back(seg);
  }
  QueryParams query;
  for (auto param : url->params()) {
    query.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  const std::string& m = request.method;
  const bool get = m == "GET" || m == "HEAD";

  if (segments.size() == 1 && (segments[0] == "healthz" || segments[0] == "readyz")) {
    if (!get) {
      respond(MethodNotAllowed(m, "GET"));
      return;
    }
    Reply(respond, segments[0] == "healthz" ? HandleHealthz(services) : HandleReadyz(services));
    return;
  }
  if (segments.size() == 2 && segments[0] == "v1" && segments[1] == "events") {
    if (m == "POST") {
      HandleAppend(request, services, std::move(respond));
    } else if (get) {
      Reply(respond, HandleReadLog(request, query, services));
    } else {
      respond(MethodNotAllowed(m, "GET, POST"));
    }
    return;
  }
  const bool v1 = !segments.empty() && segments[0] == "v1";
  if (v1 && segments.size() >= 2 && segments[1] == "customers") {
    if (segments.size() == 2) {
      if (!get) {
        respond(MethodNotAllowed(m, "GET"));
        return;
      }
      HandleCustomerLookup(query, services, std::move(respond));
      return;
    }
    if (segments.size() == 3) {
      if (!get) {
        respond(MethodNotAllowed(m, "GET"));
        return;
      }
      HandleCustomer(segments[2], query, services, std::move(respond));
      return;
    }
    if (segments.size() == 4 && segments[3] == "timeline") {
      if (!get) {
        respond(MethodNotAllowed(m, "GET"));
        return;
      }
      HandleTimeline(segments[2], query, services, std::move(respond));
      return;
    }
    if (segments.size() == 4 && segments[3] == "reminders") {
      if (!get) {
        respond(MethodNotAllowed(m, "GET"));
        return;
      }
      HandleCustomerReminders(segments[2], services, std::move(respond));
      return;
    }
    if (segments.size() == 4 && segments[3] == "notes") {
      if (m != "POST") {
        respond(MethodNotAllowed(m, "POST"));
        return;
      }
      HandleNote(segments[2], request, services, std::move(respond));
      return;
    }
  }
  if (v1 && segments.size() == 2 && segments[1] == "reminder-rules") {
    if (m == "POST") {
      HandleCreateRule(request, services, std::move(respond));
    } else if (get) {
      HandleGetRules("", services, std::move(respond));
    } else {
      respond(MethodNotAllowed(m, "GET, POST"));
    }
    return;
  }
  if (v1 && segments.size() == 3 && segments[1] == "reminder-rules") {
    if (get) {
      HandleGetRules(segments[2], services, std::move(respond));
    } else if (m == "PUT") {
      HandlePutRule(segments[2], request, services, std::move(respond));
    } else if (m == "DELETE") {
      HandleDeleteRule(segments[2], services, std::move(respond));
    } else {
      respond(MethodNotAllowed(m, "GET, PUT, DELETE"));
    }
    return;
  }
  if (v1 && (segments.size() == 2 || segments.size() == 3) &&
      (segments[1] == "reminders" || (segments[1] == "campaigns" && segments.size() == 3))) {
    if (!get) {
      respond(MethodNotAllowed(m, "GET"));
      return;
    }
    if (segments[1] == "campaigns") {
      HandleCampaign(segments[2], services, std::move(respond));
    } else if (segments.size() == 3) {
      HandleGetReminder(segments[2], services, std::move(respond));
    } else {
      HandleListReminders(query, services, std::move(respond));
    }
    return;
  }
  if (v1 && segments.size() == 2 && segments[1] == "projections") {
    if (!get) {
      respond(MethodNotAllowed(m, "GET"));
      return;
    }
    Reply(respond, HandleProjections(services));
    return;
  }
  if (v1 && segments.size() == 4 && segments[1] == "projections" && segments[3] == "rebuild") {
    if (m != "POST") {
      respond(MethodNotAllowed(m, "POST"));
      return;
    }
    Reply(respond, HandleRebuild(segments[2], services));
    return;
  }
  if (v1 && segments.size() == 2 && segments[1] == "stream") {
    // A WebSocket upgrade never gets here (the session takes it over).
    Response r = HttpErrorResponse(426, "upgrade_required",
                                   "GET /v1/stream is a WebSocket endpoint: connect with a "
                                   "WebSocket client (see the Live stream section of README.md)");
    r.headers.emplace_back("Upgrade", "websocket");
    r.headers.emplace_back("Connection", "Upgrade");
    respond(std::move(r));
    return;
  }
  if (segments.empty() || (segments.size() == 1 && segments[0].empty()) ||
      (segments.size() == 2 && segments[0] == "console")) {
    const ConsoleAsset* asset =
        FindConsoleAsset(segments.size() == 2 ? std::string_view(segments[1]) : "index.html");
    if (asset != nullptr) {
      if (!get) {
        respond(MethodNotAllowed(m, "GET"));
        return;
      }
      Response r;
      r.content_type = std::string(asset->content_type);
      r.body = std::string(asset->body);
      r.headers.emplace_back("Cache-Control", "no-cache");
      r.headers.emplace_back("X-Content-Type-Options", "nosniff");
      respond(std::move(r));
      return;
    }
  }
  respond(HttpErrorResponse(404, "not_found",
                            "no route for " + std::string(url->path()).substr(0, 200) +
                                "; see the API section of README.md"));
}

}  // namespace touchline::api
