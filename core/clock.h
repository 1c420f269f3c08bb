// Clock: the single source of wall-clock time for everything that stamps or
// schedules (recorded_at, reminders, checkpoints). Injected so tests can use a
// fake clock (tests/support/fake_clock.h) and run time-dependent logic
// instantly. Order never comes from a clock: it comes from seq.
//
// Thread safety: implementations must be safe to call from any thread.
#pragma once

#include <cstdint>

namespace touchline {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch, UTC.
  virtual std::int64_t NowMicros() const = 0;
};

// The system's real-time clock. Stateless.
class SystemClock final : public Clock {
 public:
  std::int64_t NowMicros() const override;
  // A process-wide instance; never destroyed.
  static SystemClock* Default();
};

}  // namespace touchline
