#include "sinks/sink_registry.h"

#include <boost/json.hpp>

namespace touchline::sinks {
namespace {

namespace json = boost::json;

Status Malformed(const SinkEvent& e, std::string_view what) {
  return Status::DataLoss("sink event at seq " + std::to_string(e.seq) + " (" +
                          std::string(e.type) + "): " + std::string(what));
}

const json::string* StringField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_string() : nullptr;
}

std::optional<std::uint64_t> UintField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64() || v->get_int64() < 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(v->get_int64());
}

Event SystemEvent(std::string_view type, json::object data) {
  Event e;
  e.customer = std::string(kSinkStream);
  e.type = std::string(type);
  e.data = json::serialize(data);
  return e;
}

}  // namespace

std::string_view SinkStatusName(SinkStatus status) {
  switch (status) {
    case SinkStatus::kActive:
      return "active";
    case SinkStatus::kPaused:
      return "paused";
    case SinkStatus::kDisabled:
      return "disabled";
  }
  return "active";
}

const SinkState* SinkRegistry::Find(std::string_view id) const {
  auto it = sinks_.find(id);
  return it == sinks_.end() ? nullptr : &it->second;
}

SinkEvent SinkEventOf(const store::Record& r) {
  return SinkEvent{r.seq, r.version, r.type, r.actor, r.recorded_at_us, r.Data()};
}

Status SinkRegistry::Apply(const SinkEvent& r) {
  version_ = r.version;
  boost::system::error_code ec;
  json::value v = json::parse(r.data, ec);
  if (ec || !v.is_object()) {
    return Malformed(r, "data is not a JSON object");
  }
  const json::object& o = v.as_object();
  if (r.type == "sink.created") {
    const json::value* def = o.if_contains("sink");
    const json::string* ref = StringField(o, "secret_ref");
    const auto start = UintField(o, "start_seq");
    if (def == nullptr || ref == nullptr || !start.has_value()) {
      return Malformed(r, "needs sink, start_seq and secret_ref");
    }
    auto d = DecodeSinkDefinition(json::serialize(*def));
    if (!d.ok()) {
      return Malformed(r, d.status().message());
    }
    SinkState s;
    s.definition = std::move(d).value();
    s.created_seq = r.seq;
    s.created_at_us = r.recorded_at_us;
    s.created_by = std::string(r.actor);
    s.start_seq = std::max<Seq>(*start, 1);
    s.secret_ref = std::string(*ref);
    std::string id = s.definition.id;
    sinks_.insert_or_assign(std::move(id), std::move(s));
    return Status::Ok();
  }
  if (r.type != "sink.paused" && r.type != "sink.resumed" && r.type != "sink.disabled" &&
      r.type != "sink.replayed" && r.type != "sink.deleted") {
    return Malformed(r, "unknown type");
  }
  const json::string* id = StringField(o, "id");
  if (id == nullptr) {
    return Malformed(r, "needs an id");
  }
  auto it = sinks_.find(std::string_view(*id));
  if (it == sinks_.end()) {
    return Status::Ok();  // about a sink deleted since: nothing to do
  }
  SinkState& s = it->second;
  if (r.type == "sink.paused") {
    s.status = SinkStatus::kPaused;
  } else if (r.type == "sink.resumed") {
    s.status = SinkStatus::kActive;
    s.disabled_reason.clear();
  } else if (r.type == "sink.disabled") {
    if (const auto incarnation = UintField(o, "created_seq");
        incarnation.has_value() && *incarnation != s.created_seq) {
      return Status::Ok();  // about a sink deleted since
    }
    s.status = SinkStatus::kDisabled;
    const json::string* reason = StringField(o, "reason");
    s.disabled_reason = reason != nullptr ? std::string(*reason) : "disabled";
  } else if (r.type == "sink.replayed") {
    const auto from = UintField(o, "from_seq");
    if (!from.has_value()) {
      return Malformed(r, "needs from_seq");
    }
    ++s.generation;
    s.replay_from = std::max<Seq>(*from, 1);
  } else {  // sink.deleted
    sinks_.erase(it);
  }
  return Status::Ok();
}

Event SinkCreatedEvent(const SinkDefinition& definition, Seq start_seq, std::string_view ref) {
  json::object o;
  o["sink"] = json::parse(EncodeSinkDefinition(definition));
  o["start_seq"] = start_seq;
  o["secret_ref"] = ref;
  return SystemEvent("sink.created", std::move(o));
}

Event SinkChangeEvent(std::string_view type, std::string_view id) {
  json::object o;
  o["id"] = id;
  return SystemEvent(type, std::move(o));
}

Event SinkReplayedEvent(std::string_view id, Seq from_seq) {
  json::object o;
  o["id"] = id;
  o["from_seq"] = from_seq;
  return SystemEvent("sink.replayed", std::move(o));
}

Event SinkDisabledEvent(std::string_view id, Seq created_seq, int status, std::string_view reason) {
  json::object o;
  o["id"] = id;
  o["created_seq"] = created_seq;
  o["status"] = status;
  o["reason"] = reason;
  return SystemEvent("sink.disabled", std::move(o));
}

}  // namespace touchline::sinks
