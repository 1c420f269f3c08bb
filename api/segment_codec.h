// The Segment HTTP Tracking API as touchline events: POST /v1/track,
// /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias, /v1/batch and
// /v1/import (a batch). The routes and answers are in docs/api.md
// ("Segment-compatible tracking").
//
// Limits, as Segment's: a single call's body at most 32 KB, and in a batch
// each message's kept data (all of it but the ids and times) at most 32 KB,
// as is the batch's shared context and integrations; a batch body at
// most 500 KB and 2,500 messages. A single call with a bad message, a body
// that is not JSON or is too large, or a batch without a `batch` array
// fails whole (400, which the SDKs never retry). Inside a batch, each bad
// message is refused alone (IngestBatch::refused, api/ingest.h) and the rest
// are stored.
//
// Mapping of one message to an event:
//   id        "segment:" + messageId. Without a messageId the event has no
//             idempotency id, so a retry would store it twice (every
//             Segment SDK sends one).
//   identities user_id (userId), anonymous_id (anonymousId), and email and
//             phone from the traits (`traits` of identify, `context.traits`
//             of any call) when they are valid ones (core/identity.h; an
//             invalid email stays in the traits only). userId and
//             anonymousId may be strings or integers; one is required.
//   customer  the stream is named after the first of user_id, email, phone,
//             anonymous_id (DeriveCustomerKey, core/identity.h); the
//             customer view joins the rest.
//   type      track: the event name through EventTypeFromName
//             (api/ingest.h; "Order Completed" -> "order.completed");
//             page -> "page.viewed"; screen -> "screen.viewed";
//             identify -> "user.identified"; group -> "group.joined";
//             alias -> "user.aliased".
//   time      timestamp (or originalTimestamp) corrected for the sender's
//             clock as Segment does: received + (timestamp - sentAt) when
//             both are given (sentAt of the message, else of the batch);
//             timestamp alone as given; neither: the time it is recorded.
//   data      the `properties` as its top-level members, and
//               "traits":  context.traits merged with traits (traits win)
//                          for identify; context.traits for other calls;
//                          the customer view keeps them (data.traits);
//               "segment": {"type", "event" (the original name), "name",
//                          "category", "message_id", "context" (without
//                          its traits), "integrations", "timestamp",
//                          "sent_at"} as sent;
//             group adds "group_id" and "group" (the group's traits); alias
//             adds "previous_id". A property named like one of these keys
//             is moved to segment.conflicting_properties.
//   alias     needs userId and previousId; previousId is added as both a
//             user_id and an anonymous_id
//             identity (Segment does not say which it is), so the customer
//             view merges the earlier history with userId's.
// A batch's top-level `context` and `integrations` are merged into each
// message's (the message's own keys win).
//
// Thread safety: functions are thread-safe (parsers are thread_local).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/ingest.h"
#include "core/status.h"

namespace touchline::api {

enum class SegmentCall : std::uint8_t { kTrack, kIdentify, kPage, kScreen, kGroup, kAlias, kBatch };

struct SegmentLimits {
  std::size_t max_message_bytes = 32 * 1024;
  std::size_t max_batch_bytes = 500 * 1024;
  std::size_t max_batch_messages = 2500;
  std::size_t max_depth = 64;
};

// Parses one call's body received at `received_us`. Returns InvalidArgument
// for what fails the whole request (see the file comment); refused
// messages of a batch are in the result.
StatusOr<IngestBatch> ParseSegment(std::string_view body, SegmentCall call,
                                   std::int64_t received_us, const SegmentLimits& limits);

// The body's top-level "writeKey" string, or "" (not JSON, absent, not a
// string). analytics-node 2.0-3.0 send the key only there.
std::string FindWriteKey(std::string_view body);

}  // namespace touchline::api
