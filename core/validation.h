// The rules every event must satisfy before it reaches the log. Parsers
// (api/json_codec.cc, later Segment and CloudEvents adapters) call these so
// that one set of rules holds whatever the wire format.
//
// Each function returns OK or InvalidArgument with a message that starts with
// `path` (the field's JSON path, e.g. "events[3].type") and says what would be
// accepted instead.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace touchline {

inline constexpr std::size_t kMaxEventIdBytes = 128;
inline constexpr std::size_t kMaxCustomerIdBytes = 128;
inline constexpr std::size_t kMaxEventTypeBytes = 128;
inline constexpr std::size_t kMaxChannelBytes = 64;
inline constexpr std::size_t kMaxDepartmentBytes = 64;
inline constexpr std::size_t kMaxDataBytes = 64 * 1024;  // minified JSON

// InvalidArgument "<path>: <what>": the shape of every validation error.
Status InvalidAt(std::string_view path, std::string_view what);

// Event id: 1-128 bytes of printable UTF-8 (no control characters), no
// leading or trailing whitespace.
Status ValidateEventId(std::string_view id, std::string_view path);

// Customer id: same character rules as an event id, 1-128 bytes.
Status ValidateCustomerId(std::string_view customer, std::string_view path);

// Event type: a dotted lower-case name of 1-128 bytes. Each dot-separated
// segment starts with a-z and continues with a-z, 0-9, '_' or '-'.
// "ticket.opened", "cart.item_added", "social.twitter.like".
Status ValidateEventType(std::string_view type, std::string_view path);

// True if `type` matches one of `prefixes` by whole dotted segments:
// "ticket" matches "ticket" and "ticket.opened" but not "tickets". An empty
// list matches everything.
bool TypeMatchesAny(std::string_view type, const std::vector<std::string>& prefixes);

// True if `channel` equals one of `channels`; an empty list matches everything.
bool ChannelMatchesAny(std::string_view channel, const std::vector<std::string>& channels);

// Channel: optional (empty is allowed), otherwise the same syntax as a type,
// at most 64 bytes ("email", "social.twitter").
Status ValidateChannel(std::string_view channel, std::string_view path);

// Department: optional, otherwise printable UTF-8 of at most 64 bytes.
Status ValidateDepartment(std::string_view department, std::string_view path);

// Data: the minified JSON text of an object (the caller has parsed it), at
// most kMaxDataBytes.
Status ValidateData(std::string_view data, std::string_view path);

// All of the above for one event; `path` names the event ("events[3]").
Status ValidateEvent(const Event& event, std::string_view path);

// True if `s` is valid UTF-8 without control characters (C0, DEL, C1).
bool IsPrintableUtf8(std::string_view s);
// `s` without leading and trailing spaces and tabs.
std::string_view TrimBlanks(std::string_view s);
// `s` with ASCII A-Z lower-cased (other bytes as they are).
std::string AsciiLower(std::string_view s);
// `s` with every byte that is not part of well-formed UTF-8 replaced by
// U+FFFD, so it can be put in a JSON string (error messages that quote
// what a client sent).
std::string ToValidUtf8(std::string_view s);
// Appends `utf8` as a JSON string literal: '"', '\\' and control
// characters escaped, the rest as is.
// REQUIRES: `utf8` is valid UTF-8.
void AppendJsonString(std::string* out, std::string_view utf8);

}  // namespace touchline
