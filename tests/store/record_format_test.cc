#include "store/record_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

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
  // A sealed part that is not the record's last field is corrupt (found by
  // fuzz_key_codec: it decoded, then could not be opened).
  std::string trailing = stored;
  trailing.insert(trailing.size() - 1, R"(,"x":1)");
  EXPECT_THAT(DecodeRecord(trailing), StatusIs(StatusCode::kDataLoss));
}

TEST(RecordFormatTest, NoncesNeverRepeatUnderOneKey) {
  const DataKey key = NewDataKey();
  const NonceSalt salt = NewNonceSalt();
  // The nonce is the group's salt and the seq: another seq or another group
  // gives another ciphertext, the same pair the same one.
  EXPECT_NE(Seal(key, salt, 1, "c", "\"data\":{}"), Seal(key, salt, 2, "c", "\"data\":{}"));
  EXPECT_NE(Seal(key, salt, 1, "c", "\"data\":{}"),
            Seal(key, NewNonceSalt(), 1, "c", "\"data\":{}"));
  EXPECT_EQ(Seal(key, salt, 1, "c", "\"data\":{}"), Seal(key, salt, 1, "c", "\"data\":{}"));
  ASSERT_OK_AND_ASSIGN(std::string plain,
                       Unseal(key, 2, "c", Seal(key, salt, 2, "c", "\"data\":{\"x\":1}")));
  EXPECT_EQ(plain, "\"data\":{\"x\":1}");
}

// Our XChaCha20-Poly1305 (OpenSSL's ChaCha20-Poly1305 under libsodium's
// HChaCha20 subkey) is libsodium's, byte for byte, both ways.
TEST(RecordFormatTest, SealingIsLibsodiumXChaCha20Poly1305) {
  ASSERT_GE(sodium_init(), 0);
  const DataKey key = NewDataKey();
  const std::string plain = R"("identities":{"email":"a@b.c"},"data":{"n":1})";
  const std::string sealed = Seal(key, NewNonceSalt(), 9, "c-1", plain);
  std::string raw(sealed.size(), '\0');
  std::size_t len = 0;
  ASSERT_EQ(
      sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), sealed.data(),
                        sealed.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL),
      0);
  std::string ad = "touchline.sealed.v1";
  for (int b = 7; b >= 0; --b) {
    ad.push_back(static_cast<char>((9ull >> (8 * b)) & 0xff));
  }
  ad += "c-1";
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  std::string opened(len, '\0');
  unsigned long long opened_len = 0;
  ASSERT_EQ(
      crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(opened.data()), &opened_len, nullptr, in + 24, len - 24,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), in, key.data()),
      0);
  opened.resize(opened_len);
  EXPECT_EQ(opened, plain);
  // And what libsodium seals, we open.
  std::string theirs(24 + plain.size() + 16, '\0');
  auto* out = reinterpret_cast<unsigned char*>(theirs.data());
  randombytes_buf(out, 24);
  unsigned long long theirs_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + 24, &theirs_len, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, out, key.data());
  std::string b64(sodium_base64_encoded_len(theirs.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), out, theirs.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.pop_back();
  ASSERT_OK_AND_ASSIGN(std::string mine, Unseal(key, 9, "c-1", b64));
  EXPECT_EQ(mine, plain);
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

// --- Format 4 (binary) ---

// The opened record of `e` as the appender publishes it, and the Record
// header fields the stored form is written from.
struct Written {
  Record header;
  std::string opened;
};
Written Write(const Event& e, Seq seq, StreamVersion version, std::string_view actor,
              std::string_view route) {
  Written w;
  const std::int64_t recorded_at = 1795341600250000;
  w.opened =
      EncodeRecord({seq, version, recorded_at, actor, e.time_us.value_or(recorded_at), route}, e.id,
                   EncodeRecordBody(e));
  w.header.seq = seq;
  w.header.version = version;
  w.header.recorded_at_us = recorded_at;
  w.header.time_us = e.time_us.value_or(recorded_at);
  w.header.actor = actor;
  w.header.route = route;
  w.header.id = e.id;
  w.header.customer = e.customer;
  w.header.type = e.type;
  w.header.channel = e.channel;
  w.header.department = e.department;
  return w;
}

TEST(RecordFormatTest, BinaryRecordsRenderTheCanonicalJson) {
  Event e = Sample();  // quotes, backslashes and CJK in the customer id
  e.identities = {{"email", "a@b.c"}, {"email", "d@e.f"}, {"phone", "+6281234567890"}};
  const Written w = Write(e, 9, 4, "crm \"sync\"", "POST /v1/customers/{id}/notes");
  const std::string stored = EncodeStoredRecord(w.header, EncodePrivatePart(e));
  EXPECT_EQ(static_cast<std::uint8_t>(stored[0]), kStoredRecordTag);
  ASSERT_OK_AND_ASSIGN(Record rec, DecodeRecord(stored));
  EXPECT_TRUE(rec.binary);
  EXPECT_TRUE(rec.sealed.empty());
  EXPECT_EQ(rec.json, w.opened);  // byte for byte what the appender published
  EXPECT_EQ(rec.identities, e.identities);
  EXPECT_EQ(std::tie(rec.seq, rec.version, rec.time_us, rec.recorded_at_us, rec.actor, rec.route,
                     rec.id, rec.customer, rec.type, rec.channel, rec.department),
            std::tie(w.header.seq, w.header.version, w.header.time_us, w.header.recorded_at_us,
                     w.header.actor, w.header.route, w.header.id, w.header.customer, w.header.type,
                     w.header.channel, w.header.department));
  // Optional fields absent, no identities, a time before recorded_at.
  Event bare;
  bare.customer = "c-1";
  bare.type = "note";
  bare.time_us = 5;
  const Written b = Write(bare, 1, 1, "a", "");
  ASSERT_OK_AND_ASSIGN(Record brec,
                       DecodeRecord(EncodeStoredRecord(b.header, EncodePrivatePart(bare))));
  EXPECT_EQ(brec.json, b.opened);
}

TEST(RecordFormatTest, LargePrivatePartsAreCompressedBeforeSealing) {
  Event e = Sample();
  e.data = "{\"text\":\"" + std::string(2000, 'x') + "\"}";
  const PrivatePart part = EncodePrivatePart(e);
  EXPECT_EQ(part.flags, kPrivateCompressed);
  EXPECT_LT(part.bytes.size(), 200u);
  const Written w = Write(e, 3, 1, "x", "");
  std::string stored;
  AppendStoredHeader(w.header, part.flags | kPrivateSealed, &stored);
  const DataKey key = NewDataKey();
  SealRawAppend(key, NewNonceSalt(), 3, e.customer, part.bytes, &stored);
  EXPECT_LT(stored.size(), 300u);
  EXPECT_THAT(stored, ::testing::Not(::testing::HasSubstr("xxxx")));
  ASSERT_OK_AND_ASSIGN(Record rec, DecodeRecord(stored));
  EXPECT_FALSE(rec.sealed.empty());
  Record opened = rec;
  ASSERT_OK(OpenSealedRecord(&opened, &key));
  EXPECT_EQ(opened.json, w.opened);
  EXPECT_TRUE(opened.sealed.empty());
  // Small parts are not worth it.
  Event small = Sample();
  EXPECT_EQ(EncodePrivatePart(small).flags, 0);
}

TEST(RecordFormatTest, BinarySealedPartIsBoundToItsRecordAndKey) {
  Event e = Sample();
  e.identities = {Identity{"email", "a@b.c"}};
  const Written w = Write(e, 3, 1, "x", "");
  const PrivatePart part = EncodePrivatePart(e);
  std::string stored;
  AppendStoredHeader(w.header, part.flags | kPrivateSealed, &stored);
  const DataKey key = NewDataKey();
  SealRawAppend(key, NewNonceSalt(), 3, e.customer, part.bytes, &stored);
  EXPECT_THAT(stored, ::testing::Not(::testing::HasSubstr("a@b.c")));
  ASSERT_OK_AND_ASSIGN(Record rec, DecodeRecord(stored));
  // Another key, or the bytes moved to another seq or customer: DataLoss.
  Record other = rec;
  const DataKey wrong = NewDataKey();
  EXPECT_THAT(OpenSealedRecord(&other, &wrong), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(UnsealRaw(key, 4, e.customer, rec.sealed), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(UnsealRaw(key, 3, "someone-else", rec.sealed), StatusIs(StatusCode::kDataLoss));
  // Without the key: erased, identities and data gone.
  ASSERT_OK(OpenSealedRecord(&rec, nullptr));
  EXPECT_TRUE(rec.erased);
  EXPECT_TRUE(rec.identities.empty());
  EXPECT_EQ(rec.json,
            w.opened.substr(0, w.opened.find(",\"identities\"")) + R"(,"data":"[erased]"})");
}

TEST(RecordFormatTest, CorruptBinaryRecordsAreDataLoss) {
  Event e = Sample();
  e.data = "{\"text\":\"" + std::string(500, 'y') + "\"}";
  const Written w = Write(e, 3, 1, "x", "");
  const std::string good = EncodeStoredRecord(w.header, EncodePrivatePart(e));
  ASSERT_OK(DecodeRecord(good));
  // Every truncation of the header or the compressed part fails cleanly.
  for (std::size_t n = 1; n < good.size(); ++n) {
    EXPECT_THAT(DecodeRecord(good.substr(0, n)), StatusIs(StatusCode::kDataLoss)) << n;
  }
  std::string bad_flags = EncodeStoredRecord(w.header, EncodePrivatePart(e));
  const std::size_t flags_at = good.size() - EncodePrivatePart(e).bytes.size() - 1;
  bad_flags[flags_at] = static_cast<char>(0x80);
  EXPECT_THAT(DecodeRecord(bad_flags), StatusIs(StatusCode::kDataLoss));
  std::string bad_block = good;
  bad_block[good.size() - 3] ^= 0x55;
  auto r = DecodeRecord(bad_block);
  if (r.ok()) {
    // LZ4 cannot always tell a damaged block; what decodes stays JSON-safe.
    EXPECT_FALSE(r->json.empty());
  }
  // A sealed record whose sealed part is shorter than nonce and tag.
  std::string short_sealed;
  AppendStoredHeader(w.header, kPrivateSealed, &short_sealed);
  short_sealed.append(10, 'z');
  EXPECT_THAT(DecodeRecord(short_sealed), StatusIs(StatusCode::kDataLoss));
}

TEST(RecordFormatTest, ExportLinesCarryTheStoredBytes) {
  Event e = Sample();
  const Written w = Write(e, 3, 1, "x", "");
  const std::string binary = EncodeStoredRecord(w.header, EncodePrivatePart(e));
  const std::string line = ExportLine(binary);
  EXPECT_THAT(line, ::testing::StartsWith("{\"record\":\""));
  EXPECT_TRUE(IsRecordLine(line));
  ASSERT_OK_AND_ASSIGN(std::string back, StoredFromExportLine(line));
  EXPECT_EQ(back, binary);
  // A format-3 record is its own line.
  EXPECT_EQ(ExportLine(w.opened), w.opened);
  EXPECT_TRUE(IsRecordLine(w.opened));
  ASSERT_OK_AND_ASSIGN(std::string json_back, StoredFromExportLine(w.opened));
  EXPECT_EQ(json_back, w.opened);
  EXPECT_THAT(StoredFromExportLine("{\"record\":\"abc\"}"), StatusIs(StatusCode::kDataLoss));
  EXPECT_FALSE(IsRecordLine("{\"end\":{}}"));
}

}  // namespace
}  // namespace touchline::store
