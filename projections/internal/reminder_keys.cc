#include "projections/internal/reminder_keys.h"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace touchline::projections::internal {
namespace {

constexpr std::size_t kTimeDigits = 20;
constexpr std::uint64_t kMaxTime = std::numeric_limits<std::int64_t>::max();

std::string Pad(std::int64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020lld", static_cast<long long>(v < 0 ? 0 : v));
  return buf;
}

std::string Timed(std::string_view prefix, std::int64_t at_us, std::string_view id) {
  std::string k(prefix);
  k += Pad(at_us);
  k.push_back('/');
  k.append(id);
  return k;
}

// "<kind>/<a>\0" (a prefix) or "<kind>/<a>\0<b>".
std::string Pair(std::string_view kind, std::string_view a, std::string_view b = "") {
  std::string k(kind);
  k.append(a);
  k.push_back('\0');
  k.append(b);
  return k;
}

}  // namespace

std::string RuleKey(std::string_view rule) { return std::string(kRulePrefix) + std::string(rule); }
std::string ReminderKey(std::string_view id) { return "m/" + std::string(id); }
std::string DueKey(std::int64_t due_us, std::string_view id) {
  return Timed(kDuePrefix, due_us, id);
}
std::string DeliveryKey(std::int64_t at_us, std::string_view id) {
  return Timed(kDeliveryPrefix, at_us, id);
}
std::string StatusPrefix(ReminderStatus status) {
  return "s/" + std::string(ReminderStatusName(status)) + "/";
}
std::string StatusKey(ReminderStatus status, std::int64_t due_us, std::string_view id) {
  return Timed(StatusPrefix(status), due_us, id);
}
std::string CustomerPrefix(std::string_view customer) { return Pair("a/", customer); }
std::string CustomerKey(std::string_view customer, std::string_view id) {
  return Pair("a/", customer, id);
}
std::string PendingCustomerPrefix(std::string_view customer) { return Pair("c/", customer); }
std::string PendingCustomerKey(std::string_view customer, std::string_view id) {
  return Pair("c/", customer, id);
}
std::string RulePendingPrefix(std::string_view rule) { return "x/" + std::string(rule) + "/"; }
std::string RulePendingKey(std::string_view rule, std::string_view id) {
  return RulePendingPrefix(rule) + std::string(id);
}
std::string DeletedRuleKey(std::string_view rule) {
  return std::string(kDeletedRulePrefix) + std::string(rule);
}
std::string SinglePendingKey(std::string_view rule, std::string_view customer) {
  return Pair("p/", rule, customer);
}
std::string ZonePrefix(std::string_view customer) { return Pair("z/", customer); }
std::string ZoneKey(std::string_view customer, std::string_view trait) {
  return Pair("z/", customer, trait);
}
std::string CampaignKey(std::string_view campaign) { return "k/" + std::string(campaign); }
std::string CapKey(std::string_view rule, std::string_view customer) {
  return Pair("t/", rule, customer);
}

std::string_view IdFromIndexKey(std::string_view key) {
  const auto slash = key.rfind('/');
  const auto nul = key.rfind('\0');
  const auto cut = slash == std::string_view::npos ? nul
                   : nul == std::string_view::npos ? slash
                                                   : std::max(slash, nul);
  return cut == std::string_view::npos ? key : key.substr(cut + 1);
}

std::optional<TimedKey> ParseTimedKey(std::string_view key, std::size_t prefix_size) {
  if (key.size() < prefix_size + kTimeDigits + 2 || key[prefix_size + kTimeDigits] != '/') {
    return std::nullopt;
  }
  std::uint64_t at = 0;
  for (char c : key.substr(prefix_size, kTimeDigits)) {
    if (c < '0' || c > '9' || at > kMaxTime / 10) {
      return std::nullopt;
    }
    at = at * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (at > kMaxTime) {
    return std::nullopt;
  }
  return TimedKey{static_cast<std::int64_t>(at), key.substr(prefix_size + kTimeDigits + 1)};
}

}  // namespace touchline::projections::internal
