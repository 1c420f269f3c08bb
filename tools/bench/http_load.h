// A closed-loop HTTP/1.1 load generator: N keep-alive connections spread
// over one io thread per core (as the other systems' clients in
// touchline_compare run one thread per connection, so no client is held to
// one core), each sending the next request from a shared list as soon as its
// previous response arrived, recording per-request latency.
//
// Thread safety: RunHttpLoad blocks the calling thread; `requests` must stay
// unchanged while it runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace touchline::bench {

struct HttpRequestSpec {
  std::string method;
  std::string target;
  std::string body;  // sent with Content-Type: application/json when non-empty
};

struct LoadResult {
  std::size_t requests = 0;  // completed with a 2xx
  std::size_t errors = 0;    // non-2xx or connection failures
  std::string first_error;
  double seconds = 0;
  std::vector<double> latencies_us;  // one per completed request
  std::string last_body;             // of the last 2xx response
};

// Ends early, after the requests in flight, once `*stop` is set.
LoadResult RunHttpLoad(std::uint16_t port, std::size_t connections,
                       const std::vector<HttpRequestSpec>& requests,
                       const std::atomic<bool>* stop = nullptr);

// GETs `target` with Accept: application/x-ndjson and reads the streamed
// body in 64 KiB pieces, counting its lines (records). Sets *error and
// returns what it counted so far when the request fails.
std::uint64_t CountNdjsonLines(std::uint16_t port, const std::string& target, std::string* error);

// The q-quantile (0..1) of `v` (sorted in place).
double Percentile(std::vector<double>* v, double q);

}  // namespace touchline::bench
