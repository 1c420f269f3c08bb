#include "api/auth.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <cmath>
#include <functional>
#include <unordered_map>

#include "core/metrics.h"
#include "core/mutex.h"
#include "core/validation.h"

namespace touchline::api {

bool RoleAllows(store::Role role, Permission permission) {
  using store::Role;
  switch (permission) {
    case Permission::kPublic:
    case Permission::kAnyKey:
      return true;
    case Permission::kWriteEvents:
      return role == Role::kIngest || role == Role::kAdmin;
    case Permission::kReadCustomers:
      return role == Role::kAgent || role == Role::kAuditor || role == Role::kAdmin;
    case Permission::kWriteNotes:
      return role == Role::kAgent || role == Role::kAdmin;
    case Permission::kReadAll:
      return role == Role::kAuditor || role == Role::kAdmin;
    case Permission::kAdmin:
      return role == Role::kAdmin;
  }
  return false;
}

std::string_view PermissionDescription(Permission permission) {
  switch (permission) {
    case Permission::kPublic:
    case Permission::kAnyKey:
      return "use the API";
    case Permission::kWriteEvents:
      return "append events (roles ingest, admin)";
    case Permission::kReadCustomers:
      return "read customer data (roles agent, auditor, admin)";
    case Permission::kWriteNotes:
      return "add notes (roles agent, admin)";
    case Permission::kReadAll:
      return "read the whole log and operational data (roles auditor, admin)";
    case Permission::kAdmin:
      return "administer the server (role admin)";
  }
  return "do this";
}

std::string_view PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kPublic:
      return "public";
    case Permission::kAnyKey:
      return "any_key";
    case Permission::kWriteEvents:
      return "write_events";
    case Permission::kReadCustomers:
      return "read_customers";
    case Permission::kWriteNotes:
      return "write_notes";
    case Permission::kReadAll:
      return "read_all";
    case Permission::kAdmin:
      return "admin";
  }
  return "admin";
}

// Token buckets by key, sharded to keep lock contention low. Buckets that
// are full again carry no information and are dropped when a shard grows.
class AccessControl::Buckets {
 public:
  explicit Buckets(RateLimit limit) : limit_(limit) {}

  bool enabled() const { return limit_.rate > 0; }

  // Takes a token if there is one; else returns the seconds until there is.
  int Take(const std::string& key) { return Update(key, true, true); }
  // Whether a token is there, without taking it.
  int Check(const std::string& key) { return Update(key, false, true); }
  // Takes a token even if that runs the bucket dry (a failure to charge).
  void Charge(const std::string& key) { Update(key, true, false); }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  struct Shard {
    Mutex mu;
    std::unordered_map<std::string, Bucket> buckets GUARDED_BY(mu);
    std::size_t prune_at GUARDED_BY(mu) = kPruneAt;
  };
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kPruneAt = 65536;

  int Update(const std::string& key, bool take, bool only_if_available) {
    if (!enabled()) {
      return 0;
    }
    const auto now = std::chrono::steady_clock::now();
    Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
    MutexLock lock(&shard.mu);
    if (shard.buckets.size() >= shard.prune_at) {
      // Only full buckets carry no information; if too few are, wait until
      // the shard doubles before scanning it again.
      std::erase_if(shard.buckets,
                    [&](const auto& kv) { return Refill(kv.second, now) >= limit_.burst; });
      shard.prune_at = std::max(kPruneAt, 2 * shard.buckets.size());
    }
    auto [it, inserted] = shard.buckets.try_emplace(key, Bucket{limit_.burst, now});
    Bucket& b = it->second;
    b.tokens = Refill(b, now);
    b.at = now;
    if (b.tokens >= 1.0) {
      if (take) {
        b.tokens -= 1.0;
      }
      return 0;
    }
    if (take && !only_if_available) {
      b.tokens = std::max(b.tokens - 1.0, -limit_.burst);
    }
    return std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / limit_.rate)));
  }

  double Refill(const Bucket& b, std::chrono::steady_clock::time_point now) const {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    return std::min(limit_.burst, b.tokens + elapsed * limit_.rate);
  }

  const RateLimit limit_;
  std::array<Shard, kShards> shards_;
};

AccessControl::AccessControl(AccessOptions options)
    : options_(options),
      by_address_(std::make_unique<Buckets>(options.per_address)),
      by_key_(std::make_unique<Buckets>(options.per_key)),
      failures_(std::make_unique<Buckets>(options.auth_failures)) {}

AccessControl::~AccessControl() = default;

bool AccessControl::open() {
  return options_.allow_open && (options_.keys == nullptr || !options_.keys->HasAnyKeys());
}

namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) {
      return false;
    }
  }
  return true;
}

Admission Limited(std::string message, int retry_after_s) {
  Admission a;
  a.status = Status::ResourceExhausted(std::move(message) + "; retry after " +
                                       std::to_string(retry_after_s) + " s");
  a.retry_after_s = retry_after_s;
  return a;
}

}  // namespace

std::string PresentedKey(const Request& request, bool allow_query_token) {
  const std::string_view auth = TrimBlanks(request.authorization);
  if (StartsWithNoCase(auth, "bearer ")) {
    return std::string(TrimBlanks(auth.substr(7)));
  }
  if (StartsWithNoCase(auth, "basic ")) {
    const std::string_view b64 = TrimBlanks(auth.substr(6));
    std::string decoded(b64.size(), '\0');
    std::size_t len = 0;
    if (b64.size() > 512 || sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()),
                                              decoded.size(), b64.data(), b64.size(), nullptr, &len,
                                              nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
      return "!malformed";
    }
    decoded.resize(len);
    // "key:" (empty password), or "key" alone.
    return decoded.substr(0, decoded.find(':'));
  }
  if (!auth.empty()) {
    return "!malformed";
  }
  if (allow_query_token) {
    // Only the literal name counts, not a percent-encoded spelling of it.
    // (Logs never show targets, only the matched route: request.h.)
    auto url = boost::urls::parse_origin_form(request.target);
    if (url) {
      for (auto param : url->encoded_params()) {
        if (param.key == "access_token" && param.has_value) {
          return param.value.decode();
        }
      }
    }
  }
  return "";
}

StatusOr<store::Principal> AccessControl::Authenticate(const Request& request,
                                                       bool allow_query_token) {
  const std::string key = PresentedKey(request, allow_query_token);
  if (key.empty()) {
    if (open()) {
      return store::Principal{"anonymous", store::Role::kAdmin};
    }
    return Status::Unauthenticated(
        "this server requires an API key: send \"Authorization: Bearer <key>\" (keys come from "
        "tlctl keys create)");
  }
  if (options_.keys == nullptr) {
    return Status::Unauthenticated("this server has no API keys; send no Authorization header");
  }
  return options_.keys->Verify(key);
}

namespace {

Counter& LimitedCounter() {
  static Counter& limited =
      Metrics::Default().GetCounter("touchline_rate_limited_total", "Requests answered 429");
  return limited;
}

}  // namespace

Admission AccessControl::AdmitAddress(const Request& request) {
  if (int wait = by_address_->Take(request.client_address); wait > 0) {
    LimitedCounter().Increment();
    return Limited("too many requests from this address", wait);
  }
  return Admission{};
}

Admission AccessControl::Admit(const Request& request, Permission permission,
                               bool allow_query_token) {
  static Counter& failed = Metrics::Default().GetCounter(
      "touchline_auth_failures_total", "Requests with a missing, invalid or revoked API key");
  static Counter& denied = Metrics::Default().GetCounter(
      "touchline_auth_denied_total", "Requests whose key's role may not use the route");
  const std::string& address = request.client_address;
  if (permission == Permission::kPublic) {
    return Admission{};
  }
  if (int wait = failures_->Check(address); wait > 0) {
    LimitedCounter().Increment();
    return Limited("too many failed authentications from this address", wait);
  }
  auto principal = Authenticate(request, allow_query_token);
  if (!principal.ok()) {
    failed.Increment();
    failures_->Charge(address);
    return Admission{principal.status(), {}, 0};
  }
  if (!RoleAllows(principal->role, permission)) {
    denied.Increment();
    return Admission{Status::PermissionDenied("key \"" + principal->name + "\" has the role " +
                                              std::string(store::RoleName(principal->role)) +
                                              ", which may not " +
                                              std::string(PermissionDescription(permission))),
                     {},
                     0};
  }
  if (int wait = by_key_->Take(principal->name); wait > 0) {
    LimitedCounter().Increment();
    return Limited("too many requests for key \"" + principal->name + "\"", wait);
  }
  return Admission{Status::Ok(), std::move(*principal), 0};
}

bool AccessControl::StillAdmitted(const Request& request, Permission permission,
                                  bool allow_query_token) {
  auto principal = Authenticate(request, allow_query_token);
  return principal.ok() && RoleAllows(principal->role, permission);
}

}  // namespace touchline::api
