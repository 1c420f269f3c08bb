// A Clock whose time moves only when the test says so.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.h"

namespace touchline::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t now_us = 1'790'000'000'000'000) : now_(now_us) {}
  std::int64_t NowMicros() const override { return now_.load(); }
  void Set(std::int64_t us) { now_.store(us); }
  void Advance(std::int64_t us) { now_.fetch_add(us); }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace touchline::testing
