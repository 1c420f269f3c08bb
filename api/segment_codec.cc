#include "api/segment_codec.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/json_codec.h"
#include "core/identity.h"
#include "core/time_format.h"
#include "core/validation.h"

namespace touchline::api {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kIdPrefix = "segment:";

constexpr auto Bad = InvalidAt;  // core/validation.h

std::string_view CallName(SegmentCall call) {
  switch (call) {
    case SegmentCall::kTrack:
      return "track";
    case SegmentCall::kIdentify:
      return "identify";
    case SegmentCall::kPage:
      return "page";
    case SegmentCall::kScreen:
      return "screen";
    case SegmentCall::kGroup:
      return "group";
    case SegmentCall::kAlias:
      return "alias";
    case SegmentCall::kBatch:
      return "batch";
  }
  return "batch";
}

std::optional<SegmentCall> CallFromName(std::string_view name) {
  for (SegmentCall c : {SegmentCall::kTrack, SegmentCall::kIdentify, SegmentCall::kPage,
                        SegmentCall::kScreen, SegmentCall::kGroup, SegmentCall::kAlias}) {
    if (CallName(c) == name) {
      return c;
    }
  }
  return std::nullopt;
}

// A member of `obj`, or nullopt when absent or null.
std::optional<dom::element> Member(dom::object obj, std::string_view key) {
  dom::element v;
  if (obj.at_key(key).get(v) || v.is_null()) {
    return std::nullopt;
  }
  return v;
}

// An id field that Segment allows as a string or a number (userId,
// anonymousId, groupId, previousId); "" when absent.
StatusOr<std::string> IdField(dom::object obj, std::string_view key, const std::string& path) {
  auto v = Member(obj, key);
  if (!v) {
    return std::string();
  }
  std::string_view s;
  if (!v->get_string().get(s)) {
    return std::string(TrimBlanks(s));
  }
  if (v->is_int64() || v->is_uint64()) {
    return simdjson::minify(*v);
  }
  return Bad(path + "." + std::string(key), "must be a string or an integer");
}

// An optional object field; nullopt when absent.
StatusOr<std::optional<dom::object>> ObjectField(dom::object obj, std::string_view key,
                                                 const std::string& path) {
  auto v = Member(obj, key);
  if (!v) {
    return std::optional<dom::object>();
  }
  dom::object o;
  if (v->get_object().get(o)) {
    return Bad(path + "." + std::string(key), "must be an object");
  }
  return std::optional<dom::object>(o);
}

StatusOr<std::string_view> StringField(dom::object obj, std::string_view key,
                                       const std::string& path) {
  auto v = Member(obj, key);
  if (!v) {
    return std::string_view();
  }
  std::string_view s;
  if (v->get_string().get(s)) {
    return Bad(path + "." + std::string(key), "must be a string");
  }
  return s;
}

StatusOr<std::optional<std::int64_t>> TimeField(dom::object obj, std::string_view key,
                                                const std::string& path) {
  ASSIGN_OR_RETURN(std::string_view s, StringField(obj, key, path));
  if (s.empty()) {
    return std::optional<std::int64_t>();
  }
  auto t = ParseRfc3339(s);
  if (!t.ok()) {
    return t.status().WithPrefix(path + "." + std::string(key));
  }
  return std::optional<std::int64_t>(*t);
}

// Object members merged by key: later Add()s replace earlier values.
class MergedObject {
 public:
  void Add(std::optional<dom::object> obj, std::string_view skip = {}) {
    if (!obj) {
      return;
    }
    for (dom::key_value_pair kv : *obj) {
      if (!skip.empty() && kv.key == skip) {
        continue;
      }
      // Hashed: a message may carry thousands of keys.
      if (auto [it, added] = index_.try_emplace(kv.key, members_.size()); !added) {
        members_[it->second].second = kv.value;
      } else {
        members_.emplace_back(kv.key, kv.value);
      }
    }
  }
  bool empty() const { return members_.empty(); }
  std::optional<dom::element> Find(std::string_view key) const {
    auto it = index_.find(key);
    if (it == index_.end()) {
      return std::nullopt;
    }
    return members_[it->second].second;
  }
  void AppendJson(std::string* out) const {
    out->push_back('{');
    bool first = true;
    for (const auto& [k, v] : members_) {
      out->append(first ? "" : ",");
      first = false;
      AppendJsonString(out, k);
      out->push_back(':');
      out->append(simdjson::minify(v));
    }
    out->push_back('}');
  }

 private:
  std::vector<std::pair<std::string_view, dom::element>> members_;
  std::unordered_map<std::string_view, std::size_t> index_;  // key -> members_ slot
};

// What a batch's messages share.
struct BatchShared {
  std::optional<dom::object> context;
  std::optional<dom::object> integrations;
  std::optional<std::int64_t> sent_at;
  std::string_view sent_at_text;
};

// Adds `type`'s identity for a trait value when it is a valid, usable one.
void AddTraitIdentity(const MergedObject& traits, std::string_view key, std::string_view type,
                      std::vector<Identity>* out) {
  auto v = traits.Find(key);
  std::string_view s;
  if (!v || v->get_string().get(s)) {
    return;
  }
  auto normal = NormalizeIdentity(type, s, key);
  if (normal.ok() && !IsBlockedIdentityValue(*normal)) {
    out->push_back(Identity{std::string(type), std::move(*normal)});
  }
}

Status AddIdIdentity(std::string_view type, const std::string& value, const std::string& path,
                     std::vector<Identity>* out) {
  if (value.empty()) {
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::string normal, NormalizeIdentity(type, value, path));
  out->push_back(Identity{std::string(type), std::move(normal)});
  return Status::Ok();
}

// One message as an event. `path` names it ("batch[3]" or the call).
// REQUIRES: `msg` is the message object; `call` is not kBatch.
Status ParseMessage(dom::object msg, SegmentCall call, const BatchShared& shared,
                    std::int64_t received_us, std::size_t max_message_bytes,
                    const std::string& path, ProposedEvent* out, std::string* message_id) {
  Event& e = out->event;
  ASSIGN_OR_RETURN(std::string_view mid, StringField(msg, "messageId", path));
  *message_id = std::string(mid);
  if (!mid.empty()) {
    e.id = std::string(kIdPrefix) + std::string(mid);
    if (Status s = ValidateEventId(e.id, path + ".messageId"); !s.ok()) {
      return Bad(path + ".messageId", "must be 1-" +
                                          std::to_string(kMaxEventIdBytes - kIdPrefix.size()) +
                                          " bytes of printable UTF-8 without surrounding blanks");
    }
  }

  // Who.
  ASSIGN_OR_RETURN(std::string user_id, IdField(msg, "userId", path));
  ASSIGN_OR_RETURN(std::string anonymous_id, IdField(msg, "anonymousId", path));
  if (user_id.empty() && anonymous_id.empty()) {
    return Bad(path, "userId or anonymousId is required (a non-empty string or integer)");
  }
  RETURN_IF_ERROR(AddIdIdentity("user_id", user_id, path + ".userId", &e.identities));
  RETURN_IF_ERROR(
      AddIdIdentity("anonymous_id", anonymous_id, path + ".anonymousId", &e.identities));

  // The common parts.
  ASSIGN_OR_RETURN(auto context, ObjectField(msg, "context", path));
  ASSIGN_OR_RETURN(auto integrations, ObjectField(msg, "integrations", path));
  ASSIGN_OR_RETURN(auto properties, ObjectField(msg, "properties", path));
  ASSIGN_OR_RETURN(auto traits_field, ObjectField(msg, "traits", path));
  std::optional<dom::object> context_traits;
  if (context) {
    ASSIGN_OR_RETURN(context_traits, ObjectField(*context, "traits", path + ".context"));
  }
  if (!context_traits && shared.context) {
    ASSIGN_OR_RETURN(context_traits, ObjectField(*shared.context, "traits", path + ".context"));
  }
  MergedObject traits;  // the person's
  traits.Add(context_traits);
  MergedObject group_traits;
  if (call == SegmentCall::kGroup) {
    group_traits.Add(traits_field);
  } else if (call == SegmentCall::kIdentify) {
    traits.Add(traits_field);
  }
  AddTraitIdentity(traits, "email", "email", &e.identities);
  AddTraitIdentity(traits, "phone", "phone", &e.identities);

  // When.
  ASSIGN_OR_RETURN(auto timestamp, TimeField(msg, "timestamp", path));
  ASSIGN_OR_RETURN(std::string_view timestamp_text, StringField(msg, "timestamp", path));
  if (!timestamp) {
    ASSIGN_OR_RETURN(timestamp, TimeField(msg, "originalTimestamp", path));
    ASSIGN_OR_RETURN(timestamp_text, StringField(msg, "originalTimestamp", path));
  }
  ASSIGN_OR_RETURN(auto sent_at, TimeField(msg, "sentAt", path));
  ASSIGN_OR_RETURN(std::string_view sent_at_text, StringField(msg, "sentAt", path));
  if (!sent_at) {
    sent_at = shared.sent_at;
    sent_at_text = shared.sent_at_text;
  }
  if (timestamp && sent_at) {
    e.time_us = received_us + (*timestamp - *sent_at);
  } else if (timestamp) {
    e.time_us = *timestamp;
  }

  // What.
  std::string_view event_name, name, category;
  std::string group_id, previous_id;
  ASSIGN_OR_RETURN(name, StringField(msg, "name", path));
  ASSIGN_OR_RETURN(category, StringField(msg, "category", path));
  std::vector<std::string_view> reserved = {"segment", "traits"};
  switch (call) {
    case SegmentCall::kTrack: {
      ASSIGN_OR_RETURN(event_name, StringField(msg, "event", path));
      if (TrimBlanks(event_name).empty()) {
        return Bad(path + ".event",
                   "required for track: the event's name, e.g. \"Order Completed\"");
      }
      e.type = EventTypeFromName(event_name, "track");
      break;
    }
    case SegmentCall::kPage:
      e.type = "page.viewed";
      break;
    case SegmentCall::kScreen:
      e.type = "screen.viewed";
      break;
    case SegmentCall::kIdentify:
      e.type = "user.identified";
      break;
    case SegmentCall::kGroup: {
      e.type = "group.joined";
      ASSIGN_OR_RETURN(group_id, IdField(msg, "groupId", path));
      if (group_id.empty()) {
        return Bad(path + ".groupId", "required for group: the account or organisation's id");
      }
      reserved.insert(reserved.end(), {"group_id", "group"});
      break;
    }
    case SegmentCall::kAlias: {
      e.type = "user.aliased";
      if (user_id.empty()) {
        return Bad(path + ".userId", "required for alias: the id the person has now");
      }
      ASSIGN_OR_RETURN(previous_id, IdField(msg, "previousId", path));
      if (previous_id.empty()) {
        return Bad(path + ".previousId", "required for alias: the id the person had before userId");
      }
      RETURN_IF_ERROR(AddIdIdentity("user_id", previous_id, path + ".previousId", &e.identities));
      RETURN_IF_ERROR(
          AddIdIdentity("anonymous_id", previous_id, path + ".previousId", &e.identities));
      reserved.push_back("previous_id");
      break;
    }
    case SegmentCall::kBatch:
      return Status::Internal("ParseMessage called for a batch");
  }

  // The data: properties, then touchline's members.
  std::string data = "{";
  std::string conflicting;
  if (properties) {
    bool clash = false;
    for (dom::key_value_pair kv : *properties) {
      clash = clash || std::find(reserved.begin(), reserved.end(), kv.key) != reserved.end();
    }
    if (!clash) {
      data = simdjson::minify(*properties);
      data.pop_back();  // the closing brace: more members follow
    } else {
      for (dom::key_value_pair kv : *properties) {
        const bool moved = std::find(reserved.begin(), reserved.end(), kv.key) != reserved.end();
        std::string& to = moved ? conflicting : data;
        to.append(to.size() > 1 ? "," : (to.empty() ? "{" : ""));
        AppendJsonString(&to, kv.key);
        to.push_back(':');
        to.append(simdjson::minify(kv.value));
      }
    }
  }
  const auto member = [&data](std::string_view key) {
    data.append(data.size() > 1 ? ",\"" : "\"");
    data.append(key);
    data.append("\":");
  };
  if (call == SegmentCall::kGroup) {
    member("group_id");
    AppendJsonString(&data, group_id);
    member("group");
    group_traits.AppendJson(&data);
  }
  if (call == SegmentCall::kAlias) {
    member("previous_id");
    AppendJsonString(&data, previous_id);
  }
  if (!traits.empty()) {
    member("traits");
    traits.AppendJson(&data);
  }
  member("segment");
  data.append("{\"type\":");
  AppendJsonString(&data, CallName(call));
  const auto text = [&data](std::string_view key, std::string_view value) {
    if (!value.empty()) {
      data.append(",\"");
      data.append(key);
      data.append("\":");
      AppendJsonString(&data, value);
    }
  };
  text("event", event_name);
  text("name", name);
  text("category", category);
  text("message_id", mid);
  MergedObject ctx;
  ctx.Add(shared.context, "traits");
  ctx.Add(context, "traits");
  if (!ctx.empty()) {
    data.append(",\"context\":");
    ctx.AppendJson(&data);
  }
  MergedObject integ;
  integ.Add(shared.integrations);
  integ.Add(integrations);
  if (!integ.empty()) {
    data.append(",\"integrations\":");
    integ.AppendJson(&data);
  }
  text("timestamp", timestamp_text);
  text("sent_at", sent_at_text);
  if (!conflicting.empty()) {
    data.append(",\"conflicting_properties\":");
    data.append(conflicting);
    data.push_back('}');
  }
  data.append("}}");
  // Segment's limit on a message, measured on what is kept of it.
  if (data.size() > max_message_bytes) {
    return Bad(path, "the message is " + std::to_string(data.size()) + " bytes; at most " +
                         std::to_string(max_message_bytes) + " are allowed");
  }
  e.data = std::move(data);

  // The stream: the message's own userId when it is usable (an alias's
  // previousId must not name it), else the first usable identity.
  std::vector<Identity> own;
  RETURN_IF_ERROR(AddIdIdentity("user_id", user_id, path + ".userId", &own));
  if (!own.empty() && IsBlockedIdentityValue(own[0].value)) {
    own.clear();
  }
  CanonicalizeIdentities(&e.identities);
  ASSIGN_OR_RETURN(e.customer, DeriveCustomerKey(own.empty() ? e.identities : own, path));
  return ValidateEvent(e, path);
}

std::string JsonError(simdjson::error_code code) {
  return std::string("the body is not valid JSON: ") + simdjson::error_message(code);
}

}  // namespace

StatusOr<IngestBatch> ParseSegment(std::string_view body, SegmentCall call,
                                   std::int64_t received_us, const SegmentLimits& limits) {
  const bool batch = call == SegmentCall::kBatch;
  const std::size_t max_bytes = batch ? limits.max_batch_bytes : limits.max_message_bytes;
  if (body.size() > max_bytes) {
    return Status::InvalidArgument(
        "the body is " + std::to_string(body.size()) + " bytes; " +
        (batch ? "a batch may be at most " : "a message may be at most ") +
        std::to_string(max_bytes) + " bytes" + (batch ? " (send smaller batches)" : ""));
  }
  if (TrimBlanks(body).empty()) {
    return Status::InvalidArgument(batch ? "the body is empty; send {\"batch\": [messages]}"
                                         : "the body is empty; send one message object");
  }
  ASSIGN_OR_RETURN(dom::parser * parser, IngestJsonParser(limits.max_depth));
  const simdjson::padded_string padded(body);
  dom::element root;
  if (const auto err = parser->parse(padded).get(root); err) {
    return Status::InvalidArgument(JsonError(err));
  }
  dom::object obj;
  if (root.get_object().get(obj)) {
    return Status::InvalidArgument(batch ? "the body must be an object: {\"batch\": [messages]}"
                                         : "the body must be one message object");
  }
  IngestBatch out;
  BatchShared shared;
  if (!batch) {
    out.events.resize(1);
    out.message_ids.resize(1);
    out.index.push_back(0);
    RETURN_IF_ERROR(ParseMessage(obj, call, shared, received_us, limits.max_message_bytes,
                                 std::string(CallName(call)), &out.events[0], &out.message_ids[0]));
    return out;
  }
  ASSIGN_OR_RETURN(shared.context, ObjectField(obj, "context", "batch body"));
  ASSIGN_OR_RETURN(shared.integrations, ObjectField(obj, "integrations", "batch body"));
  ASSIGN_OR_RETURN(shared.sent_at, TimeField(obj, "sentAt", "batch body"));
  ASSIGN_OR_RETURN(shared.sent_at_text, StringField(obj, "sentAt", "batch body"));
  // Merged into every message: bounded like one.
  for (const auto& [name, part] :
       {std::pair<std::string_view, const std::optional<dom::object>*>{"context", &shared.context},
        {"integrations", &shared.integrations}}) {
    if (*part && simdjson::minify(**part).size() > limits.max_message_bytes) {
      return Status::InvalidArgument("batch body." + std::string(name) + ": at most " +
                                     std::to_string(limits.max_message_bytes) +
                                     " bytes (it is merged into every message)");
    }
  }
  dom::array items;
  if (obj["batch"].get_array().get(items)) {
    return Status::InvalidArgument("batch: required: an array of messages, each with a \"type\"");
  }
  const std::size_t n = items.size();
  if (n == 0 || n > limits.max_batch_messages) {
    return Status::InvalidArgument("batch: has " + std::to_string(n) + " messages; send 1 to " +
                                   std::to_string(limits.max_batch_messages));
  }
  out.events.reserve(n);
  std::size_t i = 0;
  for (dom::element item : items) {
    const std::string path = "batch[" + std::to_string(i) + "]";
    std::string message_id;
    ProposedEvent event;
    const Status s = [&]() -> Status {
      dom::object m;
      if (item.get_object().get(m)) {
        return Bad(path, "a message must be an object");
      }
      if (auto id = StringField(m, "messageId", path); id.ok()) {
        message_id = std::string(*id);
      }
      ASSIGN_OR_RETURN(std::string_view type, StringField(m, "type", path));
      auto c = CallFromName(type);
      if (!c) {
        return Bad(path + ".type", "required: one of track, identify, page, screen, group, alias");
      }
      return ParseMessage(m, *c, shared, received_us, limits.max_message_bytes, path, &event,
                          &message_id);
    }();
    out.Add(i++, s, std::move(event), std::move(message_id));
  }
  return out;
}

std::string FindWriteKey(std::string_view body) {
  thread_local simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) {
    return "";
  }
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) {
    return "";
  }
  std::string_view key;
  if (obj.find_field_unordered("writeKey").get_string().get(key)) {
    return "";
  }
  return std::string(key);
}

}  // namespace touchline::api
