#include "store/record_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/support/status_matchers.h"

namespace touchline::store {
namespace {

using testing::StatusIs;

Event Sample() {
  Event e;
  e.id = "evt-1";
  e.customer = "c \"quoted\" \\ 李";
  e.type = "ticket.opened";
  e.channel = "email";
  e.department = "support";
  e.time_us = 1795341600000000;
  e.data = R"({"subject":"Hi","n":1.5})";
  return e;
}

TEST(RecordFormatTest, CanonicalLayout) {
  Event e = Sample();
  e.customer = "c-1";
  const std::string json =
      EncodeRecord({3, 2, 1795341600250000, "crm", *e.time_us}, e.id, EncodeRecordBody(e));
  EXPECT_EQ(json,
            R"({"seq":3,"version":2,"recorded_at":"2026-11-22T10:00:00.250Z","actor":"crm",)"
            R"("time":"2026-11-22T10:00:00Z","id":"evt-1","customer":"c-1","type":"ticket.opened",)"
            R"("channel":"email","department":"support","data":{"subject":"Hi","n":1.5}})");
}

TEST(RecordFormatTest, IdentitiesAreGroupedByTypeAndDecoded) {
  Event e;
  e.customer = "c-1";
  e.type = "identify";
  e.identities = {{"email", "a@b.c"}, {"email", "d@e.f"}, {"phone", "+6281234567890"}};
  const std::string json = EncodeRecord({1, 1, 0, "a", 0}, "", EncodeRecordBody(e));
  EXPECT_EQ(json, R"({"seq":1,"version":1,"recorded_at":"1970-01-01T00:00:00Z","actor":"a",)"
                  R"("time":"1970-01-01T00:00:00Z","customer":"c-1","type":"identify",)"
                  R"("identities":{"email":["a@b.c","d@e.f"],"phone":"+6281234567890"},)"
                  R"("data":{}})");
  auto rec = DecodeRecord(json);
  ASSERT_OK(rec);
  EXPECT_EQ(rec->identities, e.identities);
}

TEST(RecordFormatTest, OptionalFieldsOmitted) {
  Event e;
  e.customer = "c-1";
  e.type = "note";
  e.time_us = 0;
  const std::string json = EncodeRecord({1, 1, 0, "a", 0}, "", EncodeRecordBody(e));
  EXPECT_EQ(json, R"({"seq":1,"version":1,"recorded_at":"1970-01-01T00:00:00Z","actor":"a",)"
                  R"("time":"1970-01-01T00:00:00Z","customer":"c-1","type":"note","data":{}})");
}

TEST(RecordFormatTest, EscapesAndDecodes) {
  const Event e = Sample();
  const std::string json = EncodeRecord({10, 4, 5, "x", *e.time_us}, e.id, EncodeRecordBody(e));
  // It is valid JSON and the strings survive escaping.
  const auto parsed = boost::json::parse(json).as_object();
  EXPECT_EQ(parsed.at("customer").as_string(), e.customer);
  auto rec = DecodeRecord(json);
  ASSERT_OK(rec);
  EXPECT_EQ(rec->seq, 10u);
  EXPECT_EQ(rec->version, 4u);
  EXPECT_EQ(rec->id, "evt-1");
  EXPECT_EQ(rec->customer, e.customer);
  EXPECT_EQ(rec->type, "ticket.opened");
  EXPECT_EQ(rec->channel, "email");
  EXPECT_EQ(rec->time_us, *e.time_us);
  EXPECT_EQ(rec->json, json);
}

TEST(RecordFormatTest, BodyIsTheSuffix) {
  const Event e = Sample();
  const std::string body = EncodeRecordBody(e);
  const std::string json = EncodeRecord({1, 1, 5, "x", 7}, e.id, body);
  EXPECT_TRUE(std::string_view(json).ends_with(body));
  Event other = e;
  other.data = R"({"subject":"Bye"})";
  EXPECT_FALSE(std::string_view(json).ends_with(EncodeRecordBody(other)));
}

TEST(RecordFormatTest, CorruptRecordsAreDataLoss) {
  EXPECT_THAT(DecodeRecord("not json"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeRecord("[1,2]"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeRecord(R"({"seq":1})"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeRecord(R"({"seq":"x","version":1})"), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace touchline::store
