// Identities: the identifiers an event may carry besides its customer id
// (email, phone, user_id, anonymous_id, social.<network> handles, custom
// keys), how each is normalised, which values are junk, and how an event
// that names no customer gets its stream key.
//
// Normalisation is applied once, at ingest (api/json_codec.cc), so stored
// records hold canonical values and the identity graph
// (projections/customer_view_projection.h) compares bytes:
//   email           trimmed, lower-cased; must contain '@' with text on both sides
//   phone           E.164: '+' then 8-15 digits; spaces, '-', '.', '(', ')' and
//                   '/' are dropped and a leading "00" becomes '+'. A number
//                   without a country code is rejected (we cannot guess it).
//   social.<net>    trimmed, lower-cased, a leading '@' dropped
//   anything else   trimmed (user_id, anonymous_id, custom keys are case-sensitive)
// Junk values (empty, "null", "undefined", "0", "-1", "anonymous", "none",
// "nil", "n/a", "unknown", compared after trimming and lower-casing) are
// stored as sent but never identify anyone: IsBlockedIdentityValue().
//
// An identity is written "type:value" wherever one string is needed (the
// identity index, lookups such as GET /v1/customers/email:a@b.c).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace touchline {

inline constexpr std::size_t kMaxIdentitiesPerEvent = 32;
inline constexpr std::size_t kMaxIdentityTypeBytes = 64;
inline constexpr std::size_t kMaxIdentityValueBytes = 256;

// The type of the identity every stream key implicitly is: the graph treats
// an event's customer as the identity "customer:<customer>".
inline constexpr std::string_view kCustomerIdentityType = "customer";

// Checks an identity type: a dotted lower-case name ("email", "social.twitter",
// "crm.contact_id"), not "customer" (use the customer field). Returns
// InvalidArgument prefixed with `path`.
Status ValidateIdentityType(std::string_view type, std::string_view path);

// Validates and normalises one value of `type` (see the file comment).
// Returns InvalidArgument prefixed with `path` saying what would be accepted.
StatusOr<std::string> NormalizeIdentity(std::string_view type, std::string_view value,
                                        std::string_view path);

// True if a (normalised) value is junk and must never link profiles.
bool IsBlockedIdentityValue(std::string_view value);

// "type:value".
std::string IdentityString(const Identity& identity);

// Splits "type:value" at the first ':' and normalises the value. Returns
// InvalidArgument if there is no ':' or either part is invalid.
StatusOr<Identity> ParseIdentityString(std::string_view text, std::string_view path);

// The stream key for an event that has identities but no customer: the
// first usable identity by priority (user_id, email, phone, then the rest in
// sorted order) as "type:value". Returns InvalidArgument (prefixed with
// `path`) if every identity is junk or the key would exceed the customer id
// limit.
StatusOr<std::string> DeriveCustomerKey(const std::vector<Identity>& identities,
                                        std::string_view path);

// Sorts by (type, value) and removes exact duplicates: the canonical order
// in which identities are stored.
void CanonicalizeIdentities(std::vector<Identity>* identities);

}  // namespace touchline
