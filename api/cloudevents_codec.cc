#include "api/cloudevents_codec.h"

#include <simdjson.h>
#include <sodium.h>

#include <algorithm>
#include <cstdint>

#include "api/handlers.h"
#include "api/json_codec.h"
#include "core/identity.h"
#include "core/time_format.h"
#include "core/validation.h"
#include "store/sealing.h"

namespace touchline::api {
namespace {

namespace dom = simdjson::dom;

constexpr std::size_t kMaxExtensions = 32;
constexpr std::size_t kMaxExtensionNameBytes = 20;
constexpr std::size_t kMaxAttributeBytes = 1024;

constexpr auto Bad = InvalidAt;  // core/validation.h

// The media type without parameters, lower-cased and trimmed.
std::string MediaType(std::string_view content_type) {
  return AsciiLower(TrimBlanks(content_type.substr(0, content_type.find(';'))));
}

bool IsJsonMediaType(std::string_view media) {
  return media.empty() || media == "application/json" || media == "text/json" ||
         media.ends_with("+json");
}

// The context attributes of one event, as strings, and its extensions as
// JSON literals.
struct Attributes {
  std::string specversion, id, source, type, subject, time, datacontenttype, dataschema;
  std::vector<std::pair<std::string, std::string>> extensions;  // name, JSON value
  std::string extension_channel, extension_department, extension_identities;
};

// The data as members of the event's data object: `members` (no braces) and
// what had to move aside (a "cloudevents" member).
struct DataMembers {
  std::string members;
  std::string conflicting;
};

Status CheckExtensionName(std::string_view name, const std::string& path) {
  const bool ok = !name.empty() && name.size() <= kMaxExtensionNameBytes &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                  });
  if (!ok) {
    return Bad(path, "an extension attribute's name must be 1-20 characters of a-z and 0-9");
  }
  return Status::Ok();
}

// Records a known attribute or an extension. `json` is the value as a JSON
// literal (for extensions), `text` as a string.
Status SetAttribute(std::string_view name, std::string_view text, std::string json, bool is_string,
                    const std::string& path, Attributes* a) {
  if (text.size() > kMaxAttributeBytes) {
    return Bad(path, "at most " + std::to_string(kMaxAttributeBytes) + " bytes");
  }
  const auto set = [&](std::string* field) -> Status {
    if (!is_string) {
      return Bad(path, "must be a string");
    }
    *field = std::string(text);
    return Status::Ok();
  };
  if (name == "specversion") return set(&a->specversion);
  if (name == "id") return set(&a->id);
  if (name == "source") return set(&a->source);
  if (name == "type") return set(&a->type);
  if (name == "subject") return set(&a->subject);
  if (name == "time") return set(&a->time);
  if (name == "datacontenttype") return set(&a->datacontenttype);
  if (name == "dataschema") return set(&a->dataschema);
  RETURN_IF_ERROR(CheckExtensionName(name, path));
  if (a->extensions.size() == kMaxExtensions) {
    return Bad(path, "at most " + std::to_string(kMaxExtensions) + " extension attributes");
  }
  if (name == "channel") RETURN_IF_ERROR(set(&a->extension_channel));
  if (name == "department") RETURN_IF_ERROR(set(&a->extension_department));
  if (name == "identities") RETURN_IF_ERROR(set(&a->extension_identities));
  a->extensions.emplace_back(std::string(name), std::move(json));
  return Status::Ok();
}

void AppendMember(std::string* out, std::string_view key, std::string_view json) {
  if (!out->empty() && out->back() != '{') {
    out->push_back(',');
  }
  out->append(JsonString(key));
  out->push_back(':');
  out->append(json);
}

DataMembers ObjectMembers(dom::object obj) {
  DataMembers d;
  for (dom::key_value_pair kv : obj) {
    if (kv.key == "cloudevents") {
      d.conflicting = simdjson::minify(kv.value);
    } else {
      AppendMember(&d.members, kv.key, simdjson::minify(kv.value));
    }
  }
  return d;
}

DataMembers OneMember(std::string_view key, std::string_view json) {
  DataMembers d;
  AppendMember(&d.members, key, json);
  return d;
}

std::string Base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

bool IsBase64(std::string_view text) {
  std::string bin(text.size(), '\0');
  std::size_t len = 0;
  return sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), text.data(),
                           text.size(), nullptr, &len, nullptr,
                           sodium_base64_VARIANT_ORIGINAL) == 0 ||
         sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), text.data(),
                           text.size(), nullptr, &len, nullptr,
                           sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0;
}

// "ce:" + 32 hex digits of SHA-256(len(source) source len(id) id).
std::string EventIdFor(std::string_view source, std::string_view id) {
  std::string input;
  for (std::string_view part : {source, id}) {
    const auto n = static_cast<std::uint32_t>(part.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      input.push_back(static_cast<char>((n >> shift) & 0xff));
    }
    input.append(part);
  }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return "ce:" + std::string(hex, 32);
}

// Whether a subject "type:value" names a person by identity: the common
// types, and dotted custom ones ("social.twitter", "crm.contact_id"). Other
// prefixes ("urn:", "arn:", "https:") are resource names, which many people
// may share: they name a stream and link no one.
bool IsSubjectIdentityType(std::string_view type) {
  return type == "user_id" || type == "anonymous_id" || type == "email" || type == "phone" ||
         (type.find('.') != std::string_view::npos && ValidateIdentityType(type, "").ok());
}

// The event for validated attributes and data. `path` names the event.
Status BuildEvent(const Attributes& a, const DataMembers& data, const std::string& path,
                  ProposedEvent* out) {
  if (a.specversion != "1.0") {
    return Bad(path + ".specversion", a.specversion.empty()
                                          ? "required: \"1.0\""
                                          : "must be \"1.0\" (the only version this server reads)");
  }
  for (const auto& [name, value] : {std::pair<std::string_view, const std::string*>{"id", &a.id},
                                    {"source", &a.source},
                                    {"type", &a.type}}) {
    if (value->empty()) {
      return Bad(path + "." + std::string(name), "required: a non-empty string");
    }
  }
  Event& e = out->event;
  e.id = EventIdFor(a.source, a.id);
  e.type = EventTypeFromName(a.type, "cloudevent");
  e.channel = a.extension_channel;
  e.department = a.extension_department;
  if (!a.time.empty()) {
    auto t = ParseRfc3339(a.time);
    if (!t.ok()) {
      return t.status().WithPrefix(path + ".time");
    }
    e.time_us = *t;
  }
  // Who: the subject and the identities extension.
  std::string customer;
  if (!a.subject.empty()) {
    const std::string_view subject = a.subject;
    if (subject.starts_with("customer:")) {
      customer = std::string(subject.substr(9));
    } else if (const auto colon = subject.find(':');
               colon != std::string_view::npos && IsSubjectIdentityType(subject.substr(0, colon))) {
      ASSIGN_OR_RETURN(Identity id, ParseIdentityString(subject, path + ".subject"));
      e.identities.push_back(std::move(id));
    } else {
      customer = a.subject;
    }
  }
  if (!a.extension_identities.empty()) {
    for (const std::string& part : SplitComma(a.extension_identities)) {
      if (e.identities.size() == kMaxIdentitiesPerEvent) {
        return Bad(path + ".identities",
                   "at most " + std::to_string(kMaxIdentitiesPerEvent) + " identities");
      }
      ASSIGN_OR_RETURN(Identity id, ParseIdentityString(TrimBlanks(part), path + ".identities"));
      e.identities.push_back(std::move(id));
    }
  }
  CanonicalizeIdentities(&e.identities);
  if (store::IsSystemStream(customer)) {
    return Bad(path + ".subject",
               "customer ids starting with '~' name touchline's own streams; choose another");
  }
  if (!customer.empty()) {
    e.customer = std::move(customer);
  } else if (!e.identities.empty()) {
    ASSIGN_OR_RETURN(e.customer, DeriveCustomerKey(e.identities, path + ".subject"));
  } else {
    return Bad(path + ".subject",
               "required: the customer, as an identity (\"email:ann@example.com\", "
               "\"user_id:u1\") or \"customer:<stream id>\" (or name them in the "
               "\"identities\" extension)");
  }
  // The data and the envelope.
  std::string json = "{" + data.members;
  std::string envelope = "{";
  AppendMember(&envelope, "id", JsonString(a.id));
  AppendMember(&envelope, "source", JsonString(a.source));
  AppendMember(&envelope, "type", JsonString(a.type));
  for (const auto& [name, value] :
       {std::pair<std::string_view, const std::string*>{"subject", &a.subject},
        {"time", &a.time},
        {"datacontenttype", &a.datacontenttype},
        {"dataschema", &a.dataschema}}) {
    if (!value->empty()) {
      AppendMember(&envelope, name, JsonString(*value));
    }
  }
  if (!a.extensions.empty()) {
    std::string ext = "{";
    for (const auto& [name, value] : a.extensions) {
      AppendMember(&ext, name, value);
    }
    ext.push_back('}');
    AppendMember(&envelope, "extensions", ext);
  }
  if (!data.conflicting.empty()) {
    AppendMember(&envelope, "conflicting_data", data.conflicting);
  }
  envelope.push_back('}');
  AppendMember(&json, "cloudevents", envelope);
  json.push_back('}');
  e.data = std::move(json);
  return ValidateEvent(e, path);
}

StatusOr<std::string> PercentDecode(std::string_view value, const std::string& path) {
  std::string out;
  out.reserve(value.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    const int hi = i + 2 < value.size() ? hex(value[i + 1]) : -1;
    const int lo = i + 2 < value.size() ? hex(value[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Bad(path, "bad percent-encoding at byte " + std::to_string(i) +
                           ": '%' must be followed by two hex digits (send '%' as %25)");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (ToValidUtf8(out) != out) {
    return Bad(path, "the percent-decoded value is not valid UTF-8");
  }
  return out;
}

// One structured-mode event object.
Status ParseStructured(dom::element element, const std::string& path, ProposedEvent* out,
                       std::string* message_id) {
  dom::object obj;
  if (element.get_object().get(obj)) {
    return Bad(path, "a CloudEvent must be a JSON object");
  }
  if (std::string_view id; !obj["id"].get_string().get(id)) {
    *message_id = std::string(id);  // for a refusal, however the rest fails
  }
  Attributes a;
  std::optional<dom::element> data;
  std::optional<std::string_view> data_base64;
  for (dom::key_value_pair kv : obj) {
    const std::string fpath = path + "." + std::string(kv.key);
    if (kv.value.is_null()) {
      continue;
    }
    if (kv.key == "data") {
      data = kv.value;
      continue;
    }
    if (kv.key == "data_base64") {
      std::string_view s;
      if (kv.value.get_string().get(s)) {
        return Bad(fpath, "must be a string of base64");
      }
      data_base64 = s;
      continue;
    }
    std::string_view s;
    const bool is_string = !kv.value.get_string().get(s);
    if (!is_string && !kv.value.is_number() && !kv.value.is_bool()) {
      return Bad(fpath, "an attribute must be a string, a number or a boolean");
    }
    RETURN_IF_ERROR(SetAttribute(kv.key, s, simdjson::minify(kv.value), is_string, fpath, &a));
  }
  *message_id = a.id;
  DataMembers members;
  if (data && data_base64) {
    return Bad(path, "give data or data_base64, not both");
  }
  const std::string media = MediaType(a.datacontenttype);
  if (data_base64) {
    if (!IsBase64(*data_base64)) {
      return Bad(path + ".data_base64", "is not valid base64 (RFC 4648, with or without padding)");
    }
    members = OneMember("data_base64", JsonString(*data_base64));
  } else if (data) {
    dom::object o;
    std::string_view s;
    if (!data->get_object().get(o)) {
      members = ObjectMembers(o);
    } else if (media.starts_with("text/") && !data->get_string().get(s)) {
      members = OneMember("text", JsonString(s));
    } else {
      members = OneMember("value", simdjson::minify(*data));
    }
  }
  return BuildEvent(a, members, path, out);
}

}  // namespace

std::optional<CloudEventsMode> CloudEventsModeFor(std::string_view content_type,
                                                  bool has_ce_headers) {
  const std::string media = MediaType(content_type);
  if (media == "application/cloudevents-batch+json") {
    return CloudEventsMode::kBatch;
  }
  if (media == "application/cloudevents+json") {
    return CloudEventsMode::kStructured;
  }
  if (media.starts_with("application/cloudevents")) {
    return std::nullopt;  // another event format (+avro, +protobuf)
  }
  if (has_ce_headers) {
    return CloudEventsMode::kBinary;
  }
  return std::nullopt;
}

StatusOr<IngestBatch> ParseBinaryCloudEvent(
    const std::vector<std::pair<std::string, std::string>>& ce_headers,
    std::string_view content_type, std::string_view body, std::size_t max_depth) {
  Attributes a;
  std::vector<std::string_view> seen;
  for (const auto& [name, raw] : ce_headers) {
    const std::string path = "ce-" + name;
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Bad(path, "header appears more than once");
    }
    seen.push_back(name);
    if (name == "datacontenttype") {
      continue;  // binary mode carries it as Content-Type
    }
    ASSIGN_OR_RETURN(std::string value, PercentDecode(raw, path));
    RETURN_IF_ERROR(SetAttribute(name, value, JsonString(value), true, path, &a));
  }
  a.datacontenttype = std::string(TrimBlanks(content_type));
  const std::string media = MediaType(content_type);
  DataMembers members;
  if (!body.empty()) {
    if (IsJsonMediaType(media)) {
      ASSIGN_OR_RETURN(dom::parser * parser, IngestJsonParser(max_depth));
      const simdjson::padded_string padded(body);
      dom::element root;
      if (const auto err = parser->parse(padded).get(root); err) {
        return Status::InvalidArgument(
            std::string("the body is not valid JSON, as its Content-Type says: ") +
            simdjson::error_message(err));
      }
      dom::object o;
      members =
          !root.get_object().get(o) ? ObjectMembers(o) : OneMember("value", simdjson::minify(root));
    } else if (media.starts_with("text/") && ToValidUtf8(body) == body) {
      members = OneMember("text", JsonString(body));
    } else {
      members = OneMember("data_base64", JsonString(Base64(body)));
    }
  }
  IngestBatch out;
  out.events.resize(1);
  out.index.push_back(0);
  out.message_ids.push_back(a.id);
  RETURN_IF_ERROR(BuildEvent(a, members, "cloudevent", &out.events[0]));
  return out;
}

StatusOr<IngestBatch> ParseStructuredCloudEvents(std::string_view body, bool batch,
                                                 std::size_t max_events, std::size_t max_depth) {
  if (TrimBlanks(body).empty()) {
    return Status::InvalidArgument(batch ? "the body is empty; send a JSON array of CloudEvents"
                                         : "the body is empty; send one CloudEvent object");
  }
  ASSIGN_OR_RETURN(dom::parser * parser, IngestJsonParser(max_depth));
  const simdjson::padded_string padded(body);
  dom::element root;
  if (const auto err = parser->parse(padded).get(root); err) {
    return Status::InvalidArgument(std::string("the body is not valid JSON: ") +
                                   simdjson::error_message(err));
  }
  IngestBatch out;
  if (!batch) {
    out.events.resize(1);
    out.index.push_back(0);
    out.message_ids.emplace_back();
    RETURN_IF_ERROR(ParseStructured(root, "cloudevent", &out.events[0], &out.message_ids[0]));
    return out;
  }
  dom::array items;
  if (root.get_array().get(items)) {
    return Status::InvalidArgument(
        "a batch (application/cloudevents-batch+json) must be a JSON array of CloudEvents");
  }
  const std::size_t n = items.size();
  if (n == 0 || n > max_events) {
    return Status::InvalidArgument("the batch has " + std::to_string(n) + " events; send 1 to " +
                                   std::to_string(max_events));
  }
  std::size_t i = 0;
  for (dom::element item : items) {
    ProposedEvent event;
    std::string message_id;
    const Status s = ParseStructured(item, "[" + std::to_string(i) + "]", &event, &message_id);
    out.Add(i++, s, std::move(event), std::move(message_id));
  }
  return out;
}

}  // namespace touchline::api
