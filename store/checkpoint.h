// Signed checkpoints: the log's commitment to its Merkle tree (store/
// merkle.h) at a size, signed with Ed25519 (libsodium), so an auditor who
// kept one can later prove the log still extends it.
//
// Format: a C2SP signed note (c2sp.org/signed-note) whose body is a C2SP
// tlog checkpoint (c2sp.org/tlog-checkpoint) with one extension line, the
// signing time:
//
//   touchline/3f9a0c2b71d4e855          <- origin, the log's name
//   1024                                <- tree size (events 1..1024)
//   3vjaeacGWamtVZy3Ad7ZoqudgjqtL0lg... <- base64 of the root hash
//   time 2026-12-01T10:00:00.123456Z    <- when it was signed
//                                       <- blank line
//   — touchline/3f9a0c2b71d4e855 <base64(key id (4) || signature (64))>
//
// The signature covers the body (the first four lines and their newlines);
// the key id is SHA-256(key name || 0x0A || 0x01 || public key)[:4], as in
// C2SP, with the origin as the key name. The verifier key, in the form Go's
// golang.org/x/mod/sumdb/note reads, is
// "<origin>+<key id hex>+<base64(0x01 || public key)>".
//
// The private key is a file holding "ed25519 <base64 32-byte seed>" (mode
// 0600): "<data dir>/audit_signing.key", created on first start, or one the
// operator names.
//
// Thread safety: values; CheckpointSigner's const methods may run
// concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/merkle.h"

namespace touchline::store {

struct PublicKey {
  std::string name;  // the log's origin
  std::array<unsigned char, 32> key{};
  std::array<unsigned char, 4> id{};

  std::string IdHex() const;
  std::string KeyBase64() const;
  // "<name>+<id hex>+<base64(0x01 || key)>"
  std::string VerifierKey() const;
};

// Builds a PublicKey (computing its id). Returns InvalidArgument for a
// malformed verifier key.
PublicKey MakePublicKey(std::string name, const std::array<unsigned char, 32>& key);
StatusOr<PublicKey> ParseVerifierKey(std::string_view text);

struct Checkpoint {
  std::string origin;
  std::uint64_t tree_size = 0;
  Hash root{};
  std::int64_t time_us = 0;
  std::string note;  // the whole signed note, as signed and stored
  std::array<unsigned char, 4> key_id{};
  std::array<unsigned char, 64> signature{};
};

// Parses a signed note (the first signature line is the log's). Returns
// InvalidArgument naming what is malformed.
StatusOr<Checkpoint> ParseCheckpoint(std::string_view note);

// OK if `c` is signed by `key` (its name is the origin); else
// InvalidArgument saying why.
Status VerifyCheckpoint(const Checkpoint& c, const PublicKey& key);

// {"origin","tree_size","root_hash" (hex),"timestamp","key_id","note"}.
std::string CheckpointJson(const Checkpoint& c);
// Reads what CheckpointJson wrote (only "note" is needed), or a raw note.
StatusOr<Checkpoint> CheckpointFromText(std::string_view text);

// Where a data directory keeps its own signing key.
std::string SigningKeyFilePath(const std::string& data_dir);

class CheckpointSigner {
 public:
  // Loads the key at `path`; with `create`, makes one first if the file does
  // not exist (mode 0600, written to a temporary file, synced, renamed).
  // Returns NotFound for a missing file without `create`, DataLoss for a
  // malformed one, Unavailable if it cannot be read or written.
  static StatusOr<CheckpointSigner> Load(const std::string& path, std::string origin, bool create);
  // A key that lives only in memory (in-memory logs in tests).
  static CheckpointSigner Generate(std::string origin);

  Checkpoint Sign(std::uint64_t tree_size, const Hash& root, std::int64_t time_us) const;
  const PublicKey& public_key() const { return public_key_; }

 private:
  CheckpointSigner() = default;

  std::array<unsigned char, 64> secret_key_{};
  PublicKey public_key_;
};

}  // namespace touchline::store
