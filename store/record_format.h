// The stored form of one committed event: a canonical JSON object. These
// exact bytes are what the events column family holds, what `tlctl export`
// writes and what the Merkle leaf hash covers (store/merkle.h), so an
// auditor can recompute a leaf from an export without any touchline code.
//
// Canonical layout: fields always in this order, no whitespace, optional
// fields omitted when empty, strings escaped by Boost.JSON:
//
//   {"seq":17,"version":3,"recorded_at":"2026-11-22T10:00:00.123456Z",
//    "actor":"crm-sync","route":"POST /v1/customers/{id}/notes",
//    "time":"2026-11-22T09:59:58Z","id":"evt-1",
//    "customer":"c-123","type":"note.added","channel":"email",
//    "department":"support","sealed":"<base64>"}
//
// `actor` is who wrote it (the API key's name, "touchline" for touchline's
// own writes) and `route` how: the HTTP route, or the part of touchline,
// that appended it; omitted for the plain ingest route, POST /v1/events.
// `sealed` holds the record's private part, its identities and data,
// encrypted under the customer's key (store/sealing.h). Opened, it is the
// JSON text `"identities":{"email":"a@b.c","phone":["+62...","+65..."]},
// "data":{...}`, and what readers get (the API, projections, `tlctl
// replay`) is the opened record: the stored bytes with `,"sealed":"..."`
// replaced by that text,
//
//   {..., "department":"support","identities":{...},"data":{...}}
//
// or, once the customer was erased, by `"data":"[erased]"`. Records of
// touchline's own streams (customer ids starting with '~'), the
// customer.erased events themselves, records written before format 3 and
// every record of a log created without integrity are stored opened: the
// same bytes readers get, with no `sealed` field.
//
// `route`, `id`, `channel`, `department` and `identities` are optional; identities
// are normalised (core/identity.h), keyed by type in sorted order, each a
// string when the event names one value of that type, else a sorted array; `time` (when it
// happened) defaults to `recorded_at` (when the log committed it); `data` is the minified JSON
// object the client sent (numbers as parsed by simdjson). Everything from `,"customer"` to the end
// of the opened record is the event "body", which does not depend on anything the log assigns, so
// it is encoded before the event reaches the appender. Two appends with the same id are the same
// event exactly when their bodies are byte-equal and, if the retry gives a time, the times are
// equal (store/event_log_append.cc).
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
  std::string_view route;
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
  std::string actor;
  std::string route;  // empty: POST /v1/events
  std::int64_t time_us = 0;
  std::int64_t recorded_at_us = 0;
  std::vector<Identity> identities;  // canonical order
  std::string json;                  // the opened record, see above
  // Its customer was erased: identities and data are gone.
  bool erased = false;
  // Set by DecodeRecord for a stored record with a sealed part (`json` is
  // then the stored bytes), until OpenRecord opens it. Empty in every
  // record the EventLog hands out.
  std::string sealed;
};
// Committed records are immutable and fanned out to many readers.
using RecordPtr = std::shared_ptr<const Record>;

// The body of `event` (see above); ignores event.id and event.time_us.
// `private_at`, if given, receives the offset in the body where its private
// part (`,"identities":` or else `,"data":`) starts.
std::string EncodeRecordBody(const Event& event, std::size_t* private_at = nullptr);

// The full opened record: header fields, the event id (omitted when
// empty), then `body` from EncodeRecordBody.
std::string EncodeRecord(const RecordHeader& header, std::string_view id, std::string_view body);

// The stored record of an opened `record` whose private part is sealed:
// everything up to `private_at` (an offset into `record`: the header's
// length plus EncodeRecordBody's), then `,"sealed":"<sealed>"}`
// (kSealedOpen, the base64, kSealedClose).
inline constexpr std::string_view kSealedOpen = ",\"sealed\":\"";
inline constexpr std::string_view kSealedClose = "\"}";
std::string SealedRecord(std::string_view record, std::size_t private_at, std::string_view sealed);

// EncodeRecord for many records that share recorded_at, actor and route
// (the events of one request in one commit group), rendering those once.
class RecordEncoder {
 public:
  RecordEncoder(std::int64_t recorded_at_us, std::string_view actor, std::string_view route = {});
  std::string Encode(Seq seq, StreamVersion version, std::int64_t time_us, std::string_view id,
                     std::string_view body) const;
  // The record up to its body.
  std::string Header(Seq seq, StreamVersion version, std::int64_t time_us,
                     std::string_view id) const;

 private:
  // Constant after construction
  const std::int64_t recorded_at_us_;
  const std::string recorded_at_;  // RFC 3339
  const std::string actor_json_;   // a JSON string literal
  const std::string route_field_;  // `,"route":"..."`, or empty
};

// Parses stored bytes (or an opened record). Returns DataLoss if they are
// not a well-formed record (which means the data directory is corrupt).
StatusOr<Record> DecodeRecord(std::string_view json);

// The text sealed for the private part starting at `private_at` in an
// opened record: `"identities":{...},"data":{...}` without the leading
// comma and the closing brace.
std::string_view PrivatePlaintext(std::string_view record, std::size_t private_at);

// Opens a record DecodeRecord left sealed: with the customer's `plaintext`
// (what Unseal returned), or as erased when `plaintext` is null. Returns
// DataLoss if the plaintext is not a well-formed private part.
Status OpenRecord(Record* rec, const std::string* plaintext);

}  // namespace touchline::store
