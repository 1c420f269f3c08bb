// The accept loop: one coroutine per listening socket. Each accepted
// connection gets its own strand and a RunHttpSession coroutine; past
// max_connections a connection is answered 503 and closed. Accept errors
// such as running out of file descriptors back off and retry instead of
// ending the loop.
//
// Thread safety: runs on the acceptor's executor.
#pragma once

#include "api/http_session.h"
#include "api/internal/net.h"

namespace touchline::api {

net::awaitable<void> RunListener(tcp::acceptor& acceptor, SessionContext ctx);

}  // namespace touchline::api
