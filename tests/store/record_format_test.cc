#include "store/record_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "store/sealing.h"
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
      EncodeRecord({3, 2, 1795341600250000, "crm", *e.time_us, ""}, e.id, EncodeRecordBody(e));
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
  const std::string json = EncodeRecord({1, 1, 0, "a", 0, ""}, "", EncodeRecordBody(e));
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
  const std::string json = EncodeRecord({1, 1, 0, "a", 0, ""}, "", EncodeRecordBody(e));
  EXPECT_EQ(json, R"({"seq":1,"version":1,"recorded_at":"1970-01-01T00:00:00Z","actor":"a",)"
                  R"("time":"1970-01-01T00:00:00Z","customer":"c-1","type":"note","data":{}})");
}

TEST(RecordFormatTest, EscapesAndDecodes) {
  const Event e = Sample();
  const std::string json = EncodeRecord({10, 4, 5, "x", *e.time_us, ""}, e.id, EncodeRecordBody(e));
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
  const std::string json = EncodeRecord({1, 1, 5, "x", 7, ""}, e.id, body);
  EXPECT_TRUE(std::string_view(json).ends_with(body));
  Event other = e;
  other.data = R"({"subject":"Bye"})";
  EXPECT_FALSE(std::string_view(json).ends_with(EncodeRecordBody(other)));
}

TEST(RecordFormatTest, RouteFollowsTheActorWhenNotPlainIngest) {
  const Event e = Sample();
  const std::string json =
      EncodeRecord({1, 1, 5, "agent", 7, "POST /v1/customers/{id}/notes"}, "", EncodeRecordBody(e));
  EXPECT_THAT(json, ::testing::HasSubstr(
                        R"("actor":"agent","route":"POST /v1/customers/{id}/notes","time")"));
  auto rec = DecodeRecord(json);
  ASSERT_OK(rec);
  EXPECT_EQ(rec->actor, "agent");
  EXPECT_EQ(rec->route, "POST /v1/customers/{id}/notes");
}

TEST(RecordFormatTest, SealedPartOpensBackToTheRecord) {
  Event e = Sample();
  e.identities = {Identity{"email", "a@b.c"}};
  // Data that itself holds what looks like the private part's start.
  e.data = R"({"x":1,"identities":{"a":"b"},"data":{}})";
  std::size_t private_at = 0;
  const std::string body = EncodeRecordBody(e, &private_at);
  const std::string opened = EncodeRecord({3, 1, 5, "x", 7, ""}, e.id, body);
  const std::size_t at = opened.size() - body.size() + private_at;
  const std::string plain(PrivatePlaintext(opened, at));
  EXPECT_THAT(plain, ::testing::StartsWith(R"("identities":{"email":"a@b.c"},"data":)"));
  const DataKey key = NewDataKey();
  const std::string stored =
      SealedRecord(opened, at, Seal(key, NewNonceSalt(), 3, e.customer, plain));
  EXPECT_THAT(stored, ::testing::Not(::testing::HasSubstr("a@b.c")));
  ASSERT_OK_AND_ASSIGN(Record rec, DecodeRecord(stored));
  ASSERT_FALSE(rec.sealed.empty());
  EXPECT_TRUE(rec.identities.empty());
  ASSERT_OK_AND_ASSIGN(std::string unsealed, Unseal(key, 3, e.customer, rec.sealed));
  EXPECT_EQ(unsealed, plain);
  ASSERT_OK(OpenRecord(&rec, &unsealed));
  EXPECT_EQ(rec.json, opened);
  ASSERT_EQ(rec.identities.size(), 1u);
  EXPECT_EQ(rec.identities[0].value, "a@b.c");
  // Bound to its seq and customer, and to its key.
  ASSERT_OK_AND_ASSIGN(Record again, DecodeRecord(stored));
  EXPECT_THAT(Unseal(key, 4, e.customer, again.sealed), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(Unseal(key, 3, "someone-else", again.sealed), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(Unseal(NewDataKey(), 3, e.customer, again.sealed), StatusIs(StatusCode::kDataLoss));
  // Without the key: erased.
  ASSERT_OK(OpenRecord(&again, nullptr));
  EXPECT_TRUE(again.erased);
  EXPECT_EQ(again.json, opened.substr(0, at) + R"(,"data":"[erased]"})");
}

TEST(RecordFormatTest, KeyEntriesRoundTrip) {
  KeyEntry active{KeyEntry::State::kActive, NewDataKey(), 0};
  KeyEntry out;
  ASSERT_TRUE(DecodeKeyEntry(EncodeKeyEntry(active), &out));
  EXPECT_EQ(out.state, KeyEntry::State::kActive);
  EXPECT_EQ(out.key, active.key);
  KeyEntry erased{KeyEntry::State::kErased, {}, 77};
  ASSERT_TRUE(DecodeKeyEntry(EncodeKeyEntry(erased), &out));
  EXPECT_EQ(out.state, KeyEntry::State::kErased);
  EXPECT_EQ(out.erased_seq, 77u);
  EXPECT_FALSE(DecodeKeyEntry("K123", &out));
  EXPECT_FALSE(DecodeKeyEntry("", &out));
}

TEST(RecordFormatTest, CorruptRecordsAreDataLoss) {
  EXPECT_THAT(DecodeRecord("not json"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeRecord("[1,2]"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeRecord(R"({"seq":1})"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeRecord(R"({"seq":"x","version":1})"), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace touchline::store
