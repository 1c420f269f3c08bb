#include "tests/support/ws_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>

namespace touchline::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool reading = false;                        // an async_read is pending
  std::optional<beast::error_code> read_done;  // its result, once complete
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}
WsClient::~WsClient() = default;

StatusOr<std::unique_ptr<WsClient>> WsClient::Connect(std::uint16_t port,
                                                      std::string_view subprotocol,
                                                      std::string_view target) {
  std::unique_ptr<WsClient> c(new WsClient());
  auto& ws = c->impl_->ws;
  beast::error_code ec;
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    return Status::Unavailable("connect: " + ec.message());
  }
  const std::string proto(subprotocol);
  ws.set_option(websocket::stream_base::decorator([proto](websocket::request_type& req) {
    if (!proto.empty()) {
      req.set(http::field::sec_websocket_protocol, proto);
    }
  }));
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1:" + std::to_string(port), std::string(target), ec);
  if (ec) {
    return Status::Unavailable("handshake: " + ec.message() + " (HTTP " +
                               std::to_string(res.result_int()) + " " + res.body() + ")");
  }
  beast::get_lowest_layer(ws).expires_never();
  c->subprotocol_ = std::string(res[http::field::sec_websocket_protocol]);
  return c;
}

Status WsClient::Send(std::string_view text) {
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text.data(), text.size()), ec);
  return ec ? Status::Unavailable("write: " + ec.message()) : Status::Ok();
}

Status WsClient::SendBinary(std::string_view bytes) {
  beast::error_code ec;
  impl_->ws.binary(true);
  impl_->ws.write(net::buffer(bytes.data(), bytes.size()), ec);
  impl_->ws.text(true);
  return ec ? Status::Unavailable("write: " + ec.message()) : Status::Ok();
}

StatusOr<std::string> WsClient::Read(std::chrono::milliseconds timeout) {
  Impl& d = *impl_;
  if (!d.reading) {
    d.reading = true;
    d.read_done.reset();
    d.ws.async_read(d.buffer, [&d](beast::error_code ec, std::size_t) { d.read_done = ec; });
  }
  d.ioc.restart();
  d.ioc.run_for(timeout);
  if (!d.read_done.has_value()) {
    return Status::Unavailable("timeout");
  }
  d.reading = false;
  const beast::error_code ec = *d.read_done;
  if (ec) {
    close_code_ = d.ws.reason().code;
    close_reason_ = std::string(d.ws.reason().reason.c_str());
    return Status::Unavailable("closed (" + std::to_string(close_code_) + " " + close_reason_ +
                               "): " + ec.message());
  }
  std::string out = beast::buffers_to_string(d.buffer.data());
  d.buffer.consume(d.buffer.size());
  return out;
}

void WsClient::Close() {
  beast::error_code ec;
  if (impl_->reading) {
    // A read is pending: cancel it by closing the socket.
    beast::get_lowest_layer(impl_->ws).socket().close(ec);
    return;
  }
  beast::get_lowest_layer(impl_->ws).expires_after(std::chrono::seconds(2));
  impl_->ws.close(websocket::close_code::normal, ec);
}

bool IsReadTimeout(const Status& s) { return s.IsUnavailable() && s.message() == "timeout"; }

StatusOr<std::string> WssExchange(std::uint16_t port, const std::string& ca_file,
                                  const std::string& target, const std::string& message) {
  net::io_context ioc;
  net::ssl::context tls(net::ssl::context::tls_client);
  tls.set_verify_mode(net::ssl::verify_peer);
  beast::error_code ec;
  tls.load_verify_file(ca_file, ec);
  if (ec) {
    return Status::InvalidArgument("CA file: " + ec.message());
  }
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, tls);
  auto& tcp_layer = beast::get_lowest_layer(ws);
  tcp_layer.expires_after(std::chrono::seconds(10));
  tcp_layer.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (!ec) {
    ws.next_layer().handshake(net::ssl::stream_base::client, ec);
  }
  if (ec) {
    return Status::Unavailable("TLS: " + ec.message());
  }
  tcp_layer.expires_never();
  ws.handshake("127.0.0.1", target, ec);
  if (!ec) {
    ws.write(net::buffer(message), ec);
  }
  beast::flat_buffer buffer;
  if (!ec) {
    ws.read(buffer, ec);
  }
  if (ec) {
    return Status::Unavailable("WebSocket: " + ec.message());
  }
  std::string reply = beast::buffers_to_string(buffer.data());
  ws.close(websocket::close_code::normal, ec);
  return reply;
}

}  // namespace touchline::testing
