#include "projections/audit_projection.h"

#include <boost/json.hpp>
#include <limits>

#include "core/coding.h"
#include "core/time_format.h"
#include "projections/state_tx.h"
#include "store/sealing.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxAccessesPerEvent = 9999;
constexpr std::size_t kSuffixBytes = 18;

// The key suffix (see the header): newest first by time, then position.
void AppendSuffix(std::string* key, std::int64_t at_us, Seq seq, std::size_t i) {
  PutFixed64BE(key, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() -
                                               std::max<std::int64_t>(at_us, 0)));
  PutFixed64BE(key, std::numeric_limits<Seq>::max() - seq);
  const auto inv_i = static_cast<std::uint16_t>(kMaxAccessesPerEvent - i);
  key->push_back(static_cast<char>(inv_i >> 8));
  key->push_back(static_cast<char>(inv_i & 0xff));
}

std::string Prefix(char kind, std::string_view id) {
  std::string k;
  k.reserve(2 + id.size() + 1 + kSuffixBytes);
  k.push_back(kind);
  k.push_back('/');
  k.append(id);
  k.push_back('\0');
  return k;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> Unhex(std::string_view text) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  if (text.size() != 2 * kSuffixBytes) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = digit(text[i]);
    const int lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string WriteEntry(const store::Record& rec) {
  json::object entry;
  entry["seq"] = rec.seq;
  entry["at"] = FormatRfc3339(rec.recorded_at_us);
  entry["actor"] = rec.actor;
  entry["action"] = "write";
  entry["route"] = rec.route.empty() ? "POST /v1/events" : rec.route;
  entry["customer"] = rec.customer;
  entry["type"] = rec.type;
  return json::serialize(entry);
}

}  // namespace

Status AuditProjection::Apply(const store::Record& rec, StateTx* tx) {
  if (rec.customer == kAccessStream && rec.type == kAccessEventType) {
    // Written by touchline (api/access_log.h); an entry it cannot read is
    // skipped, never a fault.
    boost::system::error_code ec;
    const json::value doc = json::parse(rec.json, ec);
    const json::object* root = ec ? nullptr : doc.if_object();
    const json::value* data = root == nullptr ? nullptr : root->if_contains("data");
    const json::value* accesses =
        data == nullptr || !data->is_object() ? nullptr : data->as_object().if_contains("accesses");
    if (accesses == nullptr || !accesses->is_array()) {
      return Status::Ok();
    }
    std::size_t i = 0;
    for (const json::value& a : accesses->as_array()) {
      if (i >= kMaxAccessesPerEvent) {
        break;
      }
      const json::object* o = a.if_object();
      const json::value* actor = o == nullptr ? nullptr : o->if_contains("actor");
      const json::value* customers = o == nullptr ? nullptr : o->if_contains("customers");
      if (actor == nullptr || !actor->is_string() || customers == nullptr ||
          !customers->is_array()) {
        continue;
      }
      std::int64_t at_us = rec.recorded_at_us;
      if (const json::value* at = o->if_contains("at"); at != nullptr && at->is_string()) {
        if (auto t = ParseRfc3339(at->as_string()); t.ok()) {
          at_us = *t;
        }
      }
      json::object entry;
      entry["seq"] = rec.seq;
      entry["at"] = FormatRfc3339(at_us);
      entry["actor"] = *actor;
      entry["action"] = "read";
      entry["route"] = o->contains("route") ? o->at("route") : json::value("");
      entry["customers"] = *customers;
      const std::string value = json::serialize(entry);
      std::string key = Prefix('a', actor->as_string());
      AppendSuffix(&key, at_us, rec.seq, i++);
      const std::string_view suffix = std::string_view(key).substr(key.size() - kSuffixBytes);
      for (const json::value& c : customers->as_array()) {
        if (c.is_string()) {
          std::string ckey = Prefix('c', c.as_string());
          ckey.append(suffix);
          tx->Put(ckey, value);
        }
      }
      tx->Put(key, value);
    }
    return Status::Ok();
  }
  // A write: two empty values, rendered from the record when read.
  std::string key = Prefix('a', rec.actor);
  AppendSuffix(&key, rec.recorded_at_us, rec.seq, 0);
  if (!store::IsSystemStream(rec.customer)) {
    std::string ckey = Prefix('c', rec.customer);
    ckey.append(key, key.size() - kSuffixBytes, kSuffixBytes);
    tx->Put(ckey, std::string());
  }
  tx->Put(key, std::string());
  return Status::Ok();
}

StatusOr<AuditPage> ReadAuditTrail(const store::StateReader& state, const store::EventLog& log,
                                   bool by_actor, std::string_view id, std::string_view after,
                                   std::size_t limit) {
  const std::string prefix = Prefix(by_actor ? 'a' : 'c', id);
  std::string start;
  if (!after.empty()) {
    auto suffix = Unhex(after);
    if (!suffix.has_value()) {
      return Status::InvalidArgument(
          "query parameter 'after' must be the next_after of a previous page");
    }
    start = prefix + *suffix;
  }
  ASSIGN_OR_RETURN(auto rows, state.Scan(prefix, start, limit + 1));
  AuditPage page;
  const std::size_t n = std::min(rows.size(), limit);
  // Writes are rendered from their records, read together.
  std::vector<Seq> seqs;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& key = rows[i].first;
    if (rows[i].second.empty() && key.size() >= prefix.size() + kSuffixBytes) {
      seqs.push_back(std::numeric_limits<Seq>::max() -
                     DecodeFixed64BE(key.data() + key.size() - kSuffixBytes + 8));
    }
  }
  ASSIGN_OR_RETURN(auto records, log.ReadSeqs(seqs));
  std::size_t next_record = 0;
  page.entries.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (rows[i].second.empty()) {
      page.entries.push_back(WriteEntry(*records[next_record++]));
    } else {
      page.entries.push_back(std::move(rows[i].second));
    }
  }
  if (rows.size() > limit && n > 0) {
    page.next_after = Hex(std::string_view(rows[n - 1].first).substr(prefix.size()));
  }
  return page;
}

}  // namespace touchline::projections
