// BinaryWriter and BinaryReader: the compact binary encoding of touchline's
// stored values that are not keys: projection state (the customer view's in
// projections/customer_state.h and .cc, the audit trail's in projections/
// audit_projection.h and .cc) and format-4 stored records
// (store/record_format.h and .cc).
//
// Values are sequences of fields written and read in a fixed order:
//   U64   unsigned LEB128 varint (1-10 bytes)
//   I64   signed, zigzag-mapped then varint (small magnitudes are short)
//   Str   U64 length, then the bytes
//   Byte  one byte
// There are no field names or types on the wire: each value's layout is
// specified where it is written (a header comment next to the encoder), and
// starts with a tag byte naming the kind and layout version, so a reader
// refuses bytes it was not written for (a bare count, such as the size of a
// run in the audit trail, has no tag).
//
// The reader never copies: Str() returns a view into the input, which must
// outlive the views (parse once, keep views, as LevelDB's
// ParsedInternalKey). Errors are sticky: after the first malformed field
// every read returns a zero value and ok() is false, so a decoder reads
// all its fields and checks once at the end.
//
// Thread safety: none; one thread per writer or reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace touchline {

class BinaryWriter {
 public:
  // Appends to `*out` (not owned; must outlive the writer).
  explicit BinaryWriter(std::string* out) : out_(out) {}

  void Byte(std::uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void U64(std::uint64_t v);
  void I64(std::int64_t v) {
    U64((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void Str(std::string_view s) {
    U64(s.size());
    out_->append(s);
  }
  void Raw(std::string_view s) { out_->append(s); }

 private:
  std::string* const out_;
};

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view in) : in_(in) {}

  std::uint8_t Byte();
  std::uint64_t U64();
  std::int64_t I64() {
    const std::uint64_t z = U64();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  std::string_view Str();
  // A count of items that follow, each at least `min_item_bytes` long: more
  // than the remaining input could hold is malformed (a corrupt count never
  // makes a decoder reserve or loop beyond its input).
  std::uint64_t Count(std::size_t min_item_bytes = 1);
  // Checks that the next byte is `tag` (a value's kind and layout).
  void Expect(std::uint8_t tag) {
    if (Byte() != tag) {
      Fail();
    }
  }
  // Everything not read yet.
  std::string_view Rest() const { return in_; }

  bool ok() const { return ok_; }
  // Everything was read, and well-formed.
  bool done() const { return ok_ && in_.empty(); }
  void Fail() {
    ok_ = false;
    in_ = {};
  }

 private:
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace touchline
