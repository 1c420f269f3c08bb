#include "core/validation.h"

#include <string>

#include "core/identity.h"

namespace touchline {
Status InvalidAt(std::string_view path, std::string_view what) {
  std::string msg(path);
  msg += ": ";
  msg += what;
  return Status::InvalidArgument(std::move(msg));
}

namespace {

constexpr auto Invalid = InvalidAt;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

Status ValidateText(std::string_view s, std::string_view path, std::size_t max_bytes,
                    std::string_view what) {
  if (s.empty()) {
    return Invalid(path, std::string(what) + " must not be empty");
  }
  if (s.size() > max_bytes) {
    return Invalid(path, std::string(what) + " is " + std::to_string(s.size()) +
                             " bytes; at most " + std::to_string(max_bytes) + " are allowed");
  }
  if (!IsPrintableUtf8(s)) {
    return Invalid(path, std::string(what) + " must be valid UTF-8 without control characters");
  }
  if (IsSpace(s.front()) || IsSpace(s.back())) {
    return Invalid(path, std::string(what) + " must not start or end with whitespace");
  }
  return Status::Ok();
}

bool IsDottedName(std::string_view s) {
  bool segment_start = true;
  for (const char c : s) {
    if (segment_start) {
      if (c < 'a' || c > 'z') {
        return false;
      }
      segment_start = false;
    } else if (c == '.') {
      segment_start = true;
    } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return false;
    }
  }
  return !segment_start;  // not empty, no trailing dot
}

Status ValidateDottedName(std::string_view s, std::string_view path, std::size_t max_bytes,
                          std::string_view what, std::string_view example) {
  if (s.size() > max_bytes) {
    return Invalid(path, std::string(what) + " is " + std::to_string(s.size()) +
                             " bytes; at most " + std::to_string(max_bytes) + " are allowed");
  }
  if (!IsDottedName(s)) {
    return Invalid(path, std::string(what) +
                             " must be a dotted lower-case name: segments of a-z, 0-9, '_' "
                             "or '-' starting with a letter, e.g. \"" +
                             std::string(example) + "\"");
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The length (1-4) of the well-formed UTF-8 sequence at p, with its code
// point in *cp; 0 if the bytes there are not one (a stray continuation
// byte, an overlong form, a surrogate, a value past U+10FFFF, a truncated
// sequence).
int DecodeUtf8(const unsigned char* p, const unsigned char* end, std::uint32_t* cp) {
  const unsigned char c = *p;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int extra = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    *cp = c & 0x1f;
    extra = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    *cp = c & 0x0f;
    extra = 2;
  } else if (c >= 0xf0 && c <= 0xf4) {
    *cp = c & 0x07;
    extra = 3;
  } else {
    return 0;
  }
  if (end - p <= extra) {
    return 0;
  }
  for (int i = 1; i <= extra; ++i) {
    if ((p[i] & 0xc0) != 0x80) {
      return 0;
    }
    *cp = (*cp << 6) | (p[i] & 0x3f);
  }
  if ((extra == 2 && *cp < 0x800) || (extra == 3 && (*cp < 0x10000 || *cp > 0x10ffff)) ||
      (*cp >= 0xd800 && *cp <= 0xdfff)) {
    return 0;
  }
  return extra + 1;
}

}  // namespace

bool IsPrintableUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    std::uint32_t cp = 0;
    const int n = DecodeUtf8(p, end, &cp);
    // No C0 controls, DEL, or C1 controls (U+0080-U+009F).
    if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
      return false;
    }
    p += n;
  }
  return true;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string ToValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  std::string out;
  out.reserve(s.size());
  while (p < end) {
    std::uint32_t cp = 0;
    const int n = DecodeUtf8(p, end, &cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    p += n;
  }
  return out;
}

Status ValidateEventId(std::string_view id, std::string_view path) {
  return ValidateText(id, path, kMaxEventIdBytes, "event id");
}

Status ValidateCustomerId(std::string_view customer, std::string_view path) {
  return ValidateText(customer, path, kMaxCustomerIdBytes, "customer id");
}

Status ValidateEventType(std::string_view type, std::string_view path) {
  if (type.empty()) {
    return Invalid(path, "event type must not be empty");
  }
  return ValidateDottedName(type, path, kMaxEventTypeBytes, "event type", "ticket.opened");
}

Status ValidateChannel(std::string_view channel, std::string_view path) {
  if (channel.empty()) {
    return Status::Ok();
  }
  return ValidateDottedName(channel, path, kMaxChannelBytes, "channel", "social.twitter");
}

Status ValidateDepartment(std::string_view department, std::string_view path) {
  if (department.empty()) {
    return Status::Ok();
  }
  return ValidateText(department, path, kMaxDepartmentBytes, "department");
}

Status ValidateData(std::string_view data, std::string_view path) {
  if (data.size() < 2 || data.front() != '{' || data.back() != '}') {
    return Invalid(path, "data must be a JSON object");
  }
  if (data.size() > kMaxDataBytes) {
    return Invalid(path, "data is " + std::to_string(data.size()) +
                             " bytes when minified; at most " + std::to_string(kMaxDataBytes) +
                             " are allowed");
  }
  return Status::Ok();
}

Status ValidateEvent(const Event& event, std::string_view path) {
  const std::string p(path);
  if (!event.id.empty()) {
    RETURN_IF_ERROR(ValidateEventId(event.id, p + ".id"));
  }
  RETURN_IF_ERROR(ValidateCustomerId(event.customer, p + ".customer"));
  RETURN_IF_ERROR(ValidateEventType(event.type, p + ".type"));
  RETURN_IF_ERROR(ValidateChannel(event.channel, p + ".channel"));
  RETURN_IF_ERROR(ValidateDepartment(event.department, p + ".department"));
  RETURN_IF_ERROR(ValidateData(event.data, p + ".data"));
  if (event.identities.size() > kMaxIdentitiesPerEvent) {
    return Invalid(p + ".identities",
                   "at most " + std::to_string(kMaxIdentitiesPerEvent) + " identities per event");
  }
  for (std::size_t i = 0; i < event.identities.size(); ++i) {
    const Identity& id = event.identities[i];
    const std::string ipath = p + ".identities." + id.type;
    RETURN_IF_ERROR(ValidateIdentityType(id.type, ipath));
    ASSIGN_OR_RETURN(std::string normal, NormalizeIdentity(id.type, id.value, ipath));
    if (normal != id.value) {
      return Invalid(ipath, "identity value is not in normal form (expected \"" + normal + "\")");
    }
    if (i > 0 && !(event.identities[i - 1] < id)) {
      return Invalid(p + ".identities", "identities must be sorted and unique");
    }
  }
  return Status::Ok();
}

bool TypeMatchesAny(std::string_view type, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) {
    return true;
  }
  for (const auto& p : prefixes) {
    if (type.starts_with(p) && (type.size() == p.size() || type[p.size()] == '.')) {
      return true;
    }
  }
  return false;
}

bool ChannelMatchesAny(std::string_view channel, const std::vector<std::string>& channels) {
  if (channels.empty()) {
    return true;
  }
  for (const auto& c : channels) {
    if (channel == c) {
      return true;
    }
  }
  return false;
}

void AppendJsonString(std::string* out, std::string_view utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  std::size_t start = 0;
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out->append(utf8.substr(start, i - start));
    start = i + 1;
    out->push_back('\\');
    switch (c) {
      case '"':
      case '\\':
        out->push_back(static_cast<char>(c));
        break;
      case '\n':
        out->push_back('n');
        break;
      case '\t':
        out->push_back('t');
        break;
      case '\r':
        out->push_back('r');
        break;
      default:
        out->append("u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
  }
  out->append(utf8.substr(start));
  out->push_back('"');
}

}  // namespace touchline
