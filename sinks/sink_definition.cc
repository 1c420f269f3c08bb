#include "sinks/sink_definition.h"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "core/validation.h"

namespace touchline::sinks {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxUrlBytes = 2048;
constexpr std::size_t kMaxDescriptionBytes = 200;
constexpr std::size_t kMaxFilterEntries = 100;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

StatusOr<std::vector<std::string>> StringList(const json::value& v, std::string_view path,
                                              Status (*check)(std::string_view, std::string_view)) {
  const json::array* a = v.if_array();
  if (a == nullptr) {
    return InvalidAt(path, "must be an array of strings");
  }
  if (a->size() > kMaxFilterEntries) {
    return InvalidAt(path, "has more than 100 entries");
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const std::string at = std::string(path) + "[" + std::to_string(i) + "]";
    const json::string* s = (*a)[i].if_string();
    if (s == nullptr || s->empty()) {
      return InvalidAt(at, "must be a non-empty string");
    }
    RETURN_IF_ERROR(check(*s, at));
    out.emplace_back(*s);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

StatusOr<SinkFilter> ParseFilter(const json::value& v) {
  const json::object* o = v.if_object();
  if (o == nullptr) {
    return InvalidAt("filter", "must be an object with types, channels, customers, departments");
  }
  SinkFilter f;
  for (const auto& [key, value] : *o) {
    const std::string path = "filter." + std::string(key);
    if (key == "types") {
      ASSIGN_OR_RETURN(f.types, StringList(value, path, ValidateEventType));
    } else if (key == "channels") {
      ASSIGN_OR_RETURN(f.channels, StringList(value, path, ValidateChannel));
    } else if (key == "customers") {
      ASSIGN_OR_RETURN(f.customers, StringList(value, path, ValidateCustomerId));
    } else if (key == "departments") {
      ASSIGN_OR_RETURN(f.departments, StringList(value, path, ValidateDepartment));
    } else {
      return InvalidAt(path, "is not a filter field (types, channels, customers, departments)");
    }
  }
  return f;
}

Status ValidateUrl(std::string_view url) {
  if (url.size() > kMaxUrlBytes) {
    return InvalidAt("url", "is longer than 2048 bytes");
  }
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty()) {
    return InvalidAt("url", "must be an absolute http:// or https:// URL with a host");
  }
  if (u->has_userinfo()) {
    return InvalidAt("url", "must not carry credentials; receivers verify the signature");
  }
  if (u->has_fragment()) {
    return InvalidAt("url", "must not have a #fragment");
  }
  return Status::Ok();
}

// The definition's fields from `o`; `create` also reads "start".
StatusOr<SinkCreate> FromObject(const json::object& o, bool create) {
  SinkCreate c;
  SinkDefinition& d = c.definition;
  bool has_id = false, has_url = false, has_batch_size = false;
  for (const auto& [key, value] : o) {
    if (key == "id") {
      const json::string* s = value.if_string();
      if (s == nullptr) {
        return InvalidAt("id", "must be a string");
      }
      RETURN_IF_ERROR(ValidateSinkId(*s, "id"));
      d.id = std::string(*s);
      has_id = true;
    } else if (key == "url") {
      const json::string* s = value.if_string();
      if (s == nullptr) {
        return InvalidAt("url", "must be a string");
      }
      RETURN_IF_ERROR(ValidateUrl(*s));
      d.url = std::string(*s);
      has_url = true;
    } else if (key == "description") {
      const json::string* s = value.if_string();
      if (s == nullptr || s->size() > kMaxDescriptionBytes || !IsPrintableUtf8(*s)) {
        return InvalidAt("description", "must be printable text of at most 200 bytes");
      }
      d.description = std::string(*s);
    } else if (key == "filter") {
      ASSIGN_OR_RETURN(d.filter, ParseFilter(value));
    } else if (key == "mode") {
      const json::string* s = value.if_string();
      if (s != nullptr && *s == "structured") {
        d.mode = SinkMode::kStructured;
      } else if (s != nullptr && *s == "batch") {
        d.mode = SinkMode::kBatch;
      } else {
        return InvalidAt("mode", "must be \"structured\" or \"batch\"");
      }
    } else if (key == "batch_size") {
      const auto n = value.is_int64() ? value.get_int64() : -1;
      if (n < 1 || n > static_cast<std::int64_t>(kMaxSinkBatch)) {
        return InvalidAt("batch_size", "must be an integer from 1 to 1000");
      }
      d.batch_size = static_cast<std::size_t>(n);
      has_batch_size = true;
    } else if (key == "handshake") {
      if (!value.is_bool()) {
        return InvalidAt("handshake", "must be true or false");
      }
      d.handshake = value.get_bool();
    } else if (key == "start" && create) {
      if (const json::string* s = value.if_string(); s != nullptr && *s == "end") {
        c.start.from = SinkStart::From::kEnd;
      } else if (s != nullptr && *s == "beginning") {
        c.start.from = SinkStart::From::kBeginning;
      } else if (value.is_int64() && value.get_int64() >= 1) {
        c.start.from = SinkStart::From::kSeq;
        c.start.seq = static_cast<Seq>(value.get_int64());
      } else {
        return InvalidAt("start", "must be \"end\", \"beginning\" or a seq (an integer >= 1)");
      }
    } else {
      return InvalidAt(key,
                       "is not a sink field (id, url, description, filter, mode, batch_size, "
                       "handshake, start)");
    }
  }
  if (!has_id) {
    return InvalidAt("id", "is required: 1-64 of a-z, 0-9, '_' and '-'");
  }
  if (!has_url) {
    return InvalidAt("url", "is required: the http:// URL that receives the events");
  }
  if (d.mode == SinkMode::kStructured) {
    if (has_batch_size && d.batch_size != 1) {
      return InvalidAt("batch_size", "applies to \"mode\": \"batch\" only");
    }
    d.batch_size = 1;
  }
  return c;
}

StatusOr<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 8;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    return Status::InvalidArgument("the body is not valid JSON: " + ec.message());
  }
  if (!v.is_object()) {
    return Status::InvalidArgument("the body must be a JSON object describing the sink");
  }
  return std::move(v.as_object());
}

json::array ToArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) {
    a.emplace_back(s);
  }
  return a;
}

}  // namespace

Status ValidateSinkId(std::string_view id, std::string_view path) {
  if (id.empty() || id.size() > 64 || !std::all_of(id.begin(), id.end(), IsIdChar)) {
    return InvalidAt(path, "must be 1-64 of a-z, 0-9, '_' and '-'");
  }
  return Status::Ok();
}

bool SinkFilter::Matches(const store::Record& r) const {
  if (r.customer.starts_with('~')) {
    return false;
  }
  auto in = [](const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::binary_search(list.begin(), list.end(), v);
  };
  return TypeMatchesAny(r.type, types) && in(channels, r.channel) && in(customers, r.customer) &&
         in(departments, r.department);
}

StatusOr<SinkCreate> ParseSinkCreate(std::string_view text) {
  ASSIGN_OR_RETURN(auto o, ParseObject(text));
  return FromObject(o, /*create=*/true);
}

StatusOr<SinkDefinition> DecodeSinkDefinition(std::string_view text) {
  ASSIGN_OR_RETURN(auto o, ParseObject(text));
  ASSIGN_OR_RETURN(auto c, FromObject(o, /*create=*/false));
  return std::move(c.definition);
}

std::string EncodeSinkDefinition(const SinkDefinition& d) {
  json::object o;
  o["id"] = d.id;
  o["url"] = d.url;
  if (!d.description.empty()) {
    o["description"] = d.description;
  }
  json::object f;
  f["types"] = ToArray(d.filter.types);
  f["channels"] = ToArray(d.filter.channels);
  f["customers"] = ToArray(d.filter.customers);
  f["departments"] = ToArray(d.filter.departments);
  o["filter"] = std::move(f);
  o["mode"] = d.mode == SinkMode::kBatch ? "batch" : "structured";
  if (d.mode == SinkMode::kBatch) {
    o["batch_size"] = d.batch_size;
  }
  o["handshake"] = d.handshake;
  return json::serialize(o);
}

}  // namespace touchline::sinks
