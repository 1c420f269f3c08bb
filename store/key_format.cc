#include "store/key_format.h"

#include <cassert>

#include "core/coding.h"

namespace touchline::store {

std::string EventKey(Seq seq) {
  std::string key;
  PutFixed64BE(&key, seq);
  return key;
}

Seq DecodeEventKey(std::string_view key) {
  assert(key.size() == 8);
  return DecodeFixed64BE(key.data());
}

std::string StreamPrefix(std::string_view customer) {
  assert(!customer.empty() && customer.size() <= 255);
  std::string key;
  key.reserve(1 + customer.size() + 8);
  key.push_back(static_cast<char>(customer.size()));
  key.append(customer);
  return key;
}

std::string StreamKey(std::string_view customer, StreamVersion version) {
  std::string key = StreamPrefix(customer);
  PutFixed64BE(&key, version);
  return key;
}

bool DecodeStreamKey(std::string_view key, std::string_view* customer, StreamVersion* version) {
  if (key.empty()) {
    return false;
  }
  const size_t len = static_cast<unsigned char>(key[0]);
  if (len == 0 || key.size() != 1 + len + 8) {
    return false;
  }
  *customer = key.substr(1, len);
  *version = DecodeFixed64BE(key.data() + 1 + len);
  return true;
}

std::string StreamEntry(Seq seq, std::string_view type, std::string_view channel) {
  assert(type.size() <= 255);
  std::string value;
  value.reserve(8 + 1 + type.size() + channel.size());
  PutFixed64BE(&value, seq);
  value.push_back(static_cast<char>(type.size()));
  value.append(type);
  value.append(channel);
  return value;
}

bool DecodeStreamEntry(std::string_view value, StreamEntryView* out) {
  if (value.size() < 9) {
    return false;
  }
  out->seq = DecodeFixed64BE(value.data());
  const size_t type_len = static_cast<unsigned char>(value[8]);
  if (value.size() < 9 + type_len) {
    return false;
  }
  out->type = value.substr(9, type_len);
  out->channel = value.substr(9 + type_len);
  return true;
}

std::string StateKey(std::string_view name, std::string_view key) {
  std::string out = StatePrefix(name);
  out.append(key);
  return out;
}

std::string StatePrefix(std::string_view name) {
  std::string out(name);
  out.push_back('\x00');
  return out;
}

std::string StateEnd(std::string_view name) {
  std::string out(name);
  out.push_back('\x02');
  return out;
}

std::string StateMetaKey(std::string_view name, std::string_view field) {
  std::string out(name);
  out.push_back('\x01');
  out.append(field);
  return out;
}

std::string TreeLeafKey(std::uint64_t leaf) {
  std::string key(1, kTreeLeafTag);
  PutFixed64BE(&key, leaf);
  return key;
}

bool DecodeTreeLeafKey(std::string_view key, std::uint64_t* leaf) {
  if (key.size() != 9 || key[0] != kTreeLeafTag) {
    return false;
  }
  *leaf = DecodeFixed64BE(key.data() + 1);
  return true;
}

std::string CheckpointKey(std::uint64_t tree_size) {
  std::string key(1, kCheckpointTag);
  PutFixed64BE(&key, tree_size);
  return key;
}

bool DecodeCheckpointKey(std::string_view key, std::uint64_t* tree_size) {
  if (key.size() != 9 || key[0] != kCheckpointTag) {
    return false;
  }
  *tree_size = DecodeFixed64BE(key.data() + 1);
  return true;
}

std::string SigningKeyMetaKey(std::string_view key_id_hex) {
  return "signing_key/" + std::string(key_id_hex);
}

}  // namespace touchline::store
