// The event vocabulary: what an integration sends (Event), the precondition it
// may attach (ExpectedVersion), and what the log hands back once an event is
// durable (AppendedEvent).
//
// An Event here is already parsed and normalised: `data` is the minified JSON
// text of an object, `time_us` is microseconds since the Unix epoch in UTC.
// Field rules (lengths, character sets) live in core/validation.h; the stored
// byte format of a record lives in store/record_format.h.
//
// Thread safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace touchline {

// Position of an event in the global log: 1, 2, 3, ... gap-free, commit order.
using Seq = std::uint64_t;
// Position of an event in its customer's stream: 1, 2, 3, ... A stream with
// no events has version 0.
using StreamVersion = std::uint64_t;

// An optimistic-concurrency precondition on one customer stream, checked
// atomically with the append.
class ExpectedVersion {
 public:
  enum class Kind : std::uint8_t {
    kAny,       // no check
    kNoStream,  // the stream must be empty (version 0)
    kExists,    // the stream must have at least one event
    kExact,     // the stream's version must equal value()
  };

  ExpectedVersion() = default;
  static ExpectedVersion Any() { return {}; }
  static ExpectedVersion NoStream() { return ExpectedVersion(Kind::kNoStream, 0); }
  static ExpectedVersion Exists() { return ExpectedVersion(Kind::kExists, 0); }
  static ExpectedVersion Exact(StreamVersion v) { return ExpectedVersion(Kind::kExact, v); }

  Kind kind() const { return kind_; }
  StreamVersion value() const { return value_; }
  bool IsAny() const { return kind_ == Kind::kAny; }

  // True if a stream currently at `current` satisfies this precondition.
  bool Matches(StreamVersion current) const;

  // "any", "no_stream", "exists" or the decimal version: the same spelling
  // the HTTP API accepts.
  std::string ToString() const;

  friend bool operator==(const ExpectedVersion&, const ExpectedVersion&) = default;

 private:
  ExpectedVersion(Kind kind, StreamVersion value) : kind_(kind), value_(value) {}

  Kind kind_ = Kind::kAny;
  StreamVersion value_ = 0;
};

// One identifier of a person on some channel: ("email", "a@b.c"),
// ("social.twitter", "alice"). Rules and normalisation: core/identity.h.
struct Identity {
  std::string type;
  std::string value;

  friend auto operator<=>(const Identity&, const Identity&) = default;
  friend bool operator==(const Identity&, const Identity&) = default;
};

// One touchpoint, as sent by an integration, after parsing.
struct Event {
  std::string id;                       // optional idempotency key; empty = none
  std::string customer;                 // the stream this event belongs to
  std::string type;                     // dotted lower-case name, e.g. "ticket.opened"
  std::string channel;                  // optional, e.g. "email", "social.twitter"
  std::string department;               // optional, e.g. "support"
  std::optional<std::int64_t> time_us;  // when it happened; unset = recorded time
  std::string data = "{}";              // minified JSON object text
  // Other identifiers of the same person, normalised, in canonical order
  // (CanonicalizeIdentities in core/identity.h). May be empty.
  std::vector<Identity> identities;

  friend bool operator==(const Event&, const Event&) = default;
};

// An event plus the precondition it is appended under.
struct ProposedEvent {
  Event event;
  ExpectedVersion expected_version;
};

// The outcome for one event of an append.
struct AppendedEvent {
  Seq seq = 0;
  StreamVersion version = 0;
  // True if the event id had been appended before: seq/version are those of
  // the original, and nothing was written.
  bool duplicate = false;
  // Set only in AppendRequest::Mode::kEachEvent (store/event_log.h): why the
  // log refused this one event; seq and version are then 0 and nothing was
  // written for it.
  Status refused;

  friend bool operator==(const AppendedEvent&, const AppendedEvent&) = default;
};

}  // namespace touchline
