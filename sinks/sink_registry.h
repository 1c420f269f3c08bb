// SinkRegistry: the sinks that exist, folded from the `~sinks` stream.
// Every change to a sink is an event there, written with the actor that
// asked for it (the admin key's name, or "touchline" when delivery disables
// a sink), so the log is the sinks' history and the registry is rebuilt
// from it at start-up:
//
//   sink.created   {"sink": <SinkDefinition JSON>, "start_seq": N,
//                   "secret_ref": "<16 hex>"}   delivery starts at seq N;
//                   the secret is kept beside the log (store/sink_store.h)
//                   under the ref, never in the event
//   sink.paused    {"id"}            no deliveries until resumed
//   sink.resumed   {"id"}            paused or disabled: delivering again
//   sink.disabled  {"id", "created_seq", "status", "reason"}   the receiver
//                  answered 410 (ignored if the sink with that id is
//                  another incarnation by now)
//   sink.replayed  {"id", "from_seq": N}   delivery goes back to seq N
//   sink.deleted   {"id"}            gone; the id may be created again
//
// Thread safety: none (the owner locks).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"
#include "sinks/sink_definition.h"
#include "store/record_format.h"

namespace touchline::sinks {

inline constexpr std::string_view kSinkStream = "~sinks";

enum class SinkStatus : std::uint8_t { kActive, kPaused, kDisabled };
std::string_view SinkStatusName(SinkStatus status);

struct SinkState {
  SinkDefinition definition;
  Seq created_seq = 0;  // tells incarnations of one id apart
  std::int64_t created_at_us = 0;
  std::string created_by;
  Seq start_seq = 1;
  std::string secret_ref;
  SinkStatus status = SinkStatus::kActive;
  std::string disabled_reason;
  std::uint64_t generation = 0;  // replays so far
  Seq replay_from = 0;           // of the last replay
};

// One committed event of the `~sinks` stream: what the fold reads of it.
struct SinkEvent {
  Seq seq = 0;
  StreamVersion version = 0;
  std::string_view type;
  std::string_view actor;
  std::int64_t recorded_at_us = 0;
  std::string_view data;  // the data object's JSON
};
SinkEvent SinkEventOf(const store::Record& record);

class SinkRegistry {
 public:
  // Folds the next event of the `~sinks` stream. DataLoss for an event
  // touchline would not have written.
  Status Apply(const SinkEvent& event);

  const std::map<std::string, SinkState, std::less<>>& sinks() const { return sinks_; }
  const SinkState* Find(std::string_view id) const;
  // The version of the `~sinks` stream folded so far.
  StreamVersion version() const { return version_; }

 private:
  std::map<std::string, SinkState, std::less<>> sinks_;
  StreamVersion version_ = 0;
};

// The events, as appended (customer kSinkStream, system stream).
Event SinkCreatedEvent(const SinkDefinition& definition, Seq start_seq, std::string_view ref);
// sink.paused, sink.resumed, sink.deleted: {"id"}.
Event SinkChangeEvent(std::string_view type, std::string_view id);
Event SinkReplayedEvent(std::string_view id, Seq from_seq);
Event SinkDisabledEvent(std::string_view id, Seq created_seq, int status, std::string_view reason);

}  // namespace touchline::sinks
