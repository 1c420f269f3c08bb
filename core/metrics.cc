#include "core/metrics.h"

#include <cmath>
#include <cstdio>

namespace touchline {
namespace {

std::string FormatValue(double v) {
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  if (std::isnan(v)) {
    return "NaN";
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string JoinLabels(std::string_view labels, std::string_view extra) {
  std::string out;
  out += labels;
  if (!labels.empty() && !extra.empty()) {
    out += ',';
  }
  out += extra;
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) {
    ++i;
  }
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, value) * 1e6),
                       std::memory_order_relaxed);
}

void Histogram::Render(std::string_view name, std::string_view labels, std::string* out) const {
  std::uint64_t cumulative = 0;
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le =
        "le=\"" + (i < bounds_.size() ? FormatValue(bounds_[i]) : std::string("+Inf")) + "\"";
    AppendSample(out, bucket, JoinLabels(labels, le), static_cast<double>(cumulative));
  }
  AppendSample(out, std::string(name) + "_sum", labels,
               static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6);
  AppendSample(out, std::string(name) + "_count", labels,
               static_cast<double>(count_.load(std::memory_order_relaxed)));
}

std::vector<double> LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> SizeBounds() {
  std::vector<double> out;
  for (double b = 1; b <= 16777216; b *= 4) {
    out.push_back(b);
  }
  return out;
}

std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) {
      out += ',';
    }
    out += name;
    out += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out;
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value) {
  out->append(name);
  if (!labels.empty()) {
    out->push_back('{');
    out->append(labels);
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(FormatValue(value));
  out->push_back('\n');
}

Metrics& Metrics::Default() {
  static auto* metrics = new Metrics();  // never destroyed: used until exit
  return *metrics;
}

Metrics::Family& Metrics::FamilyFor(std::string_view name, std::string_view help,
                                    std::string_view type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.help = std::string(help);
    it->second.type = std::string(type);
  }
  return it->second;
}

Counter& Metrics::GetCounter(std::string_view name, std::string_view help,
                             std::string_view labels) {
  MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, "counter").counters[std::string(labels)];
  if (!slot) {
    slot = std::make_unique<Counter>();
  }
  return *slot;
}

Histogram& Metrics::GetHistogram(std::string_view name, std::string_view help,
                                 std::string_view labels, std::vector<double> bounds) {
  MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, "histogram").histograms[std::string(labels)];
  if (!slot) {
    slot = std::make_unique<Histogram>(bounds.empty() ? LatencyBounds() : std::move(bounds));
  }
  return *slot;
}

std::uint64_t Metrics::AddCollector(std::string_view name, std::string_view help,
                                    std::string_view type, Collector collect) {
  MutexLock lock(&mu_);
  const std::uint64_t id = next_collector_++;
  FamilyFor(name, help, type).collectors.emplace(id, std::move(collect));
  collector_family_.emplace(id, std::string(name));
  return id;
}

void Metrics::RemoveCollector(std::uint64_t id) {
  MutexLock lock(&mu_);
  auto it = collector_family_.find(id);
  if (it == collector_family_.end()) {
    return;
  }
  auto fam = families_.find(it->second);
  if (fam != families_.end()) {
    fam->second.collectors.erase(id);
  }
  collector_family_.erase(it);
}

std::string Metrics::Render() {
  std::string out;
  MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) {
    if (family.counters.empty() && family.histograms.empty() && family.collectors.empty()) {
      continue;
    }
    out += "# HELP " + name + " " + family.help + "\n";
    out += "# TYPE " + name + " " + family.type + "\n";
    for (const auto& [labels, counter] : family.counters) {
      AppendSample(&out, name, labels, static_cast<double>(counter->value()));
    }
    for (const auto& [labels, histogram] : family.histograms) {
      histogram->Render(name, labels, &out);
    }
    for (const auto& [id, collect] : family.collectors) {
      collect(&out);
    }
  }
  return out;
}

}  // namespace touchline
