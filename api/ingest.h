// What the foreign ingest formats share (the Segment Tracking API,
// api/segment_codec.h; CloudEvents, api/cloudevents_codec.h): how a foreign
// event name becomes a touchline type, the per-message outcome of a request,
// its JSON answer, and the recent refusals a caller can look up.
//
// Those endpoints append in AppendRequest::Mode::kEachEvent
// (store/event_log.h): one bad message never fails the rest, a message id
// seen before is a duplicate (2xx, never 409, whatever the body), and every
// refused message is listed with its index and the reason, in the answer
// and in GET /v1/ingest/refusals (SDKs such as analytics-node never read
// the answer's body).
//
// Thread safety: functions are pure; IngestRefusals is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/mutex.h"
#include "store/event_log.h"

namespace simdjson::dom {
class parser;
}  // namespace simdjson::dom

namespace touchline::api {

// A foreign event name as a touchline type (core/validation.h):
//  - ASCII letters are lower-cased; every run of other characters except
//    a-z, 0-9, '_' and '-' ends a dotted segment ("Order Completed" ->
//    "order.completed");
//  - '_' and '-' at either end of a segment are dropped, and a segment that
//    would start with a digit gets an "x" ("Checkout Step 2" ->
//    "checkout.step.x2");
//  - the result is cut at a segment boundary to 128 bytes;
//  - names that would spell one of touchline's own types (customer.erased,
//    audit.*, profile.*, reminder.*, segment.*) get `fallback` and a dot in
//    front ("Profile Merged" -> "track.profile.merged"), so no integration
//    can forge a merge or an erasure;
//  - a name with nothing left ("", "!!!", "注文") becomes `fallback`.
// Different names can map to the same type ("Order Completed",
// "order.completed"); the adapters keep the original name in the data.
// REQUIRES: `fallback` is a valid type.
std::string EventTypeFromName(std::string_view name, std::string_view fallback);

// The calling thread's JSON parser for the ingest codecs, allowing
// `max_depth` levels of nesting; Internal if it cannot be allocated.
StatusOr<simdjson::dom::parser*> IngestJsonParser(std::size_t max_depth);

// One message the request could not store: its index in the request (0 for
// a single call), its id as the sender named it, and why.
struct IngestRefusal {
  std::size_t index = 0;
  std::string message_id;
  std::string error;
};

// A request's messages, parsed: the events to append (with `index[i]` the
// position of events[i] in the request and `message_ids[i]` its id as the
// sender named it) and the messages refused while parsing.
struct IngestBatch {
  std::vector<ProposedEvent> events;
  std::vector<std::size_t> index;
  std::vector<std::string> message_ids;
  std::vector<IngestRefusal> refused;

  // Message `index` of the request: `event` if `parsed` is OK, else a
  // refusal saying why.
  void Add(std::size_t index, const Status& parsed, ProposedEvent event, std::string message_id);
};

// The outcome of appending an IngestBatch: counts, the refusals of parsing
// and of the log (an erased customer) in request order, and for each stored
// or duplicate event its index, id, seq and whether it was a duplicate.
struct IngestOutcome {
  std::size_t accepted = 0;
  std::size_t duplicates = 0;
  std::vector<IngestRefusal> refused;
  struct Stored {
    std::size_t index;
    std::string id;
    Seq seq;
    bool duplicate;
  };
  std::vector<Stored> stored;
};

// `ids` are the appended events' ids (batch.events may have been moved
// into the AppendRequest).
// REQUIRES: result.events.size() == ids.size() == batch.index.size().
IngestOutcome CombineOutcome(IngestBatch batch, std::vector<std::string> ids,
                             const store::AppendResult& result);

// {"success":true,"accepted":A,"duplicates":D,"refused":[{"index":i,
// "message_id":"...","error":"..."}]} and, with `with_events`,
// "events":[{"index":i,"id":"...","seq":N,"duplicate":false}].
std::string RenderIngestAnswer(const IngestOutcome& outcome, bool with_events);

// The last refusals of every actor (at most `per_actor` each), in memory
// only: a refusal may quote what the sender sent, and nothing the log
// refused should outlive a restart. GET /v1/ingest/refusals reads them.
class IngestRefusals {
 public:
  explicit IngestRefusals(std::size_t per_actor = 1000) : per_actor_(per_actor) {}

  void Record(std::string_view actor, std::string_view route, std::int64_t at_us,
              const std::vector<IngestRefusal>& refused) EXCLUDES(mu_);

  // {"refusals":[{"at":"<RFC 3339>","actor":"...","route":"...","index":i,
  // "message_id":"...","error":"..."}]}, newest first, at most `limit`;
  // `actor` empty: every actor's.
  std::string Render(std::string_view actor, std::size_t limit) const EXCLUDES(mu_);

 private:
  struct Entry {
    std::int64_t at_us;
    std::string actor;
    std::string route;
    IngestRefusal refusal;
  };
  const std::size_t per_actor_;
  mutable Mutex mu_;
  std::map<std::string, std::deque<Entry>, std::less<>> by_actor_ GUARDED_BY(mu_);  // oldest first
};

}  // namespace touchline::api
