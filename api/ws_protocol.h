// The message protocol of GET /v1/stream (WebSocket), without Beast types:
// parsing client commands and rendering server messages, so both can be
// unit-tested and fuzzed without sockets. The session (api/ws_session.cc)
// does the I/O; the full protocol is documented in api/README.md.
//
// Client -> server, one JSON object per text message:
//   {"op":"subscribe","id":"s1","customers":["email:a@b.c",...],
//    "types":["ticket"],"channels":["email"],"from":120}
//       `customers` (any id form) or "all":true (the whole log) is required;
//       `from` is a seq (deliver events after it) or "now" (the default).
//   {"op":"unsubscribe","id":"s1"}
//   {"op":"ping","data":<any JSON>}
// Server -> client (subprotocol none or "touchline.v1"):
//   {"type":"subscribed","id":"s1","from":120,"head":480,"customers":[...]}
//   {"type":"events","id":"s1","events":[<stored record>,...]}   seq order
//   {"type":"unsubscribed","id":"s1","position":480}
//   {"type":"pong","data":...}
//   {"type":"error","code":"bad_command","message":"...","id":"s1"}
// With the subprotocol "cloudevents.json" every server message is one
// structured-mode CloudEvent (JSON event format 1.0): each event on its own
// (type = the event type, id = the seq, subject = the customer, extension
// "sequence" = the seq zero-padded to 20 digits, "subscription" = the
// subscription id), control messages as "touchline.stream.<type>" events
// whose data is the native message.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/stream_hub.h"
#include "core/status.h"
#include "store/record_format.h"

namespace touchline::api {

enum class WsFormat { kNative, kCloudEvents };

// The WebSocket subprotocols offered; the first the client lists wins.
inline constexpr std::string_view kNativeSubprotocol = "touchline.v1";
inline constexpr std::string_view kCloudEventsSubprotocol = "cloudevents.json";

struct WsCommand {
  enum class Op { kSubscribe, kUnsubscribe, kPing };
  Op op = Op::kPing;
  std::string id;  // the subscription id (empty: the server picks one)
  StreamFilter filter;
  std::optional<Seq> from;  // unset: from the head ("now")
  std::string ping_data;    // minified JSON echoed in the pong ("null" if absent)
};

struct WsLimits {
  std::size_t max_customers = 100;  // per subscription
  std::size_t max_filters = 50;     // types, channels each
};

// Parses one client message. Returns InvalidArgument saying what to fix.
StatusOr<WsCommand> ParseWsCommand(std::string_view text, const WsLimits& limits);

// The subprotocol to answer for a Sec-WebSocket-Protocol request header
// (empty: none was asked for or none is supported).
std::string_view ChooseSubprotocol(std::string_view requested);

// Server messages, in `format`.
std::string RenderSubscribed(WsFormat format, std::string_view id, Seq from, Seq head,
                             const std::vector<ResolvedCustomer>& customers);
std::string RenderUnsubscribed(WsFormat format, std::string_view id, Seq position);
std::string RenderPong(WsFormat format, std::string_view data);
std::string RenderWsError(WsFormat format, std::string_view code, std::string_view message,
                          std::string_view id = "");
// kNative: one message with all of `records`. kCloudEvents: one message per
// record (the caller sends each).
std::vector<std::string> RenderEvents(WsFormat format, std::string_view id,
                                      const std::vector<store::RecordPtr>& records);

}  // namespace touchline::api
