// RFC 3339 timestamps <-> microseconds since the Unix epoch (UTC).
//
// Parsing accepts the full RFC 3339 `date-time` production: a `T`, `t` or
// space separator, optional fractional seconds (digits beyond microseconds
// are truncated), and `Z`/`z` or a numeric offset, which is applied so the
// result is UTC. Years 0001-9999. A leap second (:60) is rejected, because
// the result could not be represented without inventing a time.
//
// Formatting always produces UTC with a `Z`, and the shortest of no fraction,
// milliseconds or microseconds that represents the value exactly, e.g.
// "2026-11-22T10:00:00Z", "2026-11-22T10:00:00.250Z".
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace touchline {

// Returns InvalidArgument (saying which part is wrong) for anything that is
// not an RFC 3339 date-time.
StatusOr<std::int64_t> ParseRfc3339(std::string_view text);

// REQUIRES: `micros` lies in years 0001-9999.
std::string FormatRfc3339(std::int64_t micros);

}  // namespace touchline
