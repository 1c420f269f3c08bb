// Metrics in the Prometheus text exposition format (version 0.0.4), served
// at GET /metrics.
//
// Counters and histograms are registered once by name and label set and
// then updated lock-free (relaxed atomics) on hot paths; keep the returned
// reference instead of looking it up per event. Values that already live
// elsewhere (queue depths, RocksDB properties) are read at scrape time by
// collectors, which the owner removes before it dies.
//
// Names follow Prometheus conventions: touchline_<what>_<unit>[_total].
// Label values are escaped here; never put personal data in one.
//
// Thread safety: everything may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"

namespace touchline {

class Counter {
 public:
  void Increment(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Cumulative buckets by upper bound, plus sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Appends the _bucket, _sum and _count lines for `name{labels}`.
  void Render(std::string_view name, std::string_view labels, std::string* out) const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micro_{0};  // sum in millionths
};

// Bounds for latencies in seconds, 100 us to 10 s.
std::vector<double> LatencyBounds();
// Bounds for sizes (bytes, batch sizes): 1, 4, 16, ... 4^12.
std::vector<double> SizeBounds();

// One label set, rendered: Labels({{"route","/v1/events"},{"status","201"}})
// gives route="/v1/events",status="201".
std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

class Metrics {
 public:
  // The process-wide registry that /metrics renders.
  static Metrics& Default();

  // The counter or histogram for (name, labels), created on first use.
  // References stay valid for the registry's life.
  Counter& GetCounter(std::string_view name, std::string_view help, std::string_view labels = "");
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::string_view labels = "", std::vector<double> bounds = {});

  // A gauge or counter computed at scrape time: `collect` appends complete
  // sample lines ("name{labels} value\n") for the family `name`.
  using Collector = std::function<void(std::string* out)>;
  std::uint64_t AddCollector(std::string_view name, std::string_view help, std::string_view type,
                             Collector collect);
  void RemoveCollector(std::uint64_t id);

  // The whole exposition, families sorted by name.
  std::string Render();

 private:
  struct Family {
    std::string help;
    std::string type;  // counter, histogram, gauge
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::map<std::uint64_t, Collector> collectors;
  };
  Family& FamilyFor(std::string_view name, std::string_view help, std::string_view type)
      REQUIRES(mu_);

  Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ GUARDED_BY(mu_);
  std::map<std::uint64_t, std::string> collector_family_ GUARDED_BY(mu_);
  std::uint64_t next_collector_ GUARDED_BY(mu_) = 1;
};

// Appends one sample line.
void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value);

}  // namespace touchline
