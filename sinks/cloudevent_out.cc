#include "sinks/cloudevent_out.h"

#include <sodium.h>

#include "core/time_format.h"
#include "core/validation.h"

namespace touchline::sinks {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";

std::string Base64(const unsigned char* bytes, std::size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

void Field(std::string* out, std::string_view name, std::string_view value) {
  out->append(",\"");
  out->append(name);
  out->append("\":");
  AppendJsonString(out, value);
}

}  // namespace

void AppendCloudEvent(const store::Record& r, std::string_view source, std::string* out) {
  const std::string seq = std::to_string(r.seq);
  out->append("{\"specversion\":\"1.0\",\"id\":\"");
  out->append(seq);
  out->push_back('"');
  Field(out, "source", source);
  Field(out, "type", r.type);
  Field(out, "subject", r.customer);
  Field(out, "time", FormatRfc3339(r.time_us));
  if (!r.erased) {
    out->append(",\"datacontenttype\":\"application/json\",\"data\":");
    out->append(r.Data());
  }
  out->append(",\"seq\":");
  out->append(seq);
  Field(out, "recordedat", FormatRfc3339(r.recorded_at_us));
  Field(out, "actor", r.actor);
  if (!r.id.empty()) {
    Field(out, "eventid", r.id);
  }
  if (!r.channel.empty()) {
    Field(out, "channel", r.channel);
  }
  if (!r.department.empty()) {
    Field(out, "department", r.department);
  }
  if (r.erased) {
    out->append(",\"erased\":true");
  } else if (!r.identities.empty()) {
    std::string ids;
    for (const Identity& i : r.identities) {
      if (!ids.empty()) {
        ids.push_back(',');
      }
      ids += i.type + ":" + i.value;
    }
    Field(out, "identities", ids);
  }
  out->push_back('}');
}

std::string NewWebhookSecret() {
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  return std::string(kSecretPrefix) + Base64(key, sizeof key);
}

StatusOr<std::string> SignWebhook(std::string_view secret, std::string_view webhook_id,
                                  std::int64_t timestamp_seconds, std::string_view body) {
  if (!secret.starts_with(kSecretPrefix)) {
    return Status::InvalidArgument("a webhook secret starts with whsec_");
  }
  const std::string_view b64 = secret.substr(kSecretPrefix.size());
  std::string key(b64.size(), '\0');
  std::size_t key_len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), b64.data(),
                        b64.size(), nullptr, &key_len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      key_len == 0) {
    return Status::InvalidArgument("a webhook secret is whsec_ followed by base64");
  }
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key_len);
  const std::string prefix =
      std::string(webhook_id) + "." + std::to_string(timestamp_seconds) + ".";
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(prefix.data()),
                                prefix.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()),
                                body.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(key.data(), key.size());
  return "v1," + Base64(mac, sizeof mac);
}

}  // namespace touchline::sinks
