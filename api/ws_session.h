// The WebSocket session of GET /v1/stream: an HTTP session whose request
// asks for an upgrade hands its stream over here. The protocol (commands
// and messages) is in api/ws_protocol.h; delivery, catch-up and
// backpressure are api/stream_hub.h's.
//
// The session runs two coroutines on the connection's strand: a reader
// that parses commands and queues replies, and a writer that sends replies
// first, then events from each subscription in turn (at most one message
// in flight). The writer pulls from the feeds only when its previous write
// has completed, so a client that reads slowly makes its feeds fall back to
// reading the log, and the server's memory for it stays bounded.
//
// Close codes: 1000 normal; 1001 the server is shutting down (resubscribe
// with "from": the last seq you processed); 1008 the API key was revoked; 1009 a message above
// --ws-max-message-bytes; 1011 the log could not be read. An idle peer gets pings, and is dropped
// when it answers nothing for --ws-idle-timeout-ms.
//
// Thread safety: a session runs on its strand.
#pragma once

#include "api/http_session.h"

namespace touchline::api {

// True if `req` asks for a WebSocket upgrade.
bool IsWebSocketUpgrade(const http::request<http::string_body>& req);

// Serves the WebSocket session on `stream` after the upgrade request `req`,
// which the HTTP session has admitted (api/auth.h) as `admitted` (its
// credentials, rechecked every second: a revoked key closes the session
// with 1008) for a key with `role`: only the auditor and admin roles may
// subscribe to the whole log. `control` is the HTTP session's registration
// (used for shutdown).
net::awaitable<void> RunWebSocketSession(beast::tcp_stream stream,
                                         http::request<http::string_body> req, SessionContext ctx,
                                         SessionControl* control, Request admitted,
                                         store::Role role);
// The same over TLS (wss://).
net::awaitable<void> RunWebSocketSession(TlsStream stream, http::request<http::string_body> req,
                                         SessionContext ctx, SessionControl* control,
                                         Request admitted, store::Role role);

}  // namespace touchline::api
