// Routes over the customer view and the projections (declared in
// api/handlers.h). A read of one customer first waits until the view has
// folded every acknowledged write that concerns that customer (read-your-
// writes, per customer: AfterCustomer below), other reads until it has
// folded the head the log had when they arrived; neither blocks an I/O
// thread: the runner calls back, and the work is posted to the I/O pool.
#include <simdjson.h>

#include <charconv>

#include "api/handlers.h"
#include "api/http_error.h"
#include "core/identity.h"
#include "core/time_format.h"
#include "core/validation.h"
#include "projections/customer_view.h"

namespace touchline::api {
namespace {

constexpr std::size_t kDefaultTimelineLimit = 50;
constexpr std::size_t kDefaultSearchLimit = 20;
constexpr std::size_t kMaxNoteBytes = 16 * 1024;

using Work = ProjectionWork;
using Fallback = ProjectionFallback;

void AfterCustomerViewAsync(Services& services, Responder respond, Work work,
                            Fallback fallback = nullptr) {
  AfterProjectionAsync(services.customers, "the customer view", services, std::move(respond),
                       std::move(work), std::move(fallback));
}

void AfterCustomerView(Services& services, Responder respond,
                       std::function<StatusOr<Response>()> work, Fallback fallback = nullptr) {
  AfterProjection(services.customers, "the customer view", services, std::move(respond),
                  std::move(work), std::move(fallback));
}

// What a customer read works with: the live profile `id` resolves to (none:
// an unknown id, or a stream the view has not linked to anyone).
struct Resolved {
  std::optional<projections::ProfileState> profile;
};
using CustomerWork = std::function<void(const Responder&, const Resolved&)>;

// The identity strings whose writes concern a read of `id`: the id itself
// (as a stream, and as an identity when it is one) and every identity of
// the profile it resolves to.
std::vector<std::string> TouchKeys(const std::string& id, const Resolved& r) {
  std::vector<std::string> keys;
  if (projections::SeqOfProfileId(id) == 0) {
    keys.push_back(std::string(kCustomerIdentityType) + ":" + id);
    if (id.find(':') != std::string::npos) {
      if (auto identity = ParseIdentityString(id, "id"); identity.ok()) {
        keys.push_back(IdentityString(*identity));
      }
    }
  }
  if (r.profile.has_value()) {
    keys.insert(keys.end(), r.profile->identities.begin(), r.profile->identities.end());
  }
  return keys;
}

StatusOr<Resolved> Resolve(const store::StateReader& state, const std::string& id) {
  Resolved r;
  ASSIGN_OR_RETURN(auto pid, projections::ResolveProfileId(state, id));
  if (pid.has_value()) {
    ASSIGN_OR_RETURN(r.profile, projections::LoadLiveProfile(state, *pid));
  }
  return r;
}

// Read-your-writes for one customer: resolves `id` in the customer view and
// runs `work` with it once the view has folded every acknowledged write
// touching the customer (store::EventLog::LastTouch), which for a customer
// nobody is writing to right now means at once. A write folded meanwhile
// may link more identities to the profile, so the check is repeated after
// each wait, all within one deadline (services.projection_wait from the
// first round); after three waits it falls back to waiting for the head,
// as other reads do (with a projection_wait of its own). `fallback`
// answers when the view is absent or faulted or a wait times out (else
// 503).
void AfterCustomer(Services& services, std::string id, Responder respond, CustomerWork work,
                   Fallback fallback = nullptr, int round = 0,
                   std::chrono::steady_clock::time_point deadline = {}) {
  projections::ProjectionRunner* runner = services.customers;
  if (runner == nullptr || round >= 3) {
    AfterCustomerViewAsync(
        services, std::move(respond),
        [&services, id, work = std::move(work)](const Responder& reply) {
          auto r = services.customers != nullptr ? Resolve(services.customers->state(), id)
                                                 : StatusOr<Resolved>(Resolved{});
          if (!r.ok()) {
            reply(ErrorResponse(r.status()));
            return;
          }
          work(reply, *r);
        },
        std::move(fallback));
    return;
  }
  if (round == 0) {
    deadline = std::chrono::steady_clock::now() + services.projection_wait;
  }
  const Seq folded = runner->checkpoint();
  auto resolved = Resolve(runner->state(), id);
  if (!resolved.ok()) {
    Reply(respond, fallback ? fallback(resolved.status()) : StatusOr<Response>(resolved.status()));
    return;
  }
  const Seq needed = services.log->LastTouch(TouchKeys(id, *resolved));
  if (needed <= folded) {
    work(respond, *resolved);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline > now ? deadline - now : std::chrono::steady_clock::duration::zero());
  auto post = services.post;
  runner->WaitFor(
      needed, wait,
      [&services, post, id = std::move(id), respond = std::move(respond), work = std::move(work),
       fallback = std::move(fallback), round, deadline](Status s) mutable {
        auto run = [&services, id = std::move(id), respond = std::move(respond),
                    work = std::move(work), fallback = std::move(fallback), round, deadline,
                    s = std::move(s)]() mutable {
          if (!s.ok()) {
            Reply(respond,
                  fallback ? fallback(s) : StatusOr<Response>(Status::Unavailable(s.message())));
            return;
          }
          AfterCustomer(services, std::move(id), std::move(respond), std::move(work),
                        std::move(fallback), round + 1, deadline);
        };
        if (post) {
          post(std::move(run));
        } else {
          run();
        }
      });
}

StatusOr<projections::AsOf> ParseAsOf(const std::string& text) {
  projections::AsOf as_of;
  Seq seq = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (!text.empty() && ec == std::errc() && ptr == text.data() + text.size()) {
    as_of.seq = seq;
    return as_of;
  }
  auto t = ParseRfc3339(text);
  if (!t.ok()) {
    return Status::InvalidArgument(
        "query parameter 'as_of' must be a seq (a non-negative integer) or an RFC 3339 time "
        "such as 2026-11-20T00:00:00Z");
  }
  as_of.time_us = *t;
  return as_of;
}

Status UnknownCustomer(const std::string& id) {
  return Status::NotFound("no customer known as '" + id.substr(0, 200) +
                          "' (give a customer id, a profile id p-N or an identity such as "
                          "email:alice@example.com)");
}

StatusOr<Response> CustomerViewResponse(const std::string& id, const Resolved& resolved,
                                        const QueryParams& query, Services& services) {
  const store::StateReader& state = services.customers->state();
  Response r;
  if (const std::string* as_of_text = FindParam(query, "as_of")) {
    ASSIGN_OR_RETURN(projections::AsOf as_of, ParseAsOf(*as_of_text));
    ASSIGN_OR_RETURN(r.body, projections::RenderCustomerViewAsOf(*services.log, state, id, as_of,
                                                                 services.identity_limits,
                                                                 services.max_as_of_events));
    // The person as the view knows them now (or the stream of that name).
    r.accessed = {id};
    if (resolved.profile.has_value()) {
      r.accessed = resolved.profile->Streams();
    }
    return r;
  }
  if (!resolved.profile.has_value()) {
    return UnknownCustomer(id);
  }
  ASSIGN_OR_RETURN(r.body,
                   projections::RenderCustomerView(state, *resolved.profile, *services.log));
  r.accessed = resolved.profile->Streams();
  return r;
}

// The cache key of a timeline page: everything the page depends on besides
// the streams' versions.
std::string TimelineKey(const std::string& id, const std::optional<std::string>& profile,
                        const projections::TimelineQuery& q) {
  std::string key = id;
  key.push_back('\0');
  key += profile.value_or("");
  for (const auto& s : q.streams) {
    key.push_back('\0');
    key += s;
  }
  key += '\1' + std::to_string(q.limit) + '\1' + std::to_string(q.before_seq.value_or(0));
  for (const auto& t : q.types) {
    key += '\2' + t;
  }
  for (const auto& c : q.channels) {
    key += '\3' + c;
  }
  return key;
}

StatusOr<Response> TimelineResponse(const std::string& id, std::vector<std::string> streams,
                                    std::optional<std::string> profile, const QueryParams& query,
                                    Services& services) {
  ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, services.max_page_limit));
  ASSIGN_OR_RETURN(auto before, GetUint(query, "before", 1, UINT64_MAX));
  projections::TimelineQuery q;
  q.streams = std::move(streams);
  q.limit = limit.value_or(kDefaultTimelineLimit);
  q.before_seq = before;
  if (const auto* types = FindParam(query, "types")) {
    for (auto& t : SplitComma(*types)) {
      RETURN_IF_ERROR(ValidateEventType(t, "query parameter 'types'"));
      q.types.push_back(std::move(t));
    }
  }
  if (const auto* channels = FindParam(query, "channels")) {
    for (auto& c : SplitComma(*channels)) {
      if (c.empty()) {
        return Status::InvalidArgument("query parameter 'channels' has an empty entry");
      }
      RETURN_IF_ERROR(ValidateChannel(c, "query parameter 'channels'"));
      q.channels.push_back(std::move(c));
    }
  }
  // The streams' versions now: what a cached page must have been rendered
  // at, and what says whether there is such a customer at all.
  std::vector<StreamVersion> versions;
  versions.reserve(q.streams.size());
  bool any = false;
  for (const auto& s : q.streams) {
    ASSIGN_OR_RETURN(StreamVersion v, services.log->CurrentVersion(s));
    versions.push_back(v);
    any = any || v > 0;
  }
  Response r;
  r.accessed = q.streams;
  if (q.streams.size() == 1) {
    // One stream: its version, also the ETag, is what an If-Match on the
    // next append to it can name.
    r.headers.emplace_back("ETag", "\"" + std::to_string(versions[0]) + "\"");
  }
  TimelineCache* cache = services.timeline_cache;
  std::string key;
  if (cache != nullptr && cache->enabled()) {
    key = TimelineKey(id, profile, q);
    if (auto body = cache->Lookup(key, versions)) {
      r.shared_body = std::move(body);
      return r;
    }
  }
  ASSIGN_OR_RETURN(auto page, projections::ReadTimeline(*services.log, q));
  if (page.records.empty() && !before.has_value() && q.types.empty() && q.channels.empty() &&
      !any) {
    return Status::NotFound("no events for customer '" + id.substr(0, 200) + "'");
  }
  std::size_t size = 256 + q.streams.size() * 32;
  for (const auto& rec : page.records) {
    size += rec->json.size() + 1;
  }
  std::string out;
  out.reserve(size);
  out = "{\"customer\":" + JsonString(id) +
        ",\"profile\":" + (profile ? JsonString(*profile) : "null");
  if (q.streams.size() == 1) {
    out += ",\"version\":" + std::to_string(versions[0]);
  }
  out += ",\"customers\":[";
  for (std::size_t i = 0; i < q.streams.size(); ++i) {
    out += (i ? "," : "") + JsonString(q.streams[i]);
  }
  out += "],\"events\":[";
  for (std::size_t i = 0; i < page.records.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out += page.records[i]->json;
  }
  out += "],\"next\":";
  out += page.next_before_seq ? "\"" + std::to_string(*page.next_before_seq) + "\"" : "null";
  out += "}";
  auto body = std::make_shared<const std::string>(std::move(out));
  if (!key.empty()) {
    cache->Insert(std::move(key), std::move(versions), body);
  }
  r.shared_body = std::move(body);
  return r;
}

struct Note {
  std::string id;
  std::string text;
  std::string department;
};

StatusOr<Note> ParseNote(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::dom::object obj;
  if (parser.parse(padded).get_object().get(obj)) {
    return Status::InvalidArgument(
        "the body must be a JSON object such as {\"text\": \"Called back, issue solved\"}");
  }
  Note note;
  for (auto field : obj) {
    std::string_view v;
    const std::string key(field.key);
    if (key != "text" && key != "department" && key != "id") {
      return Status::InvalidArgument(key.substr(0, 64) +
                                     ": unknown field; a note has text, department and id");
    }
    if (field.value.get_string().get(v)) {
      return Status::InvalidArgument(key + ": must be a string");
    }
    (key == "text" ? note.text : key == "department" ? note.department : note.id) = v;
  }
  // Notes may hold line breaks and tabs; other control characters are refused
  // (the parser has already checked the UTF-8).
  bool printable = true;
  for (const unsigned char c : note.text) {
    printable = printable && (c >= 0x20 || c == '\n' || c == '\r' || c == '\t') && c != 0x7f;
  }
  if (note.text.empty() || note.text.size() > kMaxNoteBytes || !printable) {
    return Status::InvalidArgument("text: required, 1 to " + std::to_string(kMaxNoteBytes) +
                                   " bytes of text without control characters other than line "
                                   "breaks and tabs");
  }
  if (obj["id"].error() == simdjson::SUCCESS) {
    RETURN_IF_ERROR(ValidateEventId(note.id, "id"));
  }
  RETURN_IF_ERROR(ValidateDepartment(note.department, "department"));
  return note;
}

std::string ProjectionJson(const projections::ProjectionStatus& st, std::uint64_t state_bytes) {
  std::string out =
      "{\"name\":" + JsonString(st.name) + ",\"version\":" + JsonString(st.version) +
      ",\"state\":" + JsonString(st.state) + ",\"checkpoint\":" + std::to_string(st.checkpoint) +
      ",\"head\":" + std::to_string(st.head) +
      ",\"lag\":" + std::to_string(st.head > st.checkpoint ? st.head - st.checkpoint : 0) +
      ",\"state_bytes\":" + std::to_string(state_bytes) + ",\"fault\":";
  out += st.state == "faulted" ? "{\"seq\":" + std::to_string(st.fault_seq) +
                                     ",\"error\":" + JsonString(st.fault) + "}"
                               : "null";
  out += ",\"rebuild\":";
  out += st.state == "rebuilding"
             ? "{\"target\":" + std::to_string(st.rebuild_target) + ",\"events_per_second\":" +
                   std::to_string(static_cast<long>(st.events_per_second)) + "}"
             : "null";
  return out + "}";
}

}  // namespace

void HandleCustomer(const std::string& id, const QueryParams& query, Services& services,
                    Responder respond) {
  if (Status s = CheckParams(query, {"as_of"}); !s.ok()) {
    respond(ErrorResponse(s));
    return;
  }
  AfterCustomer(services, id, std::move(respond),
                [id, query, &services](const Responder& reply, const Resolved& resolved) {
                  Reply(reply, CustomerViewResponse(id, resolved, query, services));
                });
}

void HandleCustomerLookup(const QueryParams& query, Services& services, Responder respond) {
  if (query.size() == 0) {
    respond(ErrorResponse(Status::InvalidArgument(
        "give one identity to look up (?email=..., ?phone=..., ?customer=..., any identity "
        "type) or ?q=prefix to search")));
    return;
  }
  if (FindParam(query, "q") != nullptr) {
    if (Status s = CheckParams(query, {"q", "limit", "after"}); !s.ok()) {
      respond(ErrorResponse(s));
      return;
    }
    AfterCustomerView(services, std::move(respond), [query, &services]() -> StatusOr<Response> {
      const std::string& q = *FindParam(query, "q");
      if (q.empty() || q.size() > kMaxIdentityValueBytes) {
        return Status::InvalidArgument("query parameter 'q' must be 1 to 256 bytes");
      }
      ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, 100));
      const std::string* after = FindParam(query, "after");
      ASSIGN_OR_RETURN(auto page, projections::SearchIdentities(
                                      services.customers->state(), q, after ? *after : "",
                                      limit.value_or(kDefaultSearchLimit)));
      Response r;
      // The identities listed are personal data of every matched person.
      for (const auto& hit : page.hits) {
        auto profile = projections::LoadLiveProfile(services.customers->state(), hit.profile);
        if (profile.ok()) {
          for (auto& s : profile->Streams()) {
            r.accessed.push_back(std::move(s));
          }
        }
      }
      r.body = "{\"matches\":[";
      for (std::size_t i = 0; i < page.hits.size(); ++i) {
        r.body += (i ? "," : "") + std::string("{\"identity\":") +
                  JsonString(page.hits[i].identity) +
                  ",\"profile\":" + JsonString(page.hits[i].profile) + "}";
      }
      r.body +=
          "],\"next_after\":" + (page.next_after ? JsonString(*page.next_after) : "null") + "}";
      return r;
    });
    return;
  }
  if (query.size() != 1) {
    respond(ErrorResponse(
        Status::InvalidArgument("look up by exactly one identity, e.g. ?email=alice@example.com")));
    return;
  }
  const auto& [type, value] = query[0];
  std::string text = type + ":" + value;
  if (type != kCustomerIdentityType) {
    auto identity = ParseIdentityString(text, "query parameter '" + type.substr(0, 64) + "'");
    if (!identity.ok()) {
      respond(ErrorResponse(identity.status()));
      return;
    }
    text = IdentityString(*identity);
  }
  AfterCustomer(services, text, std::move(respond),
                [text, &services](const Responder& reply, const Resolved& resolved) {
                  if (!resolved.profile.has_value()) {
                    reply(ErrorResponse(UnknownCustomer(text)));
                    return;
                  }
                  Response r;
                  auto body = projections::RenderCustomerView(services.customers->state(),
                                                              *resolved.profile, *services.log);
                  if (!body.ok()) {
                    reply(ErrorResponse(body.status()));
                    return;
                  }
                  r.body = std::move(body).value();
                  r.accessed = resolved.profile->Streams();
                  reply(std::move(r));
                });
}

void HandleTimeline(const std::string& id, const QueryParams& query, Services& services,
                    Responder respond) {
  Status s = ValidateCustomerId(id, "customer id in the path");
  if (s.ok()) {
    s = CheckParams(query, {"limit", "before", "types", "channels"});
  }
  if (!s.ok()) {
    respond(ErrorResponse(s));
    return;
  }
  AfterCustomer(
      services, id, std::move(respond),
      [id, query, &services](const Responder& reply, const Resolved& resolved) {
        if (!resolved.profile.has_value()) {
          Reply(reply, TimelineResponse(id, {id}, std::nullopt, query, services));
          return;
        }
        Reply(reply, TimelineResponse(id, resolved.profile->Streams(), resolved.profile->id, query,
                                      services));
      },
      // Without the view, the stream of that name alone is still readable.
      [id, query, &services](const Status&) {
        return TimelineResponse(id, {id}, std::nullopt, query, services);
      });
}

void HandleNote(const std::string& id, const Request& request, Services& services,
                Responder respond) {
  if (!IsJsonContentType(request.content_type)) {
    respond(HttpErrorResponse(415, "unsupported_media_type",
                              "send the note as JSON with Content-Type: application/json"));
    return;
  }
  auto note = ParseNote(request.body);
  if (!note.ok()) {
    respond(ErrorResponse(note.status()));
    return;
  }
  AfterCustomer(services, id, std::move(respond),
                [id, note = std::move(note).value(), actor = request.actor, &services](
                    const Responder& reply, const Resolved& resolved) {
                  if (!resolved.profile.has_value()) {
                    reply(ErrorResponse(UnknownCustomer(id)));
                    return;
                  }
                  const std::optional<projections::ProfileState>& profile = resolved.profile;
                  // The note goes to the stream named in the path if it is one, else
                  // to the profile's first stream.
                  const auto streams = profile->Streams();
                  Event e;
                  if (std::find(streams.begin(), streams.end(), id) != streams.end()) {
                    e.customer = id;
                  } else if (!streams.empty()) {
                    e.customer = streams.front();
                  } else {
                    // A profile split off by identities may have no stream yet: the
                    // note starts one named after an identity, which ties it to the
                    // profile.
                    auto identity = ParseIdentityString(profile->identities.front(), "identity");
                    if (!identity.ok()) {
                      reply(ErrorResponse(identity.status()));
                      return;
                    }
                    e.customer = profile->identities.front();
                    e.identities = {*identity};
                  }
                  const std::string stream = e.customer;
                  store::AppendRequest append;
                  append.actor = actor;
                  append.route = "POST /v1/customers/{id}/notes";
                  e.id = note.id;
                  e.type = "note.added";
                  e.department = note.department;
                  e.data = "{\"text\":" + JsonString(note.text) + "}";
                  append.events.push_back(ProposedEvent{std::move(e), {}});
                  services.log->AppendAsync(
                      std::move(append),
                      [reply, event_id = note.id, stream](StatusOr<store::AppendResult> result) {
                        Response r = AppendResponse({event_id}, result);
                        if (result.ok()) {
                          r.body.insert(1, "\"customer\":" + JsonString(stream) + ",");
                        }
                        reply(std::move(r));
                      });
                });
}

StatusOr<Response> HandleProjections(Services& services) {
  Response r;
  r.body = "{\"projections\":[";
  for (std::size_t i = 0; i < services.projections.size(); ++i) {
    r.body += (i ? "," : "") + ProjectionJson(services.projections[i]->status(),
                                              services.projections[i]->state_bytes());
  }
  r.body += "]}";
  return r;
}

StatusOr<Response> HandleRebuild(const std::string& name, Services& services) {
  for (auto* p : services.projections) {
    if (p->name() == name) {
      p->RequestRebuild();
      Response r;
      r.status = 202;
      r.body = "{\"projection\":" + JsonString(name) +
               ",\"state\":\"rebuilding\",\"progress\":\"GET /v1/projections\"}";
      return r;
    }
  }
  return Status::NotFound("no projection named '" + name.substr(0, 64) +
                          "'; GET /v1/projections lists them");
}

}  // namespace touchline::api
