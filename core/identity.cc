#include "core/identity.h"

#include <algorithm>
#include <array>

#include "core/validation.h"

namespace touchline {
namespace {

constexpr auto Invalid = InvalidAt;

StatusOr<std::string> NormalizePhone(std::string_view v, std::string_view path) {
  std::string digits;
  bool plus = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '+' && i == 0) {
      plus = true;
    } else if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/') {
      return Invalid(path,
                     "a phone number may hold only digits, a leading '+' and the "
                     "separators space - . ( ) /");
    }
  }
  if (!plus && digits.starts_with("00")) {
    digits.erase(0, 2);
    plus = true;
  }
  if (!plus) {
    return Invalid(path,
                   "a phone number needs its country code, written +<country><number> "
                   "or 00<country><number>, e.g. \"+62 812 3456 7890\"");
  }
  if (digits.size() < 8 || digits.size() > 15 || digits[0] == '0') {
    return Invalid(path,
                   "an E.164 phone number has 8 to 15 digits after the '+' and the "
                   "country code does not start with 0");
  }
  return "+" + digits;
}

}  // namespace

Status ValidateIdentityType(std::string_view type, std::string_view path) {
  if (type == kCustomerIdentityType) {
    return Invalid(path,
                   "\"customer\" is not an identity type; put the customer id in the "
                   "event's customer field");
  }
  if (type.size() > kMaxIdentityTypeBytes) {
    return Invalid(
        path, "an identity type is at most " + std::to_string(kMaxIdentityTypeBytes) + " bytes");
  }
  // Same syntax as a channel: a dotted lower-case name.
  Status s = ValidateChannel(type, path);
  if (!s.ok() || type.empty()) {
    return Invalid(path,
                   "an identity type must be a dotted lower-case name such as \"email\", "
                   "\"phone\", \"user_id\", \"anonymous_id\" or \"social.twitter\"");
  }
  return Status::Ok();
}

bool IsBlockedIdentityValue(std::string_view value) {
  static constexpr std::array<std::string_view, 11> kJunk = {
      "", "null", "undefined", "0", "-1", "anonymous", "none", "nil", "n/a", "unknown", "nan"};
  const std::string_view trimmed = TrimBlanks(value);
  if (trimmed.size() > 9) {
    return false;  // longer than any junk value ("undefined", "anonymous")
  }
  const std::string v = AsciiLower(trimmed);
  return std::find(kJunk.begin(), kJunk.end(), v) != kJunk.end();
}

StatusOr<std::string> NormalizeIdentity(std::string_view type, std::string_view value,
                                        std::string_view path) {
  if (value.size() > kMaxIdentityValueBytes) {
    return Invalid(
        path, "an identity value is at most " + std::to_string(kMaxIdentityValueBytes) + " bytes");
  }
  if (!IsPrintableUtf8(value)) {
    return Invalid(path, "an identity value must be valid UTF-8 without control characters");
  }
  const std::string_view trimmed = TrimBlanks(value);
  if (IsBlockedIdentityValue(trimmed)) {
    return AsciiLower(trimmed);  // kept as sent (canonically spelled), never linked
  }
  if (type == "email") {
    std::string v = AsciiLower(trimmed);
    const auto at = v.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == v.size() ||
        v.find('@', at + 1) != std::string::npos || v.find(' ') != std::string::npos) {
      return Invalid(path,
                     "an email address needs one '@' with text on both sides and no "
                     "spaces, e.g. \"alice@example.com\"");
    }
    return v;
  }
  if (type == "phone") {
    return NormalizePhone(trimmed, path);
  }
  if (type.starts_with("social.")) {
    std::string v = AsciiLower(trimmed);
    if (v.starts_with('@')) {
      v.erase(0, 1);
    }
    if (v.empty()) {
      return Invalid(path, "a social handle must not be empty");
    }
    return v;
  }
  return std::string(trimmed);
}

std::string IdentityString(const Identity& identity) {
  std::string out;
  out.reserve(identity.type.size() + 1 + identity.value.size());
  out += identity.type;
  out += ':';
  out += identity.value;
  return out;
}

StatusOr<Identity> ParseIdentityString(std::string_view text, std::string_view path) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Invalid(path, "an identity is written type:value, e.g. \"email:alice@example.com\"");
  }
  Identity id;
  id.type = std::string(text.substr(0, colon));
  if (id.type != kCustomerIdentityType) {
    RETURN_IF_ERROR(ValidateIdentityType(id.type, path));
    ASSIGN_OR_RETURN(id.value, NormalizeIdentity(id.type, text.substr(colon + 1), path));
  } else {
    id.value = std::string(text.substr(colon + 1));
  }
  return id;
}

StatusOr<std::string> DeriveCustomerKey(const std::vector<Identity>& identities,
                                        std::string_view path) {
  const Identity* best = nullptr;
  int best_rank = 0;
  for (const auto& id : identities) {
    if (IsBlockedIdentityValue(id.value)) {
      continue;
    }
    const int rank = id.type == "user_id" ? 0 : id.type == "email" ? 1 : id.type == "phone" ? 2 : 3;
    // Ties keep the first in canonical (sorted) order.
    if (best == nullptr || rank < best_rank) {
      best = &id;
      best_rank = rank;
    }
  }
  if (best == nullptr) {
    return Invalid(path,
                   "an event needs a customer id or at least one usable identity (every "
                   "identity given is empty or a placeholder such as \"null\")");
  }
  std::string key = IdentityString(*best);
  if (key.size() > kMaxCustomerIdBytes) {
    return Invalid(path, "the identity " + best->type +
                             " is too long to name the customer's "
                             "stream; give a customer id");
  }
  return key;
}

void CanonicalizeIdentities(std::vector<Identity>* identities) {
  std::sort(identities->begin(), identities->end());
  identities->erase(std::unique(identities->begin(), identities->end()), identities->end());
}

}  // namespace touchline
