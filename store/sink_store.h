// SinkStore: what a webhook sink (sinks/sink_service.h) keeps beside the
// log. A sink's definition and lifecycle are events on the `~sinks` stream;
// its signing secret and its delivery progress are not (the secret must not
// be readable by whoever may replay the log, and progress changes with
// every delivery), so they live here, in the projections column family
// under the name "sinks" (store/state_store.h), behind this typed facade:
//
//   secret/<sink id>/<ref>   the `whsec_...` secret of the sink created by
//                            the `sink.created` event naming <ref>; written
//                            synced, before that event is appended
//   progress/<sink id>       SinkProgress, written through the WAL but not
//                            synced, at most once a second while the sink
//                            delivers and whenever it fails, pauses or
//                            stops: a crash may take it back to an older
//                            cursor (more deliveries, never fewer:
//                            delivery is at least once)
//
// Thread safety: every method is thread-safe.
// Lifetime: the EventLog must outlive the store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/event_log.h"
#include "store/state_store.h"

namespace touchline::store {

struct SinkProgress {
  Seq created_seq = 0;           // the incarnation of the id this belongs to
  std::uint64_t generation = 0;  // the replays it has taken into account
  Seq cursor = 0;                // every record <= cursor is delivered or skipped
  std::uint64_t delivered_events = 0;
  std::uint64_t delivered_requests = 0;
  std::uint64_t failed_requests = 0;
  std::int64_t last_success_us = 0;  // 0: never
  std::int64_t last_error_us = 0;    // 0: never
  int last_status = 0;               // of the last failure; 0: no response
  std::string last_error;            // empty: none
};

class SinkStore {
 public:
  static StatusOr<std::unique_ptr<SinkStore>> Open(EventLog* log);

  // The secret of (sink, ref), or nullopt.
  StatusOr<std::optional<std::string>> Secret(std::string_view sink, std::string_view ref) const;
  // Stores a secret, synced.
  Status PutSecret(std::string_view sink, std::string_view ref, std::string_view secret);
  // Every stored (sink, ref), in order.
  StatusOr<std::vector<std::pair<std::string, std::string>>> SecretRefs() const;
  Status DeleteSecret(std::string_view sink, std::string_view ref);

  // The progress of `sink`, or nullopt. DataLoss if it is malformed.
  StatusOr<std::optional<SinkProgress>> Progress(std::string_view sink) const;
  Status PutProgress(std::string_view sink, const SinkProgress& progress);
  Status DeleteProgress(std::string_view sink);

 private:
  explicit SinkStore(std::unique_ptr<StateStore> state) : state_(std::move(state)) {}
  const std::unique_ptr<StateStore> state_;
};

}  // namespace touchline::store
