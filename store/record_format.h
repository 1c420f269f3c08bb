// The stored form of one committed event: a canonical JSON object. These
// exact bytes are what the events column family holds, what every read API
// and `tlctl replay` returns verbatim, and (from the audit issue on) what the
// Merkle leaf hash covers, so an auditor can recompute a leaf from an export
// without any touchline code.
//
// Canonical layout: fields always in this order, no whitespace, optional
// fields omitted when empty, strings escaped by Boost.JSON:
//
//   {"seq":17,"version":3,"recorded_at":"2026-11-22T10:00:00.123456Z",
//    "actor":"crm-sync","time":"2026-11-22T09:59:58Z","id":"evt-1",
//    "customer":"c-123","type":"ticket.opened","channel":"email",
//    "department":"support","identities":{"email":"a@b.c","phone":["+62...","+65..."]},
//    "data":{...}}
//
// `id`, `channel`, `department` and `identities` are optional; identities
// are normalised (core/identity.h), keyed by type in sorted order, each a
// string when the event names one value of that type, else a sorted array; `time` (when it
// happened) defaults to `recorded_at` (when the log committed it); `data` is the minified JSON
// object the client sent (numbers as parsed by simdjson). Everything from `,"customer"` to the end
// is the event "body", which does not depend on anything the log assigns, so it is encoded before
// the event reaches the appender. Two appends with the same id are the same event exactly when
// their bodies are byte-equal and, if the retry gives a time, the times are equal
// (store/event_log_append.cc).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace touchline::store {

// Server-assigned fields of a record.
struct RecordHeader {
  Seq seq = 0;
  StreamVersion version = 0;
  std::int64_t recorded_at_us = 0;
  std::string_view actor;
  std::int64_t time_us = 0;
};

// One committed event as read back from the log: the exact stored bytes
// plus the fields readers filter on, decoded once.
struct Record {
  Seq seq = 0;
  StreamVersion version = 0;
  std::string id;  // empty if the event had none
  std::string customer;
  std::string type;
  std::string channel;
  std::string department;
  std::int64_t time_us = 0;
  std::int64_t recorded_at_us = 0;
  std::vector<Identity> identities;  // canonical order
  std::string json;                  // the stored bytes, see above
};
// Committed records are immutable and fanned out to many readers.
using RecordPtr = std::shared_ptr<const Record>;

// The body of `event` (see above); ignores event.id and event.time_us.
std::string EncodeRecordBody(const Event& event);

// The full record: header fields, the event id (omitted when empty), then
// `body` from EncodeRecordBody.
std::string EncodeRecord(const RecordHeader& header, std::string_view id, std::string_view body);

// EncodeRecord for many records that share recorded_at and actor (the events
// of one request in one commit group), rendering those once.
class RecordEncoder {
 public:
  RecordEncoder(std::int64_t recorded_at_us, std::string_view actor);
  std::string Encode(Seq seq, StreamVersion version, std::int64_t time_us, std::string_view id,
                     std::string_view body) const;

 private:
  // Constant after construction
  const std::int64_t recorded_at_us_;
  const std::string recorded_at_;  // RFC 3339
  const std::string actor_json_;   // a JSON string literal
};

// Parses stored bytes. Returns DataLoss if they are not a well-formed record
// (which means the data directory is corrupt).
StatusOr<Record> DecodeRecord(std::string_view json);

}  // namespace touchline::store
