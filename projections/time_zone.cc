#include "projections/time_zone.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "core/mutex.h"

namespace touchline::projections {
namespace {

constexpr const char* kZoneDir = "/usr/share/zoneinfo/";

std::uint32_t Be32(std::string_view b, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

std::int64_t Be64(std::string_view b, std::size_t at) {
  return static_cast<std::int64_t>((static_cast<std::uint64_t>(Be32(b, at)) << 32) |
                                   Be32(b, at + 4));
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' ||
      name.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

// "+07:00", "-0330", "+7": seconds east of UTC, or false.
bool ParseFixed(std::string_view s, std::int32_t* out) {
  if (s == "UTC" || s == "Z" || s == "Etc/UTC" || s == "GMT") {
    *out = 0;
    return true;
  }
  if (s.size() < 2 || (s[0] != '+' && s[0] != '-')) {
    return false;
  }
  const int sign = s[0] == '-' ? -1 : 1;
  std::string digits;
  for (char c : s.substr(1)) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != ':') {
      return false;
    }
  }
  int h = 0;
  int m = 0;
  if (digits.empty()) {
    return false;
  }
  if (digits.size() <= 2) {
    h = std::stoi(digits);
  } else if (digits.size() == 4) {
    h = std::stoi(digits.substr(0, 2));
    m = std::stoi(digits.substr(2));
  } else {
    return false;
  }
  if (h > 14 || m > 59) {
    return false;
  }
  *out = sign * (h * 3600 + m * 60);
  return true;
}

Mutex cache_mu;
std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>>& Cache() {
  static auto* cache = new std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>>();
  return *cache;
}

}  // namespace

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const std::shared_ptr<const TimeZone> utc(new TimeZone("UTC", 0));
  return utc;
}

StatusOr<std::shared_ptr<const TimeZone>> TimeZone::Find(std::string_view name) {
  std::int32_t fixed = 0;
  if (ParseFixed(name, &fixed)) {
    return std::shared_ptr<const TimeZone>(new TimeZone(std::string(name), fixed));
  }
  if (!ValidName(name)) {
    return Status::InvalidArgument("time zone '" + std::string(name.substr(0, 64)) +
                                   "' is not a zone name such as Asia/Jakarta or an offset "
                                   "such as +07:00");
  }
  {
    MutexLock lock(&cache_mu);
    if (auto it = Cache().find(name); it != Cache().end()) {
      return it->second;
    }
  }
  std::ifstream f(kZoneDir + std::string(name), std::ios::binary);
  if (!f) {
    return Status::NotFound("unknown time zone '" + std::string(name) + "'");
  }
  std::stringstream bytes;
  bytes << f.rdbuf();
  ASSIGN_OR_RETURN(auto zone, FromTzif(std::string(name), bytes.str()));
  MutexLock lock(&cache_mu);
  Cache().emplace(std::string(name), zone);
  return zone;
}

StatusOr<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(std::string name, std::string_view b) {
  auto bad = [&] { return Status::NotFound("'" + name + "' is not a TZif time zone file"); };
  constexpr std::size_t kHeader = 44;
  if (b.size() < kHeader || b.substr(0, 4) != "TZif" || b[4] < '2') {
    return bad();
  }
  // Skip the version 1 block (32-bit times); read the version 2 block.
  auto counts = [&](std::size_t at, std::uint32_t c[6]) {
    for (int i = 0; i < 6; ++i) {
      c[i] = Be32(b, at + 20 + 4 * static_cast<std::size_t>(i));
    }
  };
  std::uint32_t c[6];  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
  counts(0, c);
  const std::size_t v1 = kHeader + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
  if (b.size() < v1 + kHeader || b.substr(v1, 4) != "TZif") {
    return bad();
  }
  counts(v1, c);
  const std::size_t timecnt = c[3];
  const std::size_t typecnt = c[4];
  std::size_t at = v1 + kHeader;
  if (typecnt == 0 || b.size() < at + timecnt * 9 + typecnt * 6) {
    return bad();
  }
  std::shared_ptr<TimeZone> z(new TimeZone(std::move(name), 0));
  std::vector<std::int32_t> type_offsets(typecnt);
  std::vector<bool> type_dst(typecnt);
  const std::size_t types_at = at + timecnt * 9;
  for (std::size_t i = 0; i < typecnt; ++i) {
    type_offsets[i] = static_cast<std::int32_t>(Be32(b, types_at + i * 6));
    type_dst[i] = b[types_at + i * 6 + 4] != 0;
  }
  for (std::size_t i = 0; i < timecnt; ++i) {
    const auto type = static_cast<unsigned char>(b[at + timecnt * 8 + i]);
    if (type >= typecnt) {
      return bad();
    }
    z->transitions_.push_back(Be64(b, at + i * 8));
    z->offsets_.push_back(type_offsets[type]);
  }
  // Before the first transition: the first standard-time type (RFC 8536).
  z->initial_ = type_offsets[0];
  for (std::size_t i = 0; i < typecnt; ++i) {
    if (!type_dst[i]) {
      z->initial_ = type_offsets[i];
      break;
    }
  }
  z->fixed_ = z->initial_;
  return std::shared_ptr<const TimeZone>(std::move(z));
}

std::int32_t TimeZone::OffsetAt(std::int64_t utc_seconds) const {
  if (transitions_.empty()) {
    return fixed_;
  }
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc_seconds);
  if (it == transitions_.begin()) {
    return initial_;
  }
  return offsets_[static_cast<std::size_t>(it - transitions_.begin()) - 1];
}

std::int64_t TimeZone::ToUtc(std::int64_t local_seconds) const {
  // Try both offsets around the instant; prefer the earlier valid reading.
  const std::int32_t a = OffsetAt(local_seconds - 86400);
  const std::int32_t b = OffsetAt(local_seconds + 86400);
  const std::int64_t ua = local_seconds - a;
  const std::int64_t ub = local_seconds - b;
  const bool a_ok = OffsetAt(ua) == a;
  const bool b_ok = OffsetAt(ub) == b;
  if (a_ok && b_ok) {
    return std::min(ua, ub);
  }
  if (a_ok) {
    return ua;
  }
  if (b_ok) {
    return ub;
  }
  // In a gap: the wall time does not exist; move it forward by the jump.
  return local_seconds - std::min(a, b);
}

}  // namespace touchline::projections
