// The one place a rocksdb::Status becomes a touchline Status.
#pragma once

#include <rocksdb/status.h>

#include <string_view>

#include "core/status.h"

namespace touchline::store::internal {

// Corruption -> DataLoss, NotFound -> NotFound, Busy/TryAgain/IOError/
// NoSpace/Aborted -> Unavailable, everything else (InvalidArgument included:
// a storage-level complaint is never the API client's fault) -> Internal.
// `context` prefixes the message.
Status FromRocks(const rocksdb::Status& s, std::string_view context);

}  // namespace touchline::store::internal
