#include "projections/customer_state.h"

#include <charconv>

#include "core/binary_codec.h"
#include "core/identity.h"

namespace touchline::projections {
namespace {

// Tags: the first byte of each value (customer_state.h).
constexpr std::uint8_t kProfileTag = 0xA1;
constexpr std::uint8_t kStreamTag = 0xA2;

void PutStrings(BinaryWriter* w, const std::vector<std::string>& v) {
  w->U64(v.size());
  for (const auto& s : v) {
    w->Str(s);
  }
}

std::vector<std::string> GetStrings(BinaryReader* r) {
  std::vector<std::string> out(r->Count());
  for (auto& s : out) {
    s = r->Str();
  }
  return out;
}

void PutStats(BinaryWriter* w, const std::map<std::string, ContactStats>& m) {
  w->U64(m.size());
  for (const auto& [k, c] : m) {
    w->Str(k);
    w->U64(c.count);
    w->I64(c.first_us);
    w->I64(c.last_us);
  }
}

std::map<std::string, ContactStats> GetStats(BinaryReader* r) {
  std::map<std::string, ContactStats> out;
  for (std::uint64_t n = r->Count(4); n > 0; --n) {
    const std::string_view k = r->Str();
    ContactStats c;
    c.count = r->U64();
    c.first_us = r->I64();
    c.last_us = r->I64();
    out.emplace_hint(out.end(), k, c);
  }
  return out;
}

}  // namespace

std::vector<std::string> ProfileState::Streams() const {
  std::vector<std::string> out;
  const std::string prefix = std::string(kCustomerIdentityType) + ":";
  for (const auto& identity : identities) {
    if (identity.starts_with(prefix)) {
      out.push_back(identity.substr(prefix.size()));
    }
  }
  return out;
}

void ContactStats::Add(std::int64_t time_us) {
  if (count == 0 || time_us < first_us) {
    first_us = time_us;
  }
  if (count == 0 || time_us > last_us) {
    last_us = time_us;
  }
  ++count;
}

std::string EncodeProfile(const ProfileState& p) {
  std::string out;
  BinaryWriter w(&out);
  w.Byte(kProfileTag);
  w.Str(p.id);
  w.U64(p.created_seq);
  w.Str(p.merged_into);
  if (!p.merged_into.empty()) {
    w.U64(p.merged_seq);
    return out;
  }
  PutStrings(&w, p.identities);
  w.U64(p.merged.size());
  for (const auto& m : p.merged) {
    w.Str(m.profile);
    w.U64(m.seq);
    PutStrings(&w, m.identities);
  }
  PutStrings(&w, p.separated);
  w.U64(p.refused.size());
  for (const auto& r : p.refused) {
    w.U64(r.seq);
    w.Str(r.what);
    w.Str(r.reason);
  }
  w.U64(p.refused_total);
  return out;
}

StatusOr<ProfileState> DecodeProfile(std::string_view bytes) {
  BinaryReader r(bytes);
  r.Expect(kProfileTag);
  ProfileState p;
  p.id = r.Str();
  p.created_seq = r.U64();
  p.merged_into = r.Str();
  if (!p.merged_into.empty()) {
    p.merged_seq = r.U64();
  } else {
    p.identities = GetStrings(&r);
    p.merged.resize(r.Count(3));
    for (auto& m : p.merged) {
      m.profile = r.Str();
      m.seq = r.U64();
      m.identities = GetStrings(&r);
    }
    p.separated = GetStrings(&r);
    p.refused.resize(r.Count(3));
    for (auto& x : p.refused) {
      x.seq = r.U64();
      x.what = r.Str();
      x.reason = r.Str();
    }
    p.refused_total = r.U64();
  }
  if (!r.done()) {
    return Status::DataLoss("corrupt customer profile state (" + std::to_string(bytes.size()) +
                            " bytes)");
  }
  return p;
}

std::string EncodeStream(const StreamState& s) {
  std::string out;
  out.reserve(256);
  BinaryWriter w(&out);
  w.Byte(kStreamTag);
  w.U64(s.events);
  w.I64(s.first_seen_us);
  w.I64(s.last_seen_us);
  PutStats(&w, s.channels);
  PutStats(&w, s.departments);
  w.U64(s.types.size());
  for (const auto& [k, n] : s.types) {
    w.Str(k);
    w.U64(n);
  }
  w.U64(s.traits.size());
  for (const auto& [k, t] : s.traits) {
    w.Str(k);
    w.Str(t.json);
    w.I64(t.time_us);
    w.U64(t.seq);
    w.Str(t.channel);
    w.Str(t.event_type);
  }
  w.U64(s.tickets.size());
  for (const auto& [k, t] : s.tickets) {
    w.Str(k);
    w.U64(t.seq);
    w.I64(t.opened_us);
    w.Str(t.subject);
    w.U64(t.closed_seq);
  }
  w.U64(s.ltv_micros.size());
  for (const auto& [k, v] : s.ltv_micros) {
    w.Str(k);
    w.I64(v);
  }
  w.U64(s.recent.size());
  for (const Seq r : s.recent) {
    w.U64(r);
  }
  return out;
}

StatusOr<StreamState> DecodeStream(std::string_view bytes) {
  BinaryReader r(bytes);
  r.Expect(kStreamTag);
  StreamState s;
  s.events = r.U64();
  s.first_seen_us = r.I64();
  s.last_seen_us = r.I64();
  s.channels = GetStats(&r);
  s.departments = GetStats(&r);
  for (std::uint64_t n = r.Count(2); n > 0; --n) {
    const std::string_view k = r.Str();
    s.types.emplace_hint(s.types.end(), k, r.U64());
  }
  for (std::uint64_t n = r.Count(7); n > 0; --n) {
    const std::string_view k = r.Str();
    TraitValue t;
    t.json = r.Str();
    t.time_us = r.I64();
    t.seq = r.U64();
    t.channel = r.Str();
    t.event_type = r.Str();
    s.traits.emplace_hint(s.traits.end(), k, std::move(t));
  }
  for (std::uint64_t n = r.Count(5); n > 0; --n) {
    const std::string_view k = r.Str();
    Ticket t;
    t.seq = r.U64();
    t.opened_us = r.I64();
    t.subject = r.Str();
    t.closed_seq = r.U64();
    s.tickets.emplace_hint(s.tickets.end(), k, std::move(t));
  }
  for (std::uint64_t n = r.Count(2); n > 0; --n) {
    const std::string_view k = r.Str();
    s.ltv_micros.emplace_hint(s.ltv_micros.end(), k, r.I64());
  }
  s.recent.resize(r.Count());
  for (auto& x : s.recent) {
    x = r.U64();
  }
  if (!r.done()) {
    return Status::DataLoss("corrupt customer stream state (" + std::to_string(bytes.size()) +
                            " bytes)");
  }
  return s;
}

std::string IdentityKey(std::string_view identity) {
  std::string out = "i/";
  out += identity;
  return out;
}

std::string SearchKey(const Identity& identity) {
  std::string out = "s/";
  for (const char c : identity.value) {
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  out.push_back('\0');
  out += identity.type;
  out.push_back('\0');
  out += identity.value;  // values differing only in case get their own keys
  return out;
}

std::string ProfileKey(std::string_view profile_id) {
  std::string out = "p/";
  out += profile_id;
  return out;
}

std::string StreamStateKey(std::string_view stream) {
  std::string out = "t/";
  out += stream;
  return out;
}

std::string ProfileIdForSeq(Seq seq) { return "p-" + std::to_string(seq); }

Seq SeqOfProfileId(std::string_view id) {
  if (!id.starts_with("p-") || id.size() < 3 || id[2] == '0') {
    return 0;
  }
  Seq seq = 0;
  const auto [ptr, ec] = std::from_chars(id.data() + 2, id.data() + id.size(), seq);
  return ec == std::errc() && ptr == id.data() + id.size() ? seq : 0;
}

StatusOr<ProfileState> LoadLiveProfile(const store::StateReader& state, std::string_view id) {
  std::string current(id);
  for (int hops = 0; hops < 1000; ++hops) {
    ASSIGN_OR_RETURN(auto raw, state.Get(ProfileKey(current)));
    if (!raw.has_value()) {
      return Status::NotFound("no profile '" + current + "'");
    }
    ASSIGN_OR_RETURN(ProfileState p, DecodeProfile(*raw));
    if (p.merged_into.empty()) {
      return p;
    }
    current = p.merged_into;
  }
  return Status::DataLoss("profile '" + std::string(id) + "' has a merge chain that never ends");
}

StatusOr<std::optional<std::string>> ResolveProfileId(const store::StateReader& state,
                                                      std::string_view text) {
  if (SeqOfProfileId(text) != 0) {
    auto p = LoadLiveProfile(state, text);
    if (p.ok()) {
      return std::optional<std::string>(p->id);
    }
    if (!p.status().IsNotFound()) {
      return p.status();
    }
  }
  ASSIGN_OR_RETURN(auto owner, state.Get(IdentityKey(std::string(kCustomerIdentityType) + ":" +
                                                     std::string(text))));
  if (owner.has_value() || text.find(':') == std::string_view::npos) {
    return owner;
  }
  ASSIGN_OR_RETURN(Identity id, ParseIdentityString(text, "customer id"));
  return state.Get(IdentityKey(IdentityString(id)));
}

}  // namespace touchline::projections
