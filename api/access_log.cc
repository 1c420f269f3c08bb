#include "api/access_log.h"

#include <pthread.h>

#include <boost/json.hpp>

#include "core/metrics.h"
#include "core/time_format.h"
#include "projections/audit_projection.h"

namespace touchline::api {
namespace {

constexpr std::size_t kMaxCustomersPerEntry = 100;
// Well under the 64 KiB limit on an event's data.
constexpr std::size_t kMaxEventDataBytes = 48 * 1024;

Counter& Dropped() {
  static Counter& c = Metrics::Default().GetCounter(
      "touchline_access_records_dropped_total",
      "Reads not recorded in the access audit trail because the log could not take them");
  return c;
}

}  // namespace

AccessLog::AccessLog(store::EventLog* log, const Clock* clock, std::chrono::milliseconds interval,
                     std::size_t max_pending)
    : log_(log), clock_(clock), interval_(interval), max_pending_(max_pending) {}

AccessLog::~AccessLog() { Stop(); }

void AccessLog::Start() {
  MutexLock lock(&mu_);
  if (!started_ && !stop_) {
    started_ = true;
    thread_ = std::thread([this] { Loop(); });
  }
}

void AccessLog::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void AccessLog::Record(std::string actor, std::string route, std::vector<std::string> customers) {
  if (customers.size() > kMaxCustomersPerEntry) {
    customers.resize(kMaxCustomersPerEntry);
  }
  Entry e{clock_->NowMicros(), std::move(actor), std::move(route), std::move(customers)};
  MutexLock lock(&mu_);
  if (pending_.size() >= max_pending_) {
    Dropped().Increment();
    return;
  }
  pending_.push_back(std::move(e));
}

void AccessLog::Loop() {
  pthread_setname_np(pthread_self(), "tl-access-log");
  std::vector<Entry> batch;
  bool stopping = false;
  while (!stopping) {
    {
      MutexLock lock(&mu_);
      if (!stop_) {
        cv_.WaitUntil(&mu_, std::chrono::steady_clock::now() + interval_);
      }
      stopping = stop_;
      batch.swap(pending_);
    }
    if (batch.empty()) {
      continue;
    }
    if (!Append(batch)) {
      // Kept for the next round (oldest first), within the bound.
      MutexLock lock(&mu_);
      batch.insert(batch.end(), std::make_move_iterator(pending_.begin()),
                   std::make_move_iterator(pending_.end()));
      if (batch.size() > max_pending_) {
        Dropped().Increment(batch.size() - max_pending_);
        batch.resize(max_pending_);
      }
      pending_.swap(batch);
    }
    batch.clear();
  }
}

bool AccessLog::Append(const std::vector<Entry>& batch) {
  store::AppendRequest request;
  request.actor = "touchline";
  request.route = "access log";
  request.system = true;
  boost::json::array accesses;
  std::size_t bytes = 0;
  auto flush = [&] {
    if (accesses.empty()) {
      return;
    }
    Event e;
    e.customer = std::string(projections::kAccessStream);
    e.type = std::string(projections::kAccessEventType);
    e.data = boost::json::serialize(boost::json::object{{"accesses", std::move(accesses)}});
    request.events.push_back(ProposedEvent{std::move(e), {}});
    accesses = boost::json::array();
    bytes = 0;
  };
  for (const Entry& entry : batch) {
    boost::json::array customers;
    for (const auto& c : entry.customers) {
      customers.emplace_back(c);
    }
    boost::json::object o{{"at", FormatRfc3339(entry.at_us)},
                          {"actor", entry.actor},
                          {"route", entry.route},
                          {"customers", std::move(customers)}};
    const std::size_t size = boost::json::serialize(o).size() + 1;
    if (bytes + size > kMaxEventDataBytes) {
      flush();
    }
    bytes += size;
    accesses.emplace_back(std::move(o));
  }
  flush();
  return log_->Append(std::move(request)).ok();
}

}  // namespace touchline::api
