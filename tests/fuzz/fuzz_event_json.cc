// libFuzzer target: the POST /v1/events body parser and validator. Any
// input must be rejected with InvalidArgument or accepted; an accepted event
// must survive the stored-record round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/json_codec.h"
#include "store/record_format.h"

using namespace touchline;  // NOLINT(build/namespaces)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  api::ParseLimits limits;
  limits.max_events = 64;
  auto events = api::ParseEvents(body, limits);
  if (!events.ok()) {
    if (events.status().code() != StatusCode::kInvalidArgument) {
      std::abort();  // bad input is the client's fault, never an internal error
    }
    return 0;
  }
  for (const auto& proposed : *events) {
    const Event& e = proposed.event;
    store::RecordHeader header;
    header.seq = 1;
    header.version = 1;
    header.time_us = e.time_us.value_or(0);
    header.recorded_at_us = 0;
    header.actor = "fuzz";
    const std::string stored = store::EncodeRecord(header, e.id, store::EncodeRecordBody(e));
    auto record = store::DecodeRecord(stored);
    if (!record.ok() || record->customer != e.customer || record->type != e.type ||
        record->id != e.id || record->channel != e.channel) {
      std::abort();
    }
  }
  return 0;
}
