#include "core/time_format.h"

namespace touchline {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian civil date (H. Hinnant's
// well-known algorithm, restated).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void CivilFromDays(std::int64_t z, std::int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<std::int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

bool IsLeap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*pos`.
bool Digits(std::string_view s, size_t* pos, size_t n, unsigned* out) {
  if (*pos + n > s.size()) {
    return false;
  }
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

constexpr std::int64_t kMicrosPerSecond = 1'000'000;

}  // namespace

StatusOr<std::int64_t> ParseRfc3339(std::string_view s) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("'" + std::string(s.substr(0, 64)) +
                                   "' is not an RFC 3339 date-time (e.g. "
                                   "2026-11-22T10:00:00Z): " +
                                   std::string(why));
  };
  size_t pos = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(s, &pos, 4, &year) || !Expect(s, &pos, '-') || !Digits(s, &pos, 2, &month) ||
      !Expect(s, &pos, '-') || !Digits(s, &pos, 2, &day)) {
    return bad("expected YYYY-MM-DD");
  }
  if (year == 0 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return bad("no such date");
  }
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) {
    return bad("expected 'T' between date and time");
  }
  ++pos;
  if (!Digits(s, &pos, 2, &hour) || !Expect(s, &pos, ':') || !Digits(s, &pos, 2, &minute) ||
      !Expect(s, &pos, ':') || !Digits(s, &pos, 2, &second)) {
    return bad("expected hh:mm:ss");
  }
  if (hour > 23 || minute > 59) {
    return bad("hour or minute out of range");
  }
  if (second > 59) {
    return bad(second == 60 ? "leap seconds are not supported" : "second out of range");
  }
  std::int64_t frac_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t ndigits = 0;
    std::int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (ndigits < 6) {
        frac_us += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++ndigits;
      ++pos;
    }
    if (ndigits == 0) {
      return bad("expected digits after '.'");
    }
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    unsigned oh = 0, om = 0;
    if (!Digits(s, &pos, 2, &oh) || !Expect(s, &pos, ':') || !Digits(s, &pos, 2, &om) || oh > 23 ||
        om > 59) {
      return bad("expected a time zone offset like +07:00");
    }
    offset_s = sign * static_cast<std::int64_t>(oh * 3600 + om * 60);
  } else {
    return bad("missing time zone ('Z' or an offset like +07:00)");
  }
  if (pos != s.size()) {
    return bad("unexpected characters after the time zone");
  }
  const std::int64_t days = DaysFromCivil(year, month, day);
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  const std::int64_t result = secs * kMicrosPerSecond + frac_us;
  // The offset can move a date at the edge of the range out of it.
  constexpr std::int64_t kMin = -62135596800LL * kMicrosPerSecond;  // 0001-01-01T00:00:00Z
  constexpr std::int64_t kMax =
      253402300799LL * kMicrosPerSecond + 999999;  // 9999-12-31T23:59:59.999999Z
  if (result < kMin || result > kMax) {
    return bad("outside years 0001-9999 in UTC");
  }
  return result;
}

std::string FormatRfc3339(std::int64_t micros) {
  std::int64_t secs = micros / kMicrosPerSecond;
  std::int64_t frac = micros % kMicrosPerSecond;
  if (frac < 0) {
    frac += kMicrosPerSecond;
    secs -= 1;
  }
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, &y, &m, &d);
  // Hand-rolled rather than snprintf: this runs for every stored event.
  char buf[32];
  char* p = buf;
  const auto put = [&p](std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    p += width;
  };
  put(y, 4);
  *p++ = '-';
  put(m, 2);
  *p++ = '-';
  put(d, 2);
  *p++ = 'T';
  put(sod / 3600, 2);
  *p++ = ':';
  put(sod / 60 % 60, 2);
  *p++ = ':';
  put(sod % 60, 2);
  if (frac != 0) {
    *p++ = '.';
    if (frac % 1000 == 0) {
      put(frac / 1000, 3);
    } else {
      put(frac, 6);
    }
  }
  *p++ = 'Z';
  return std::string(buf, static_cast<std::size_t>(p - buf));
}

}  // namespace touchline
