#include "store/api_keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/time_format.h"
#include "store/internal/atomic_file.h"

namespace touchline::store {
namespace {

constexpr std::size_t kIdBytes = 6;
constexpr std::size_t kSecretBytes = 24;
constexpr std::size_t kHashBytes = 32;

std::string Hex(const unsigned char* data, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.pop_back();
  return out;
}

std::string RandomHex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  randombytes_buf(buf.data(), buf.size());
  return Hex(buf.data(), buf.size());
}

std::string HashKey(std::string_view key) {
  unsigned char out[kHashBytes];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(key.data()),
                     key.size(), nullptr, 0);
  return Hex(out, sizeof(out));
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool IsHex(std::string_view s, std::size_t len) {
  if (s.size() != len) {
    return false;
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

Status ErrnoStatus(std::string_view what, const std::string& path) {
  return Status::Unavailable(std::string(what) + " " + path + ": " + std::strerror(errno));
}

StatusOr<std::vector<ApiKeyRecord>> ParseKeyFile(std::string_view text, const std::string& path) {
  auto fail = [&](std::string_view why) {
    return Status::DataLoss(path + " is malformed (" + std::string(why) +
                            "); restore it from a backup or fix it by hand");
  };
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) {
    return fail("not a JSON object");
  }
  const auto& obj = doc.as_object();
  const auto* format = obj.if_contains("format");
  if (format == nullptr || !format->is_int64() || format->as_int64() != 1) {
    return fail("\"format\" must be 1");
  }
  const auto* keys = obj.if_contains("keys");
  if (keys == nullptr || !keys->is_array()) {
    return fail("\"keys\" must be an array");
  }
  std::vector<ApiKeyRecord> out;
  for (const auto& k : keys->as_array()) {
    if (!k.is_object()) {
      return fail("a key is not an object");
    }
    const auto& o = k.as_object();
    auto str = [&](std::string_view field) -> const boost::json::string* {
      const auto* v = o.if_contains(field);
      return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
    };
    const auto *id = str("id"), *name = str("name"), *role = str("role"), *hash = str("hash"),
               *created = str("created_at"), *revoked = str("revoked_at");
    if (id == nullptr || name == nullptr || role == nullptr || hash == nullptr ||
        created == nullptr) {
      return fail("a key lacks id, name, role, hash or created_at");
    }
    ApiKeyRecord r;
    r.id = std::string(*id);
    r.name = std::string(*name);
    r.hash_hex = std::string(*hash);
    if (!IsHex(r.id, kIdBytes * 2) || !IsHex(r.hash_hex, kHashBytes * 2) || !ValidName(r.name)) {
      return fail("key " + r.id + " has a bad id, name or hash");
    }
    auto parsed_role = ParseRole(*role);
    if (!parsed_role.ok()) {
      return fail("key " + r.id + " has an unknown role");
    }
    r.role = *parsed_role;
    auto created_at = ParseRfc3339(*created);
    if (!created_at.ok()) {
      return fail("key " + r.id + " has a bad created_at");
    }
    r.created_at_us = *created_at;
    if (revoked != nullptr) {
      auto revoked_at = ParseRfc3339(*revoked);
      if (!revoked_at.ok()) {
        return fail("key " + r.id + " has a bad revoked_at");
      }
      r.revoked_at_us = *revoked_at;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string RenderKeyFile(const std::vector<ApiKeyRecord>& keys) {
  boost::json::array arr;
  for (const auto& k : keys) {
    boost::json::object o;
    o["id"] = k.id;
    o["name"] = k.name;
    o["role"] = RoleName(k.role);
    o["hash"] = k.hash_hex;
    o["created_at"] = FormatRfc3339(k.created_at_us);
    if (k.revoked_at_us) {
      o["revoked_at"] = FormatRfc3339(*k.revoked_at_us);
    }
    arr.push_back(std::move(o));
  }
  boost::json::object doc;
  doc["format"] = 1;
  doc["keys"] = std::move(arr);
  return boost::json::serialize(doc) + "\n";
}

StatusOr<std::string> ReadWhole(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return std::string();
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return ErrnoStatus("cannot open", path);
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Holds an exclusive flock on the file's lock file while writers work.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open((path + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) {
      ::close(fd_);  // releases the lock
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

Status EnsureSodium() {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  return Status::Ok();
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kIngest:
      return "ingest";
    case Role::kAgent:
      return "agent";
    case Role::kAuditor:
      return "auditor";
    case Role::kAdmin:
      return "admin";
  }
  return "ingest";
}

StatusOr<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kIngest, Role::kAgent, Role::kAuditor, Role::kAdmin}) {
    if (name == RoleName(r)) {
      return r;
    }
  }
  return Status::InvalidArgument("unknown role \"" + std::string(name.substr(0, 32)) +
                                 "\"; use ingest, agent, auditor or admin");
}

std::string ApiKeyFilePath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "api_keys.json").string();
}

StatusOr<std::vector<ApiKeyRecord>> ReadApiKeys(const std::string& data_dir) {
  const std::string path = ApiKeyFilePath(data_dir);
  auto text = ReadWhole(path);
  if (!text.ok()) {
    return text.status();
  }
  if (text->empty()) {
    return std::vector<ApiKeyRecord>{};
  }
  return ParseKeyFile(*text, path);
}

StatusOr<CreatedKey> CreateApiKey(const std::string& data_dir, std::string_view name, Role role,
                                  std::int64_t now_us) {
  if (!ValidName(name)) {
    return Status::InvalidArgument(
        "a key name is 1 to 64 characters of letters, digits, '.', '_' and '-' (it is recorded "
        "as the actor of everything the key does, so never use personal data)");
  }
  if (auto s = EnsureSodium(); !s.ok()) {
    return s;
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  const std::string path = ApiKeyFilePath(data_dir);
  FileLock lock(path);
  if (!lock.ok()) {
    return ErrnoStatus("cannot lock", path + ".lock");
  }
  auto keys = ReadApiKeys(data_dir);
  if (!keys.ok()) {
    return keys.status();
  }
  for (const auto& k : *keys) {
    if (k.name == name) {
      return Status::AlreadyExists("a key named \"" + std::string(name) + "\" exists" +
                                   (k.revoked_at_us ? " (revoked; names are never reused)" : ""));
    }
  }
  CreatedKey created;
  created.record.id = RandomHex(kIdBytes);
  created.record.name = std::string(name);
  created.record.role = role;
  created.record.created_at_us = now_us;
  created.secret = "tl_" + created.record.id + "_" + RandomHex(kSecretBytes);
  created.record.hash_hex = HashKey(created.secret);
  keys->push_back(created.record);
  if (auto s = internal::WriteFileAtomically(path, RenderKeyFile(*keys)); !s.ok()) {
    return s;
  }
  return created;
}

StatusOr<ApiKeyRecord> RevokeApiKey(const std::string& data_dir, std::string_view name_or_id,
                                    std::int64_t now_us) {
  const std::string path = ApiKeyFilePath(data_dir);
  FileLock lock(path);
  if (!lock.ok()) {
    return ErrnoStatus("cannot lock", path + ".lock");
  }
  auto keys = ReadApiKeys(data_dir);
  if (!keys.ok()) {
    return keys.status();
  }
  for (auto& k : *keys) {
    if (k.name == name_or_id || k.id == name_or_id) {
      if (k.revoked_at_us) {
        return Status::FailedPrecondition("key \"" + k.name + "\" was already revoked at " +
                                          FormatRfc3339(*k.revoked_at_us));
      }
      k.revoked_at_us = now_us;
      if (auto s = internal::WriteFileAtomically(path, RenderKeyFile(*keys)); !s.ok()) {
        return s;
      }
      return k;
    }
  }
  return Status::NotFound("no key is named \"" + std::string(name_or_id.substr(0, 64)) +
                          "\" or has that id; see tlctl keys list");
}

struct KeyRing::Snapshot {
  // Active keys by id.
  std::unordered_map<std::string, ApiKeyRecord> active;
  std::size_t all = 0;  // revoked ones included
};

KeyRing::KeyRing(std::string data_dir, std::chrono::milliseconds recheck)
    : data_dir_(std::move(data_dir)), recheck_(recheck) {}

namespace {

std::string FileSignature(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "absent";
  }
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status KeyRing::Load() {
  if (auto s = EnsureSodium(); !s.ok()) {
    return s;
  }
  const std::string path = ApiKeyFilePath(data_dir_);
  const std::string signature = FileSignature(path);
  auto keys = ReadApiKeys(data_dir_);
  if (!keys.ok()) {
    return keys.status();
  }
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->all = keys->size();
  for (auto& k : *keys) {
    if (!k.revoked_at_us) {
      snapshot->active.emplace(k.id, std::move(k));
    }
  }
  MutexLock lock(&mu_);
  snapshot_ = std::move(snapshot);
  file_signature_ = signature;
  next_check_ms_.store(NowMs() + recheck_.count());
  return Status::Ok();
}

void KeyRing::MaybeReload() {
  const std::int64_t now = NowMs();
  std::int64_t next = next_check_ms_.load();
  if (now < next || !next_check_ms_.compare_exchange_strong(next, now + recheck_.count())) {
    return;  // checked recently, or another thread is checking
  }
  const std::string signature = FileSignature(ApiKeyFilePath(data_dir_));
  {
    MutexLock lock(&mu_);
    if (signature == file_signature_) {
      return;
    }
  }
  // A malformed file (someone editing it by hand) keeps the last good set.
  (void)Load();
}

bool KeyRing::HasActiveKeys() {
  MaybeReload();
  MutexLock lock(&mu_);
  return snapshot_ != nullptr && !snapshot_->active.empty();
}

bool KeyRing::HasAnyKeys() {
  MaybeReload();
  MutexLock lock(&mu_);
  return snapshot_ != nullptr && snapshot_->all > 0;
}

StatusOr<Principal> KeyRing::Verify(std::string_view presented) {
  MaybeReload();
  std::shared_ptr<const Snapshot> snapshot;
  {
    MutexLock lock(&mu_);
    snapshot = snapshot_;
  }
  const Status invalid = Status::Unauthenticated(
      "the API key is not valid (unknown, revoked or mistyped); keys look like "
      "tl_<12 hex>_<48 hex> and come from tlctl keys create");
  // "tl_" + id + "_" + secret
  if (snapshot == nullptr || presented.size() != 3 + kIdBytes * 2 + 1 + kSecretBytes * 2 ||
      !presented.starts_with("tl_") || presented[3 + kIdBytes * 2] != '_') {
    return invalid;
  }
  auto it = snapshot->active.find(std::string(presented.substr(3, kIdBytes * 2)));
  // Hash even when the id is unknown, so timing does not tell which ids exist.
  const std::string hash = HashKey(presented);
  const std::string& expected = it != snapshot->active.end() ? it->second.hash_hex : hash;
  const bool match = sodium_memcmp(hash.data(), expected.data(), hash.size()) == 0;
  if (it == snapshot->active.end() || !match) {
    return invalid;
  }
  return Principal{it->second.name, it->second.role};
}

}  // namespace touchline::store
