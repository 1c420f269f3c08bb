// Byte encodings shared by the on-disk format: fixed-width big-endian
// integers (so keys sort numerically under bytewise comparison) and
// little-endian varints (LevelDB style) for lengths inside values.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace touchline {

// Appends `v` as 8 big-endian bytes.
void PutFixed64BE(std::string* dst, std::uint64_t v);
// REQUIRES: `p` points at 8 readable bytes.
std::uint64_t DecodeFixed64BE(const char* p);

// Appends `v` as a LEB128 varint (1-10 bytes).
void PutVarint64(std::string* dst, std::uint64_t v);
// Decodes a varint from the front of `*in` and advances it. Returns false on
// truncated or over-long input (and leaves `*in` unspecified).
bool GetVarint64(std::string_view* in, std::uint64_t* v);

// Appends a varint length followed by the bytes of `s`.
void PutLengthPrefixed(std::string* dst, std::string_view s);
// Reads what PutLengthPrefixed wrote. Returns false if `*in` is too short.
bool GetLengthPrefixed(std::string_view* in, std::string_view* s);

}  // namespace touchline
