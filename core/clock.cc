#include "core/clock.h"

#include <chrono>

namespace touchline {

std::int64_t SystemClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SystemClock* SystemClock::Default() {
  static SystemClock* const clock = new SystemClock();  // intentionally leaked
  return clock;
}

}  // namespace touchline
