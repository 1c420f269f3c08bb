#include "store/record_format.h"

#include <lz4.h>
#include <openssl/evp.h>
#include <simdjson.h>

#include <boost/json/serialize.hpp>

#include "core/binary_codec.h"
#include "core/time_format.h"
#include "store/sealing.h"

namespace touchline::store {
namespace {

void AppendString(std::string* out, std::string_view key, std::string_view value) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
  out->append(boost::json::serialize(boost::json::string_view(value.data(), value.size())));
}

Status Corrupt(std::string_view what) {
  return Status::DataLoss("corrupt record: " + std::string(what));
}

// The "identities" object: type -> string or array of strings.
Status ParseIdentities(simdjson::simdjson_result<simdjson::ondemand::value> value,
                       std::vector<Identity>* out) {
  simdjson::ondemand::object ids;
  if (value.get_object().get(ids)) {
    return Corrupt("identities");
  }
  std::string_view s;
  for (auto id : ids) {
    std::string_view type;
    if (id.unescaped_key().get(type)) {
      return Corrupt("identities");
    }
    const std::string type_s(type);
    auto v = id.value();
    simdjson::ondemand::json_type jt;
    if (v.type().get(jt)) {
      return Corrupt("identities");
    }
    if (jt == simdjson::ondemand::json_type::array) {
      for (auto item : v.get_array()) {
        if (item.get_string().get(s)) {
          return Corrupt("identities");
        }
        out->push_back(Identity{type_s, std::string(s)});
      }
    } else {
      if (v.get_string().get(s)) {
        return Corrupt("identities");
      }
      out->push_back(Identity{type_s, std::string(s)});
    }
  }
  return Status::Ok();
}

// `,"identities":{...},"data":<data>}`: the private part of an opened
// record, closing brace included.
// Returns the offset in *out of the `,"data":` it appended.
std::size_t AppendPrivateJson(const std::vector<Identity>& ids, std::string_view data,
                              std::string* out) {
  if (!ids.empty()) {
    out->append(",\"identities\":{");
    for (std::size_t i = 0; i < ids.size();) {
      std::size_t j = i;
      while (j < ids.size() && ids[j].type == ids[i].type) {
        ++j;
      }
      if (i > 0) {
        out->push_back(',');
      }
      out->append(boost::json::serialize(boost::json::string_view(ids[i].type)));
      out->push_back(':');
      if (j - i > 1) {
        out->push_back('[');
      }
      for (std::size_t k = i; k < j; ++k) {
        if (k > i) {
          out->push_back(',');
        }
        out->append(boost::json::serialize(boost::json::string_view(ids[k].value)));
      }
      if (j - i > 1) {
        out->push_back(']');
      }
      i = j;
    }
    out->push_back('}');
  }
  const std::size_t data_at = out->size();
  out->append(",\"data\":");
  out->append(data);
  out->push_back('}');
  return data_at;
}

// `,"customer":...,"type":...[,"channel":...][,"department":...]`.
void AppendPublicJson(std::string_view customer, std::string_view type, std::string_view channel,
                      std::string_view department, std::string* out) {
  out->push_back(',');
  AppendString(out, "customer", customer);
  out->push_back(',');
  AppendString(out, "type", type);
  if (!channel.empty()) {
    out->push_back(',');
    AppendString(out, "channel", channel);
  }
  if (!department.empty()) {
    out->push_back(',');
    AppendString(out, "department", department);
  }
}

}  // namespace

std::string EncodeRecordBody(const Event& event, std::size_t* private_at, std::size_t* data_at) {
  std::string out;
  out.reserve(event.data.size() + event.customer.size() + event.type.size() + event.channel.size() +
              event.department.size() + 64);
  AppendPublicJson(event.customer, event.type, event.channel, event.department, &out);
  if (private_at != nullptr) {
    *private_at = out.size();
  }
  const std::size_t at = AppendPrivateJson(event.identities, event.data, &out);
  if (data_at != nullptr) {
    *data_at = at;
  }
  return out;
}

std::string EncodeRecord(const RecordHeader& header, std::string_view id, std::string_view body) {
  return RecordEncoder(header.recorded_at_us, header.actor, header.route)
      .Encode(header.seq, header.version, header.time_us, id, body);
}

RecordEncoder::RecordEncoder(std::int64_t recorded_at_us, std::string_view actor,
                             std::string_view route)
    : recorded_at_us_(recorded_at_us),
      recorded_at_(FormatRfc3339(recorded_at_us)),
      actor_json_(boost::json::serialize(boost::json::string_view(actor.data(), actor.size()))),
      route_field_(route.empty() ? std::string()
                                 : ",\"route\":" + boost::json::serialize(boost::json::string_view(
                                                       route.data(), route.size()))) {}

std::string RecordEncoder::Encode(Seq seq, StreamVersion version, std::int64_t time_us,
                                  std::string_view id, std::string_view body) const {
  std::string out = Header(seq, version, time_us, id);
  out.append(body);
  return out;
}

std::string RecordEncoder::Header(Seq seq, StreamVersion version, std::int64_t time_us,
                                  std::string_view id) const {
  std::string out;
  out.reserve(actor_json_.size() + route_field_.size() + id.size() + 128);
  out.append("{\"seq\":");
  out.append(std::to_string(seq));
  out.append(",\"version\":");
  out.append(std::to_string(version));
  out.append(",\"recorded_at\":\"");
  out.append(recorded_at_);  // RFC 3339 never needs escaping
  out.append("\",\"actor\":");
  out.append(actor_json_);
  out.append(route_field_);
  out.append(",\"time\":\"");
  out.append(time_us == recorded_at_us_ ? recorded_at_ : FormatRfc3339(time_us));
  out.push_back('"');
  if (!id.empty()) {
    out.push_back(',');
    AppendString(&out, "id", id);
  }
  return out;
}

std::string SealedRecord(std::string_view record, std::size_t private_at, std::string_view sealed) {
  std::string out;
  out.reserve(private_at + sealed.size() + 16);
  out.append(record.substr(0, private_at));
  out.append(kSealedOpen);
  out.append(sealed);  // base64 never needs escaping
  out.append(kSealedClose);
  return out;
}

std::string_view PrivatePlaintext(std::string_view record, std::size_t private_at) {
  // Skip the comma before the private part and the record's closing brace.
  return record.substr(private_at + 1, record.size() - private_at - 2);
}

namespace {

// Whether `json` ends with the sealed part holding `sealed`: the sealed part
// is the last field, and base64 needs no escaping, so it is the record's last
// kSealedOpen.size() + sealed.size() + kSealedClose.size() bytes.
bool EndsWithSealedPart(std::string_view json, std::string_view sealed) {
  const std::size_t tail = kSealedOpen.size() + sealed.size() + kSealedClose.size();
  if (sealed.empty() || json.size() < tail) {
    return false;
  }
  const std::string_view end = json.substr(json.size() - tail);
  return end.starts_with(kSealedOpen) && end.ends_with(kSealedClose) &&
         end.substr(kSealedOpen.size(), sealed.size()) == sealed;
}

}  // namespace

namespace {

StatusOr<Record> DecodeJsonRecord(std::string_view json) {
  thread_local simdjson::ondemand::parser parser;
  // Parsed in place, then kept as the record's bytes: one copy in all.
  std::string buffer;
  buffer.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(doc)) {
    return Corrupt("not JSON");
  }
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) {
    return Corrupt("not an object");
  }
  Record rec;
  bool have_time = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return Corrupt("bad key");
    }
    auto value = field.value();
    std::string_view s;
    std::uint64_t n = 0;
    if (key == "seq") {
      if (value.get_uint64().get(n)) {
        return Corrupt("seq");
      }
      rec.seq = n;
    } else if (key == "version") {
      if (value.get_uint64().get(n)) {
        return Corrupt("version");
      }
      rec.version = n;
    } else if (key == "id") {
      if (value.get_string().get(s)) {
        return Corrupt("id");
      }
      rec.id = s;
    } else if (key == "customer") {
      if (value.get_string().get(s)) {
        return Corrupt("customer");
      }
      rec.customer = s;
    } else if (key == "type") {
      if (value.get_string().get(s)) {
        return Corrupt("type");
      }
      rec.type = s;
    } else if (key == "channel") {
      if (value.get_string().get(s)) {
        return Corrupt("channel");
      }
      rec.channel = s;
    } else if (key == "time") {
      if (value.get_string().get(s)) {
        return Corrupt("time");
      }
      auto t = ParseRfc3339(s);
      if (!t.ok()) {
        return Corrupt("time");
      }
      rec.time_us = *t;
      have_time = true;
    } else if (key == "recorded_at") {
      if (value.get_string().get(s)) {
        return Corrupt("recorded_at");
      }
      auto t = ParseRfc3339(s);
      if (!t.ok()) {
        return Corrupt("recorded_at");
      }
      rec.recorded_at_us = *t;
    } else if (key == "department") {
      if (value.get_string().get(s)) {
        return Corrupt("department");
      }
      rec.department = s;
    } else if (key == "actor") {
      if (value.get_string().get(s)) {
        return Corrupt("actor");
      }
      rec.actor = s;
    } else if (key == "route") {
      if (value.get_string().get(s)) {
        return Corrupt("route");
      }
      rec.route = s;
    } else if (key == "identities") {
      RETURN_IF_ERROR(ParseIdentities(value, &rec.identities));
    } else if (key == "data") {
      break;  // last field by construction; nothing after it is needed
    } else if (key == "sealed") {
      if (value.get_string().get(s) || !EndsWithSealedPart(json, s)) {
        return Corrupt("sealed");
      }
      rec.sealed = s;
      break;  // last field of a sealed record
    }
  }
  if (rec.seq == 0 || rec.version == 0 || rec.customer.empty() || rec.type.empty() || !have_time) {
    return Corrupt("missing fields");
  }
  rec.json = std::move(buffer);
  return rec;
}

}  // namespace

Status OpenRecord(Record* rec, const std::string* plaintext) {
  if (!EndsWithSealedPart(rec->json, rec->sealed)) {
    return Corrupt("no sealed part to open");
  }
  const std::size_t at =
      rec->json.size() - (kSealedOpen.size() + rec->sealed.size() + kSealedClose.size());
  rec->json.resize(at);
  rec->sealed.clear();
  if (plaintext == nullptr) {
    rec->erased = true;
    rec->identities.clear();
    rec->json.append(",\"data\":\"[erased]\"}");
    return Status::Ok();
  }
  if (plaintext->starts_with("\"data\":")) {
    // No identities: nothing to read out of it.
    rec->json.push_back(',');
    rec->json.append(*plaintext);
    rec->json.push_back('}');
    return Status::Ok();
  }
  // The private part is `"identities":{...},"data":{...}`: parse it as the
  // members of an object to read the identities.
  thread_local simdjson::ondemand::parser parser;
  std::string buffer;
  buffer.reserve(plaintext->size() + 2 + simdjson::SIMDJSON_PADDING);
  buffer.push_back('{');
  buffer.append(*plaintext);
  buffer.push_back('}');
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(doc) ||
      doc.get_object().get(obj)) {
    return Corrupt("the sealed part is not JSON");
  }
  bool have_data = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return Corrupt("sealed part");
    }
    if (key == "identities") {
      RETURN_IF_ERROR(ParseIdentities(field.value(), &rec->identities));
    } else if (key == "data") {
      have_data = true;
      break;
    }
  }
  if (!have_data) {
    return Corrupt("the sealed part has no data");
  }
  rec->json.push_back(',');
  rec->json.append(*plaintext);
  rec->json.push_back('}');
  return Status::Ok();
}

// --- Format 4 ---

namespace {

// LZ4 blocks are only worth it past a few dozen bytes, and a decompressed
// private part never exceeds what validation lets an event carry.
constexpr std::size_t kMinCompressBytes = 64;
constexpr std::uint64_t kMaxPrivateBytes = 64u << 20;

// Q: the identities, then the data text.
std::string EncodeQ(const std::vector<Identity>& ids, std::string_view data) {
  std::string q;
  std::size_t n = data.size() + 2;
  for (const auto& i : ids) {
    n += i.type.size() + i.value.size() + 2;
  }
  q.reserve(n);
  BinaryWriter w(&q);
  w.U64(ids.size());
  for (const auto& i : ids) {
    w.Str(i.type);
    w.Str(i.value);
  }
  w.Raw(data);
  return q;
}

// Opens P (flags: kPrivateCompressed or not) into `rec`: its identities,
// and its JSON completed with the private part.
Status OpenPrivate(std::string_view p, std::uint8_t flags, Record* rec) {
  std::string inflated;
  if ((flags & kPrivateCompressed) != 0) {
    BinaryReader r(p);
    const std::uint64_t size = r.U64();
    const std::string_view block = r.Rest();
    if (!r.ok() || size > kMaxPrivateBytes || block.size() > static_cast<std::size_t>(INT32_MAX)) {
      return Corrupt("compressed private part");
    }
    inflated.resize(size);
    const int got = LZ4_decompress_safe(block.data(), inflated.data(),
                                        static_cast<int>(block.size()), static_cast<int>(size));
    if (got < 0 || static_cast<std::uint64_t>(got) != size) {
      return Corrupt("compressed private part");
    }
    p = inflated;
  }
  BinaryReader r(p);
  const std::uint64_t n = r.Count(2);
  rec->identities.clear();
  rec->identities.reserve(n);
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    const std::string_view type = r.Str();
    const std::string_view value = r.Str();
    if (!simdjson::validate_utf8(type) || !simdjson::validate_utf8(value)) {
      return Corrupt("private part");
    }
    rec->identities.push_back(Identity{std::string(type), std::string(value)});
  }
  const std::string_view data = r.Rest();
  if (!r.ok() || data.empty()) {
    return Corrupt("private part");
  }
  rec->data_at = static_cast<std::uint32_t>(AppendPrivateJson(rec->identities, data, &rec->json));
  return Status::Ok();
}

StatusOr<Record> DecodeBinaryRecord(std::string_view stored) {
  BinaryReader r(stored);
  r.Expect(kStoredRecordTag);
  Record rec;
  rec.binary = true;
  rec.seq = r.U64();
  rec.version = r.U64();
  rec.recorded_at_us = r.I64();
  const std::int64_t time_delta = r.I64();
  if (__builtin_add_overflow(rec.recorded_at_us, time_delta, &rec.time_us)) {
    return Corrupt("malformed header");
  }
  rec.actor = r.Str();
  rec.route = r.Str();
  rec.id = r.Str();
  rec.customer = r.Str();
  rec.type = r.Str();
  rec.channel = r.Str();
  rec.department = r.Str();
  rec.private_flags = r.Byte();
  const std::string_view rest = r.Rest();
  if (!r.ok() || rec.seq == 0 || rec.version == 0 || rec.customer.empty() || rec.type.empty() ||
      (rec.private_flags & ~(kPrivateSealed | kPrivateCompressed)) != 0) {
    return Corrupt("malformed header");
  }
  // Rendered into JSON below: what was valid UTF-8 when appended must still be.
  for (const std::string* s :
       {&rec.actor, &rec.route, &rec.id, &rec.customer, &rec.type, &rec.channel, &rec.department}) {
    if (!simdjson::validate_utf8(*s)) {
      return Corrupt("malformed header");
    }
  }
  // The opened record up to its private part.
  rec.json = RecordEncoder(rec.recorded_at_us, rec.actor, rec.route)
                 .Header(rec.seq, rec.version, rec.time_us, rec.id);
  AppendPublicJson(rec.customer, rec.type, rec.channel, rec.department, &rec.json);
  if ((rec.private_flags & kPrivateSealed) != 0) {
    if (rest.size() < kSealOverheadBytes) {
      return Corrupt("sealed part too short");
    }
    rec.sealed.assign(rest);
    return rec;
  }
  RETURN_IF_ERROR(OpenPrivate(rest, rec.private_flags, &rec));
  return rec;
}

}  // namespace

PrivatePart EncodePrivatePart(const Event& event) {
  PrivatePart part;
  std::string q = EncodeQ(event.identities, event.data);
  if (q.size() >= kMinCompressBytes && q.size() <= kMaxPrivateBytes) {
    const int bound = LZ4_compressBound(static_cast<int>(q.size()));
    std::string p;
    p.reserve(static_cast<std::size_t>(bound) + 10);
    BinaryWriter w(&p);
    w.U64(q.size());
    const std::size_t at = p.size();
    p.resize(at + static_cast<std::size_t>(bound));
    const int n = LZ4_compress_default(q.data(), p.data() + at, static_cast<int>(q.size()), bound);
    if (n > 0 && at + static_cast<std::size_t>(n) < q.size()) {
      p.resize(at + static_cast<std::size_t>(n));
      part.bytes = std::move(p);
      part.flags = kPrivateCompressed;
      return part;
    }
  }
  part.bytes = std::move(q);
  return part;
}

void AppendStoredHeader(const Record& record, std::uint8_t flags, std::string* out) {
  BinaryWriter w(out);
  w.Byte(kStoredRecordTag);
  w.U64(record.seq);
  w.U64(record.version);
  w.I64(record.recorded_at_us);
  w.I64(record.time_us - record.recorded_at_us);
  w.Str(record.actor);
  w.Str(record.route);
  w.Str(record.id);
  w.Str(record.customer);
  w.Str(record.type);
  w.Str(record.channel);
  w.Str(record.department);
  w.Byte(flags);
}

std::string EncodeStoredRecord(const Record& record, const PrivatePart& part) {
  std::string out;
  AppendStoredHeader(record, part.flags, &out);
  out.append(part.bytes);
  return out;
}

std::string_view Record::Data() const {
  constexpr std::string_view kField = ",\"data\":";
  std::size_t at = data_at;
  if (at == 0 || json.compare(at, kField.size(), kField) != 0) {
    at = json.find(kField);
  }
  if (at == std::string::npos || json.size() < at + kField.size() + 2) {
    return "{}";
  }
  return std::string_view(json).substr(at + kField.size(), json.size() - at - kField.size() - 1);
}

StatusOr<Record> DecodeRecord(std::string_view stored) {
  if (!stored.empty() && static_cast<std::uint8_t>(stored.front()) == kStoredRecordTag) {
    return DecodeBinaryRecord(stored);
  }
  return DecodeJsonRecord(stored);
}

Status OpenSealedRecord(Record* rec, const DataKey* key) {
  if (rec->sealed.empty()) {
    return Status::Ok();
  }
  if (!rec->binary) {
    if (key == nullptr) {
      return OpenRecord(rec, nullptr);
    }
    ASSIGN_OR_RETURN(std::string plain, Unseal(*key, rec->seq, rec->customer, rec->sealed));
    return OpenRecord(rec, &plain);
  }
  const std::string sealed = std::move(rec->sealed);
  rec->sealed.clear();
  if (key == nullptr) {
    rec->erased = true;
    rec->identities.clear();
    rec->json.append(",\"data\":\"[erased]\"}");
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::string plain, UnsealRaw(*key, rec->seq, rec->customer, sealed));
  return OpenPrivate(plain, rec->private_flags, rec);
}

std::string StoredBase64(std::string_view stored) {
  std::string out(4 * ((stored.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(stored.data()),
                                static_cast<int>(stored.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string ExportLine(std::string_view stored) {
  if (IsBinaryRecord(stored)) {
    return "{\"record\":\"" + StoredBase64(stored) + "\"}";
  }
  return std::string(stored);
}

bool IsBinaryRecord(std::string_view stored) {
  return !stored.empty() && static_cast<std::uint8_t>(stored.front()) == kStoredRecordTag;
}

bool IsRecordLine(std::string_view line) {
  return line.starts_with("{\"seq\":") || line.starts_with("{\"record\":\"");
}

StatusOr<std::string> StoredFromExportLine(std::string_view line) {
  constexpr std::string_view kOpen = "{\"record\":\"";
  if (!line.starts_with(kOpen)) {
    return std::string(line);
  }
  if (!line.ends_with("\"}")) {
    return Corrupt("export line");
  }
  const std::string_view b64 = line.substr(kOpen.size(), line.size() - kOpen.size() - 2);
  if (b64.size() % 4 != 0 || b64.size() > (1u << 30)) {
    return Corrupt("export line");
  }
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  std::size_t pad = 0;
  for (std::size_t i = b64.size(); i > 0 && b64[i - 1] == '=' && pad < 2; --i) {
    ++pad;
  }
  if (n < 0 || static_cast<std::size_t>(n) < pad) {
    return Corrupt("export line");
  }
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace touchline::store
