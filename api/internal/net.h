// Namespace aliases and the Beast/Asio includes shared by the few
// translation units that speak the network (http_session.cc, listener.cc,
// server.cc). Beast is header-heavy: keep it out of every other file.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace touchline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

}  // namespace touchline::api
