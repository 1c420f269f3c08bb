// CloudEvents 1.0 over HTTP as touchline events: POST /v1/cloudevents in
// binary mode (attributes in ce-* headers, the body is the data), structured
// mode (Content-Type: application/cloudevents+json) and batched mode
// (application/cloudevents-batch+json, a JSON array of at most
// ParseLimits::max_events events). docs/api.md ("CloudEvents") has the
// answers.
//
// Mapping of one CloudEvent to an event:
//   id        "ce:" + the first 32 hex digits of SHA-256 over the
//             length-prefixed source and id: the pair is the CloudEvent's
//             identity, so a resend is a duplicate (2xx), and no source can
//             collide with another's ids.
//   customer  `subject`: an identity "type:value" of type user_id,
//             anonymous_id, email, phone or a dotted custom type
//             ("social.twitter", "crm.contact_id") is normalised and added
//             to the identities, and the stream is named after the first
//             usable one of all the event's identities (core/identity.h);
//             "customer:<id>" names a stream directly; anything else
//             ("urn:...", "https://...": resource names, which people may
//             share) is the stream's name as given and links no one. A
//             stream name starting with '~' is refused. Without a subject,
//             the `identities` extension must name the person.
//   type      `type` through EventTypeFromName (api/ingest.h): lower-cased,
//             reverse-DNS dots kept ("com.example.Ticket.Opened" ->
//             "com.example.ticket.opened").
//   time      `time` (RFC 3339); absent: the time it is recorded.
//   channel, department  the extensions of those names (touchline's).
//   identities  the extension `identities`: comma-separated "type:value".
//   data      a JSON object's members at the top level; other JSON as
//             {"value": ...}; text (a text/* datacontenttype) as
//             {"text": "..."}; anything else, and data_base64, as
//             {"data_base64": "..."}. Plus "cloudevents": {"id", "source",
//             "type", "subject", "time", "datacontenttype", "dataschema",
//             "extensions": {...}} as sent. A data member named
//             "cloudevents" is moved to cloudevents.conflicting_data.
// Header values in binary mode are percent-decoded (RFC 3986 %XX; the
// result must be UTF-8). Extension names are 1-20 of a-z and 0-9; values
// strings, numbers or booleans.
//
// Thread safety: functions are thread-safe (parsers are thread_local).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/ingest.h"
#include "core/status.h"

namespace touchline::api {

enum class CloudEventsMode : std::uint8_t { kBinary, kStructured, kBatch };

// The mode a request's Content-Type and headers select; nullopt: none (an
// answer of 415 should say how to send one).
std::optional<CloudEventsMode> CloudEventsModeFor(std::string_view content_type,
                                                  bool has_ce_headers);

// Binary mode: `ce_headers` are (name without "ce-", lower-cased; raw value).
// Any error fails the request.
StatusOr<IngestBatch> ParseBinaryCloudEvent(
    const std::vector<std::pair<std::string, std::string>>& ce_headers,
    std::string_view content_type, std::string_view body, std::size_t max_depth);

// Structured mode (one event; any error fails the request) or batched mode
// (a bad item is refused alone; a body that is not an array of 1 to
// `max_events` fails the request).
StatusOr<IngestBatch> ParseStructuredCloudEvents(std::string_view body, bool batch,
                                                 std::size_t max_events, std::size_t max_depth);

}  // namespace touchline::api
