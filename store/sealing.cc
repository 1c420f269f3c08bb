#include "store/sealing.h"

#include <sodium.h>

#include <cstring>

#include "core/coding.h"

namespace touchline::store {
namespace {

constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kAdPrefix = "touchline.sealed.v1";

// "touchline.sealed.v1" || seq (8 bytes, big-endian) || customer.
std::string AssociatedData(Seq seq, std::string_view customer) {
  std::string ad(kAdPrefix);
  PutFixed64BE(&ad, seq);
  ad.append(customer);
  return ad;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

DataKey NewDataKey() {
  DataKey key{};
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  return key;
}

std::string Seal(const DataKey& key, Seq seq, std::string_view customer,
                 std::string_view plaintext) {
  const std::string ad = AssociatedData(seq, customer);
  std::string raw(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  randombytes_buf(out, kNonceBytes);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + kNonceBytes, &len, Bytes(plaintext),
                                             plaintext.size(), Bytes(ad), ad.size(), nullptr, out,
                                             key.data());
  std::string b64(sodium_base64_encoded_len(raw.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), out, raw.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.pop_back();  // the terminating NUL
  return b64;
}

StatusOr<std::string> Unseal(const DataKey& key, Seq seq, std::string_view customer,
                             std::string_view sealed) {
  std::string raw(sealed.size() / 4 * 3 + 3, '\0');
  std::size_t raw_len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), sealed.data(),
                        sealed.size(), nullptr, &raw_len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      raw_len < kNonceBytes + kTagBytes) {
    return Status::DataLoss("the sealed data of seq " + std::to_string(seq) +
                            " is not well-formed base64");
  }
  const std::string ad = AssociatedData(seq, customer);
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  std::string plain(raw_len - kNonceBytes - kTagBytes, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &len, nullptr, in + kNonceBytes,
          raw_len - kNonceBytes, Bytes(ad), ad.size(), in, key.data()) != 0) {
    return Status::DataLoss("the sealed data of seq " + std::to_string(seq) +
                            " does not open with its customer's key (altered or moved)");
  }
  plain.resize(len);
  return plain;
}

std::string EncodeKeyEntry(const KeyEntry& entry) {
  std::string out;
  if (entry.state == KeyEntry::State::kActive) {
    out.push_back('K');
    out.append(reinterpret_cast<const char*>(entry.key.data()), entry.key.size());
  } else {
    out.push_back('E');
    PutFixed64BE(&out, entry.erased_seq);
  }
  return out;
}

bool DecodeKeyEntry(std::string_view value, KeyEntry* out) {
  if (value.size() == 33 && value[0] == 'K') {
    out->state = KeyEntry::State::kActive;
    std::memcpy(out->key.data(), value.data() + 1, out->key.size());
    out->erased_seq = 0;
    return true;
  }
  if (value.size() == 9 && value[0] == 'E') {
    out->state = KeyEntry::State::kErased;
    out->key.fill(0);
    out->erased_seq = DecodeFixed64BE(value.data() + 1);
    return true;
  }
  return false;
}

}  // namespace touchline::store
