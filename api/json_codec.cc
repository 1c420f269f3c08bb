#include "api/json_codec.h"

#include <simdjson.h>

#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/identity.h"
#include "core/time_format.h"
#include "core/validation.h"

namespace touchline::api {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kAllowedFields =
    "id, customer, identities, type, channel, department, time, data, expected_version";

constexpr auto Bad = InvalidAt;  // core/validation.h

// Reads an optional string field; null counts as absent.
Status GetOptionalString(dom::element value, const std::string& path, std::string* out) {
  if (value.is_null()) {
    return Status::Ok();
  }
  std::string_view s;
  if (value.get_string().get(s)) {
    return Bad(path, "must be a string");
  }
  *out = s;
  return Status::Ok();
}

// "identities": {"email": "a@b.c", "phone": ["+62...", "+65..."]}. Values
// are normalised (core/identity.h); null entries are skipped.
Status ParseIdentities(dom::element value, const std::string& path, std::vector<Identity>* out) {
  if (value.is_null()) {
    return Status::Ok();
  }
  dom::object obj;
  if (value.get_object().get(obj)) {
    return Bad(path,
               "must be an object of identity type to value, e.g. {\"email\": "
               "\"a@example.com\", \"social.twitter\": \"@alice\"}");
  }
  auto add = [&](std::string_view type, dom::element v, const std::string& vpath) -> Status {
    if (v.is_null()) {
      return Status::Ok();
    }
    std::string_view s;
    if (v.get_string().get(s)) {
      return Bad(vpath, "an identity value must be a string");
    }
    if (out->size() == kMaxIdentitiesPerEvent) {
      return Bad(
          path, "at most " + std::to_string(kMaxIdentitiesPerEvent) + " identity values per event");
    }
    ASSIGN_OR_RETURN(std::string normal, NormalizeIdentity(type, s, vpath));
    out->push_back(Identity{std::string(type), std::move(normal)});
    return Status::Ok();
  };
  for (dom::key_value_pair field : obj) {
    const std::string tpath = path + "." + std::string(field.key);
    RETURN_IF_ERROR(ValidateIdentityType(field.key, tpath));
    dom::array arr;
    if (!field.value.get_array().get(arr)) {
      std::size_t i = 0;
      for (dom::element v : arr) {
        RETURN_IF_ERROR(add(field.key, v, tpath + "[" + std::to_string(i++) + "]"));
      }
    } else {
      RETURN_IF_ERROR(add(field.key, field.value, tpath));
    }
  }
  CanonicalizeIdentities(out);
  return Status::Ok();
}

StatusOr<ExpectedVersion> ExpectedVersionFromJson(dom::element value, const std::string& path) {
  if (value.is_null()) {
    return ExpectedVersion::Any();
  }
  std::uint64_t n = 0;
  if (value.is_uint64() && !value.get_uint64().get(n)) {
    return ExpectedVersion::Exact(n);
  }
  std::string_view s;
  if (!value.get_string().get(s)) {
    auto parsed = ParseExpectedVersion(s);
    if (parsed.ok()) {
      return parsed;
    }
    return parsed.status().WithPrefix(path);
  }
  return Bad(path, "must be \"any\", \"no_stream\", \"exists\" or a non-negative integer");
}

Status ParseEvent(dom::element element, const std::string& path, ProposedEvent* out) {
  dom::object obj;
  if (element.get_object().get(obj)) {
    return Bad(path, "an event must be a JSON object");
  }
  Event& e = out->event;
  bool have_customer = false, have_type = false;
  std::uint32_t seen = 0;  // bit per known field, to reject duplicates
  for (dom::key_value_pair field : obj) {
    const std::string_view key = field.key;
    const std::string fpath = path + "." + std::string(key);
    int bit = -1;
    if (key == "id") {
      bit = 0;
      if (!field.value.is_null()) {
        RETURN_IF_ERROR(GetOptionalString(field.value, fpath, &e.id));
        RETURN_IF_ERROR(ValidateEventId(e.id, fpath));
      }
    } else if (key == "customer") {
      bit = 1;
      RETURN_IF_ERROR(GetOptionalString(field.value, fpath, &e.customer));
      have_customer = !field.value.is_null();
    } else if (key == "type") {
      bit = 2;
      RETURN_IF_ERROR(GetOptionalString(field.value, fpath, &e.type));
      have_type = !field.value.is_null();
    } else if (key == "channel") {
      bit = 3;
      RETURN_IF_ERROR(GetOptionalString(field.value, fpath, &e.channel));
    } else if (key == "department") {
      bit = 4;
      RETURN_IF_ERROR(GetOptionalString(field.value, fpath, &e.department));
    } else if (key == "time") {
      bit = 5;
      std::string text;
      RETURN_IF_ERROR(GetOptionalString(field.value, fpath, &text));
      if (!field.value.is_null()) {
        auto t = ParseRfc3339(text);
        if (!t.ok()) {
          return t.status().WithPrefix(fpath);
        }
        e.time_us = *t;
      }
    } else if (key == "data") {
      bit = 6;
      if (!field.value.is_null()) {
        if (!field.value.is_object()) {
          return Bad(fpath, "must be a JSON object");
        }
        e.data = simdjson::minify(field.value);
      }
    } else if (key == "identities") {
      bit = 8;
      RETURN_IF_ERROR(ParseIdentities(field.value, fpath, &e.identities));
    } else if (key == "expected_version") {
      bit = 7;
      ASSIGN_OR_RETURN(out->expected_version, ExpectedVersionFromJson(field.value, fpath));
    } else {
      return Bad(fpath, "unknown field; allowed fields are " + std::string(kAllowedFields));
    }
    if ((seen & (1u << bit)) != 0) {
      return Bad(fpath, "field appears more than once");
    }
    seen |= 1u << bit;
  }
  if (!have_customer) {
    if (e.identities.empty()) {
      return Bad(path + ".customer",
                 "required: the customer id this event belongs to (or give identities, e.g. "
                 "{\"email\": \"a@example.com\"}, and the stream is named after one of them)");
    }
    ASSIGN_OR_RETURN(e.customer, DeriveCustomerKey(e.identities, path + ".identities"));
  }
  if (!have_type) {
    return Bad(path + ".type", "required: a dotted lower-case event type, e.g. \"ticket.opened\"");
  }
  return ValidateEvent(e, path);
}

std::string_view JsonErrorHint(simdjson::error_code code) {
  switch (code) {
    case simdjson::DEPTH_ERROR:
      return "nested too deeply";
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return "a number is out of range (integers must fit in 64 bits; send larger ones as "
             "strings)";
    case simdjson::UTF8_ERROR:
      return "the text is not valid UTF-8";
    case simdjson::EMPTY:
      return "the body is empty";
    case simdjson::CAPACITY:
      return "the body is too large";
    default:
      return simdjson::error_message(code);
  }
}

}  // namespace

std::string JsonString(std::string_view s) {
  const std::string valid = ToValidUtf8(s);
  return boost::json::serialize(boost::json::string_view(valid.data(), valid.size()));
}

StatusOr<ExpectedVersion> ParseExpectedVersion(std::string_view text) {
  if (text == "any") {
    return ExpectedVersion::Any();
  }
  if (text == "no_stream") {
    return ExpectedVersion::NoStream();
  }
  if (text == "exists") {
    return ExpectedVersion::Exists();
  }
  std::uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::InvalidArgument("expected version '" + std::string(text.substr(0, 32)) +
                                   "' must be \"any\", \"no_stream\", \"exists\" or a "
                                   "non-negative integer");
  }
  return ExpectedVersion::Exact(n);
}

StatusOr<std::vector<ProposedEvent>> ParseEvents(std::string_view body, const ParseLimits& limits) {
  thread_local dom::parser parser;
  if (body.empty()) {
    return Status::InvalidArgument(
        "the request body is empty; send one event object or an array of events");
  }
  if (parser.max_depth() != limits.max_depth) {
    if (parser.allocate(std::max<std::size_t>(parser.capacity(), 4096), limits.max_depth)) {
      return Status::Internal("cannot allocate the JSON parser");
    }
  }
  const simdjson::padded_string padded(body);
  dom::element root;
  if (const auto err = parser.parse(padded).get(root); err) {
    return Status::InvalidArgument("the body is not valid JSON: " +
                                   std::string(JsonErrorHint(err)));
  }
  std::vector<ProposedEvent> events;
  if (root.is_array()) {
    dom::array arr = root.get_array().value_unsafe();
    const std::size_t n = arr.size();
    if (n == 0) {
      return Status::InvalidArgument("the array is empty; send at least one event");
    }
    if (n > limits.max_events) {
      return Status::InvalidArgument("the batch has " + std::to_string(n) + " events; at most " +
                                     std::to_string(limits.max_events) +
                                     " are allowed per request");
    }
    events.resize(n);
    std::size_t i = 0;
    for (dom::element el : arr) {
      RETURN_IF_ERROR(ParseEvent(el, "events[" + std::to_string(i) + "]", &events[i]));
      ++i;
    }
  } else if (root.is_object()) {
    events.resize(1);
    RETURN_IF_ERROR(ParseEvent(root, "event", &events[0]));
  } else {
    return Status::InvalidArgument("the body must be an event object or an array of events");
  }
  return events;
}

std::string RenderAppendResult(const std::vector<std::string>& ids,
                               const store::AppendResult& result) {
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < result.events.size(); ++i) {
    const auto& r = result.events[i];
    if (i > 0) {
      out.push_back(',');
    }
    out.push_back('{');
    if (i < ids.size() && !ids[i].empty()) {
      out += "\"id\":" + JsonString(ids[i]) + ",";
    }
    out += "\"seq\":" + std::to_string(r.seq) + ",\"version\":" + std::to_string(r.version) +
           ",\"duplicate\":" + (r.duplicate ? "true" : "false") + "}";
  }
  out += "]}";
  return out;
}

std::string RenderEventsPage(const std::vector<store::RecordPtr>& records, Seq head) {
  std::size_t size = 64;
  for (const auto& r : records) {
    size += r->json.size() + 1;
  }
  std::string out;
  out.reserve(size);
  out += "{\"events\":[";
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out += records[i]->json;
  }
  out += "],\"next_after\":";
  out +=
      !records.empty() && records.back()->seq < head ? std::to_string(records.back()->seq) : "null";
  out += ",\"head\":" + std::to_string(head) + "}";
  return out;
}

}  // namespace touchline::api
