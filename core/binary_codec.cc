#include "core/binary_codec.h"

#include "core/coding.h"

namespace touchline {

void BinaryWriter::U64(std::uint64_t v) {
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out_->append(buf, n);
}

std::uint8_t BinaryReader::Byte() {
  if (in_.empty()) {
    Fail();
    return 0;
  }
  const auto b = static_cast<std::uint8_t>(in_.front());
  in_.remove_prefix(1);
  return b;
}

std::uint64_t BinaryReader::U64() {
  // The one-byte case first: most lengths and counts are small.
  if (!in_.empty() && (static_cast<unsigned char>(in_.front()) & 0x80) == 0) {
    const auto v = static_cast<std::uint64_t>(static_cast<unsigned char>(in_.front()));
    in_.remove_prefix(1);
    return v;
  }
  std::uint64_t v = 0;
  if (!GetVarint64(&in_, &v)) {
    Fail();
    return 0;
  }
  return v;
}

std::string_view BinaryReader::Str() {
  const std::uint64_t n = U64();
  if (n > in_.size()) {
    Fail();
    return {};
  }
  const std::string_view s = in_.substr(0, n);
  in_.remove_prefix(n);
  return s;
}

std::uint64_t BinaryReader::Count(std::size_t min_item_bytes) {
  const std::uint64_t n = U64();
  if (min_item_bytes > 0 && n > in_.size() / min_item_bytes) {
    Fail();
    return 0;
  }
  return n;
}

}  // namespace touchline
