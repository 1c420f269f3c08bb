// API keys: the credentials clients present, and the file that holds them.
//
// A key is "tl_<id>_<secret>": <id> is 12 hex digits (public, names the key
// in lookups), <secret> 48 hex digits (192 random bits from libsodium). The
// key is shown once, when it is created; the file keeps only its BLAKE2b-256
// hash (crypto_generichash), compared in constant time (sodium_memcmp). A
// fast hash is enough because the secret is random and long, not a password
// someone chose: there is nothing for a slow hash to protect against.
//
// The file is "<data dir>/api_keys.json" (mode 0600):
//   {"format":1,"keys":[{"id":"9f2c...","name":"crm-sync","role":"ingest",
//     "hash":"<64 hex>","created_at":"2026-11-25T03:00:00Z"},
//     {..., "revoked_at":"2026-11-26T10:00:00Z"}]}
// Writers (tlctl keys) take an flock on "api_keys.json.lock", write a new
// file, fsync it and rename it over the old one, so a reader (the server)
// sees either the old or the new set, never a torn one. Revoked keys stay in
// the file (their names are not reused) so an audit trail that names them
// stays unambiguous.
//
// Thread safety: KeyFile functions may run in different processes at once
// (the lock serialises writers). KeyRing is safe for concurrent use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"

namespace touchline::store {

// What a key may do (api/auth.h maps routes to roles).
enum class Role : std::uint8_t { kIngest, kAgent, kAuditor, kAdmin };
std::string_view RoleName(Role role);
StatusOr<Role> ParseRole(std::string_view name);

struct ApiKeyRecord {
  std::string id;
  std::string name;  // the actor recorded on every event the key writes
  Role role = Role::kIngest;
  std::string hash_hex;
  std::int64_t created_at_us = 0;
  std::optional<std::int64_t> revoked_at_us;
};

// The file's path inside a data directory.
std::string ApiKeyFilePath(const std::string& data_dir);

// Reads every key (revoked ones too). A missing file is an empty list;
// a malformed one is DataLoss naming the problem.
StatusOr<std::vector<ApiKeyRecord>> ReadApiKeys(const std::string& data_dir);

struct CreatedKey {
  ApiKeyRecord record;
  std::string secret;  // the whole key, "tl_<id>_<secret>"; shown once
};
// Creates a key. InvalidArgument for a bad name (1-64 of [A-Za-z0-9._-]);
// AlreadyExists if a key (even a revoked one) has the name.
StatusOr<CreatedKey> CreateApiKey(const std::string& data_dir, std::string_view name, Role role,
                                  std::int64_t now_us);
// Revokes the key with this name or id. NotFound if none; FailedPrecondition
// if it is already revoked.
StatusOr<ApiKeyRecord> RevokeApiKey(const std::string& data_dir, std::string_view name_or_id,
                                    std::int64_t now_us);

struct Principal {
  std::string name;
  Role role = Role::kAdmin;
};

// The server's view of the key file: verifies presented keys and re-reads
// the file when it changes (checked at most once per `recheck`), so keys
// created or revoked by tlctl take effect within that time without a
// restart.
class KeyRing {
 public:
  explicit KeyRing(std::string data_dir,
                   std::chrono::milliseconds recheck = std::chrono::milliseconds(1000));

  // Loads the file. DataLoss if it is malformed (the server refuses to
  // start rather than run open by mistake).
  Status Load();

  // True when at least one key is active.
  bool HasActiveKeys();
  // True when the file holds any key, even a revoked one.
  bool HasAnyKeys();

  // The principal for `presented`, or Unauthenticated (unknown, malformed
  // or revoked key; the message never repeats the key).
  StatusOr<Principal> Verify(std::string_view presented);

 private:
  struct Snapshot;
  void MaybeReload();

  const std::string data_dir_;
  const std::chrono::milliseconds recheck_;
  std::atomic<std::int64_t> next_check_ms_{0};
  Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ GUARDED_BY(mu_);
  std::string file_signature_ GUARDED_BY(mu_);  // inode, size and mtime
};

}  // namespace touchline::store
