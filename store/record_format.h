// The stored form of one committed event, and the opened record readers
// get. The stored bytes are what the events column family holds, what
// `tlctl export` writes and what the Merkle leaf hash covers (store/
// merkle.h), so an auditor can recompute a leaf from an export without any
// touchline code.
//
// The opened record, what readers get (the API, projections, subscribers,
// `tlctl replay`), is a canonical JSON object: fields always in this order,
// no whitespace, optional fields omitted when empty, strings escaped by
// Boost.JSON:
//
//   {"seq":17,"version":3,"recorded_at":"2026-11-22T10:00:00.123456Z",
//    "actor":"crm-sync","route":"POST /v1/customers/{id}/notes",
//    "time":"2026-11-22T09:59:58Z","id":"evt-1",
//    "customer":"c-123","type":"note.added","channel":"email",
//    "department":"support","identities":{"email":"a@b.c"},"data":{...}}
//
// or, once the customer was erased, with `"data":"[erased]"` in place of
// identities and data. `actor` is who wrote it (the API key's name,
// "touchline" for touchline's own writes) and `route` how: the HTTP route,
// or the part of touchline, that appended it; omitted for the plain ingest
// route, POST /v1/events. `route`, `id`, `channel`, `department` and
// `identities` are optional; identities are normalised (core/identity.h),
// keyed by type in sorted order, each a string when the event names one
// value of that type, else a sorted array; `time` (when it happened)
// defaults to `recorded_at` (when the log committed it); `data` is the
// minified JSON object the client sent (numbers as parsed by simdjson).
// Everything from `,"customer"` to the end is the event "body", which does
// not depend on anything the log assigns, so it is encoded before the event
// reaches the appender. Two appends with the same id are the same event
// exactly when their bodies are byte-equal and, if the retry gives a time,
// the times are equal (store/event_log_append.cc).
//
// Stored bytes, format 4 (every record written since): binary, with
// core/binary_codec.h fields:
//
//   0x04                          tag (a format-3 record starts with '{')
//   U64 seq, U64 version
//   I64 recorded_at (microseconds since the epoch)
//   I64 time - recorded_at
//   Str actor, Str route, Str id, Str customer, Str type, Str channel,
//   Str department                (empty: absent)
//   Byte flags                    bit 0: sealed, bit 1: compressed
//   the private part, to the end:
//     Q = U64 n, n x (Str identity type, Str value), then the data JSON
//     P = compressed ? U64 size of Q, then Q as one LZ4 block : Q
//     sealed ? nonce (24) || ciphertext of P || tag (16) : P
//
// The private part, the record's identities and data, is sealed under its
// customer's key (store/sealing.h: XChaCha20-Poly1305, associated data
// binding it to its seq and customer), compressed first when that makes it
// shorter (ciphertext does not compress). Records of touchline's own
// streams (customer ids starting with '~'), customer.erased events and
// every record of a log created without integrity are not sealed.
//
// Format 3 (records written before): the opened JSON above with its
// private part replaced by `,"sealed":"<base64 of nonce || ciphertext ||
// tag of the JSON text "identities":{...},"data":{...}>"}`, or the opened
// JSON itself where nothing was sealed. Both formats are read; a log keeps
// the bytes its records were written with.
//
// Thread safety: pure functions.
#pragma once

#include <array>
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
  // Set by DecodeRecord for a stored record with a sealed part, until
  // OpenSealedRecord opens it: for format 3, the base64 text (`json` is
  // then the stored bytes); for format 4, the raw sealed bytes (`json` is
  // then the opened record up to its private part). Empty in every record
  // the EventLog hands out.
  std::string sealed;
  std::uint8_t private_flags = 0;  // format 4: the stored flags byte
  bool binary = false;             // format 4
  // Where `,"data":` starts in `json` when known (0: search for it; the
  // first unescaped occurrence is the field, as every earlier string is
  // escaped). Set when the record is encoded or opened by this build.
  std::uint32_t data_at = 0;

  // The `data` object's JSON text, or "{}" for a record without one.
  std::string_view Data() const;
};
// Committed records are immutable and fanned out to many readers.
using RecordPtr = std::shared_ptr<const Record>;

// The body of `event` (see above); ignores event.id and event.time_us.
// `private_at`, if given, receives the offset in the body where its private
// part (`,"identities":` or else `,"data":`) starts.
// `data_at`, if given, receives the offset of its `,"data":`.
std::string EncodeRecordBody(const Event& event, std::size_t* private_at = nullptr,
                             std::size_t* data_at = nullptr);

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

// --- Format 4.

inline constexpr std::uint8_t kStoredRecordTag = 0x04;
inline constexpr std::uint8_t kPrivateSealed = 0x01;
inline constexpr std::uint8_t kPrivateCompressed = 0x02;

// P for `event` (see above): its identities and data, compressed when that
// is shorter; `flags` is kPrivateCompressed or 0. Computed on the caller's
// thread, before the event reaches the appender.
struct PrivatePart {
  std::string bytes;
  std::uint8_t flags = 0;
};
PrivatePart EncodePrivatePart(const Event& event);

// Appends the stored header of `record` (its tag through its flags byte)
// to `out`; the private part follows.
void AppendStoredHeader(const Record& record, std::uint8_t flags, std::string* out);

// The stored bytes of a record with an unsealed private part (a whole
// stored record, for tests and tools).
std::string EncodeStoredRecord(const Record& record, const PrivatePart& part);

// Parses stored bytes of either format (or an opened record). A sealed
// record is left for OpenSealedRecord. Returns DataLoss if they are not a
// well-formed record (which means the data directory is corrupt).
// The data text is not parsed again: it was validated when the event was
// appended, and the stored bytes are guarded by RocksDB's block checksums
// (on every read) and the Merkle tree (tlctl verify). What the decoder
// renders around it is always well-formed JSON.
StatusOr<Record> DecodeRecord(std::string_view stored);

// The text sealed for the private part starting at `private_at` in an
// opened record: `"identities":{...},"data":{...}` without the leading
// comma and the closing brace.
std::string_view PrivatePlaintext(std::string_view record, std::size_t private_at);

// Opens a record DecodeRecord left sealed: with the customer's `plaintext`
// (what Unseal returned), or as erased when `plaintext` is null. Returns
// DataLoss if the plaintext is not a well-formed private part. Format 3.
Status OpenRecord(Record* rec, const std::string* plaintext);

// Opens a record DecodeRecord left sealed, of either format, with its
// customer's key, or as erased when `key` is null. Returns DataLoss if the
// sealed part does not open with the key (altered or moved) or is not a
// well-formed private part.
Status OpenSealedRecord(Record* rec, const std::array<unsigned char, 32>* key);

// True if `stored` is a format-4 (binary) record, false for format 3 (JSON).
bool IsBinaryRecord(std::string_view stored);
// The stored bytes as base64 (RFC 4648, with padding).
std::string StoredBase64(std::string_view stored);

// Export lines (store/log_export.h) carry stored bytes: a format-3 record
// as its own JSON text, a format-4 record as {"record":"<base64>"}.
std::string ExportLine(std::string_view stored);
// True for a line ExportLine() wrote; then the stored bytes, or DataLoss
// if the line is malformed.
bool IsRecordLine(std::string_view line);
StatusOr<std::string> StoredFromExportLine(std::string_view line);

}  // namespace touchline::store
