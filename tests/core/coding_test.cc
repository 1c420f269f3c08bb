#include "core/coding.h"

#include <gtest/gtest.h>

#include <limits>

namespace touchline {
namespace {

TEST(CodingTest, Fixed64BigEndianSortsNumerically) {
  std::string a, b;
  PutFixed64BE(&a, 255);
  PutFixed64BE(&b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(a.size(), 8u);
  EXPECT_EQ(DecodeFixed64BE(a.data()), 255u);
  std::string m;
  PutFixed64BE(&m, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(DecodeFixed64BE(m.data()), std::numeric_limits<std::uint64_t>::max());
}

TEST(CodingTest, VarintRoundTrip) {
  for (std::uint64_t v : std::initializer_list<std::uint64_t>{
           0, 1, 127, 128, 300, 1ULL << 35, std::numeric_limits<std::uint64_t>::max()}) {
    std::string s;
    PutVarint64(&s, v);
    std::string_view in(s);
    std::uint64_t out = 0;
    ASSERT_TRUE(GetVarint64(&in, &out));
    EXPECT_EQ(out, v);
    EXPECT_TRUE(in.empty());
  }
}

TEST(CodingTest, VarintRejectsTruncatedAndOverlong) {
  std::string_view truncated("\x80", 1);
  std::uint64_t v = 0;
  EXPECT_FALSE(GetVarint64(&truncated, &v));
  std::string overlong(10, '\xff');
  overlong.push_back('\x01');
  std::string_view in(overlong);
  EXPECT_FALSE(GetVarint64(&in, &v));
}

TEST(CodingTest, LengthPrefixed) {
  std::string s;
  PutLengthPrefixed(&s, "hello");
  PutLengthPrefixed(&s, "");
  std::string_view in(s), a, b;
  ASSERT_TRUE(GetLengthPrefixed(&in, &a));
  ASSERT_TRUE(GetLengthPrefixed(&in, &b));
  EXPECT_EQ(a, "hello");
  EXPECT_EQ(b, "");
  std::string_view bad("\x05hi", 3);
  EXPECT_FALSE(GetLengthPrefixed(&bad, &a));
}

}  // namespace
}  // namespace touchline
