#include "api/ws_protocol.h"

#include <simdjson.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>

#include "core/time_format.h"
#include "core/validation.h"

namespace touchline::api {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxCommandDepth = 16;

Status Bad(std::string message) { return Status::InvalidArgument(std::move(message)); }

StatusOr<std::vector<std::string>> StringList(const json::value& v, std::string_view field,
                                              std::size_t max) {
  if (!v.is_array()) {
    return Bad(std::string(field) + ": must be an array of strings");
  }
  const auto& a = v.as_array();
  if (a.size() > max) {
    return Bad(std::string(field) + ": at most " + std::to_string(max) + " entries");
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) {
      return Bad(std::string(field) + "[" + std::to_string(i) + "]: must be a string");
    }
    out.emplace_back(a[i].as_string());
  }
  return out;
}

StatusOr<WsCommand> ParseSubscribe(const json::object& o, WsCommand cmd, const WsLimits& limits) {
  bool all = false;
  bool has_customers = false;
  for (const auto& [key, v] : o) {
    if (key == "op" || key == "id") {
      continue;
    }
    if (key == "customers") {
      ASSIGN_OR_RETURN(cmd.filter.customers, StringList(v, "customers", limits.max_customers));
      has_customers = true;
      for (std::size_t i = 0; i < cmd.filter.customers.size(); ++i) {
        if (cmd.filter.customers[i].empty() || cmd.filter.customers[i].size() > 256) {
          return Bad("customers[" + std::to_string(i) + "]: must be 1-256 bytes");
        }
      }
    } else if (key == "all") {
      if (!v.is_bool()) {
        return Bad("all: must be true or false");
      }
      all = v.as_bool();
    } else if (key == "types") {
      ASSIGN_OR_RETURN(cmd.filter.types, StringList(v, "types", limits.max_filters));
      for (std::size_t i = 0; i < cmd.filter.types.size(); ++i) {
        RETURN_IF_ERROR(ValidateEventType(cmd.filter.types[i], "types[" + std::to_string(i) + "]"));
      }
    } else if (key == "channels") {
      ASSIGN_OR_RETURN(cmd.filter.channels, StringList(v, "channels", limits.max_filters));
      for (std::size_t i = 0; i < cmd.filter.channels.size(); ++i) {
        const std::string path = "channels[" + std::to_string(i) + "]";
        if (cmd.filter.channels[i].empty()) {
          return Bad(path + ": must not be empty");
        }
        RETURN_IF_ERROR(ValidateChannel(cmd.filter.channels[i], path));
      }
    } else if (key == "from") {
      if (v.is_string() && v.as_string() == "now") {
        cmd.from.reset();
      } else if (v.is_uint64() || (v.is_int64() && v.as_int64() >= 0)) {
        cmd.from = v.is_uint64() ? v.as_uint64() : static_cast<Seq>(v.as_int64());
      } else {
        return Bad(
            "from: must be a seq (a non-negative integer; events after it are sent) "
            "or \"now\"");
      }
    } else {
      return Bad("subscribe: unknown field '" + std::string(key).substr(0, 64) +
                 "' (allowed: id, customers, all, types, channels, from)");
    }
  }
  if (has_customers && all) {
    return Bad("subscribe: give either customers or \"all\":true, not both");
  }
  if (!all && (!has_customers || cmd.filter.customers.empty())) {
    return Bad(
        "subscribe: give \"customers\" (ids, profile ids or identities such as "
        "email:a@example.com) or \"all\":true for the whole log");
  }
  return cmd;
}

// The stored record's `data` text, verbatim, and its actor.
struct DataAndActor {
  std::string data = "{}";
  std::string actor;
};

DataAndActor SplitRecord(const store::Record& r) {
  DataAndActor out;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(r.json).get_object().get(obj)) {
    return out;
  }
  std::string_view actor;
  if (!obj["actor"].get_string().get(actor)) {
    out.actor = actor;
  }
  simdjson::dom::element data;
  if (!obj["data"].get(data)) {
    // The stored data was minified by simdjson already, so this is the
    // same text (json_codec.h).
    out.data = simdjson::minify(data);
  }
  return out;
}

std::string PaddedSeq(Seq seq) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(seq));
  return buf;
}

std::string Control(WsFormat format, std::string_view type, json::object msg) {
  msg.emplace("type", type);
  if (format == WsFormat::kNative) {
    // "type" first reads better; Boost.JSON keeps insertion order.
    json::object ordered;
    ordered.emplace("type", type);
    for (auto& [k, v] : msg) {
      if (k != "type") {
        ordered.emplace(k, std::move(v));
      }
    }
    return json::serialize(ordered);
  }
  static std::atomic<std::uint64_t> counter{0};
  json::object ce;
  ce.emplace("specversion", "1.0");
  ce.emplace("id", "touchline-control-" + std::to_string(++counter));
  ce.emplace("source", "/touchline/stream");
  ce.emplace("type", "touchline.stream." + std::string(type));
  ce.emplace("datacontenttype", "application/json");
  ce.emplace("data", std::move(msg));
  return json::serialize(ce);
}

}  // namespace

StatusOr<WsCommand> ParseWsCommand(std::string_view text, const WsLimits& limits) {
  json::parse_options opt;
  opt.max_depth = kMaxCommandDepth;
  json::error_code ec;
  json::value v = json::parse(text, ec, {}, opt);
  if (ec) {
    return Bad("the message is not valid JSON (" + ec.message() +
               "); send an object such as {\"op\":\"ping\"}");
  }
  if (!v.is_object()) {
    return Bad("the message must be a JSON object with an \"op\"");
  }
  const auto& o = v.as_object();
  WsCommand cmd;
  const auto* op = o.if_contains("op");
  if (op == nullptr || !op->is_string()) {
    return Bad("op: required, one of \"subscribe\", \"unsubscribe\", \"ping\"");
  }
  if (const auto* id = o.if_contains("id")) {
    if (!id->is_string() || id->as_string().empty() || id->as_string().size() > kMaxIdBytes ||
        !IsPrintableUtf8(id->as_string())) {
      return Bad("id: must be a string of 1-64 printable characters");
    }
    cmd.id = std::string(id->as_string());
  }
  const std::string_view name = op->as_string();
  if (name == "subscribe") {
    cmd.op = WsCommand::Op::kSubscribe;
    return ParseSubscribe(o, std::move(cmd), limits);
  }
  if (name == "unsubscribe") {
    cmd.op = WsCommand::Op::kUnsubscribe;
    if (cmd.id.empty()) {
      return Bad("unsubscribe: \"id\" (the subscription's id) is required");
    }
    for (const auto& [key, unused] : o) {
      if (key != "op" && key != "id") {
        return Bad("unsubscribe: unknown field '" + std::string(key).substr(0, 64) + "'");
      }
    }
    return cmd;
  }
  if (name == "ping") {
    cmd.op = WsCommand::Op::kPing;
    cmd.ping_data = "null";
    for (const auto& [key, val] : o) {
      if (key == "data") {
        cmd.ping_data = json::serialize(val);
      } else if (key != "op" && key != "id") {
        return Bad("ping: unknown field '" + std::string(key).substr(0, 64) + "'");
      }
    }
    return cmd;
  }
  return Bad("op: unknown operation '" + std::string(name).substr(0, 64) +
             "'; use \"subscribe\", \"unsubscribe\" or \"ping\"");
}

std::string_view ChooseSubprotocol(std::string_view requested) {
  while (!requested.empty()) {
    const auto comma = requested.find(',');
    std::string_view token = requested.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
      token.remove_suffix(1);
    }
    if (token == kCloudEventsSubprotocol) {
      return kCloudEventsSubprotocol;
    }
    if (token == kNativeSubprotocol) {
      return kNativeSubprotocol;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    requested.remove_prefix(comma + 1);
  }
  return {};
}

std::string RenderSubscribed(WsFormat format, std::string_view id, Seq from, Seq head,
                             const std::vector<ResolvedCustomer>& customers) {
  json::object m;
  m.emplace("id", id);
  m.emplace("from", from);
  m.emplace("head", head);
  if (!customers.empty()) {
    json::array a;
    for (const auto& c : customers) {
      json::object o;
      o.emplace("id", c.id);
      o.emplace("profile", c.profile.empty() ? json::value(nullptr) : json::value(c.profile));
      json::array streams;
      for (const auto& s : c.streams) {
        streams.emplace_back(s);
      }
      o.emplace("streams", std::move(streams));
      a.emplace_back(std::move(o));
    }
    m.emplace("customers", std::move(a));
  }
  return Control(format, "subscribed", std::move(m));
}

std::string RenderUnsubscribed(WsFormat format, std::string_view id, Seq position) {
  json::object m;
  m.emplace("id", id);
  m.emplace("position", position);
  return Control(format, "unsubscribed", std::move(m));
}

std::string RenderPong(WsFormat format, std::string_view data) {
  json::object m;
  json::error_code ec;
  m.emplace("data", json::parse(data, ec));
  return Control(format, "pong", std::move(m));
}

std::string RenderWsError(WsFormat format, std::string_view code, std::string_view message,
                          std::string_view id) {
  json::object m;
  if (!id.empty()) {
    m.emplace("id", id);
  }
  m.emplace("code", code);
  m.emplace("message", message);
  return Control(format, "error", std::move(m));
}

std::vector<std::string> RenderEvents(WsFormat format, std::string_view id,
                                      const std::vector<store::RecordPtr>& records) {
  std::vector<std::string> out;
  if (records.empty()) {
    return out;
  }
  if (format == WsFormat::kNative) {
    std::size_t size = 64 + id.size();
    for (const auto& r : records) {
      size += r->json.size() + 1;
    }
    std::string m;
    m.reserve(size);
    m += "{\"type\":\"events\",\"id\":";
    m += json::serialize(json::string_view(id.data(), id.size()));
    m += ",\"events\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i > 0) {
        m.push_back(',');
      }
      m += records[i]->json;
    }
    m += "]}";
    out.push_back(std::move(m));
    return out;
  }
  for (const auto& r : records) {
    const DataAndActor parts = SplitRecord(*r);
    json::object ce;
    ce.emplace("specversion", "1.0");
    ce.emplace("id", std::to_string(r->seq));
    ce.emplace("source", "/touchline/log");
    ce.emplace("type", r->type);
    ce.emplace("subject", r->customer);
    ce.emplace("time", FormatRfc3339(r->time_us));
    ce.emplace("datacontenttype", "application/json");
    ce.emplace("sequence", PaddedSeq(r->seq));
    ce.emplace("subscription", id);
    if (!r->id.empty()) {
      ce.emplace("eventid", r->id);
    }
    if (!r->channel.empty()) {
      ce.emplace("channel", r->channel);
    }
    if (!r->department.empty()) {
      ce.emplace("department", r->department);
    }
    // Extension values must be strings, numbers or booleans: the rest of
    // the stored record goes along as strings (identities do not).
    if (!parts.actor.empty()) {
      ce.emplace("actor", parts.actor);
    }
    ce.emplace("recordedat", FormatRfc3339(r->recorded_at_us));
    ce.emplace("streamversion", std::to_string(r->version));
    // `data` is spliced verbatim, so numbers keep the form they were stored in.
    std::string m = json::serialize(ce);
    m.pop_back();
    m += ",\"data\":";
    m += parts.data;
    m += "}";
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace touchline::api
