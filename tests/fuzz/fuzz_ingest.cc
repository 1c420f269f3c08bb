// libFuzzer target: the Segment and CloudEvents codecs (api/segment_codec.h,
// api/cloudevents_codec.h). The first byte picks the format (a Segment call,
// a CloudEvents mode); the rest is the body (for binary mode, "name: value"
// header lines, a blank line, then the body). Any input must be refused
// with InvalidArgument or parsed; every parsed event must pass validation,
// its data must be a JSON object, and every message must be either an
// event or a refusal, exactly once.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/cloudevents_codec.h"
#include "api/segment_codec.h"
#include "core/validation.h"

using namespace touchline;  // NOLINT(build/namespaces)

namespace {

// Splits "a: b\nc: d\n\nbody" into headers and body.
std::vector<std::pair<std::string, std::string>> Headers(std::string_view* in) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!in->empty()) {
    const auto nl = in->find('\n');
    const std::string_view line = in->substr(0, nl);
    *in = nl == std::string_view::npos ? std::string_view() : in->substr(nl + 1);
    if (line.empty()) {
      break;
    }
    const auto colon = line.find(':');
    out.emplace_back(std::string(line.substr(0, colon)),
                     colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
  }
  return out;
}

void Check(const StatusOr<api::IngestBatch>& parsed) {
  if (!parsed.ok()) {
    if (parsed.status().code() != StatusCode::kInvalidArgument) {
      std::abort();  // bad input is the client's fault, never an internal error
    }
    return;
  }
  const api::IngestBatch& b = *parsed;
  if (b.index.size() != b.events.size() || b.message_ids.size() != b.events.size()) {
    std::abort();
  }
  std::vector<bool> seen(b.events.size() + b.refused.size(), false);
  for (std::size_t i : b.index) {
    if (i >= seen.size() || seen[i]) std::abort();
    seen[i] = true;
  }
  for (const auto& r : b.refused) {
    if (r.index >= seen.size() || seen[r.index] || r.error.empty()) std::abort();
    seen[r.index] = true;
  }
  for (const auto& p : b.events) {
    if (!ValidateEvent(p.event, "fuzz").ok()) std::abort();
    boost::system::error_code ec;
    const auto data = boost::json::parse(p.event.data, ec);
    if (ec || !data.is_object()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t selector = data[0] % 10;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (selector <= 6) {
    api::SegmentLimits limits;
    limits.max_batch_messages = 64;
    Check(api::ParseSegment(body, static_cast<api::SegmentCall>(selector), 1'800'000'000'000'000,
                            limits));
    (void)api::FindWriteKey(body);
  } else if (selector == 7) {
    const auto headers = Headers(&body);
    Check(api::ParseBinaryCloudEvent(headers, "application/json", body, 64));
  } else {
    Check(api::ParseStructuredCloudEvents(body, selector == 9, 64, 64));
  }
  return 0;
}
