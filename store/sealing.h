// Sealing: the encryption at rest that makes erasure possible by
// destroying a key (crypto-shredding).
//
// Every customer stream (a customer id not starting with '~') has its own
// 32-byte data key, created by the appender with the stream's first event
// and stored in the `keys` column family (store/key_format.h). The private
// part of each record, its identities and data, is sealed under that key
// with XChaCha20-Poly1305 (libsodium; a 24-byte nonce, below);
// the associated data binds the ciphertext to its seq and customer, so a
// sealed part moved to another record does not open. The record keeps
// everything else in the clear (store/record_format.h), and the Merkle leaf
// covers the sealed bytes, so destroying the key later changes nothing an
// auditor hashes.
//
// Erasure replaces the key with a tombstone naming the seq of the
// `customer.erased` event, in the same WriteBatch as that event. A
// tombstone is never replaced: an erased customer's stream takes no more
// events, and its key can never be re-created.
//
// base64 here is OpenSSL's (EVP_EncodeBlock): libsodium's is constant-time,
// which ciphertext does not need, and ten times slower.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"

namespace touchline::store {

using DataKey = std::array<unsigned char, 32>;

// A fresh random key.
DataKey NewDataKey();

// The random half of a nonce: the appender draws one per commit group; the
// other half is the record's seq. A (key, nonce) pair thus never repeats,
// not even when a crash lets a seq be assigned again (a new group draws a
// new salt), and sealing costs no system call per record.
using NonceSalt = std::array<unsigned char, 16>;
NonceSalt NewNonceSalt();

// Appends nonce || ciphertext || tag of `plaintext` for (seq, customer) to
// `out`, the nonce being `salt` || seq (8 bytes, big-endian): the sealed
// part of a format-4 record (store/record_format.h).
inline constexpr std::size_t kSealOverheadBytes = 24 + 16;
void SealRawAppend(const DataKey& key, const NonceSalt& salt, Seq seq, std::string_view customer,
                   std::string_view plaintext, std::string* out);
// The plaintext of what SealRawAppend wrote, or DataLoss if `sealed` is too
// short or does not open with `key` for (seq, customer).
StatusOr<std::string> UnsealRaw(const DataKey& key, Seq seq, std::string_view customer,
                                std::string_view sealed);

// Appends base64(nonce || ciphertext || tag) of `plaintext` for (seq,
// customer) to `out`: the sealed part of a format-3 record.
void SealAppend(const DataKey& key, const NonceSalt& salt, Seq seq, std::string_view customer,
                std::string_view plaintext, std::string* out);
// The same, as a new string.
std::string Seal(const DataKey& key, const NonceSalt& salt, Seq seq, std::string_view customer,
                 std::string_view plaintext);

// The plaintext, or DataLoss if `sealed` is malformed or does not open with
// `key` for (seq, customer) (the record was altered, or moved).
StatusOr<std::string> Unseal(const DataKey& key, Seq seq, std::string_view customer,
                             std::string_view sealed);

// A value of the `keys` column family.
struct KeyEntry {
  enum class State : std::uint8_t { kActive, kErased };
  State state = State::kActive;
  DataKey key{};       // kActive
  Seq erased_seq = 0;  // kErased: the seq of the customer.erased event
};
std::string EncodeKeyEntry(const KeyEntry& entry);
// Returns false if `value` is malformed.
bool DecodeKeyEntry(std::string_view value, KeyEntry* out);

// The event that erases a customer (written only by touchline).
inline constexpr std::string_view kCustomerErasedType = "customer.erased";

// True for touchline's own streams ("~reminder-rules", "~access"), whose
// records are never sealed: they hold no one's personal data.
inline bool IsSystemStream(std::string_view customer) { return customer.starts_with('~'); }

}  // namespace touchline::store
