// JSON in (simdjson, error-code mode) and out for the HTTP API.
//
// In: the body of POST /v1/events, one event object or an array of them.
// Every field is checked (core/validation.h) and every error names its JSON
// path ("events[3].type: ..."). `data` is re-serialised minified by simdjson:
// whitespace is dropped and numbers are written in their shortest exact form
// (19.90 becomes 19.9); integers beyond 64 bits are rejected.
//
// Out: stored records are spliced verbatim (store/record_format.h); the
// envelopes around them are written with Boost.JSON.
//
// Thread safety: functions are thread-safe (parsers are thread_local).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/event_log.h"

namespace touchline::api {

struct ParseLimits {
  std::size_t max_events = 10000;  // per request
  std::size_t max_depth = 64;      // JSON nesting
};

// Parses a POST /v1/events body. Returns InvalidArgument with the path and
// the fix for anything malformed: bad JSON, a wrong type, an unknown or
// duplicated field, a missing customer or type, a bad time, too many events.
StatusOr<std::vector<ProposedEvent>> ParseEvents(std::string_view body, const ParseLimits& limits);

// Parses an expected version as the API spells it: "any", "no_stream",
// "exists" or a non-negative integer (as a number or a decimal string).
StatusOr<ExpectedVersion> ParseExpectedVersion(std::string_view text);

// `s` as a JSON string literal, quoted and escaped.
std::string JsonString(std::string_view s);

// {"events":[{"id":"e1","seq":1,"version":1,"duplicate":false},...]}
// `ids` are the request's event ids (empty where none was given).
std::string RenderAppendResult(const std::vector<std::string>& ids,
                               const store::AppendResult& result);

// {"events":[...],"next_after":17|null,"head":42}
std::string RenderEventsPage(const std::vector<store::RecordPtr>& records, Seq head);

}  // namespace touchline::api
