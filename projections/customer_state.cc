#include "projections/customer_state.h"

#include <boost/json.hpp>
#include <charconv>

#include "core/identity.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) {
    a.emplace_back(s);
  }
  return a;
}

json::object Stats(const std::map<std::string, ContactStats>& m) {
  json::object o;
  for (const auto& [k, c] : m) {
    o[k] = json::array{c.count, c.first_us, c.last_us};
  }
  return o;
}

// Decoding helpers: every accessor throws on a wrong shape; DecodeX catches
// and reports DataLoss (stored state is ours, so a bad shape is corruption).
std::vector<std::string> ToStrings(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) {
    out.emplace_back(s.as_string());
  }
  return out;
}

std::map<std::string, ContactStats> ToStats(const json::value& v) {
  std::map<std::string, ContactStats> out;
  for (const auto& [k, x] : v.as_object()) {
    const auto& a = x.as_array();
    out[std::string(k)] =
        ContactStats{a.at(0).to_number<std::uint64_t>(), a.at(1).to_number<std::int64_t>(),
                     a.at(2).to_number<std::int64_t>()};
  }
  return out;
}

template <typename T>
T Num(const json::object& o, std::string_view key) {
  return o.at(key).to_number<T>();
}

std::string Str(const json::object& o, std::string_view key) {
  return std::string(o.at(key).as_string());
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
  json::object o;
  o["id"] = p.id;
  o["created"] = p.created_seq;
  if (!p.merged_into.empty()) {
    o["merged_into"] = p.merged_into;
    o["merged_seq"] = p.merged_seq;
    return json::serialize(o);
  }
  o["identities"] = Strings(p.identities);
  json::array merged;
  for (const auto& m : p.merged) {
    merged.push_back(json::object{
        {"profile", m.profile}, {"seq", m.seq}, {"identities", Strings(m.identities)}});
  }
  o["merged"] = std::move(merged);
  o["separated"] = Strings(p.separated);
  json::array refused;
  for (const auto& r : p.refused) {
    refused.push_back(json::array{r.seq, json::string(r.what), json::string(r.reason)});
  }
  o["refused"] = std::move(refused);
  o["refused_total"] = p.refused_total;
  return json::serialize(o);
}

StatusOr<ProfileState> DecodeProfile(std::string_view text) {
  try {
    const json::object o = json::parse(text).as_object();
    ProfileState p;
    p.id = Str(o, "id");
    p.created_seq = Num<Seq>(o, "created");
    if (o.contains("merged_into")) {
      p.merged_into = Str(o, "merged_into");
      p.merged_seq = Num<Seq>(o, "merged_seq");
      return p;
    }
    p.identities = ToStrings(o.at("identities"));
    for (const auto& m : o.at("merged").as_array()) {
      const auto& mo = m.as_object();
      p.merged.push_back(
          MergeEntry{Str(mo, "profile"), Num<Seq>(mo, "seq"), ToStrings(mo.at("identities"))});
    }
    p.separated = ToStrings(o.at("separated"));
    for (const auto& r : o.at("refused").as_array()) {
      const auto& a = r.as_array();
      p.refused.push_back(RefusedLink{a.at(0).to_number<Seq>(), std::string(a.at(1).as_string()),
                                      std::string(a.at(2).as_string())});
    }
    p.refused_total = Num<std::uint64_t>(o, "refused_total");
    return p;
  } catch (const std::exception& e) {
    return Status::DataLoss(std::string("corrupt customer profile state: ") + e.what());
  }
}

std::string EncodeStream(const StreamState& s) {
  json::object o;
  o["events"] = s.events;
  o["first"] = s.first_seen_us;
  o["last"] = s.last_seen_us;
  o["channels"] = Stats(s.channels);
  o["departments"] = Stats(s.departments);
  json::object types;
  for (const auto& [k, n] : s.types) {
    types[k] = n;
  }
  o["types"] = std::move(types);
  json::object traits;
  for (const auto& [k, t] : s.traits) {
    traits[k] = json::array{json::string(t.json), t.time_us, t.seq, json::string(t.channel),
                            json::string(t.event_type)};
  }
  o["traits"] = std::move(traits);
  json::object tickets;
  for (const auto& [k, t] : s.tickets) {
    tickets[k] = json::array{t.seq, t.opened_us, json::string(t.subject), t.closed_seq};
  }
  o["tickets"] = std::move(tickets);
  json::object ltv;
  for (const auto& [k, v] : s.ltv_micros) {
    ltv[k] = v;
  }
  o["ltv"] = std::move(ltv);
  json::array recent;
  for (const Seq r : s.recent) {
    recent.emplace_back(r);
  }
  o["recent"] = std::move(recent);
  return json::serialize(o);
}

StatusOr<StreamState> DecodeStream(std::string_view text) {
  try {
    const json::object o = json::parse(text).as_object();
    StreamState s;
    s.events = Num<std::uint64_t>(o, "events");
    s.first_seen_us = Num<std::int64_t>(o, "first");
    s.last_seen_us = Num<std::int64_t>(o, "last");
    s.channels = ToStats(o.at("channels"));
    s.departments = ToStats(o.at("departments"));
    for (const auto& [k, n] : o.at("types").as_object()) {
      s.types[std::string(k)] = n.to_number<std::uint64_t>();
    }
    for (const auto& [k, t] : o.at("traits").as_object()) {
      const auto& a = t.as_array();
      s.traits[std::string(k)] =
          TraitValue{std::string(a.at(0).as_string()), a.at(1).to_number<std::int64_t>(),
                     a.at(2).to_number<Seq>(), std::string(a.at(3).as_string()),
                     std::string(a.at(4).as_string())};
    }
    for (const auto& [k, t] : o.at("tickets").as_object()) {
      const auto& a = t.as_array();
      s.tickets[std::string(k)] =
          Ticket{a.at(0).to_number<Seq>(), a.at(1).to_number<std::int64_t>(),
                 std::string(a.at(2).as_string()), a.at(3).to_number<Seq>()};
    }
    for (const auto& [k, v] : o.at("ltv").as_object()) {
      s.ltv_micros[std::string(k)] = v.to_number<std::int64_t>();
    }
    for (const auto& r : o.at("recent").as_array()) {
      s.recent.push_back(r.to_number<Seq>());
    }
    return s;
  } catch (const std::exception& e) {
    return Status::DataLoss(std::string("corrupt customer stream state: ") + e.what());
  }
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
