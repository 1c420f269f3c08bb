#include "store/key_format.h"

#include <gtest/gtest.h>

namespace touchline::store {
namespace {

TEST(KeyFormatTest, EventKeysSortBySeq) {
  EXPECT_LT(EventKey(9), EventKey(10));
  EXPECT_LT(EventKey(255), EventKey(256));
  EXPECT_EQ(DecodeEventKey(EventKey(123456789)), 123456789u);
}

TEST(KeyFormatTest, StreamKeysGroupByCustomerAndSortByVersion) {
  EXPECT_LT(StreamKey("c-1", 2), StreamKey("c-1", 10));
  // A customer whose id extends another's never interleaves with it: the
  // length byte separates them.
  const std::string a_last = StreamKey("ab", UINT64_MAX);
  const std::string abc_first = StreamKey("abc", 1);
  EXPECT_FALSE(abc_first.starts_with(StreamPrefix("ab")));
  EXPECT_NE(a_last.substr(0, 3), abc_first.substr(0, 3));
  std::string_view customer;
  StreamVersion v = 0;
  ASSERT_TRUE(DecodeStreamKey(StreamKey("c-1", 42), &customer, &v));
  EXPECT_EQ(customer, "c-1");
  EXPECT_EQ(v, 42u);
  EXPECT_FALSE(DecodeStreamKey("", &customer, &v));
  EXPECT_FALSE(DecodeStreamKey(std::string("\x05") + "ab", &customer, &v));
}

TEST(KeyFormatTest, StreamEntryRoundTrip) {
  StreamEntryView view;
  const std::string entry = StreamEntry(7, "ticket.opened", "email");
  ASSERT_TRUE(DecodeStreamEntry(entry, &view));
  EXPECT_EQ(view.seq, 7u);
  EXPECT_EQ(view.type, "ticket.opened");
  EXPECT_EQ(view.channel, "email");
  const std::string no_channel = StreamEntry(8, "note", "");
  ASSERT_TRUE(DecodeStreamEntry(no_channel, &view));
  EXPECT_EQ(view.channel, "");
  EXPECT_FALSE(DecodeStreamEntry("short", &view));
  std::string truncated = StreamEntry(1, "abcdef", "");
  truncated.resize(11);
  EXPECT_FALSE(DecodeStreamEntry(truncated, &view));
}

}  // namespace
}  // namespace touchline::store
