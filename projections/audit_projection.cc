#include "projections/audit_projection.h"

#include <simdjson.h>

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <limits>
#include <map>

#include "core/binary_codec.h"
#include "core/coding.h"
#include "core/time_format.h"
#include "projections/state_tx.h"
#include "store/sealing.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxAccessesPerEvent = 9999;
constexpr std::size_t kOrderKeyBytes = 18;  // K: inv at, inv seq, inv i
constexpr std::size_t kRunKeyBytes = 16;    // inv at, inv first seq
constexpr std::uint8_t kRunTag = 0xB1;

std::uint64_t InvAt(std::int64_t at_us) {
  return static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() -
                                    std::max<std::int64_t>(at_us, 0));
}

// K of an entry (see the header).
std::string OrderKey(std::int64_t at_us, Seq seq, std::size_t i) {
  std::string k;
  k.reserve(kOrderKeyBytes);
  PutFixed64BE(&k, InvAt(at_us));
  PutFixed64BE(&k, std::numeric_limits<Seq>::max() - seq);
  const auto inv_i = static_cast<std::uint16_t>(kMaxAccessesPerEvent - i);
  k.push_back(static_cast<char>(inv_i >> 8));
  k.push_back(static_cast<char>(inv_i & 0xff));
  return k;
}

std::string Prefix(char kind, std::string_view id) {
  std::string k;
  k.reserve(2 + id.size() + 1 + kOrderKeyBytes);
  k.push_back(kind);
  k.push_back('/');
  k.append(id);
  k.push_back('\0');
  return k;
}

std::string OpenRunKey(std::string_view actor) {
  std::string k = "o/";
  k.append(actor);
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
  if (text.size() != 2 * kOrderKeyBytes) {
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

struct Run {
  std::int64_t at_us = 0;
  Seq first = 0;
  std::uint64_t count = 0;
};

std::string EncodeRun(const Run& r) {
  std::string out;
  BinaryWriter w(&out);
  w.Byte(kRunTag);
  w.I64(r.at_us);
  w.U64(r.first);
  w.U64(r.count);
  return out;
}

StatusOr<Run> DecodeRun(std::string_view bytes) {
  BinaryReader r(bytes);
  r.Expect(kRunTag);
  Run run;
  run.at_us = r.I64();
  run.first = r.U64();
  run.count = r.U64();
  if (!r.done() || run.count == 0) {
    return Status::DataLoss("corrupt audit run state");
  }
  return run;
}

std::string RunKey(std::string_view actor, const Run& r) {
  std::string k = Prefix('w', actor);
  PutFixed64BE(&k, InvAt(r.at_us));
  PutFixed64BE(&k, std::numeric_limits<Seq>::max() - r.first);
  return k;
}

// One entry of a trail being merged: its order key and how to render it:
// rendered already, a write (its record), or a read (access i of the
// audit.access record read_seq).
struct Entry {
  std::string key;  // K
  std::string json;
  Seq write_seq = 0;
  Seq read_seq = 0;
  std::size_t read_i = 0;
};

// Up to `want` of an actor's write entries with K > `after` (all if
// `after` is empty), in ascending K.
StatusOr<std::vector<Entry>> ActorWrites(const store::StateReader& state, std::string_view actor,
                                         const std::string& after, std::size_t want) {
  std::vector<Entry> out;
  const std::string prefix = Prefix('w', actor);
  // Runs of the cursor's `at` may hold entries after it: start with them.
  std::string from = after.empty() ? "" : prefix + after.substr(0, 8);
  while (out.size() < want) {
    // Keys after `from`: every run of the cursor's `at` has a longer key.
    ASSIGN_OR_RETURN(auto runs, state.Scan(prefix, from, 16));
    if (runs.empty()) {
      break;
    }
    for (const auto& [key, value] : runs) {
      if (key.size() != prefix.size() + kRunKeyBytes) {
        return Status::DataLoss("corrupt audit run key");
      }
      BinaryReader r(value);
      const std::uint64_t n = r.U64();
      if (!r.done() || n == 0) {
        return Status::DataLoss("corrupt audit run");
      }
      const std::uint64_t inv_at = DecodeFixed64BE(key.data() + prefix.size());
      const Seq first =
          std::numeric_limits<Seq>::max() - DecodeFixed64BE(key.data() + prefix.size() + 8);
      const auto at_us =
          std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(inv_at);
      for (Seq s = first + n - 1; s >= first && out.size() < want; --s) {
        std::string k = OrderKey(at_us, s, 0);
        if (!after.empty() && k <= after) {
          continue;
        }
        out.push_back(Entry{std::move(k), "", s});
        if (s == first) {
          break;
        }
      }
      if (out.size() >= want) {
        break;
      }
    }
    from = runs.back().first;
  }
  return out;
}

// Up to `want` of a customer's write entries (the records of its stream)
// with K > `after`, in ascending K.
StatusOr<std::vector<Entry>> CustomerWrites(const store::EventLog& log, const std::string& customer,
                                            const std::string& after, std::size_t want) {
  std::vector<Entry> out;
  if (store::IsSystemStream(customer)) {
    return out;
  }
  store::StreamQuery q;
  q.customer = customer;
  q.limit = std::min<std::size_t>(std::max<std::size_t>(want, 16), 1000);
  if (!after.empty()) {
    // Writes after the cursor were committed before it: seq below its seq.
    q.before_seq = std::numeric_limits<Seq>::max() - DecodeFixed64BE(after.data() + 8);
  }
  while (out.size() < want) {
    ASSIGN_OR_RETURN(auto page, log.ReadStream(q));
    for (const auto& rec : page.records) {
      std::string k = OrderKey(rec->recorded_at_us, rec->seq, 0);
      if (!after.empty() && k <= after) {
        continue;  // newer than the cursor: on an earlier page
      }
      out.push_back(Entry{std::move(k), WriteEntry(*rec), 0});
      if (out.size() >= want) {
        break;
      }
    }
    if (!page.next_before.has_value()) {
      break;
    }
    q.before = page.next_before;
  }
  return out;
}

}  // namespace

namespace {

// The accesses of an audit.access record (api/access_log.h), as the fold
// and the reader see them; malformed ones are skipped (never a fault: the
// access log is touchline's own, and a record it cannot read holds nothing
// to index).
struct Access {
  std::int64_t at_us = 0;
  std::string_view actor;
  std::string_view route;
  std::vector<std::string_view> customers;
};

// Calls `visit(i, access)` for each well-formed access of `rec`, i its
// position (at most kMaxAccessesPerEvent). Views point into `rec.json`.
void ForEachAccess(const store::Record& rec,
                   const std::function<void(std::size_t, const Access&)>& visit) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(rec.json).get(doc)) {
    return;
  }
  simdjson::dom::array accesses;
  if (doc["data"]["accesses"].get_array().get(accesses)) {
    return;
  }
  std::size_t i = 0;
  for (simdjson::dom::element a : accesses) {
    if (i >= kMaxAccessesPerEvent) {
      break;
    }
    Access access;
    simdjson::dom::array customers;
    if (a["actor"].get_string().get(access.actor) || a["customers"].get_array().get(customers)) {
      ++i;  // positions count every entry, so keys and records agree
      continue;
    }
    access.at_us = rec.recorded_at_us;
    std::string_view at;
    if (!a["at"].get_string().get(at)) {
      if (auto t = ParseRfc3339(at); t.ok()) {
        access.at_us = *t;
      }
    }
    if (a["route"].get_string().get(access.route)) {
      access.route = {};
    }
    for (simdjson::dom::element c : customers) {
      std::string_view customer;
      if (!c.get_string().get(customer)) {
        access.customers.push_back(customer);
      }
    }
    visit(i++, access);
  }
}

std::string ReadEntry(Seq seq, const Access& a) {
  json::object entry;
  entry["seq"] = seq;
  entry["at"] = FormatRfc3339(a.at_us);
  entry["actor"] = a.actor;
  entry["action"] = "read";
  entry["route"] = a.route;
  json::array customers;
  for (const auto c : a.customers) {
    customers.emplace_back(c);
  }
  entry["customers"] = std::move(customers);
  return json::serialize(entry);
}

}  // namespace

Status AuditProjection::Apply(const store::Record& rec, StateTx* tx) {
  if (rec.customer == kAccessStream && rec.type == kAccessEventType) {
    ForEachAccess(rec, [&](std::size_t i, const Access& a) {
      const std::string k = OrderKey(a.at_us, rec.seq, i);
      for (const auto c : a.customers) {
        tx->Put(Prefix('c', c) + k, std::string());
      }
      tx->Put(Prefix('a', a.actor) + k, std::string());
    });
    return Status::Ok();
  }
  // A write: it joins its actor's newest run if it directly follows it at
  // the same time, else starts the next run.
  const std::string open_key = OpenRunKey(rec.actor);
  ASSIGN_OR_RETURN(auto open, tx->Get(open_key));
  Run run{rec.recorded_at_us, rec.seq, 1};
  if (open.has_value()) {
    ASSIGN_OR_RETURN(Run last, DecodeRun(*open));
    if (last.at_us == rec.recorded_at_us && last.first + last.count == rec.seq) {
      run = last;
      ++run.count;
    }
  }
  std::string count;
  BinaryWriter(&count).U64(run.count);
  tx->Put(RunKey(rec.actor, run), std::move(count));
  tx->Put(open_key, EncodeRun(run));
  return Status::Ok();
}

StatusOr<AuditPage> ReadAuditTrail(const store::StateReader& state, const store::EventLog& log,
                                   bool by_actor, std::string_view id, std::string_view after,
                                   std::size_t limit) {
  std::string cursor;
  if (!after.empty()) {
    auto k = Unhex(after);
    if (!k.has_value()) {
      return Status::InvalidArgument(
          "query parameter 'after' must be the next_after of a previous page");
    }
    cursor = std::move(*k);
  }
  // Reads from the index, writes from the runs or the stream; merged by K.
  const std::string read_prefix = Prefix(by_actor ? 'a' : 'c', id);
  ASSIGN_OR_RETURN(auto reads,
                   state.Scan(read_prefix, cursor.empty() ? "" : read_prefix + cursor, limit + 1));
  std::vector<Entry> writes;
  if (by_actor) {
    ASSIGN_OR_RETURN(writes, ActorWrites(state, id, cursor, limit + 1));
  } else {
    ASSIGN_OR_RETURN(writes, CustomerWrites(log, std::string(id), cursor, limit + 1));
  }
  std::vector<Entry> merged;
  merged.reserve(limit + 1);
  std::size_t r = 0;
  std::size_t w = 0;
  while (merged.size() < limit + 1 && (r < reads.size() || w < writes.size())) {
    const bool take_read =
        w >= writes.size() ||
        (r < reads.size() &&
         std::string_view(reads[r].first).substr(read_prefix.size()) < writes[w].key);
    if (take_read) {
      std::string k = reads[r].first.substr(read_prefix.size());
      if (k.size() != kOrderKeyBytes) {
        return Status::DataLoss("corrupt audit trail key");
      }
      const Seq seq = std::numeric_limits<Seq>::max() - DecodeFixed64BE(k.data() + 8);
      const std::size_t i = kMaxAccessesPerEvent - (static_cast<unsigned char>(k[16]) << 8 |
                                                    static_cast<unsigned char>(k[17]));
      merged.push_back(Entry{std::move(k), "", 0, seq, i});
      ++r;
    } else {
      merged.push_back(std::move(writes[w++]));
    }
  }
  AuditPage page;
  const std::size_t n = std::min(merged.size(), limit);
  // Entries render from their records, read together (each once).
  std::vector<Seq> seqs;
  for (std::size_t i = 0; i < n; ++i) {
    if (merged[i].write_seq != 0 || merged[i].read_seq != 0) {
      seqs.push_back(merged[i].write_seq != 0 ? merged[i].write_seq : merged[i].read_seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  ASSIGN_OR_RETURN(auto records, log.ReadSeqs(seqs));
  const auto record_of = [&](Seq seq) {
    return records[static_cast<std::size_t>(std::lower_bound(seqs.begin(), seqs.end(), seq) -
                                            seqs.begin())];
  };
  // The accesses of each audit.access record, parsed once.
  std::map<Seq, std::map<std::size_t, std::string>> reads_of;
  page.entries.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Entry& e = merged[i];
    if (e.write_seq != 0) {
      page.entries.push_back(WriteEntry(*record_of(e.write_seq)));
      continue;
    }
    if (e.read_seq == 0) {
      page.entries.push_back(e.json);
      continue;
    }
    const auto it = reads_of.try_emplace(e.read_seq).first;
    if (it->second.empty()) {
      const store::RecordPtr rec = record_of(e.read_seq);
      ForEachAccess(*rec, [&](std::size_t at, const Access& a) {
        it->second.emplace(at, ReadEntry(rec->seq, a));
      });
    }
    auto entry = it->second.find(e.read_i);
    if (entry == it->second.end()) {
      return Status::DataLoss("the audit trail names access " + std::to_string(e.read_i) +
                              " of seq " + std::to_string(e.read_seq) + ", which has none");
    }
    page.entries.push_back(entry->second);
  }
  if (merged.size() > limit && n > 0) {
    page.next_after = Hex(merged[n - 1].key);
  }
  return page;
}

}  // namespace touchline::projections
