#include "store/sealing.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "core/coding.h"

namespace touchline::store {
namespace {

constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kAdPrefix = "touchline.sealed.v1";

// "touchline.sealed.v1" || seq (8 bytes, big-endian) || customer, in this
// thread's buffer (valid until the thread's next call).
const std::string& AssociatedData(Seq seq, std::string_view customer) {
  thread_local std::string ad;
  ad.assign(kAdPrefix);
  PutFixed64BE(&ad, seq);
  ad.append(customer);
  return ad;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// This thread's ChaCha20-Poly1305 context for one direction, set up once:
// each record then only sets the key and nonce (naming the cipher again
// would free and allocate OpenSSL's cipher state for every record).
EVP_CIPHER_CTX* CipherContext(bool encrypt) {
  struct Context {
    EVP_CIPHER_CTX* ctx = nullptr;
    explicit Context(bool enc) {
      static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
      ctx = EVP_CIPHER_CTX_new();
      if (ctx == nullptr || cipher == nullptr ||
          EVP_CipherInit_ex2(ctx, cipher, nullptr, nullptr, enc ? 1 : 0, nullptr) != 1) {
        std::abort();  // only without memory or without OpenSSL's default provider
      }
    }
    ~Context() { EVP_CIPHER_CTX_free(ctx); }
  };
  if (encrypt) {
    thread_local Context context(true);
    return context.ctx;
  }
  thread_local Context context(false);
  return context.ctx;
}

// Keys `ctx` for one record as XChaCha20 does: the subkey from HChaCha20
// over the first 16 nonce bytes, the IETF nonce 0x00000000 || the last 8.
bool SetKeyAndNonce(EVP_CIPHER_CTX* ctx, const DataKey& key, const unsigned char* nonce) {
  unsigned char subkey[32];
  crypto_core_hchacha20(subkey, nonce, key.data(), nullptr);
  unsigned char ietf_nonce[12] = {0, 0, 0, 0};
  std::memcpy(ietf_nonce + 4, nonce + 16, 8);
  // -1: the direction CipherContext set stays.
  const bool ok = EVP_CipherInit_ex2(ctx, nullptr, subkey, ietf_nonce, -1, nullptr) == 1;
  sodium_memzero(subkey, sizeof(subkey));
  return ok;
}

// XChaCha20-Poly1305 (IETF) as libsodium defines it: a subkey from
// HChaCha20 over the first 16 nonce bytes (libsodium), then
// ChaCha20-Poly1305 with the nonce 0x00000000 || the last 8 nonce bytes
// (OpenSSL, whose vector code is faster here). The output is byte for byte
// what crypto_aead_xchacha20poly1305_ietf_encrypt produces
// (tests/store/record_format_test.cc checks against libsodium both ways).
void Encrypt(const DataKey& key, const unsigned char* nonce, std::string_view plaintext,
             std::string_view ad, unsigned char* out) {
  EVP_CIPHER_CTX* const ctx = CipherContext(/*encrypt=*/true);
  int len = 0;
  // These cannot fail for this cipher short of memory exhaustion; a bad
  // ciphertext would then fail to open, which reads report as DataLoss.
  SetKeyAndNonce(ctx, key, nonce);
  EVP_EncryptUpdate(ctx, nullptr, &len, Bytes(ad), static_cast<int>(ad.size()));
  EVP_EncryptUpdate(ctx, out, &len, Bytes(plaintext), static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx, out + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, out + plaintext.size());
}

// The inverse of Encrypt: false if the tag does not match.
bool Decrypt(const DataKey& key, const unsigned char* nonce, const unsigned char* ciphertext,
             std::size_t size, const unsigned char* tag, std::string_view ad, unsigned char* out) {
  EVP_CIPHER_CTX* const ctx = CipherContext(/*encrypt=*/false);
  int len = 0;
  return SetKeyAndNonce(ctx, key, nonce) &&
         EVP_DecryptUpdate(ctx, nullptr, &len, Bytes(ad), static_cast<int>(ad.size())) == 1 &&
         EVP_DecryptUpdate(ctx, out, &len, ciphertext, static_cast<int>(size)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes,
                             const_cast<unsigned char*>(tag)) == 1 &&
         EVP_DecryptFinal_ex(ctx, out + len, &len) == 1;
}

}  // namespace

DataKey NewDataKey() {
  DataKey key{};
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  return key;
}

NonceSalt NewNonceSalt() {
  NonceSalt salt{};
  randombytes_buf(salt.data(), salt.size());
  return salt;
}

void SealRawAppend(const DataKey& key, const NonceSalt& salt, Seq seq, std::string_view customer,
                   std::string_view plaintext, std::string* out) {
  const std::string& ad = AssociatedData(seq, customer);
  const std::size_t at = out->size();
  out->resize(at + kNonceBytes + plaintext.size() + kTagBytes);
  auto* buf = reinterpret_cast<unsigned char*>(out->data() + at);
  std::memcpy(buf, salt.data(), salt.size());
  for (int b = 0; b < 8; ++b) {
    buf[salt.size() + static_cast<std::size_t>(b)] =
        static_cast<unsigned char>(seq >> (56 - 8 * b));
  }
  Encrypt(key, buf, plaintext, ad, buf + kNonceBytes);
}

StatusOr<std::string> UnsealRaw(const DataKey& key, Seq seq, std::string_view customer,
                                std::string_view sealed) {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return Status::DataLoss("the sealed data of seq " + std::to_string(seq) + " is too short");
  }
  const std::string& ad = AssociatedData(seq, customer);
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  const std::size_t size = sealed.size() - kNonceBytes - kTagBytes;
  std::string plain(size, '\0');
  if (!Decrypt(key, in, in + kNonceBytes, size, in + kNonceBytes + size, ad,
               reinterpret_cast<unsigned char*>(plain.data()))) {
    return Status::DataLoss("the sealed data of seq " + std::to_string(seq) +
                            " does not open with its customer's key (altered or moved)");
  }
  return plain;
}

void SealAppend(const DataKey& key, const NonceSalt& salt, Seq seq, std::string_view customer,
                std::string_view plaintext, std::string* out) {
  thread_local std::string raw;
  raw.clear();
  SealRawAppend(key, salt, seq, customer, plaintext, &raw);
  const std::size_t at = out->size();
  out->resize(at + 4 * ((raw.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out->data() + at),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out->resize(at + static_cast<std::size_t>(n));
}

std::string Seal(const DataKey& key, const NonceSalt& salt, Seq seq, std::string_view customer,
                 std::string_view plaintext) {
  std::string out;
  SealAppend(key, salt, seq, customer, plaintext, &out);
  return out;
}

StatusOr<std::string> Unseal(const DataKey& key, Seq seq, std::string_view customer,
                             std::string_view sealed) {
  auto malformed = [seq] {
    return Status::DataLoss("the sealed data of seq " + std::to_string(seq) +
                            " is not well-formed base64");
  };
  if (sealed.size() % 4 != 0 || sealed.size() > (1u << 30)) {
    return malformed();
  }
  thread_local std::string raw;
  raw.resize(sealed.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                                reinterpret_cast<const unsigned char*>(sealed.data()),
                                static_cast<int>(sealed.size()));
  // EVP_DecodeBlock counts the bytes '=' padding stands for.
  std::size_t pad = 0;
  for (std::size_t i = sealed.size(); i > 0 && sealed[i - 1] == '=' && pad < 2; --i) {
    ++pad;
  }
  if (n < 0 || static_cast<std::size_t>(n) < pad ||
      static_cast<std::size_t>(n) - pad < kNonceBytes + kTagBytes) {
    return malformed();
  }
  return UnsealRaw(key, seq, customer,
                   std::string_view(raw).substr(0, static_cast<std::size_t>(n) - pad));
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
