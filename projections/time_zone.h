// TimeZone: UTC offsets of a named time zone, for reminder send windows
// ("09:00-17:00 in the customer's time zone").
//
// Names: an IANA zone ("Asia/Jakarta"), read from the system's compiled
// tz database (/usr/share/zoneinfo, Debian's tzdata, TZif version 2+), or a
// fixed offset "UTC", "Z", "+07:00", "-03:30". Past the last transition in
// the file (2037 in Debian's "fat" files) the last offset holds.
//
// Thread safety: a TimeZone is immutable; Find() is thread-safe and caches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace touchline::projections {

class TimeZone {
 public:
  // The zone called `name`. Returns InvalidArgument for a malformed name,
  // NotFound for an unknown one. Zones are loaded once and cached.
  static StatusOr<std::shared_ptr<const TimeZone>> Find(std::string_view name);
  static std::shared_ptr<const TimeZone> Utc();
  // Parses TZif bytes (exposed for tests).
  static StatusOr<std::shared_ptr<const TimeZone>> FromTzif(std::string name,
                                                            std::string_view bytes);

  const std::string& name() const { return name_; }
  // Seconds east of UTC at the instant `utc_seconds`.
  std::int32_t OffsetAt(std::int64_t utc_seconds) const;
  // The UTC instant of local wall time `local_seconds` (seconds since the
  // epoch as if the zone were UTC). In a gap (spring forward) the later
  // offset applies; in an overlap, the earlier instant.
  std::int64_t ToUtc(std::int64_t local_seconds) const;

 private:
  TimeZone(std::string name, std::int32_t fixed) : name_(std::move(name)), fixed_(fixed) {}

  std::string name_;
  std::int32_t fixed_ = 0;                 // when there are no transitions
  std::vector<std::int64_t> transitions_;  // UTC seconds, ascending
  std::vector<std::int32_t> offsets_;      // offset from each transition on
  std::int32_t initial_ = 0;               // before the first transition
};

}  // namespace touchline::projections
