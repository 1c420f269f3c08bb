#include "tools/bench/workload.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <random>

#include "core/identity.h"

namespace touchline::bench {
namespace {

namespace json = boost::json;

struct Kind {
  const char* type;
  const char* channel;
  const char* department;
  int weight;
};

constexpr Kind kKinds[] = {
    {"email.sent", "email", "marketing", 20},
    {"email.opened", "email", "marketing", 12},
    {"web.page_viewed", "web", "", 15},
    {"ticket.opened", "email", "support", 6},
    {"ticket.replied", "email", "support", 6},
    {"ticket.closed", "email", "support", 4},
    {"chat.message", "chat", "support", 10},
    {"call.logged", "phone", "sales", 5},
    {"cart.abandoned", "web", "", 4},
    {"purchase.completed", "web", "sales", 5},
    {"social.twitter.like", "social.twitter", "marketing", 5},
    {"social.facebook.comment", "social.facebook", "marketing", 4},
    {"note.added", "", "support", 4},
};

constexpr const char* kWords[] = {"order",    "delivery", "refund", "invoice",  "upgrade",
                                  "plan",     "thanks",   "broken", "question", "renewal",
                                  "discount", "love",     "slow",   "account",  "password",
                                  "shipping", "gift",     "premium"};

std::string Text(std::mt19937_64& rng, std::size_t bytes) {
  std::string s;
  while (s.size() < bytes) {
    if (!s.empty()) {
      s.push_back(' ');
    }
    s += kWords[rng() % std::size(kWords)];
  }
  s.resize(bytes);
  return s;
}

std::string MakeEvent(std::mt19937_64& rng, const std::string& id, const std::string& customer,
                      std::uint64_t customer_index) {
  int total = 0;
  for (const auto& k : kKinds) {
    total += k.weight;
  }
  int pick = static_cast<int>(rng() % static_cast<std::uint64_t>(total));
  const Kind* kind = &kKinds[0];
  for (const auto& k : kKinds) {
    if (pick < k.weight) {
      kind = &k;
      break;
    }
    pick -= k.weight;
  }
  const std::string cid = std::to_string(customer_index);
  const std::string_view channel = kind->channel;
  std::string e = R"({"id":")" + id + "\"";
  if (channel.starts_with("social.")) {
    // Social listening knows only the handle: no customer id, and the
    // stream is named after the handle. One in ten comes with the email the
    // network shared, which links the handle to the customer.
    e += R"(,"identities":{")" + std::string(channel) + R"(":"@fan)" + cid + "\"";
    if (rng() % 10 == 0) {
      e += R"(,"email":"customer)" + cid + R"(@example.com")";
    }
    e += "}";
  } else {
    e += R"(,"customer":")" + customer + R"(","identities":{"email":"customer)" + cid +
         R"(@example.com","phone":"+6281)" + std::to_string(1000000 + customer_index) + "\"}";
  }
  e += R"(,"type":")" + std::string(kind->type) + "\"";
  if (*kind->channel != 0) {
    e += std::string(R"(,"channel":")") + kind->channel + "\"";
  }
  if (*kind->department != 0) {
    e += std::string(R"(,"department":")") + kind->department + "\"";
  }
  e += R"(,"data":{"user_id":"u-)" + cid + "\"";
  if (std::string_view(kind->type).starts_with("ticket.")) {
    // A customer has a few tickets, opened, answered and closed over time.
    e += R"(,"ticket_id":"T-)" + cid + "-" + std::to_string(rng() % 3) + "\"";
  }
  if (std::string_view(kind->type) == "purchase.completed") {
    e += R"(,"amount":)" + std::to_string(5 + rng() % 500) + "." + std::to_string(rng() % 100) +
         R"(,"currency":"EUR")";
  }
  // Pad with text so the whole event is 300-1000 bytes.
  const std::size_t target = 300 + rng() % 701;
  const std::size_t overhead = e.size() + 14;  // ,"text":""}}
  e += R"(,"text":")" + Text(rng, target > overhead ? target - overhead : 8) + "\"}}";
  return e;
}

}  // namespace

Workload Workload::Generate(std::size_t count, const WorkloadOptions& options,
                            const std::string& id_prefix) {
  std::mt19937_64 rng(options.seed);
  // Zipf CDF over customers.
  std::vector<double> cdf(options.customers);
  double sum = 0;
  for (std::size_t i = 0; i < options.customers; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), options.zipf_s);
    cdf[i] = sum;
  }
  std::uniform_real_distribution<double> uniform(0, sum);
  Workload w;
  w.events_.reserve(count);
  for (std::size_t n = 0; n < count; ++n) {
    const auto c = static_cast<std::uint64_t>(
        std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin());
    w.events_.push_back(
        MakeEvent(rng, id_prefix + "-" + std::to_string(n), "cust-" + std::to_string(c), c));
  }
  return w;
}

Workload Workload::ForCustomer(std::size_t count, const std::string& customer, std::uint64_t seed,
                               const std::string& id_prefix) {
  std::mt19937_64 rng(seed);
  Workload w;
  for (std::size_t n = 0; n < count; ++n) {
    w.events_.push_back(MakeEvent(rng, id_prefix + "-" + std::to_string(n), customer, seed));
  }
  return w;
}

std::size_t Workload::total_bytes() const {
  std::size_t n = 0;
  for (const auto& e : events_) {
    n += e.size();
  }
  return n;
}

std::string Workload::Batch(std::size_t first, std::size_t n) const {
  std::string out = "[";
  for (std::size_t i = first; i < first + n && i < events_.size(); ++i) {
    if (i > first) {
      out.push_back(',');
    }
    out += events_[i];
  }
  out.push_back(']');
  return out;
}

std::string Workload::SegmentBatch(std::size_t first, std::size_t n) const {
  json::array batch;
  for (std::size_t i = first; i < first + n && i < events_.size(); ++i) {
    const json::object e = json::parse(events_[i]).as_object();
    json::object m;
    m["type"] = "track";
    m["userId"] = StreamOf(events_[i]);
    m["event"] = e.at("type");
    if (const auto* id = e.if_contains("id")) {
      m["messageId"] = *id;
    }
    if (const auto* data = e.if_contains("data")) {
      m["properties"] = *data;
    }
    if (const auto* time = e.if_contains("time")) {
      m["timestamp"] = *time;
    }
    json::object traits;
    if (const auto* ids = e.if_contains("identities"); ids != nullptr && ids->is_object()) {
      for (const char* key : {"email", "phone"}) {
        if (const auto* v = ids->as_object().if_contains(key); v != nullptr && v->is_string()) {
          traits[key] = *v;
        }
      }
    }
    m["context"] = json::object{{"library", json::object{{"name", "touchline_bench"}}},
                                {"traits", std::move(traits)}};
    batch.push_back(std::move(m));
  }
  return json::serialize(json::object{{"batch", std::move(batch)}});
}

std::string StreamOf(const std::string& event) {
  boost::system::error_code ec;
  const json::value v = json::parse(event, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) {
    return "unknown";
  }
  if (const auto* c = o->if_contains("customer"); c != nullptr && c->is_string()) {
    return std::string(c->as_string());
  }
  std::vector<Identity> ids;
  if (const auto* i = o->if_contains("identities"); i != nullptr && i->is_object()) {
    for (const auto& [type, value] : i->as_object()) {
      if (value.is_string()) {
        auto n = NormalizeIdentity(type, value.as_string(), "identities");
        if (n.ok()) {
          ids.push_back(Identity{std::string(type), *n});
        }
      }
    }
  }
  CanonicalizeIdentities(&ids);
  auto key = DeriveCustomerKey(ids, "identities");
  return key.ok() ? *key : "unknown";
}

}  // namespace touchline::bench
