#include "projections/audit_projection.h"

#include <boost/json.hpp>
#include <cstdio>
#include <limits>

#include "core/time_format.h"
#include "projections/state_tx.h"
#include "store/sealing.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxAccessesPerEvent = 9999;

// "<max - at>.<max - seq>.<max - i>", zero-padded: ascending keys are
// newest first, by when it happened (a read is appended up to 100 ms after
// it was served, so after writes that came later), then by position.
std::string Suffix(std::int64_t at_us, Seq seq, std::size_t i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%020llu.%020llu.%04zu",
                static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max() -
                                                std::max<std::int64_t>(at_us, 0)),
                static_cast<unsigned long long>(std::numeric_limits<Seq>::max() - seq),
                kMaxAccessesPerEvent - i);
  return buf;
}

}  // namespace

std::string AuditCustomerPrefix(std::string_view customer) {
  std::string k = "c/";
  k.append(customer);
  k.push_back('\0');
  return k;
}

std::string AuditActorPrefix(std::string_view actor) {
  std::string k = "a/";
  k.append(actor);
  k.push_back('\0');
  return k;
}

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
      const std::string suffix = Suffix(at_us, rec.seq, i++);
      tx->Put(AuditActorPrefix(actor->as_string()) + suffix, value);
      for (const json::value& c : customers->as_array()) {
        if (c.is_string()) {
          tx->Put(AuditCustomerPrefix(c.as_string()) + suffix, value);
        }
      }
    }
    return Status::Ok();
  }
  json::object entry;
  entry["seq"] = rec.seq;
  entry["at"] = FormatRfc3339(rec.recorded_at_us);
  entry["actor"] = rec.actor;
  entry["action"] = "write";
  entry["route"] = rec.route.empty() ? "POST /v1/events" : rec.route;
  entry["customer"] = rec.customer;
  entry["type"] = rec.type;
  const std::string value = json::serialize(entry);
  const std::string suffix = Suffix(rec.recorded_at_us, rec.seq, 0);
  tx->Put(AuditActorPrefix(rec.actor) + suffix, value);
  if (!store::IsSystemStream(rec.customer)) {
    tx->Put(AuditCustomerPrefix(rec.customer) + suffix, value);
  }
  return Status::Ok();
}

}  // namespace touchline::projections
