#include "api/ingest.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>

#include "api/json_codec.h"
#include "core/time_format.h"
#include "core/validation.h"
#include "store/sealing.h"

namespace touchline::api {
namespace {

bool IsWordByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// touchline's own types: a foreign name never becomes one of them.
bool IsReservedType(std::string_view type) {
  return type == store::kCustomerErasedType ||
         TypeMatchesAny(type, {"audit", "profile", "reminder", "segment"});
}

}  // namespace

std::string EventTypeFromName(std::string_view name, std::string_view fallback) {
  std::string out;
  std::string segment;
  bool full = false;  // a segment did not fit: the type ends before it
  const auto finish_segment = [&] {
    if (full) {
      segment.clear();
      return;
    }
    std::string_view s = segment;
    while (!s.empty() && (s.front() == '_' || s.front() == '-')) {
      s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == '_' || s.back() == '-')) {
      s.remove_suffix(1);
    }
    if (!s.empty()) {
      const std::size_t extra = (s.front() >= 'a' && s.front() <= 'z') ? 0 : 1;
      const std::size_t need = (out.empty() ? 0 : 1) + extra + s.size();
      if (out.size() + need <= kMaxEventTypeBytes) {
        out += out.empty() ? "" : ".";
        out += extra != 0 ? "x" : "";
        out.append(s);
      } else {
        full = true;
      }
    }
    segment.clear();
  };
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (IsWordByte(c)) {
      segment.push_back(c);
    } else {
      finish_segment();
    }
  }
  finish_segment();
  if (out.empty()) {
    return std::string(fallback);
  }
  if (IsReservedType(out)) {
    std::string prefixed = std::string(fallback) + "." + out;
    if (prefixed.size() > kMaxEventTypeBytes) {
      return std::string(fallback);
    }
    return prefixed;
  }
  return out;
}

StatusOr<simdjson::dom::parser*> IngestJsonParser(std::size_t max_depth) {
  thread_local simdjson::dom::parser parser;
  if (parser.max_depth() != max_depth &&
      parser.allocate(std::max<std::size_t>(parser.capacity(), 4096), max_depth) !=
          simdjson::SUCCESS) {
    return Status::Internal("cannot allocate the JSON parser");
  }
  return &parser;
}

void IngestBatch::Add(std::size_t i, const Status& parsed, ProposedEvent event,
                      std::string message_id) {
  if (parsed.ok()) {
    events.push_back(std::move(event));
    index.push_back(i);
    message_ids.push_back(std::move(message_id));
  } else {
    refused.push_back(IngestRefusal{i, std::move(message_id), parsed.message()});
  }
}

IngestOutcome CombineOutcome(IngestBatch batch, std::vector<std::string> ids,
                             const store::AppendResult& result) {
  IngestOutcome out;
  out.refused = std::move(batch.refused);
  for (std::size_t i = 0; i < result.events.size(); ++i) {
    const AppendedEvent& r = result.events[i];
    if (!r.refused.ok()) {
      out.refused.push_back(
          IngestRefusal{batch.index[i], std::move(batch.message_ids[i]), r.refused.message()});
      continue;
    }
    (r.duplicate ? out.duplicates : out.accepted) += 1;
    out.stored.push_back(
        IngestOutcome::Stored{batch.index[i], std::move(ids[i]), r.seq, r.duplicate});
  }
  std::stable_sort(
      out.refused.begin(), out.refused.end(),
      [](const IngestRefusal& a, const IngestRefusal& b) { return a.index < b.index; });
  return out;
}

std::string RenderIngestAnswer(const IngestOutcome& outcome, bool with_events) {
  std::string out = "{\"success\":true,\"accepted\":" + std::to_string(outcome.accepted) +
                    ",\"duplicates\":" + std::to_string(outcome.duplicates) + ",\"refused\":[";
  for (std::size_t i = 0; i < outcome.refused.size(); ++i) {
    const IngestRefusal& r = outcome.refused[i];
    out += i == 0 ? "{" : ",{";
    out += "\"index\":" + std::to_string(r.index) + ",\"message_id\":" + JsonString(r.message_id) +
           ",\"error\":" + JsonString(r.error) + "}";
  }
  out += "]";
  if (with_events) {
    out += ",\"events\":[";
    for (std::size_t i = 0; i < outcome.stored.size(); ++i) {
      const auto& s = outcome.stored[i];
      out += i == 0 ? "{" : ",{";
      out += "\"index\":" + std::to_string(s.index) + ",\"id\":" + JsonString(s.id) +
             ",\"seq\":" + std::to_string(s.seq) +
             ",\"duplicate\":" + (s.duplicate ? "true" : "false") + "}";
    }
    out += "]";
  }
  out += "}";
  return out;
}

void IngestRefusals::Record(std::string_view actor, std::string_view route, std::int64_t at_us,
                            const std::vector<IngestRefusal>& refused) {
  if (refused.empty() || per_actor_ == 0) {
    return;
  }
  MutexLock lock(&mu_);
  auto it = by_actor_.find(actor);
  if (it == by_actor_.end()) {
    it = by_actor_.emplace(std::string(actor), std::deque<Entry>()).first;
  }
  for (const IngestRefusal& r : refused) {
    it->second.push_back(Entry{at_us, std::string(actor), std::string(route), r});
    if (it->second.size() > per_actor_) {
      it->second.pop_front();
    }
  }
}

std::string IngestRefusals::Render(std::string_view actor, std::size_t limit) const {
  std::vector<const Entry*> picked;
  MutexLock lock(&mu_);
  for (const auto& [name, entries] : by_actor_) {
    if (!actor.empty() && name != actor) {
      continue;
    }
    for (const Entry& e : entries) {
      picked.push_back(&e);
    }
  }
  // Newest first; within one request, in index order.
  std::stable_sort(picked.begin(), picked.end(),
                   [](const Entry* a, const Entry* b) { return a->at_us > b->at_us; });
  if (picked.size() > limit) {
    picked.resize(limit);
  }
  std::string out = "{\"refusals\":[";
  for (std::size_t i = 0; i < picked.size(); ++i) {
    const Entry& e = *picked[i];
    out += i == 0 ? "{" : ",{";
    out += "\"at\":" + JsonString(FormatRfc3339(e.at_us)) + ",\"actor\":" + JsonString(e.actor) +
           ",\"route\":" + JsonString(e.route) + ",\"index\":" + std::to_string(e.refusal.index) +
           ",\"message_id\":" + JsonString(e.refusal.message_id) +
           ",\"error\":" + JsonString(e.refusal.error) + "}";
  }
  out += "]}";
  return out;
}

}  // namespace touchline::api
