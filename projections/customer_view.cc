#include "projections/customer_view.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <map>
#include <set>

#include "core/identity.h"
#include "core/time_format.h"

namespace touchline::projections {
namespace {

std::string Quote(std::string_view s) {
  return boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

std::string Time(std::int64_t us) { return "\"" + FormatRfc3339(us) + "\""; }

// Exact decimal rendering of micro-units: 49900000 -> 49.9.
std::string Money(std::int64_t micros) {
  const bool negative = micros < 0;
  const std::uint64_t m =
      negative ? 0 - static_cast<std::uint64_t>(micros) : static_cast<std::uint64_t>(micros);
  std::string frac = std::to_string(m % 1'000'000);
  frac.insert(0, 6 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') {
    frac.pop_back();
  }
  return (negative ? "-" : "") + std::to_string(m / 1'000'000) + (frac.empty() ? "" : "." + frac);
}

void Merge(ContactStats* into, const ContactStats& c) {
  if (into->count == 0 || c.first_us < into->first_us) {
    into->first_us = c.first_us;
  }
  if (into->count == 0 || c.last_us > into->last_us) {
    into->last_us = c.last_us;
  }
  into->count += c.count;
}

std::string StatsJson(const std::map<std::string, ContactStats>& m) {
  std::string out = "{";
  for (const auto& [k, c] : m) {
    if (out.size() > 1) {
      out += ",";
    }
    out += Quote(k) + ":{\"count\":" + std::to_string(c.count) + ",\"first\":" + Time(c.first_us) +
           ",\"last\":" + Time(c.last_us) + "}";
  }
  return out + "}";
}

std::string StringsJson(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) {
    out += (out.size() > 1 ? "," : "") + Quote(s);
  }
  return out + "]";
}

}  // namespace

StatusOr<std::string> RenderCustomerView(const store::StateReader& state,
                                         const ProfileState& profile, const store::EventLog& log,
                                         std::string_view extra) {
  // Combine the aggregates of every stream of the profile.
  StreamState all;
  std::vector<Seq> recent;
  const std::vector<std::string> streams = profile.Streams();
  for (const auto& stream : streams) {
    ASSIGN_OR_RETURN(auto raw, state.Get(StreamStateKey(stream)));
    if (!raw.has_value()) {
      continue;
    }
    ASSIGN_OR_RETURN(StreamState s, DecodeStream(*raw));
    if (s.events == 0) {
      continue;
    }
    if (all.events == 0 || s.first_seen_us < all.first_seen_us) {
      all.first_seen_us = s.first_seen_us;
    }
    if (all.events == 0 || s.last_seen_us > all.last_seen_us) {
      all.last_seen_us = s.last_seen_us;
    }
    all.events += s.events;
    for (const auto& [k, c] : s.channels) {
      Merge(&all.channels[k], c);
    }
    for (const auto& [k, c] : s.departments) {
      Merge(&all.departments[k], c);
    }
    for (const auto& [k, n] : s.types) {
      all.types[k] += n;
    }
    for (auto& [k, t] : s.traits) {
      auto it = all.traits.find(k);
      if (it == all.traits.end() ||
          std::pair(t.time_us, t.seq) > std::pair(it->second.time_us, it->second.seq)) {
        all.traits[k] = std::move(t);
      }
    }
    for (auto& [k, t] : s.tickets) {
      Ticket& into = all.tickets[k];
      into.closed_seq = std::max(into.closed_seq, t.closed_seq);
      if (t.seq > into.seq) {
        into.seq = t.seq;
        into.opened_us = t.opened_us;
        into.subject = std::move(t.subject);
      }
    }
    for (const auto& [k, v] : s.ltv_micros) {
      all.ltv_micros[k] += v;
    }
    recent.insert(recent.end(), s.recent.begin(), s.recent.end());
  }
  std::sort(recent.rbegin(), recent.rend());
  recent.resize(std::min(recent.size(), StreamState::kRecentKept));

  std::map<std::string, std::vector<std::string>> by_type;
  for (const auto& identity : profile.identities) {
    const auto colon = identity.find(':');
    by_type[identity.substr(0, colon)].push_back(identity.substr(colon + 1));
  }
  std::string out = "{";
  out += extra;
  out += "\"profile\":" + Quote(profile.id);
  out += ",\"created_seq\":" + std::to_string(profile.created_seq);
  out += ",\"customers\":" + StringsJson(streams);
  out += ",\"identities\":{";
  bool first = true;
  for (const auto& [type, values] : by_type) {
    if (type == kCustomerIdentityType) {
      continue;
    }
    out += (first ? "" : ",") + Quote(type) + ":" + StringsJson(values);
    first = false;
  }
  out += "},\"merged_profiles\":[";
  for (std::size_t i = 0; i < profile.merged.size(); ++i) {
    const auto& m = profile.merged[i];
    out += (i ? "," : "") + std::string("{\"profile\":") + Quote(m.profile) +
           ",\"seq\":" + std::to_string(m.seq) + ",\"identities\":" + StringsJson(m.identities) +
           "}";
  }
  out += "],\"separated_from\":" + StringsJson(profile.separated);
  out += ",\"events\":" + std::to_string(all.events);
  out += ",\"first_seen\":" + (all.events ? Time(all.first_seen_us) : "null");
  out += ",\"last_seen\":" + (all.events ? Time(all.last_seen_us) : "null");
  std::optional<std::int64_t> last_contact;
  for (const auto& [k, c] : all.channels) {
    last_contact = std::max(last_contact.value_or(c.last_us), c.last_us);
  }
  out += ",\"last_contact\":" + (last_contact ? Time(*last_contact) : "null");
  out += ",\"channels\":" + StatsJson(all.channels);
  out += ",\"departments\":" + StatsJson(all.departments);
  out += ",\"types\":{";
  first = true;
  for (const auto& [k, n] : all.types) {
    out += (first ? "" : ",") + Quote(k) + ":" + std::to_string(n);
    first = false;
  }
  out += "},\"traits\":{";
  first = true;
  for (const auto& [k, t] : all.traits) {
    out += (first ? "" : ",") + Quote(k) + ":{\"value\":" + t.json +
           ",\"time\":" + Time(t.time_us) + ",\"seq\":" + std::to_string(t.seq) +
           ",\"channel\":" + Quote(t.channel) + ",\"event_type\":" + Quote(t.event_type) + "}";
    first = false;
  }
  std::vector<std::pair<std::string, Ticket>> tickets;
  for (auto& [k, t] : all.tickets) {
    if (t.seq > t.closed_seq) {  // opened after its last closing
      tickets.emplace_back(k, std::move(t));
    }
  }
  std::sort(tickets.begin(), tickets.end(),
            [](const auto& a, const auto& b) { return a.second.seq > b.second.seq; });
  out += "},\"open_tickets\":[";
  for (std::size_t i = 0; i < tickets.size(); ++i) {
    const auto& [id, t] = tickets[i];
    out += (i ? "," : "") + std::string("{\"ticket_id\":") + Quote(id) +
           ",\"opened\":" + Time(t.opened_us) + ",\"seq\":" + std::to_string(t.seq) +
           ",\"subject\":" + Quote(t.subject) + "}";
  }
  out += "],\"lifetime_value\":{";
  first = true;
  for (const auto& [currency, micros] : all.ltv_micros) {
    out += (first ? "" : ",") + Quote(currency) + ":" + Money(micros);
    first = false;
  }
  out += "},\"refused_links\":[";
  for (std::size_t i = 0; i < profile.refused.size(); ++i) {
    const auto& r = profile.refused[i];
    out += (i ? "," : "") + std::string("{\"seq\":") + std::to_string(r.seq) +
           ",\"refused\":" + Quote(r.what) + ",\"reason\":" + Quote(r.reason) + "}";
  }
  out += "],\"refused_total\":" + std::to_string(profile.refused_total);
  out += ",\"recent_events\":[";
  ASSIGN_OR_RETURN(auto records, log.ReadSeqs(recent));
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out += records[i]->json;
  }
  out += "]}";
  return out;
}

StatusOr<std::string> RenderCustomerViewAsOf(const store::EventLog& log,
                                             const store::StateReader& live, std::string_view id,
                                             const AsOf& as_of, const IdentityLimits& limits,
                                             std::size_t max_events) {
  ASSIGN_OR_RETURN(auto pid, ResolveProfileId(live, id));
  if (!pid.has_value()) {
    return Status::NotFound("no customer known as '" + std::string(id) + "'");
  }
  ASSIGN_OR_RETURN(ProfileState now, LoadLiveProfile(live, *pid));
  // Every stream that is, or was merged into, the profile.
  std::set<std::string> streams;
  for (const auto& s : now.Streams()) {
    streams.insert(s);
  }
  const std::string customer_prefix = std::string(kCustomerIdentityType) + ":";
  for (const auto& m : now.merged) {
    for (const auto& i : m.identities) {
      if (i.starts_with(customer_prefix)) {
        streams.insert(i.substr(customer_prefix.size()));
      }
    }
  }
  std::vector<store::RecordPtr> records;
  std::size_t scanned = 0;
  for (const auto& stream : streams) {
    store::StreamQuery q;
    q.customer = stream;
    q.limit = 1000;
    q.before_seq = as_of.seq.has_value() ? std::optional<Seq>(*as_of.seq + 1) : std::nullopt;
    for (;;) {
      ASSIGN_OR_RETURN(store::StreamPage page, log.ReadStream(q));
      scanned += page.records.size();
      for (auto& r : page.records) {
        if (!as_of.time_us.has_value() || r->recorded_at_us <= *as_of.time_us) {
          records.push_back(std::move(r));
        }
      }
      if (scanned > max_events) {
        return Status::InvalidArgument("as_of folds at most " + std::to_string(max_events) +
                                       " events and this customer has more; ask for a seq or a "
                                       "time further back, or use tlctl replay");
      }
      if (!page.next_before.has_value()) {
        break;
      }
      q.before = page.next_before;
    }
  }
  std::sort(records.begin(), records.end(),
            [](const store::RecordPtr& a, const store::RecordPtr& b) { return a->seq < b->seq; });
  StateTx memory;
  CustomerViewProjection fold(limits);
  for (const auto& r : records) {
    RETURN_IF_ERROR(fold.Apply(*r, &memory));
  }
  RETURN_IF_ERROR(fold.Flush(&memory));
  ASSIGN_OR_RETURN(auto then_id, ResolveProfileId(memory, id));
  if (!then_id.has_value()) {
    return Status::NotFound("no customer was known as '" + std::string(id) + "' at that point");
  }
  ASSIGN_OR_RETURN(ProfileState then, LoadLiveProfile(memory, *then_id));
  std::string extra = "\"as_of\":{";
  if (as_of.seq.has_value()) {
    extra += "\"seq\":" + std::to_string(*as_of.seq);
  } else {
    extra += "\"time\":" + Time(*as_of.time_us);
  }
  extra += ",\"events_folded\":" + std::to_string(records.size()) +
           ",\"current_profile\":" + Quote(now.id) + "},";
  return RenderCustomerView(memory, then, log, extra);
}

StatusOr<TimelinePage> ReadTimeline(const store::EventLog& log, const TimelineQuery& q) {
  TimelinePage page;
  // Several streams: merge their seqs first, then read only the records
  // that make the page.
  const bool merge = q.streams.size() > 1;
  std::vector<Seq> all;
  Seq cutoff = 0;  // seqs below this may be missing from some stream's page
  for (const auto& stream : q.streams) {
    store::StreamQuery sq;
    sq.customer = stream;
    sq.before_seq = q.before_seq;
    sq.limit = q.limit;
    sq.types = q.types;
    sq.channels = q.channels;
    sq.max_scan = q.max_scan;
    sq.seqs_only = merge;
    ASSIGN_OR_RETURN(store::StreamPage sp, log.ReadStream(sq));
    if (sp.next_before.has_value()) {
      cutoff = std::max(cutoff, sp.next_before_seq);
    }
    all.insert(all.end(), sp.seqs.begin(), sp.seqs.end());
    if (!merge) {
      page.records = std::move(sp.records);
    }
  }
  std::sort(all.rbegin(), all.rend());
  std::size_t n = 0;
  while (n < all.size() && n < q.limit && all[n] >= cutoff) {
    ++n;
  }
  const bool more = n < all.size();
  all.resize(n);
  if (merge) {
    ASSIGN_OR_RETURN(page.records, log.ReadSeqs(all));
  } else {
    page.records.resize(n);
  }
  if (n == q.limit && (more || cutoff > 0)) {
    page.next_before_seq = all.back();
  } else if (cutoff > 0) {
    page.next_before_seq = cutoff;
  }
  if (page.next_before_seq.has_value() && *page.next_before_seq <= 1) {
    page.next_before_seq.reset();
  }
  return page;
}

StatusOr<SearchPage> SearchIdentities(const store::StateReader& state, std::string_view prefix,
                                      std::string_view after, std::size_t limit) {
  SearchPage page;
  std::string start;
  if (!after.empty()) {
    const auto colon = after.find(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument("'after' must be an identity type:value from a previous page");
    }
    start = SearchKey(
        Identity{std::string(after.substr(0, colon)), std::string(after.substr(colon + 1))});
  }
  const std::string key_prefix =
      SearchKey(Identity{"", std::string(prefix)})
          .substr(0, 2 + prefix.size());  // "s/" + lower-cased prefix, without the '\0'
  ASSIGN_OR_RETURN(auto rows, state.Scan(key_prefix, start, limit + 1));
  for (auto& [key, identity] : rows) {
    if (page.hits.size() == limit) {
      page.next_after = page.hits.back().identity;
      break;
    }
    ASSIGN_OR_RETURN(auto owner, state.Get(IdentityKey(identity)));
    page.hits.push_back(SearchHit{identity, owner.value_or("")});
  }
  return page;
}

}  // namespace touchline::projections
