// libFuzzer target: the HTTP request path after parsing, in memory with no
// sockets: access control (a key file with one key per role), routing,
// query parsing and every handler, over an in-memory event log with the
// customer view, reminders and audit projections running, reads recorded
// by the access log and erasures purged. Input: method, target,
// Authorization and Content-Type on the first four lines, then the body.
// Every answer must be one response with a valid status, and every JSON
// answer must parse.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <string_view>

#include "api/access_log.h"
#include "api/auth.h"
#include "api/router.h"
#include "projections/audit_projection.h"
#include "projections/customer_view_projection.h"
#include "projections/erasure_purger.h"
#include "projections/projection_runner.h"
#include "projections/reminder_projection.h"

using namespace touchline;  // NOLINT(build/namespaces)

namespace {

struct World {
  std::unique_ptr<store::EventLog> log;
  std::unique_ptr<projections::ProjectionRunner> customers;
  std::unique_ptr<projections::ProjectionRunner> reminders;
  std::unique_ptr<projections::ProjectionRunner> audit;
  std::unique_ptr<projections::ErasurePurger> purger;
  std::unique_ptr<api::AccessLog> access_log;
  std::unique_ptr<store::KeyRing> keys;
  std::unique_ptr<api::AccessControl> access;
  std::atomic<bool> draining{false};
  api::Services services;
  std::map<std::string, std::string, std::less<>> secrets;  // by role name

  World() {
    store::EventLogOptions options;
    options.in_memory = true;
    options.path = "/fuzz-router";
    log = std::move(store::EventLog::Open(options)).value();
    customers = std::move(projections::ProjectionRunner::Create(
                              log.get(), std::make_unique<projections::CustomerViewProjection>(
                                             projections::IdentityLimits{})))
                    .value();
    reminders = std::move(projections::ProjectionRunner::Create(
                              log.get(), std::make_unique<projections::ReminderProjection>()))
                    .value();
    audit = std::move(projections::ProjectionRunner::Create(
                          log.get(), std::make_unique<projections::AuditProjection>()))
                .value();
    if (!customers->Start().ok() || !reminders->Start().ok() || !audit->Start().ok()) {
      std::abort();
    }
    purger = std::make_unique<projections::ErasurePurger>(
        log.get(),
        std::vector<projections::ProjectionRunner*>{customers.get(), reminders.get(), audit.get()});
    if (!purger->Start().ok()) {
      std::abort();
    }
    access_log = std::make_unique<api::AccessLog>(log.get(), SystemClock::Default());
    access_log->Start();
    // One key per role in a fresh key file. An Authorization line that
    // names a role ("Bearer admin") is replaced by that role's real key, so
    // the fuzzer reaches every route past authentication.
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("touchline-fuzz-router-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    for (auto role :
         {store::Role::kIngest, store::Role::kAgent, store::Role::kAuditor, store::Role::kAdmin}) {
      auto created = store::CreateApiKey(dir, std::string(store::RoleName(role)), role, 0);
      if (!created.ok()) {
        std::abort();
      }
      secrets[std::string(store::RoleName(role))] = created->secret;
    }
    keys = std::make_unique<store::KeyRing>(dir);
    (void)keys->Load();
    api::AccessOptions access_options;
    access_options.keys = keys.get();
    access_options.allow_open = true;  // keys exist, so only keys get in
    access_options.auth_failures = {0, 0};
    access = std::make_unique<api::AccessControl>(access_options);
    services.log = log.get();
    services.customers = customers.get();
    services.reminders = reminders.get();
    services.projections = {customers.get(), reminders.get(), audit.get()};
    services.audit = audit.get();
    services.purger = purger.get();
    services.access_log = access_log.get();
    services.projection_wait = std::chrono::milliseconds(200);
    services.draining = &draining;
    services.access = access.get();
  }
};

std::string_view NextLine(std::string_view* rest) {
  const auto nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  *rest = nl == std::string_view::npos ? std::string_view() : rest->substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World();  // lives for the whole run
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  api::Request request;
  request.method = std::string(NextLine(&rest));
  request.target = std::string(NextLine(&rest));
  request.authorization = std::string(NextLine(&rest));
  if (request.authorization.starts_with("Bearer ")) {
    if (auto it = world->secrets.find(std::string_view(request.authorization).substr(7));
        it != world->secrets.end()) {
      request.authorization = "Bearer " + it->second;
    }
  }
  request.content_type = std::string(NextLine(&rest));
  request.body = std::string(rest);
  request.client_address = "127.0.0.1";
  if (request.target.empty() || request.target[0] != '/') {
    request.target.insert(0, "/");  // the HTTP parser only passes origin-form targets
  }
  auto answered = std::make_shared<std::promise<api::Response>>();
  auto future = answered->get_future();
  auto calls = std::make_shared<std::atomic<int>>(0);
  api::Route(request, world->services, [answered, calls](api::Response r) {
    if (calls->fetch_add(1) != 0) {
      std::abort();  // answered twice
    }
    answered->set_value(std::move(r));
  });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::abort();  // never answered
  }
  api::Response r = future.get();
  if (r.status < 200 || r.status > 599) {
    std::abort();
  }
  if (r.stream) {
    for (int i = 0; i < 1000; ++i) {
      auto chunk = r.stream();
      if (!chunk.ok() || chunk->empty()) {
        break;
      }
    }
  } else if (r.content_type == "application/json") {
    boost::system::error_code ec;
    boost::json::parse(r.shared_body != nullptr ? *r.shared_body : r.body, ec);
    if (ec) {
      std::abort();
    }
  }
  return 0;
}
