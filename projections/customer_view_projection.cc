#include "projections/customer_view_projection.h"

#include <simdjson.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "core/identity.h"
#include "store/sealing.h"

namespace touchline::projections {
namespace {

namespace dom = simdjson::dom;

constexpr std::size_t kMaxSubjectBytes = 200;

std::string TypeOf(std::string_view identity) {
  return std::string(identity.substr(0, identity.find(':')));
}

std::string CustomerIdentity(std::string_view stream) {
  std::string out(kCustomerIdentityType);
  out.push_back(':');
  out.append(stream);
  return out;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string Truncate(std::string_view s, std::size_t max) {
  if (s.size() <= max) {
    return std::string(s);
  }
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
    --n;
  }
  return std::string(s.substr(0, n));
}

std::optional<std::string> StringOrInteger(dom::element v) {
  std::string_view s;
  if (!v.get_string().get(s)) {
    return std::string(s);
  }
  std::int64_t i = 0;
  if (v.is_int64() && !v.get_int64().get(i)) {
    return std::to_string(i);
  }
  return std::nullopt;
}

std::vector<std::string> StringArray(dom::element v) {
  std::vector<std::string> out;
  dom::array arr;
  if (v.get_array().get(arr)) {
    return out;
  }
  for (dom::element e : arr) {
    std::string_view s;
    if (!e.get_string().get(s)) {
      out.emplace_back(s);
    }
  }
  return out;
}

bool IsOneOf(std::string_view type, std::initializer_list<std::string_view> options) {
  return std::find(options.begin(), options.end(), type) != options.end();
}

void InsertSorted(std::vector<std::string>* v, const std::string& s) {
  auto it = std::lower_bound(v->begin(), v->end(), s);
  if (it == v->end() || *it != s) {
    v->insert(it, s);
  }
}

}  // namespace

// The parts of `data` the fold uses, parsed once per record.
struct CustomerViewProjection::EventData {
  std::vector<std::pair<std::string, std::string>> traits;  // name, minified JSON
  std::optional<std::int64_t> amount_micros;
  std::string currency = "XXX";
  std::optional<std::string> ticket_id;
  std::string subject;
  std::string source;                   // profile.merged
  std::vector<std::string> profiles;    // profile.merged
  std::string profile;                  // profile.unmerged
  std::string merged_profile;           // profile.unmerged
  std::vector<std::string> identities;  // profile.unmerged

  static StatusOr<EventData> Parse(const store::Record& rec) {
    thread_local dom::parser parser;
    EventData d;
    if (rec.erased) {
      return d;  // its data is gone with its customer's key
    }
    dom::object data;
    if (parser.parse(rec.Data()).get_object().get(data)) {
      return Status::DataLoss("record " + std::to_string(rec.seq) + " has no readable data");
    }
    dom::element v;
    dom::object traits;
    if (!data["traits"].get_object().get(traits)) {
      for (dom::key_value_pair kv : traits) {
        d.traits.emplace_back(std::string(kv.key), simdjson::minify(kv.value));
      }
    }
    for (const char* field : {"amount", "total", "revenue"}) {
      double x = 0;
      if (!data[field].get(v) && v.is_number() && !v.get_double().get(x) && std::isfinite(x) &&
          std::abs(x) < 9e12) {
        d.amount_micros = std::llround(x * 1e6);
        break;
      }
    }
    std::string_view s;
    if (!data["currency"].get_string().get(s) && s.size() == 3) {
      d.currency.clear();
      for (const char c : s) {
        d.currency.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      }
    }
    if (!data["ticket_id"].get(v)) {
      d.ticket_id = StringOrInteger(v);
    }
    if (!data["subject"].get_string().get(s)) {
      d.subject = Truncate(s, kMaxSubjectBytes);
    }
    if (rec.type == "profile.merged" || rec.type == "profile.unmerged") {
      if (!data["source"].get_string().get(s)) {
        d.source = s;
      }
      if (!data["profiles"].get(v)) {
        d.profiles = StringArray(v);
      }
      if (!data["profile"].get_string().get(s)) {
        d.profile = s;
      }
      if (!data["merged_profile"].get_string().get(s)) {
        d.merged_profile = s;
      }
      if (!data["identities"].get(v)) {
        d.identities = StringArray(v);
      }
    }
    return d;
  }
};

std::size_t IdentityLimits::For(std::string_view type) const {
  auto it = per_type.find(std::string(type));
  return it == per_type.end() ? default_limit : it->second;
}

std::string IdentityLimits::ToString() const {
  std::string out;
  for (const auto& [type, n] : per_type) {
    out += type + "=" + std::to_string(n) + ",";
  }
  return out + "*=" + std::to_string(default_limit);
}

StatusOr<IdentityLimits> IdentityLimits::Parse(std::string_view text) {
  IdentityLimits limits;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string_view entry = text.substr(start, end - start);
    const auto eq = entry.find('=');
    std::size_t n = 0;
    const char* first = entry.data() + eq + 1;
    const char* last = entry.data() + entry.size();
    if (eq == std::string_view::npos || std::from_chars(first, last, n).ptr != last || n == 0 ||
        n > 10000) {
      return Status::InvalidArgument("identity limit '" + std::string(entry) +
                                     "' must be type=N with N from 1 to 10000, e.g. email=5");
    }
    const std::string type(entry.substr(0, eq));
    if (type == "*") {
      limits.default_limit = n;
    } else {
      if (type != kCustomerIdentityType) {
        RETURN_IF_ERROR(ValidateIdentityType(type, "identity limit"));
      }
      limits.per_type[type] = n;
    }
    start = end + 1;
  }
  return limits;
}

CustomerViewProjection::CustomerViewProjection(IdentityLimits limits, std::size_t max_cached)
    : limits_(std::move(limits)), max_cached_(max_cached) {}

std::string CustomerViewProjection::Version() const {
  // Bump the leading number whenever the fold or the state format changes.
  return "4;" + limits_.ToString();
}

StatusOr<ProfileState*> CustomerViewProjection::Profile(const std::string& id, StateTx* tx) {
  if (auto it = profiles_.find(id); it != profiles_.end()) {
    return &it->second;
  }
  ASSIGN_OR_RETURN(auto raw, tx->Get(ProfileKey(id)));
  if (!raw.has_value()) {
    return Status::DataLoss("the identity index names profile '" + id + "', which is missing");
  }
  ASSIGN_OR_RETURN(ProfileState p, DecodeProfile(*raw));
  return &profiles_.emplace(id, std::move(p)).first->second;
}

ProfileState* CustomerViewProjection::NewProfile(std::string id, Seq created_seq) {
  ProfileState p;
  p.id = id;
  p.created_seq = created_seq;
  dirty_profiles_.insert(id);
  return &profiles_.insert_or_assign(id, std::move(p)).first->second;
}

StatusOr<std::optional<std::string>> CustomerViewProjection::Owner(const std::string& identity,
                                                                   StateTx* tx) {
  if (auto it = owners_.find(identity); it != owners_.end()) {
    return it->second;
  }
  ASSIGN_OR_RETURN(auto owner, tx->Get(IdentityKey(identity)));
  owners_.emplace(identity, owner);
  return owner;
}

void CustomerViewProjection::SetOwner(const std::string& identity, const std::string& profile,
                                      StateTx* tx) {
  tx->Put(IdentityKey(identity), profile);
  owners_.insert_or_assign(identity, profile);
}

StatusOr<CustomerViewProjection::CachedStream*> CustomerViewProjection::CachedStreamOf(
    const std::string& stream, StateTx* tx) {
  if (auto it = streams_.find(stream); it != streams_.end()) {
    return &it->second;
  }
  ASSIGN_OR_RETURN(auto raw, tx->Get(StreamStateKey(stream)));
  CachedStream s;
  if (raw.has_value()) {
    ASSIGN_OR_RETURN(s.state, DecodeStream(*raw));
  }
  return &streams_.emplace(stream, std::move(s)).first->second;
}

StatusOr<StreamState*> CustomerViewProjection::Stream(const std::string& stream, StateTx* tx) {
  ASSIGN_OR_RETURN(CachedStream * s, CachedStreamOf(stream, tx));
  return &s->state;
}

void CustomerViewProjection::Touch(ProfileState* p) {
  ++p->modified;
  dirty_profiles_.insert(p->id);
}

bool CustomerViewProjection::LinkIsKnown(const CachedStream& s, const store::Record& rec,
                                         bool stream_only) const {
  return s.linked_profile != nullptr && s.linked_epoch == epoch_ &&
         s.linked_modified == s.linked_profile->modified && s.linked_stream_only == stream_only &&
         (stream_only || s.linked_identities == rec.identities);
}

Status CustomerViewProjection::RememberLink(CachedStream* s, const store::Record& rec,
                                            bool stream_only, StateTx* tx) {
  s->linked_profile = nullptr;
  ASSIGN_OR_RETURN(auto owner, Owner(CustomerIdentity(rec.customer), tx));
  if (!owner.has_value()) {
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(ProfileState * p, Profile(*owner, tx));
  if (!stream_only) {
    for (const auto& id : rec.identities) {
      if (!IsBlockedIdentityValue(id.value) &&
          !std::binary_search(p->identities.begin(), p->identities.end(), IdentityString(id))) {
        return Status::Ok();  // refused, or split off: link it again next time
      }
    }
  }
  s->linked_profile = p;
  s->linked_modified = p->modified;
  s->linked_epoch = epoch_;
  s->linked_stream_only = stream_only;
  s->linked_identities = rec.identities;
  return Status::Ok();
}

void CustomerViewProjection::WriteBack(StateTx* tx) {
  for (const auto& id : dirty_profiles_) {
    tx->Put(ProfileKey(id), EncodeProfile(profiles_.at(id)));
  }
  for (const auto& stream : dirty_streams_) {
    tx->Put(StreamStateKey(stream), EncodeStream(streams_.at(stream).state));
  }
  dirty_profiles_.clear();
  dirty_streams_.clear();
}

Status CustomerViewProjection::Flush(StateTx* tx) {
  WriteBack(tx);
  // The decoded state stays cached for the next batches (hot customers are
  // not decoded again), within a bound.
  if (profiles_.size() + streams_.size() + owners_.size() > max_cached_) {
    Discard();
  }
  return Status::Ok();
}

void CustomerViewProjection::Discard() {
  ++epoch_;
  owners_.clear();
  profiles_.clear();
  streams_.clear();
  dirty_profiles_.clear();
  dirty_streams_.clear();
}

Status CustomerViewProjection::Apply(const store::Record& rec, StateTx* tx) {
  if (rec.customer.starts_with('~')) {
    return Status::Ok();  // touchline's own streams (~reminder-rules) are nobody
  }
  if (rec.type == store::kCustomerErasedType) {
    return Erase(rec, tx);
  }
  ASSIGN_OR_RETURN(EventData d, EventData::Parse(rec));
  const bool graph_event = rec.type.starts_with("profile.");
  ASSIGN_OR_RETURN(CachedStream * stream, CachedStreamOf(rec.customer, tx));
  if (!LinkIsKnown(*stream, rec, graph_event)) {
    RETURN_IF_ERROR(Link(rec, /*stream_only=*/graph_event, tx));
    if (rec.type == "profile.merged" && d.source != kGraphSource) {
      RETURN_IF_ERROR(ManualMerge(rec, d, tx));
    } else if (rec.type == "profile.unmerged") {
      RETURN_IF_ERROR(Unmerge(rec, d, tx));
    }
    // Merges and splits may have moved the stream's entry: look it up again.
    ASSIGN_OR_RETURN(stream, CachedStreamOf(rec.customer, tx));
    if (!graph_event) {
      RETURN_IF_ERROR(RememberLink(stream, rec, graph_event, tx));
    }
  }
  return UpdateStream(rec, d, &stream->state);
}

Status CustomerViewProjection::Erase(const store::Record& rec, StateTx* tx) {
  ++epoch_;  // the profiles it drops may be in memos
  std::vector<std::string> streams{rec.customer};
  ASSIGN_OR_RETURN(auto owner, Owner(CustomerIdentity(rec.customer), tx));
  if (owner.has_value()) {
    ASSIGN_OR_RETURN(ProfileState * p, Profile(*owner, tx));
    // Copies: the cache entries they live in are erased below.
    const std::vector<std::string> identities = p->identities;
    std::vector<std::string> profiles{p->id};
    for (const auto& m : p->merged) {
      profiles.push_back(m.profile);  // stubs that point at p
    }
    for (const auto& s : p->Streams()) {
      streams.push_back(s);
    }
    for (const auto& identity : identities) {
      tx->Delete(IdentityKey(identity));
      owners_.insert_or_assign(identity, std::nullopt);
      const std::string type = TypeOf(identity);
      tx->Delete(SearchKey(Identity{type, identity.substr(type.size() + 1)}));
    }
    for (const auto& id : profiles) {
      tx->Delete(ProfileKey(id));
      profiles_.erase(id);
      dirty_profiles_.erase(id);
    }
  }
  for (const auto& s : streams) {
    tx->Delete(StreamStateKey(s));
    streams_.erase(s);
    dirty_streams_.erase(s);
  }
  return Status::Ok();
}

Status CustomerViewProjection::Link(const store::Record& rec, bool stream_only, StateTx* tx) {
  std::vector<std::string> idents{CustomerIdentity(rec.customer)};
  if (!stream_only) {
    for (const auto& id : rec.identities) {
      if (!IsBlockedIdentityValue(id.value)) {
        idents.push_back(IdentityString(id));
      }
    }
  }
  // The common case: the stream's profile already owns every identity the
  // event names (a customer's events repeat the same ids), and since an
  // identity has one owner, nothing links. Checked in the profile's own
  // sorted list instead of one owner lookup per identity.
  ASSIGN_OR_RETURN(auto stream_owner, Owner(idents[0], tx));
  if (stream_owner.has_value()) {
    ASSIGN_OR_RETURN(ProfileState * p, Profile(*stream_owner, tx));
    bool all_owned = p->merged_into.empty();
    for (std::size_t i = 1; i < idents.size() && all_owned; ++i) {
      all_owned = std::binary_search(p->identities.begin(), p->identities.end(), idents[i]);
    }
    if (all_owned) {
      return Status::Ok();
    }
  }
  std::vector<ProfileState*> owners;
  std::vector<std::string> unowned;
  for (const auto& ident : idents) {
    ASSIGN_OR_RETURN(auto owner, Owner(ident, tx));
    if (!owner.has_value()) {
      unowned.push_back(ident);
      continue;
    }
    ASSIGN_OR_RETURN(ProfileState * p, Profile(*owner, tx));
    if (std::find(owners.begin(), owners.end(), p) == owners.end()) {
      owners.push_back(p);
    }
  }
  if (owners.empty()) {
    ProfileState* p = NewProfile(ProfileIdForSeq(rec.seq), rec.seq);
    for (const auto& ident : unowned) {
      RETURN_IF_ERROR(Attach(p, ident, rec, tx));
    }
    return Status::Ok();
  }
  std::sort(owners.begin(), owners.end(), [](const ProfileState* a, const ProfileState* b) {
    return a->created_seq < b->created_seq;
  });
  for (std::size_t i = 1; i < owners.size(); ++i) {
    RETURN_IF_ERROR(TryMerge(owners[0], owners[i], rec, /*manual=*/false, tx));
  }
  // New identities join the profile that now owns the event's stream (the
  // survivor, unless the stream's profile refused to merge with it).
  ProfileState* target = owners[0];
  if (unowned.empty() || unowned[0] != idents[0]) {
    ASSIGN_OR_RETURN(auto owner, Owner(idents[0], tx));
    if (owner.has_value()) {
      ASSIGN_OR_RETURN(target, Profile(*owner, tx));
    }
  }
  for (const auto& ident : unowned) {
    RETURN_IF_ERROR(Attach(target, ident, rec, tx));
  }
  return Status::Ok();
}

Status CustomerViewProjection::Attach(ProfileState* p, const std::string& identity,
                                      const store::Record& rec, StateTx* tx) {
  const std::string type = TypeOf(identity);
  const std::size_t have = static_cast<std::size_t>(
      std::count_if(p->identities.begin(), p->identities.end(),
                    [&](const std::string& i) { return TypeOf(i) == type; }));
  if (have >= limits_.For(type)) {
    const std::string reason = "profile " + p->id + " already has " + std::to_string(have) + " " +
                               type + " identities, the limit";
    if (type != kCustomerIdentityType) {
      Refuse(p, rec, identity, reason, tx);
      return Status::Ok();
    }
    // A stream must belong to some profile: it starts its own.
    Refuse(p, rec, identity, reason + "; the stream starts a profile of its own", tx);
    p = NewProfile(ProfileIdForSeq(rec.seq), rec.seq);
  }
  InsertSorted(&p->identities, identity);
  Touch(p);
  SetOwner(identity, p->id, tx);
  tx->Put(SearchKey(Identity{type, identity.substr(type.size() + 1)}), identity);
  return Status::Ok();
}

StatusOr<bool> CustomerViewProjection::IsSeparated(const ProfileState& p, const ProfileState& q,
                                                   StateTx* tx) {
  if (p.separated.empty() && q.separated.empty()) {
    return false;
  }
  WriteBack(tx);  // resolution reads profiles through tx
  for (const auto* a : {&p, &q}) {
    const ProfileState& other = a == &p ? q : p;
    for (const auto& s : a->separated) {
      if (s == other.id) {
        return true;
      }
      ASSIGN_OR_RETURN(auto live, ResolveProfileId(*tx, s));
      if (live.has_value() && *live == other.id) {
        return true;
      }
    }
  }
  return false;
}

void CustomerViewProjection::Refuse(ProfileState* p, const store::Record& rec, std::string what,
                                    std::string reason, StateTx* tx) {
  Event e;
  e.id = "touchline.refused." + std::to_string(rec.seq) + "." + what;
  if (e.id.size() > 128) {
    e.id = "touchline.refused." + std::to_string(rec.seq) + "." + p->id + "." +
           std::to_string(p->refused_total);
  }
  e.customer = rec.customer;
  e.type = "profile.merge_refused";
  e.time_us = rec.time_us;
  boost::json::object data{{"source", kGraphSource},
                           {"profile", p->id},
                           {"refused", what},
                           {"reason", reason},
                           {"cause_seq", rec.seq}};
  e.data = boost::json::serialize(data);
  tx->Emit(std::move(e));
  p->refused.push_back(RefusedLink{rec.seq, std::move(what), std::move(reason)});
  if (p->refused.size() > ProfileState::kMaxRefusedKept) {
    p->refused.erase(p->refused.begin());
  }
  ++p->refused_total;
  Touch(p);
}

Status CustomerViewProjection::TryMerge(ProfileState* p, ProfileState* q, const store::Record& rec,
                                        bool manual, StateTx* tx) {
  if (p == q) {
    return Status::Ok();
  }
  if (!manual) {
    ASSIGN_OR_RETURN(bool separated, IsSeparated(*p, *q, tx));
    if (separated) {
      Refuse(p, rec, q->id, "an agent unmerged " + p->id + " and " + q->id, tx);
      return Status::Ok();
    }
  }
  std::map<std::string, std::size_t> counts;
  for (const auto* x : {p, q}) {
    for (const auto& i : x->identities) {
      ++counts[TypeOf(i)];
    }
  }
  for (const auto& [type, n] : counts) {
    if (n > limits_.For(type)) {
      Refuse(p, rec, q->id,
             "merging " + q->id + " would give " + std::to_string(n) + " " + type +
                 " identities; the limit is " + std::to_string(limits_.For(type)),
             tx);
      return Status::Ok();
    }
  }
  for (const auto& i : q->identities) {
    SetOwner(i, p->id, tx);
    InsertSorted(&p->identities, i);
  }
  p->merged.push_back(MergeEntry{q->id, rec.seq, q->identities});
  for (auto& m : q->merged) {
    p->merged.push_back(std::move(m));
  }
  for (const auto& s : q->separated) {
    InsertSorted(&p->separated, s);
  }
  if (!manual) {
    Event e;
    e.id = "touchline.merged." + std::to_string(rec.seq) + "." + q->id;
    e.customer = rec.customer;
    e.type = "profile.merged";
    e.time_us = rec.time_us;
    boost::json::array moved;
    for (const auto& i : q->identities) {
      moved.emplace_back(i);
    }
    boost::json::object data{{"source", kGraphSource},
                             {"profile", p->id},
                             {"merged_profile", q->id},
                             {"cause_seq", rec.seq},
                             {"identities", std::move(moved)}};
    e.data = boost::json::serialize(data);
    tx->Emit(std::move(e));
  }
  ProfileState stub;
  stub.id = q->id;
  stub.created_seq = q->created_seq;
  stub.merged_into = p->id;
  stub.merged_seq = rec.seq;
  *q = std::move(stub);
  Touch(p);
  Touch(q);
  return Status::Ok();
}

Status CustomerViewProjection::ManualMerge(const store::Record& rec, const EventData& d,
                                           StateTx* tx) {
  WriteBack(tx);  // resolution reads the state through tx
  std::vector<ProfileState*> profiles;
  for (const auto& text : d.profiles) {
    auto id = ResolveProfileId(*tx, text);
    if (!id.ok() && !id.status().IsInvalidArgument()) {
      return id.status();  // a storage error: fault, and retry later
    }
    if (!id.ok() || !id->has_value()) {
      continue;  // unknown or malformed: nothing to merge
    }
    ASSIGN_OR_RETURN(ProfileState * p, Profile(**id, tx));
    if (std::find(profiles.begin(), profiles.end(), p) == profiles.end()) {
      profiles.push_back(p);
    }
  }
  std::sort(profiles.begin(), profiles.end(), [](const ProfileState* a, const ProfileState* b) {
    return a->created_seq < b->created_seq;
  });
  for (std::size_t i = 1; i < profiles.size(); ++i) {
    ProfileState* p = profiles[0];
    const std::string merged = profiles[i]->id;
    RETURN_IF_ERROR(TryMerge(p, profiles[i], rec, /*manual=*/true, tx));
    if (profiles[i]->merged_into == p->id) {
      // An agent's merge lifts an earlier separation between the two.
      for (const std::string& id : {merged, p->id}) {
        p->separated.erase(std::remove(p->separated.begin(), p->separated.end(), id),
                           p->separated.end());
      }
    }
  }
  return Status::Ok();
}

Status CustomerViewProjection::Unmerge(const store::Record& rec, const EventData& d, StateTx* tx) {
  WriteBack(tx);
  auto pid = ResolveProfileId(*tx, d.profile);
  if (!pid.ok() && !pid.status().IsInvalidArgument()) {
    return pid.status();  // a storage error: fault, and retry later
  }
  if (d.profile.empty() || !pid.ok() || !pid->has_value()) {
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(ProfileState * p, Profile(**pid, tx));
  std::vector<std::string> move;
  std::string new_id = ProfileIdForSeq(rec.seq);
  Seq created = rec.seq;
  std::vector<MergeEntry> moved_history;
  if (!d.merged_profile.empty()) {
    auto entry = std::find_if(p->merged.begin(), p->merged.end(),
                              [&](const MergeEntry& m) { return m.profile == d.merged_profile; });
    if (entry == p->merged.end()) {
      return Status::Ok();
    }
    move = entry->identities;
    new_id = entry->profile;
    created = SeqOfProfileId(new_id);
  } else {
    for (const auto& text : d.identities) {
      auto id = ParseIdentityString(text, "identity");
      if (id.ok()) {
        move.push_back(IdentityString(*id));
      }
    }
  }
  // Only identities the profile still owns move.
  std::sort(move.begin(), move.end());
  std::vector<std::string> owned;
  std::set_intersection(move.begin(), move.end(), p->identities.begin(), p->identities.end(),
                        std::back_inserter(owned));
  if (owned.empty() || owned.size() == p->identities.size() || p->id == new_id) {
    return Status::Ok();  // nothing to split off, nothing would remain, or no id for it
  }
  if (!d.merged_profile.empty()) {
    p->merged.erase(std::find_if(p->merged.begin(), p->merged.end(), [&](const MergeEntry& m) {
      return m.profile == d.merged_profile;
    }));
  }
  // Merges absorbed entirely within the moved identities go along.
  for (auto it = p->merged.begin(); it != p->merged.end();) {
    if (std::includes(owned.begin(), owned.end(), it->identities.begin(), it->identities.end())) {
      moved_history.push_back(std::move(*it));
      it = p->merged.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::string> remaining;
  std::set_difference(p->identities.begin(), p->identities.end(), owned.begin(), owned.end(),
                      std::back_inserter(remaining));
  p->identities = std::move(remaining);
  InsertSorted(&p->separated, new_id);
  // This event may have started p-<seq> already (for its own new stream):
  // the split-off identities then join that profile.
  auto existing = profiles_.find(new_id);
  ProfileState* n = existing != profiles_.end() && existing->second.merged_into.empty()
                        ? &existing->second
                        : NewProfile(new_id, created);
  for (const auto& i : owned) {
    InsertSorted(&n->identities, i);
  }
  for (auto& m : moved_history) {
    n->merged.push_back(std::move(m));
  }
  InsertSorted(&n->separated, p->id);
  Touch(n);
  for (const auto& i : owned) {
    SetOwner(i, new_id, tx);
  }
  Touch(p);
  return Status::Ok();
}

Status CustomerViewProjection::UpdateStream(const store::Record& rec, const EventData& d,
                                            StreamState* s) {
  dirty_streams_.insert(rec.customer);
  if (s->events == 0 || rec.time_us < s->first_seen_us) {
    s->first_seen_us = rec.time_us;
  }
  if (s->events == 0 || rec.time_us > s->last_seen_us) {
    s->last_seen_us = rec.time_us;
  }
  ++s->events;
  if (!rec.channel.empty()) {
    s->channels[rec.channel].Add(rec.time_us);
  }
  if (!rec.department.empty()) {
    s->departments[rec.department].Add(rec.time_us);
  }
  ++s->types[rec.type];
  for (const auto& [name, value] : d.traits) {
    auto it = s->traits.find(name);
    if (it == s->traits.end() ||
        std::pair(rec.time_us, rec.seq) > std::pair(it->second.time_us, it->second.seq)) {
      s->traits[name] = TraitValue{value, rec.time_us, rec.seq, rec.channel, rec.type};
    }
  }
  if (IsOneOf(rec.type, {"ticket.opened", "ticket.reopened"})) {
    std::string id =
        d.ticket_id.value_or(rec.id.empty() ? "seq-" + std::to_string(rec.seq) : rec.id);
    Ticket& t = s->tickets[id];
    t.seq = rec.seq;
    t.opened_us = rec.time_us;
    t.subject = d.subject;
  } else if (IsOneOf(rec.type, {"ticket.closed", "ticket.resolved"}) && d.ticket_id) {
    // Remembered even if this stream never saw the opening: another of the
    // profile's streams may have.
    s->tickets[*d.ticket_id].closed_seq = rec.seq;
  }
  if (s->tickets.size() > StreamState::kTicketsKept) {
    // Forget the least useful ticket: closed before open, older before newer.
    auto victim =
        std::min_element(s->tickets.begin(), s->tickets.end(), [](const auto& a, const auto& b) {
          const bool a_open = a.second.seq > a.second.closed_seq;
          const bool b_open = b.second.seq > b.second.closed_seq;
          return std::pair(a_open, std::max(a.second.seq, a.second.closed_seq)) <
                 std::pair(b_open, std::max(b.second.seq, b.second.closed_seq));
        });
    s->tickets.erase(victim);
  }
  if (d.amount_micros.has_value()) {
    if (IsOneOf(rec.type, {"purchase.completed", "order.completed"})) {
      s->ltv_micros[d.currency] += *d.amount_micros;
    } else if (IsOneOf(rec.type, {"purchase.refunded", "order.refunded"})) {
      s->ltv_micros[d.currency] -= *d.amount_micros;
    }
  }
  s->recent.push_back(rec.seq);
  if (s->recent.size() > StreamState::kRecentKept) {
    s->recent.erase(s->recent.begin());
  }
  return Status::Ok();
}

}  // namespace touchline::projections
