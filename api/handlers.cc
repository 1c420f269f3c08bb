#include "api/handlers.h"

#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <memory>

#include "api/http_error.h"
#include "api/json_codec.h"
#include "core/metrics.h"
#include "core/validation.h"
#include "projections/reminder_reader.h"
#include "store/backup.h"

namespace touchline::api {

Status CheckParams(const QueryParams& query, std::initializer_list<std::string_view> allowed) {
  for (std::size_t i = 0; i < query.size(); ++i) {
    const auto& name = query[i].first;
    bool known = false;
    for (auto a : allowed) {
      known = known || name == a;
    }
    if (!known) {
      std::string list;
      for (auto a : allowed) {
        list += list.empty() ? "" : ", ";
        list += a;
      }
      return Status::InvalidArgument("unknown query parameter '" + name.substr(0, 64) +
                                     "'; this route accepts " + list);
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (query[j].first == name) {
        return Status::InvalidArgument("query parameter '" + name + "' is given more than once");
      }
    }
  }
  return Status::Ok();
}

const std::string* FindParam(const QueryParams& query, std::string_view name) {
  for (const auto& [k, v] : query) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

// An optional integer parameter within [min, max].
StatusOr<std::optional<std::uint64_t>> GetUint(const QueryParams& query, std::string_view name,
                                               std::uint64_t min, std::uint64_t max) {
  const std::string* v = FindParam(query, name);
  if (v == nullptr) {
    return std::optional<std::uint64_t>();
  }
  std::uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || ptr != v->data() + v->size() || n < min || n > max) {
    return Status::InvalidArgument("query parameter '" + std::string(name) + "' must be an " +
                                   "integer from " + std::to_string(min) + " to " +
                                   std::to_string(max) + ", got '" + v->substr(0, 32) + "'");
  }
  return std::optional<std::uint64_t>(n);
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t end = std::min(s.find(',', start), s.size());
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void AfterProjectionAsync(projections::ProjectionRunner* runner, std::string_view what,
                          Services& services, Responder respond, ProjectionWork work,
                          ProjectionFallback fallback) {
  if (runner == nullptr) {
    Status s = Status::Unavailable(std::string(what) + " is not running on this server");
    Reply(respond, fallback ? fallback(s) : StatusOr<Response>(s));
    return;
  }
  const Seq head = services.log->head();
  if (runner->checkpoint() >= head) {
    work(respond);
    return;
  }
  auto post = services.post;
  runner->WaitFor(head, services.projection_wait,
                  [post, respond = std::move(respond), work = std::move(work),
                   fallback = std::move(fallback)](Status s) mutable {
                    auto run = [respond = std::move(respond), work = std::move(work),
                                fallback = std::move(fallback), s = std::move(s)] {
                      if (s.ok()) {
                        work(respond);
                      } else if (fallback) {
                        Reply(respond, fallback(s));
                      } else {
                        // Faulted or lagging: the projection cannot answer now.
                        Reply(respond, StatusOr<Response>(Status::Unavailable(s.message())));
                      }
                    };
                    if (post) {
                      post(std::move(run));
                    } else {
                      run();
                    }
                  });
}

void AfterProjection(projections::ProjectionRunner* runner, std::string_view what,
                     Services& services, Responder respond,
                     std::function<StatusOr<Response>()> work, ProjectionFallback fallback) {
  AfterProjectionAsync(
      runner, what, services, std::move(respond),
      [work = std::move(work)](const Responder& r) { Reply(r, work()); }, std::move(fallback));
}

void Reply(const Responder& respond, StatusOr<Response> result) {
  respond(result.ok() ? std::move(result).value() : ErrorResponse(result.status()));
}

Response AppendResponse(const std::vector<std::string>& ids,
                        const StatusOr<store::AppendResult>& result) {
  if (!result.ok()) {
    return ErrorResponse(result.status());
  }
  Response r;
  r.status = result->AllDuplicates() ? 200 : 201;
  r.body = RenderAppendResult(ids, *result);
  return r;
}

bool IsJsonContentType(std::string_view ct) {
  if (ct.empty()) {
    return true;  // be lenient with clients that send none
  }
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') {
    ct.remove_suffix(1);
  }
  return ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"));
}

namespace {

constexpr std::size_t kDefaultLogLimit = 100;

bool WantsNdjson(std::string_view accept) {
  return accept.find("application/x-ndjson") != std::string_view::npos ||
         accept.find("application/jsonl") != std::string_view::npos;
}

// Applies an If-Match header ("5", "\"5\"", W/"5" or "*") to a request.
Status ApplyIfMatch(std::string_view header, std::vector<ProposedEvent>* events) {
  if (header.empty()) {
    return Status::Ok();
  }
  for (std::size_t i = 0; i < events->size(); ++i) {
    if ((*events)[i].event.customer != (*events)[0].event.customer) {
      return Status::InvalidArgument(
          "If-Match applies to one customer's stream, but the events belong to several "
          "customers; use the expected_version field on each event instead");
    }
    if (!(*events)[i].expected_version.IsAny()) {
      return Status::InvalidArgument(
          "If-Match and an expected_version field cannot be combined in one request");
    }
  }
  std::string_view v = header;
  if (v.starts_with("W/")) {
    v.remove_prefix(2);
  }
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
  }
  if (v == "*") {
    (*events)[0].expected_version = ExpectedVersion::Exists();
    return Status::Ok();
  }
  auto parsed = ParseExpectedVersion(v);
  if (!parsed.ok()) {
    return parsed.status().WithPrefix("If-Match");
  }
  // The first event carries the check; the rest follow it atomically.
  (*events)[0].expected_version = *parsed;
  return Status::Ok();
}

}  // namespace

void HandleAppend(const Request& request, Services& services, Responder respond) {
  if (!IsJsonContentType(request.content_type)) {
    respond(HttpErrorResponse(415, "unsupported_media_type",
                              "send the events as JSON with Content-Type: application/json"));
    return;
  }
  auto parsed = ParseEvents(request.body, services.parse_limits);
  if (!parsed.ok()) {
    respond(ErrorResponse(parsed.status()));
    return;
  }
  if (Status s = ApplyIfMatch(request.if_match, &*parsed); !s.ok()) {
    respond(ErrorResponse(s));
    return;
  }
  std::vector<std::string> ids;
  ids.reserve(parsed->size());
  for (const auto& e : *parsed) {
    ids.push_back(e.event.id);
  }
  store::AppendRequest append;
  append.events = std::move(parsed).value();
  append.actor = request.actor;
  services.log->AppendAsync(std::move(append), [respond = std::move(respond), ids = std::move(ids)](
                                                   StatusOr<store::AppendResult> result) {
    respond(AppendResponse(ids, result));
  });
}

StatusOr<Response> HandleReadLog(const Request& request, const QueryParams& query,
                                 Services& services) {
  RETURN_IF_ERROR(CheckParams(query, {"after", "limit"}));
  ASSIGN_OR_RETURN(auto after, GetUint(query, "after", 0, UINT64_MAX - 1));
  const bool ndjson = WantsNdjson(request.accept);
  const std::uint64_t max_limit = ndjson ? UINT64_MAX : services.max_page_limit;
  ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, max_limit));
  const Seq first = after.value_or(0) + 1;
  if (!ndjson) {
    ASSIGN_OR_RETURN(auto records, services.log->ReadFrom(first, limit.value_or(kDefaultLogLimit)));
    Response r;
    r.body = RenderEventsPage(records, services.log->head());
    r.accessed = {"*"};
    return r;
  }
  // NDJSON: one opened record per line, from `first` up to the head at the
  // time of the request (or `limit` records), read in chunks.
  struct Cursor {
    Seq next;
    Seq last;
  };
  const Seq head = services.log->head();
  Seq last = head;
  if (limit.has_value() && first <= head && *limit <= head - first) {
    last = first + *limit - 1;
  }
  auto cursor = std::make_shared<Cursor>(Cursor{first, last});
  store::EventLog* log = services.log;
  const std::size_t chunk = services.ndjson_chunk_records;
  Response r;
  r.content_type = "application/x-ndjson";
  r.accessed = {"*"};
  r.stream = [cursor, log, chunk]() -> StatusOr<std::string> {
    std::string out;
    if (cursor->next > cursor->last) {
      return out;
    }
    const std::size_t n = std::min<std::uint64_t>(chunk, cursor->last - cursor->next + 1);
    ASSIGN_OR_RETURN(auto records, log->ReadFrom(cursor->next, n));
    if (records.empty()) {
      return Status::DataLoss("the log ended before seq " + std::to_string(cursor->next));
    }
    std::size_t bytes = 0;
    for (const auto& rec : records) {
      bytes += rec->json.size() + 1;
    }
    out.reserve(bytes);
    for (const auto& rec : records) {
      out += rec->json;
      out.push_back('\n');
    }
    cursor->next = records.back()->seq + 1;
    return out;
  };
  return r;
}

StatusOr<Response> HandleHealthz(Services& /*services*/) {
  Response r;
  r.body = "{\"status\":\"ok\"}";
  return r;
}

StatusOr<Response> HandleReadyz(Services& services) {
  if (services.draining != nullptr && services.draining->load()) {
    return Status::Unavailable("shutting down");
  }
  RETURN_IF_ERROR(services.log->WriteHealth());
  // Projections are reported, not required: a faulted or rebuilding view
  // does not stop ingest, so it does not take the server out of rotation.
  Response r;
  r.body = "{\"status\":\"ready\",\"head\":" + std::to_string(services.log->head()) +
           ",\"projections\":{";
  for (std::size_t i = 0; i < services.projections.size(); ++i) {
    const auto st = services.projections[i]->status();
    r.body += (i ? ",\"" : "\"") + st.name + "\":{\"state\":\"" + st.state +
              "\",\"checkpoint\":" + std::to_string(st.checkpoint) + "}";
  }
  r.body += "}}";
  return r;
}

StatusOr<Response> HandleWhoAmI(const Request& request, Services& services) {
  Response r;
  r.body = "{\"name\":" + JsonString(request.actor) + ",\"role\":\"" +
           std::string(store::RoleName(request.role)) + "\",\"open_mode\":" +
           (services.access == nullptr || services.access->open() ? "true" : "false") + "}";
  return r;
}

StatusOr<Response> HandleMetrics(Services& services) {
  std::string out = Metrics::Default().Render();
  // Gauges read from their owners at scrape time.
  const store::EventLogStats stats = services.log->Stats();
  auto gauge = [&out](std::string_view name, std::string_view help, std::string_view labels,
                      double value, std::string_view type = "gauge") {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " +
           std::string(name) + " " + std::string(type) + "\n";
    AppendSample(&out, name, labels, value);
  };
  gauge("touchline_log_head_seq", "The last committed seq", "", static_cast<double>(stats.head));
  out +=
      "# HELP touchline_projection_lag_events Events committed but not yet folded\n"
      "# TYPE touchline_projection_lag_events gauge\n";
  for (auto* p : services.projections) {
    const auto st = p->status();
    AppendSample(&out, "touchline_projection_lag_events", Labels({{"projection", st.name}}),
                 static_cast<double>(st.head > st.checkpoint ? st.head - st.checkpoint : 0));
  }
  if (services.reminders != nullptr) {
    // One read: the fold keeps the total (projections/reminder_reader.h).
    auto pending = projections::ReminderReader(services.reminders->state()).PendingCount();
    if (pending.ok()) {
      gauge("touchline_reminders_pending", "Reminders scheduled and not yet due or cancelled", "",
            static_cast<double>(*pending));
    }
  }
  out +=
      "# HELP touchline_rocksdb_pending_compaction_bytes RocksDB's estimate of bytes to "
      "compact\n# TYPE touchline_rocksdb_pending_compaction_bytes gauge\n";
  for (const auto& cf : stats.column_families) {
    AppendSample(&out, "touchline_rocksdb_pending_compaction_bytes",
                 Labels({{"column_family", cf.name}}),
                 static_cast<double>(cf.pending_compaction_bytes));
  }
  out +=
      "# HELP touchline_rocksdb_memtable_bytes Memtable bytes\n"
      "# TYPE touchline_rocksdb_memtable_bytes gauge\n";
  for (const auto& cf : stats.column_families) {
    AppendSample(&out, "touchline_rocksdb_memtable_bytes", Labels({{"column_family", cf.name}}),
                 static_cast<double>(cf.memtable_bytes));
  }
  gauge("touchline_rocksdb_running_compactions", "Compactions running now", "",
        static_cast<double>(stats.running_compactions));
  gauge("touchline_rocksdb_block_cache_bytes", "Block cache bytes in use", "",
        static_cast<double>(stats.block_cache_bytes));
  gauge("touchline_rocksdb_block_cache_hits_total", "Block cache hits since start", "",
        static_cast<double>(stats.block_cache_hits), "counter");
  gauge("touchline_rocksdb_block_cache_misses_total", "Block cache misses since start", "",
        static_cast<double>(stats.block_cache_misses), "counter");
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

StatusOr<Response> HandleBackup(const Request& request, Services& services) {
  if (!IsJsonContentType(request.content_type)) {
    return HttpErrorResponse(
        415, "unsupported_media_type",
        "send {\"dir\":\"/absolute/path\"} with Content-Type: application/json");
  }
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(request.body, ec);
  const boost::json::string* dir = nullptr;
  if (!ec && body.is_object()) {
    if (const auto* d = body.as_object().if_contains("dir"); d != nullptr && d->is_string()) {
      dir = &d->as_string();
    }
  }
  if (dir == nullptr || dir->empty() || dir->front() != '/' || body.as_object().size() != 1) {
    return Status::InvalidArgument(
        "the body must be {\"dir\":\"/absolute/path\"}: a directory on the server's machine "
        "(created if missing; later backups there are incremental)");
  }
  if (services.data_dir.empty()) {
    return Status::Unavailable("backups are not available on this server");
  }
  static std::atomic<bool> running{false};
  if (running.exchange(true)) {
    return Status::FailedPrecondition("a backup is already running; retry when it is done");
  }
  struct Done {
    ~Done() { running = false; }
  } done;
  const auto started = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto info,
                   store::BackupDataDir(services.log, services.data_dir, std::string(*dir)));
  Response r;
  r.status = 201;
  r.body = "{\"backup_id\":" + std::to_string(info.id) + ",\"dir\":" + JsonString(*dir) +
           ",\"head\":" + std::to_string(info.head) + ",\"bytes\":" + std::to_string(info.bytes) +
           ",\"seconds\":" +
           std::to_string(
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()) +
           "}";
  return r;
}

}  // namespace touchline::api
