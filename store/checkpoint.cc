#include "store/checkpoint.h"

#include <sodium.h>

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/time_format.h"
#include "store/internal/atomic_file.h"

namespace touchline::store {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94";
constexpr std::string_view kKeyFilePrefix = "ed25519 ";

std::string Base64(const unsigned char* p, std::size_t n) {
  std::string out(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), p, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

bool FromBase64(std::string_view b64, unsigned char* out, std::size_t n) {
  std::size_t len = 0;
  return sodium_base642bin(out, n, b64.data(), b64.size(), nullptr, &len, nullptr,
                           sodium_base64_VARIANT_ORIGINAL) == 0 &&
         len == n;
}

std::string Body(std::string_view origin, std::uint64_t size, const Hash& root,
                 std::int64_t time_us) {
  std::string body(origin);
  body += "\n" + std::to_string(size) + "\n" + HashBase64(root) + "\ntime " +
          FormatRfc3339(time_us) + "\n";
  return body;
}

Status Malformed(std::string_view what) {
  return Status::InvalidArgument("malformed checkpoint: " + std::string(what));
}

}  // namespace

std::string PublicKey::IdHex() const {
  char hex[9];
  sodium_bin2hex(hex, sizeof(hex), id.data(), id.size());
  return hex;
}

std::string PublicKey::KeyBase64() const { return Base64(key.data(), key.size()); }

std::string PublicKey::VerifierKey() const {
  unsigned char typed[33];
  typed[0] = 0x01;
  std::memcpy(typed + 1, key.data(), key.size());
  return name + "+" + IdHex() + "+" + Base64(typed, sizeof(typed));
}

PublicKey MakePublicKey(std::string name, const std::array<unsigned char, 32>& key) {
  PublicKey pk;
  pk.name = std::move(name);
  pk.key = key;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(pk.name.data()),
                            pk.name.size());
  const unsigned char sep[2] = {0x0A, 0x01};
  crypto_hash_sha256_update(&st, sep, sizeof(sep));
  crypto_hash_sha256_update(&st, key.data(), key.size());
  unsigned char digest[32];
  crypto_hash_sha256_final(&st, digest);
  std::memcpy(pk.id.data(), digest, pk.id.size());
  return pk;
}

StatusOr<PublicKey> ParseVerifierKey(std::string_view text) {
  // The name may not hold '+' (as in Go's note package); base64 may.
  const auto mid = text.find('+');
  const auto last = mid == std::string_view::npos ? mid : mid + 9;
  unsigned char typed[33];
  if (mid == std::string_view::npos || mid == 0 || text.size() <= last || text[last] != '+' ||
      !FromBase64(text.substr(last + 1), typed, sizeof(typed)) || typed[0] != 0x01) {
    return Status::InvalidArgument(
        "a verifier key looks like <name>+<8 hex digits>+<base64 of 0x01 and 32 key bytes>, "
        "as GET /v1/audit/public-key returns it");
  }
  std::array<unsigned char, 32> key{};
  std::memcpy(key.data(), typed + 1, key.size());
  PublicKey pk = MakePublicKey(std::string(text.substr(0, mid)), key);
  if (pk.IdHex() != text.substr(mid + 1, last - mid - 1)) {
    return Status::InvalidArgument("the verifier key's id does not match its name and key");
  }
  return pk;
}

StatusOr<Checkpoint> ParseCheckpoint(std::string_view note) {
  const auto blank = note.find("\n\n");
  if (blank == std::string_view::npos) {
    return Malformed("no blank line between the body and the signature");
  }
  const std::string_view body = note.substr(0, blank + 1);
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < body.size();) {
    const auto nl = body.find('\n', start);
    lines.push_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() != 4) {
    return Malformed("the body must have 4 lines (origin, size, root, time)");
  }
  Checkpoint c;
  c.origin = lines[0];
  const auto [ptr, ec] =
      std::from_chars(lines[1].data(), lines[1].data() + lines[1].size(), c.tree_size);
  if (c.origin.empty() || ec != std::errc() || ptr != lines[1].data() + lines[1].size() ||
      lines[1].empty() || (lines[1].size() > 1 && lines[1][0] == '0')) {
    return Malformed("bad origin or tree size");
  }
  if (!ParseHashBase64(lines[2], &c.root)) {
    return Malformed("the root is not the base64 of 32 bytes");
  }
  if (!lines[3].starts_with("time ")) {
    return Malformed("the fourth line must be 'time <RFC 3339>'");
  }
  auto t = ParseRfc3339(lines[3].substr(5));
  if (!t.ok()) {
    return Malformed("bad time");
  }
  c.time_us = *t;
  // The first signature line: "— <name> <base64(id || signature)>".
  std::string_view sig = note.substr(blank + 2);
  sig = sig.substr(0, sig.find('\n'));
  const std::string prefix = std::string(kEmDash) + " " + c.origin + " ";
  unsigned char raw[68];
  if (!sig.starts_with(prefix) || !FromBase64(sig.substr(prefix.size()), raw, sizeof(raw))) {
    return Malformed("no signature line by " + c.origin);
  }
  std::memcpy(c.key_id.data(), raw, 4);
  std::memcpy(c.signature.data(), raw + 4, 64);
  c.note = note;
  return c;
}

Status VerifyCheckpoint(const Checkpoint& c, const PublicKey& key) {
  if (key.name != c.origin) {
    return Status::InvalidArgument("the checkpoint is from log '" + c.origin +
                                   "', the key belongs to '" + key.name + "'");
  }
  if (key.id != c.key_id) {
    return Status::InvalidArgument("the checkpoint was signed by another key (id " +
                                   PublicKey{"", {}, c.key_id}.IdHex() + ", expected " +
                                   key.IdHex() + ")");
  }
  const std::string body = Body(c.origin, c.tree_size, c.root, c.time_us);
  if (!c.note.starts_with(body) ||
      crypto_sign_verify_detached(c.signature.data(),
                                  reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                                  key.key.data()) != 0) {
    return Status::InvalidArgument("the checkpoint's signature is not valid");
  }
  return Status::Ok();
}

std::string CheckpointJson(const Checkpoint& c) {
  boost::json::object o;
  o["origin"] = c.origin;
  o["tree_size"] = c.tree_size;
  o["root_hash"] = HashHex(c.root);
  o["timestamp"] = FormatRfc3339(c.time_us);
  o["key_id"] = PublicKey{"", {}, c.key_id}.IdHex();
  o["note"] = c.note;
  return boost::json::serialize(o);
}

StatusOr<Checkpoint> CheckpointFromText(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
    ++i;
  }
  if (i < text.size() && text[i] == '{') {
    boost::system::error_code ec;
    const auto v = boost::json::parse(text, ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* note = o == nullptr ? nullptr : o->if_contains("note");
    if (note == nullptr || !note->is_string()) {
      return Status::InvalidArgument(
          "a saved checkpoint is the JSON GET /v1/audit/checkpoint returns (with its \"note\"), "
          "or the signed note itself");
    }
    return ParseCheckpoint(note->as_string());
  }
  return ParseCheckpoint(text);
}

std::string SigningKeyFilePath(const std::string& data_dir) {
  return data_dir + "/audit_signing.key";
}

StatusOr<CheckpointSigner> CheckpointSigner::Load(const std::string& path, std::string origin,
                                                  bool create) {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  unsigned char seed[crypto_sign_SEEDBYTES];
  if (!std::filesystem::exists(path)) {
    if (!create) {
      return Status::NotFound("no signing key at '" + path + "'");
    }
    randombytes_buf(seed, sizeof(seed));
    RETURN_IF_ERROR(internal::WriteFileAtomically(
        path, std::string(kKeyFilePrefix) + Base64(seed, sizeof(seed)) + "\n"));
  } else {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      return Status::Unavailable("cannot read the signing key '" + path + "'");
    }
    std::string text = ss.str();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
      text.pop_back();
    }
    if (!text.starts_with(kKeyFilePrefix) ||
        !FromBase64(std::string_view(text).substr(kKeyFilePrefix.size()), seed, sizeof(seed))) {
      return Status::DataLoss("the signing key '" + path +
                              "' is not \"ed25519 <base64 of a 32-byte seed>\"");
    }
  }
  CheckpointSigner s;
  std::array<unsigned char, 32> pk{};
  crypto_sign_seed_keypair(pk.data(), s.secret_key_.data(), seed);
  sodium_memzero(seed, sizeof(seed));
  s.public_key_ = MakePublicKey(std::move(origin), pk);
  return s;
}

CheckpointSigner CheckpointSigner::Generate(std::string origin) {
  CheckpointSigner s;
  std::array<unsigned char, 32> pk{};
  crypto_sign_keypair(pk.data(), s.secret_key_.data());
  s.public_key_ = MakePublicKey(std::move(origin), pk);
  return s;
}

Checkpoint CheckpointSigner::Sign(std::uint64_t tree_size, const Hash& root,
                                  std::int64_t time_us) const {
  Checkpoint c;
  c.origin = public_key_.name;
  c.tree_size = tree_size;
  c.root = root;
  c.time_us = time_us;
  c.key_id = public_key_.id;
  const std::string body = Body(c.origin, tree_size, root, time_us);
  crypto_sign_detached(c.signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                       secret_key_.data());
  unsigned char raw[68];
  std::memcpy(raw, c.key_id.data(), 4);
  std::memcpy(raw + 4, c.signature.data(), 64);
  c.note =
      body + "\n" + std::string(kEmDash) + " " + c.origin + " " + Base64(raw, sizeof(raw)) + "\n";
  return c;
}

}  // namespace touchline::store
