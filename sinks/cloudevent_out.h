// What a sink sends: the log's records as CloudEvents 1.0 (JSON event
// format), and the Standard Webhooks signature over each request.
//
// One record as a structured CloudEvent:
//   {"specversion":"1.0",
//    "id":"1234",                 the record's seq: unique in the log and the
//                                 same on every delivery, replays included
//    "source":"<source>",         one URI per deployment (--sink-source)
//    "type":"order.completed",    the event type as stored
//    "subject":"c-123",           the customer (stream id)
//    "time":"2026-12-04T10:00:00Z",
//    "datacontenttype":"application/json",
//    "data":{...},                the event's data object
//    "seq":1234,                  extensions: the seq as a number,
//    "recordedat":"...",          when the log committed it,
//    "actor":"crm-sync",          who wrote it,
//    "eventid":"evt-1",           the event's own id, if it had one,
//    "channel":"email", "department":"support",   if set,
//    "identities":"email:a@b.c,user_id:u-1"}      "type:value" pairs, as
//                                 POST /v1/cloudevents reads them
// A record whose customer was erased goes out with "erased":true and
// neither data (nor datacontenttype) nor identities: what the log still
// holds.
//
// Signatures (Standard Webhooks 1.0): the secret is "whsec_" + base64 of
// 32 random bytes; webhook-signature is "v1," + base64(HMAC-SHA256(the
// secret's bytes, "<webhook-id>.<webhook-timestamp>.<body>")).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/record_format.h"

namespace touchline::sinks {

// Appends the CloudEvent of `record` to `out`.
void AppendCloudEvent(const store::Record& record, std::string_view source, std::string* out);

// A new secret, "whsec_" + base64 of 32 random bytes.
std::string NewWebhookSecret();

// The webhook-signature header value for a request. InvalidArgument if
// `secret` is not "whsec_" + base64.
StatusOr<std::string> SignWebhook(std::string_view secret, std::string_view webhook_id,
                                  std::int64_t timestamp_seconds, std::string_view body);

}  // namespace touchline::sinks
