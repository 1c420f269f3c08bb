// The synthetic CRM workload of touchline_bench: deterministic (seeded)
// events that look like a real integration's traffic. Customers are drawn
// from a Zipf distribution (a few customers are very active, most are not);
// types and channels follow a fixed mix of email, tickets, chat, calls,
// purchases, web and social events; every event carries identities (email
// and phone, or for social events only the handle, sometimes with the
// email, which links the two in the customer view) and a payload so its
// JSON is 300-1000 bytes.
//
// Thread safety: a Workload is immutable after Generate().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace touchline::bench {

struct WorkloadOptions {
  std::uint64_t seed = 20261122;
  std::size_t customers = 10000;
  double zipf_s = 1.1;
};

class Workload {
 public:
  // `count` events, each the JSON text of one event object as POSTed.
  static Workload Generate(std::size_t count, const WorkloadOptions& options,
                           const std::string& id_prefix = "ev");
  // Events for one customer only (to build long timelines).
  static Workload ForCustomer(std::size_t count, const std::string& customer, std::uint64_t seed,
                              const std::string& id_prefix);

  const std::vector<std::string>& events() const { return events_; }
  std::size_t total_bytes() const;

  // `[e1,e2,...]` for events [first, first + n).
  std::string Batch(std::size_t first, std::size_t n) const;
  // The same events as one Segment /v1/batch body: each a track message
  // with userId = the stream, event = the type, messageId = the id,
  // properties = the data, timestamp = the time, and the email and phone
  // identities as context.traits (api/segment_codec.h maps it back).
  std::string SegmentBatch(std::size_t first, std::size_t n) const;

 private:
  std::vector<std::string> events_;
};

// The stream touchline files `event` (the JSON of one event as POSTed)
// under: its "customer", else the customer key derived from its identities
// (core/identity.h); "unknown" if it has neither. Both benchmarks give every
// system this same stream, so a per-customer read means the same everywhere.
std::string StreamOf(const std::string& event);

}  // namespace touchline::bench
