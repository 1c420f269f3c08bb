// Namespace aliases and the Beast/Asio includes shared by the few
// translation units that speak the network (http_session.cc, listener.cc,
// server.cc, ws_session.cc, webhook_client.cc). Beast is header-heavy: keep it out of every other
// file.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace touchline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
// A connection with TLS (--tls-cert/--tls-key).
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

}  // namespace touchline::api
