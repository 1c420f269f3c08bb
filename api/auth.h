// Who may do what: authentication (API keys), authorisation (roles), and
// the abuse limits every request passes through, all decided here, in
// AccessControl::Admit, which the router calls once per request.
//
// Credentials: "Authorization: Bearer <key>", or HTTP Basic with the key as
// user name and an empty password (what Segment-style SDKs send). Only
// GET /v1/stream also accepts "?access_token=<key>", because browsers
// cannot set headers on a WebSocket; the server never logs it.
//
// Roles (least privilege; admin may do everything):
//   ingest   append events
//   agent    read customers, timelines, reminders and the live stream of
//            customers; add notes
//   auditor  read everything (also the whole log, projections, metrics,
//            audit); no writes
//   admin    everything, including rules, erasure and rebuilds
//
// Open mode: while the key file has never held a key, the server admits
// every request as the actor "anonymous" with the admin role, but only if
// it listens on a loopback address (touchlined refuses to start otherwise).
// Creating the first key (tlctl keys create) switches it to keys-required
// within a second, without a restart, and for good: revoking every key
// leaves a server that admits nobody, not an open one.
//
// Order of checks: the per-address rate limit (AdmitAddress, for every
// request, even one for an unknown route), then the per-address budget of
// failed authentications (spent: 429 without looking at the key, which
// slows guessing), then the key (401), the role (403) and the per-key rate
// limit (429). Every 429 says when to retry (Retry-After).
//
// Thread safety: Admit() may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api/request.h"
#include "core/status.h"
#include "store/api_keys.h"

namespace touchline::api {

// What a route needs.
enum class Permission : std::uint8_t {
  kPublic,         // health checks and the console's static files
  kAnyKey,         // any valid key (GET /v1/auth/whoami)
  kWriteEvents,    // POST /v1/events
  kReadCustomers,  // views, timelines, lookups, reminders, customer streams
  kWriteNotes,     // POST /v1/customers/{id}/notes
  kReadAll,        // the whole log, projections, metrics, audit
  kAdmin,          // rules, erasure, rebuilds
};

bool RoleAllows(store::Role role, Permission permission);
// "append events", ... for 403 messages.
std::string_view PermissionDescription(Permission permission);
// "public", "any_key", "write_events", "read_customers", "write_notes",
// "read_all", "admin": the x-touchline-permission of each operation in
// api/openapi.json.
std::string_view PermissionName(Permission permission);

// A token bucket per key (address or key name): `rate` tokens a second up
// to `burst`. rate 0 turns the limit off.
struct RateLimit {
  double rate = 0;
  double burst = 0;
};

struct AccessOptions {
  // Null: no key file (every request is open, as in open mode).
  store::KeyRing* keys = nullptr;
  // Whether open mode may apply (the server listens on loopback only).
  bool allow_open = true;
  RateLimit per_address;
  RateLimit per_key;
  // Failed authentications an address may make (burst), refilled at `rate`.
  RateLimit auth_failures{0.2, 20};
};

struct Admission {
  Status status;  // Ok: admitted
  store::Principal principal;
  // For 429: whole seconds until a retry can succeed (Retry-After).
  int retry_after_s = 0;
};

class AccessControl {
 public:
  explicit AccessControl(AccessOptions options);
  ~AccessControl();
  AccessControl(const AccessControl&) = delete;
  AccessControl& operator=(const AccessControl&) = delete;

  // The per-address rate limit; every request passes it first.
  Admission AdmitAddress(const Request& request);

  // Decides `request` (its client_address and credentials) for a route
  // that needs `permission`. `allow_query_token`: accept ?access_token=.
  Admission Admit(const Request& request, Permission permission, bool allow_query_token = false);

  // Whether `request`'s credentials still admit it (without rate limits):
  // long-lived WebSocket sessions recheck this, so a revoked key (or the
  // end of open mode) closes them.
  bool StillAdmitted(const Request& request, Permission permission, bool allow_query_token);

  // True while open mode applies (loopback, and the key file never held a
  // key).
  bool open();

 private:
  class Buckets;
  StatusOr<store::Principal> Authenticate(const Request& request, bool allow_query_token);

  AccessOptions options_;
  std::unique_ptr<Buckets> by_address_;
  std::unique_ptr<Buckets> by_key_;
  std::unique_ptr<Buckets> failures_;
};

// The key a request presents (Bearer, Basic user name, or, when allowed,
// ?access_token=), or "" if none. InvalidArgument-free: a malformed header
// yields a value that will simply not verify.
std::string PresentedKey(const Request& request, bool allow_query_token);

}  // namespace touchline::api
