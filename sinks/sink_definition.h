// SinkDefinition: a webhook sink as an admin writes it (POST /v1/sinks) and
// as the `sink.created` event on the `~sinks` stream stores it
// (sinks/sink_registry.h). A sink pushes the log's events, as CloudEvents,
// to one HTTP endpoint (sinks/sink_service.h).
//
//   {"id": "crm-export",                 required: 1-64 of a-z 0-9 _ -
//    "url": "https://crm.example/in",    required: an http:// or https://
//                                        URL, at most 2,048 bytes (https:
//                                        the receiver's certificate must
//                                        verify; api/webhook_client.h)
//    "description": "to the CRM",        optional, at most 200 bytes
//    "filter": {                         optional; every list at most 100
//      "types": ["purchase", "ticket.opened"],   dotted prefixes, as in
//                                        timeline queries: "purchase" keeps
//                                        "purchase.completed", not "purchases"
//      "channels": ["email"],            exact channels
//      "customers": ["c-1"],             exact stream ids
//      "departments": ["support"]},      exact departments
//                                        an empty or absent list keeps all;
//                                        the lists combine with AND
//    "mode": "structured",               "structured": one event per POST
//                                        (application/cloudevents+json);
//                                        "batch": up to batch_size per POST
//                                        (application/cloudevents-batch+json)
//    "batch_size": 100,                  1-1000, batch mode (default 100)
//    "handshake": false,                 true: the CloudEvents webhook
//                                        OPTIONS handshake before delivering
//    "start": "end"}                     create only: "end" (default: events
//                                        appended from now on), "beginning"
//                                        (the whole log) or a seq (>= 1)
//
// Every error is InvalidArgument naming the field and what it accepts.
// Records of touchline's own streams (customer ids starting with '~') never
// go to a sink.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/record_format.h"

namespace touchline::sinks {

inline constexpr std::size_t kMaxSinkBatch = 1000;

struct SinkFilter {
  std::vector<std::string> types;
  std::vector<std::string> channels;
  std::vector<std::string> customers;
  std::vector<std::string> departments;

  // Whether `record` goes to the sink (never for a '~' stream).
  bool Matches(const store::Record& record) const;
};

enum class SinkMode : std::uint8_t { kStructured, kBatch };

struct SinkDefinition {
  std::string id;
  std::string url;
  std::string description;
  SinkFilter filter;
  SinkMode mode = SinkMode::kStructured;
  std::size_t batch_size = 100;  // 1 in structured mode
  bool handshake = false;
};

// Where a new sink starts.
struct SinkStart {
  enum class From : std::uint8_t { kEnd, kBeginning, kSeq } from = From::kEnd;
  Seq seq = 0;  // kSeq
};

struct SinkCreate {
  SinkDefinition definition;
  SinkStart start;
};

// The body of POST /v1/sinks.
StatusOr<SinkCreate> ParseSinkCreate(std::string_view json);

// The definition as canonical JSON (the form stored in `sink.created`).
std::string EncodeSinkDefinition(const SinkDefinition& definition);
// Reads what EncodeSinkDefinition wrote (from an event's data object).
StatusOr<SinkDefinition> DecodeSinkDefinition(std::string_view json);

// Sink ids: 1-64 of a-z 0-9 _ -.
Status ValidateSinkId(std::string_view id, std::string_view path);

}  // namespace touchline::sinks
