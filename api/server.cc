#include "api/server.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <thread>
#include <vector>

#include "api/http_session.h"
#include "api/internal/net.h"
#include "api/listener.h"
#include "api/stream_hub.h"
#include "core/metrics.h"

namespace touchline::api {

class Server::Impl {
 public:
  Impl(ServerOptions options, Services services)
      : options_(std::move(options)),
        threads_(options_.threads > 0 ? options_.threads
                                      : std::max(1u, std::thread::hardware_concurrency())),
        ioc_(threads_),
        acceptor_(net::make_strand(ioc_)),
        signals_(ioc_),
        drain_timer_(ioc_) {
    services_ = std::move(services);
    services_.post = [this](std::function<void()> fn) { net::post(ioc_, std::move(fn)); };
    services_.parse_limits = options_.parse_limits;
    services_.max_page_limit = options_.max_page_limit;
    services_.draining = &draining_;
    if (services_.timeline_cache == nullptr && options_.timeline_cache_bytes > 0) {
      timeline_cache_ = std::make_unique<TimelineCache>(options_.timeline_cache_bytes);
      services_.timeline_cache = timeline_cache_.get();
    }
    if (services_.log != nullptr) {
      StreamHubOptions hub;
      hub.max_queue_records = options_.ws_queue_records;
      streams_ = std::make_unique<StreamHub>(services_.log, services_.customers, hub);
    }
    metrics_collector_ = Metrics::Default().AddCollector(
        "touchline_connections", "Open connections (all, and those upgraded to WebSocket)", "gauge",
        [this](std::string* out) {
          AppendSample(out, "touchline_connections", Labels({{"kind", "all"}}),
                       static_cast<double>(registry_.count()));
          AppendSample(out, "touchline_connections", Labels({{"kind", "websocket"}}),
                       static_cast<double>(ws_connections_.load()));
        });
  }

  ~Impl() { Metrics::Default().RemoveCollector(metrics_collector_); }

  Status Start() {
    if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
      RETURN_IF_ERROR(LoadTls());
    }
    beast::error_code ec;
    const auto address = net::ip::make_address(options_.host, ec);
    if (ec) {
      return Status::InvalidArgument("--host '" + options_.host + "' is not an IP address");
    }
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return Status::Unavailable("cannot listen on " + options_.host + ":" +
                                 std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  std::uint16_t port() const { return port_; }
  bool tls() const { return tls_ != nullptr; }

  void Run() {
    if (options_.handle_signals) {
      signals_.add(SIGINT);
      signals_.add(SIGTERM);
      signals_.async_wait([this](const beast::error_code& ec, int sig) {
        if (!ec) {
          spdlog::info("received signal {}, shutting down", sig);
          BeginShutdown();
        }
      });
    }
    if (streams_) {
      streams_->Start();
    }
    const SessionContext ctx{&services_,     &options_,        &registry_, &draining_,
                             streams_.get(), &ws_connections_, tls_.get()};
    net::co_spawn(acceptor_.get_executor(), RunListener(acceptor_, ctx),
                  [](const std::exception_ptr& e) {
                    if (e) {
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::exception& ex) {
                        spdlog::critical("listener failed: {}", ex.what());
                      }
                    }
                  });
    std::vector<std::thread> pool;
    for (int i = 1; i < threads_; ++i) {
      pool.emplace_back([this] {
        pthread_setname_np(pthread_self(), "tl-io");
        ioc_.run();
      });
    }
    ioc_.run();
    for (auto& t : pool) {
      t.join();
    }
    // No more notifications into the io_context; feeds still held by
    // session frames unsubscribe when the io_context destroys them.
    if (streams_) {
      streams_->Stop();
    }
  }

  void Shutdown() {
    net::post(ioc_, [this] { BeginShutdown(); });
  }

 private:
  Status LoadTls() {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return Status::InvalidArgument("TLS needs both --tls-cert and --tls-key");
    }
    auto tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    // TLS 1.2 is the floor; 1.3 is preferred when the client has it.
    tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
    beast::error_code ec;
    tls->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      return Status::InvalidArgument("--tls-cert '" + options_.tls_cert_file +
                                     "': cannot load a PEM certificate chain: " + ec.message());
    }
    tls->use_private_key_file(options_.tls_key_file, net::ssl::context::pem, ec);
    if (ec) {
      return Status::InvalidArgument("--tls-key '" + options_.tls_key_file +
                                     "': cannot load a PEM private key: " + ec.message());
    }
    if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
      return Status::InvalidArgument("--tls-key does not match the certificate in --tls-cert");
    }
    tls_ = std::move(tls);
    return Status::Ok();
  }

  // Runs on the io_context.
  void BeginShutdown() {
    if (draining_.exchange(true)) {
      return;
    }
    beast::error_code ignored;
    signals_.cancel(ignored);
    // The listener coroutine runs on the acceptor's strand; close it there.
    net::dispatch(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    registry_.CloseIdle();
    drain_deadline_ = std::chrono::steady_clock::now() + options_.shutdown_timeout;
    WaitForSessions();
  }

  void WaitForSessions() {
    if (registry_.count() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
      if (registry_.count() != 0) {
        spdlog::warn("shutdown timeout: closing {} connections still busy", registry_.count());
      }
      ioc_.stop();
      return;
    }
    registry_.CloseIdle();  // sessions that finished a request since
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this](const beast::error_code& ec) {
      if (!ec) {
        WaitForSessions();
      }
    });
  }

  // Constant after construction
  const ServerOptions options_;
  const int threads_;

  // Declared before ioc_ so they outlive it: destroying ioc_ destroys any
  // session coroutine frames still pending, and those unregister themselves.
  std::atomic<bool> draining_{false};
  Services services_;
  SessionRegistry registry_;
  std::unique_ptr<StreamHub> streams_;
  std::atomic<std::size_t> ws_connections_{0};
  std::uint16_t port_ = 0;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::uint64_t metrics_collector_ = 0;
  std::unique_ptr<net::ssl::context> tls_;  // set by Start() when TLS is on
  std::unique_ptr<TimelineCache> timeline_cache_;

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer drain_timer_;
};

Server::Server(ServerOptions options, Services services)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(services))) {}
Server::~Server() = default;
Status Server::Start() { return impl_->Start(); }
std::uint16_t Server::port() const { return impl_->port(); }
bool Server::tls() const { return impl_->tls(); }
void Server::Run() { impl_->Run(); }
void Server::Shutdown() { impl_->Shutdown(); }

}  // namespace touchline::api
