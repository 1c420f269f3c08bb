// Black-box tests of authentication, roles and abuse limits against the real
// touchlined: every role against every route in one table, bad and revoked
// keys, keys never echoed or logged, open mode, rate limits and connection
// caps under a flood from one client while another still gets served, and
// the metrics a scraper reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "store/api_keys.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"
#include "tests/support/ws_client.h"

namespace touchline::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string CreateKey(const std::string& dir, const std::string& name, store::Role role) {
  auto k = store::CreateApiKey(dir, name, role, 1'700'000'000'000'000);
  EXPECT_OK(k);
  return k.ok() ? k->secret : "";
}

Headers Bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ErrorCode(const HttpResponse& r) {
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) {
    return "";
  }
  return std::string(v.at("error").at("code").as_string());
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string data = dir_->Sub("data");
    for (auto role :
         {store::Role::kIngest, store::Role::kAgent, store::Role::kAuditor, store::Role::kAdmin}) {
      keys_[role] = CreateKey(data, "key-" + std::string(store::RoleName(role)), role);
    }
    server_ = new ServerProcess(data, {"--auth-failure-burst", "1000"});
    ASSERT_OK(server_->Start());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  static TempDir* dir_;
  static ServerProcess* server_;
  static std::map<store::Role, std::string> keys_;
};
TempDir* SecurityTest::dir_ = nullptr;
ServerProcess* SecurityTest::server_ = nullptr;
std::map<store::Role, std::string> SecurityTest::keys_;

struct RouteCase {
  std::string method;
  std::string target;
  std::string body;
  // Roles that may use it; the others get 403.
  std::vector<store::Role> allowed;
};

TEST_F(SecurityTest, EveryRoleAgainstEveryRoute) {
  using R = store::Role;
  const std::vector<R> all = {R::kIngest, R::kAgent, R::kAuditor, R::kAdmin};
  const std::vector<R> readers = {R::kAgent, R::kAuditor, R::kAdmin};
  const std::vector<R> auditors = {R::kAuditor, R::kAdmin};
  const std::vector<R> admin = {R::kAdmin};
  const std::string event = R"({"customer":"c-1","type":"note.added","channel":"email"})";
  const std::string rule =
      R"({"id":"r-sec","campaign":"c","offset":"1d","trigger":{"event":"ticket.opened"},
          "deliver":{"queue":"q"}})";
  const std::string rule_update =
      R"({"campaign":"c","offset":"2d","trigger":{"event":"ticket.opened"},
          "deliver":{"queue":"q"}})";
  const std::vector<RouteCase> cases = {
      {"POST", "/v1/events", event, {R::kIngest, R::kAdmin}},
      {"GET", "/v1/events?after=0&limit=5", "", auditors},
      {"GET", "/v1/customers/c-1", "", readers},
      {"GET", "/v1/customers?email=a@example.com", "", readers},
      {"GET", "/v1/customers/c-1/timeline", "", readers},
      {"GET", "/v1/customers/c-1/reminders", "", readers},
      {"POST", "/v1/customers/c-1/notes", R"({"text":"called back"})", {R::kAgent, R::kAdmin}},
      {"GET", "/v1/reminder-rules", "", readers},
      {"POST", "/v1/reminder-rules", rule, admin},
      {"GET", "/v1/reminder-rules/r-sec", "", readers},
      {"PUT", "/v1/reminder-rules/r-sec", rule_update, admin},
      {"DELETE", "/v1/reminder-rules/r-none", "", admin},
      {"GET", "/v1/reminders", "", readers},
      {"GET", "/v1/reminders/none", "", readers},
      {"GET", "/v1/campaigns/none", "", readers},
      {"GET", "/v1/projections", "", auditors},
      {"POST", "/v1/projections/none/rebuild", "", admin},
      {"GET", "/v1/stream", "", readers},
      {"GET", "/metrics", "", auditors},
      {"GET", "/v1/auth/whoami", "", all},
      {"GET", "/v1/audit/checkpoint", "", auditors},
      {"POST", "/v1/audit/checkpoint", "", auditors},
      {"GET", "/v1/audit/proof/inclusion?seq=1&tree_size=1", "", auditors},
      {"GET", "/v1/audit/proof/consistency?from=1&to=1", "", auditors},
      {"GET", "/v1/audit/export?from=1&to=1", "", auditors},
      {"GET", "/v1/audit/customers/c-1", "", auditors},
      {"GET", "/v1/audit/actors/agent", "", auditors},
      {"POST", "/v1/customers/c-none/erase", "", admin},
      {"POST", "/v1/track", R"({"userId":"u-sec","event":"Signed Up"})", {R::kIngest, R::kAdmin}},
      {"POST",
       "/v1/batch",
       R"({"batch":[{"type":"page","userId":"u-sec"}]})",
       {R::kIngest, R::kAdmin}},
      {"POST", "/v1/cloudevents", "{}", {R::kIngest, R::kAdmin}},
      {"OPTIONS", "/v1/cloudevents", "", {R::kIngest, R::kAdmin}},
      {"GET", "/v1/ingest/refusals", "", all},
  };
  HttpClient client(server_->port());
  // The event the reads look at exists first.
  ASSERT_EQ(client.PostJson("/v1/events", event, Bearer(keys_[R::kIngest]))->status, 201);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.target);
    Headers json_type = {{"Content-Type", "application/json"}};
    // No key, and a wrong one: 401 with a JSON error and a challenge.
    for (const Headers& creds :
         {Headers{}, Bearer("tl_000000000000_" + std::string(48, '0')), Bearer("junk")}) {
      Headers h = json_type;
      h.insert(h.end(), creds.begin(), creds.end());
      auto r = client.Request(c.method, c.target, c.body, h);
      ASSERT_OK(r);
      EXPECT_EQ(r->status, 401) << r->body;
      EXPECT_EQ(ErrorCode(*r), "unauthenticated");
      EXPECT_EQ(r->Header("www-authenticate"), "Bearer realm=\"touchline\"");
    }
    for (R role : all) {
      SCOPED_TRACE(std::string(store::RoleName(role)));
      Headers h = json_type;
      h.emplace_back("Authorization", "Bearer " + keys_[role]);
      auto r = client.Request(c.method, c.target, c.body, h);
      ASSERT_OK(r);
      const bool allowed = std::find(c.allowed.begin(), c.allowed.end(), role) != c.allowed.end();
      if (allowed) {
        EXPECT_NE(r->status, 401) << r->body;
        EXPECT_NE(r->status, 403) << r->body;
        EXPECT_LT(r->status, 500) << r->body;
      } else {
        EXPECT_EQ(r->status, 403) << r->body;
        EXPECT_EQ(ErrorCode(*r), "permission_denied");
        EXPECT_THAT(r->body, HasSubstr(std::string(store::RoleName(role))));
      }
    }
  }
  // The Segment routes also take the key as the body's writeKey (what
  // analytics-node 2.x sends), with the same roles; a header wins.
  const auto with_write_key = [&](const std::string& key) {
    return client.Request(
        "POST", "/v1/batch",
        R"({"writeKey":")" + key + R"(","batch":[{"type":"track","userId":"u-wk","event":"X"}]})",
        {{"Content-Type", "application/json"}});
  };
  auto ok = with_write_key(keys_[R::kIngest]);
  ASSERT_OK(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto wrong = with_write_key("tl_000000000000_" + std::string(48, '0'));
  ASSERT_OK(wrong);
  EXPECT_EQ(wrong->status, 401) << wrong->body;
  auto agent = with_write_key(keys_[R::kAgent]);
  ASSERT_OK(agent);
  EXPECT_EQ(agent->status, 403) << agent->body;
  // Refusals: an ingest key sees its own only.
  auto other = client.Get("/v1/ingest/refusals?actor=someone", Bearer(keys_[R::kIngest]));
  ASSERT_OK(other);
  EXPECT_EQ(other->status, 403) << other->body;
  auto any = client.Get("/v1/ingest/refusals?actor=someone", Bearer(keys_[R::kAuditor]));
  ASSERT_OK(any);
  EXPECT_EQ(any->status, 200) << any->body;
  // Public routes need no key.
  for (const char* target :
       {"/healthz", "/readyz", "/", "/console/console.js", "/v1/audit/public-key"}) {
    auto r = client.Get(target);
    ASSERT_OK(r);
    EXPECT_EQ(r->status, 200) << target;
  }
}

TEST_F(SecurityTest, BasicAuthAndActorAndNoSecretEchoed) {
  HttpClient client(server_->port());
  const std::string& key = keys_[store::Role::kIngest];
  // Basic with the key as user name and an empty password, as SDKs send it.
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string plain = key + ":";
  std::string b64;
  for (std::size_t i = 0; i < plain.size(); i += 3) {
    const std::uint32_t n =
        (static_cast<std::uint8_t>(plain[i]) << 16) |
        (i + 1 < plain.size() ? static_cast<std::uint8_t>(plain[i + 1]) << 8 : 0) |
        (i + 2 < plain.size() ? static_cast<std::uint8_t>(plain[i + 2]) : 0);
    b64 += kB64[(n >> 18) & 63];
    b64 += kB64[(n >> 12) & 63];
    b64 += i + 1 < plain.size() ? kB64[(n >> 6) & 63] : '=';
    b64 += i + 2 < plain.size() ? kB64[n & 63] : '=';
  }
  auto r = client.PostJson("/v1/events",
                           R"({"id":"basic-1","customer":"c-basic","type":"order.placed"})",
                           {{"Authorization", "Basic " + b64}});
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_THAT(r->body, Not(HasSubstr(key)));

  // The stored record names the key's name as the actor, never the secret.
  auto log = client.Get("/v1/events?after=0&limit=1000", Bearer(keys_[store::Role::kAuditor]));
  ASSERT_OK(log);
  EXPECT_THAT(log->body, HasSubstr(R"("actor":"key-ingest")"));
  EXPECT_THAT(log->body, Not(HasSubstr(key)));

  auto who = client.Get("/v1/auth/whoami", Bearer(keys_[store::Role::kAgent]));
  ASSERT_OK(who);
  EXPECT_EQ(json::parse(who->body), json::parse(R"({"name":"key-agent","role":"agent",
                                                    "open_mode":false})"));

  // A key presented wrongly is refused without being repeated.
  auto bad = client.Get("/v1/customers/c-basic", Bearer(key + "x"));
  ASSERT_OK(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_THAT(bad->body, Not(HasSubstr(key)));
  // No key shows up in the server's log, even for rejected attempts.
  const std::string log_text = ReadFile(server_->log_path());
  for (const auto& [role, k] : keys_) {
    EXPECT_THAT(log_text, Not(HasSubstr(k.substr(16))));
  }
}

TEST_F(SecurityTest, RevokedKeyStopsWorkingWithoutRestart) {
  const std::string data = dir_->Sub("data");
  const std::string key = CreateKey(data, "short-lived", store::Role::kAgent);
  HttpClient client(server_->port());
  // Picked up within the key file's recheck interval (1 s).
  int status = 0;
  for (int i = 0; i < 40 && status != 404; ++i) {
    auto r = client.Get("/v1/customers/nobody-here", Bearer(key));
    ASSERT_OK(r);
    status = r->status;
    if (status != 404) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(status, 404);
  ASSERT_OK(store::RevokeApiKey(data, "short-lived", 1'700'000'100'000'000));
  for (int i = 0; i < 40 && status != 401; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = client.Get("/v1/customers/nobody-here", Bearer(key));
    ASSERT_OK(r);
    status = r->status;
  }
  EXPECT_EQ(status, 401);
  // Names are never reused, even after revocation.
  auto again = store::CreateApiKey(data, "short-lived", store::Role::kAgent, 0);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
}

TEST_F(SecurityTest, WebSocketNeedsAKeyAndTheRightRoleForTheWholeLog) {
  auto none = WsClient::Connect(server_->port());
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("401"));

  auto agent = WsClient::Connect(server_->port(), "",
                                 "/v1/stream?access_token=" + keys_[store::Role::kAgent]);
  ASSERT_OK(agent);
  ASSERT_OK((*agent)->Send(R"({"op":"subscribe","id":"a","all":true})"));
  auto m = (*agent)->Read();
  ASSERT_OK(m);
  EXPECT_THAT(*m, HasSubstr("permission_denied"));
  ASSERT_OK((*agent)->Send(R"({"op":"subscribe","id":"c","customers":["c-1"]})"));
  m = (*agent)->Read();
  ASSERT_OK(m);
  EXPECT_THAT(*m, HasSubstr("subscribed"));

  auto auditor = WsClient::Connect(server_->port(), "",
                                   "/v1/stream?access_token=" + keys_[store::Role::kAuditor]);
  ASSERT_OK(auditor);
  ASSERT_OK((*auditor)->Send(R"({"op":"subscribe","id":"a","all":true})"));
  m = (*auditor)->Read();
  ASSERT_OK(m);
  EXPECT_THAT(*m, HasSubstr("subscribed"));

  // Revoking a key closes its open sessions within about a second (1008).
  const std::string temp = CreateKey(dir_->Sub("data"), "ws-temporary", store::Role::kAgent);
  std::unique_ptr<WsClient> doomed;
  for (int i = 0; i < 40 && doomed == nullptr; ++i) {  // the server rereads the key file
    auto c = WsClient::Connect(server_->port(), "", "/v1/stream?access_token=" + temp);
    if (c.ok()) {
      doomed = std::move(c).value();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_NE(doomed, nullptr);
  ASSERT_OK(doomed->Send(R"({"op":"subscribe","id":"c","customers":["c-1"]})"));
  ASSERT_OK(doomed->Read());
  ASSERT_OK(store::RevokeApiKey(dir_->Sub("data"), "ws-temporary", 1'700'000'200'000'000));
  for (int i = 0; i < 10; ++i) {
    auto r = doomed->Read(std::chrono::seconds(1));
    if (!r.ok() && !IsReadTimeout(r.status())) {
      break;
    }
  }
  EXPECT_EQ(doomed->close_code(), 1008);

  // An ingest key may not watch customers.
  auto ingest = WsClient::Connect(server_->port(), "",
                                  "/v1/stream?access_token=" + keys_[store::Role::kIngest]);
  ASSERT_FALSE(ingest.ok());
  EXPECT_THAT(ingest.status().message(), HasSubstr("403"));
}

TEST_F(SecurityTest, MetricsCountRequestsAuthFailuresAndAppends) {
  HttpClient client(server_->port());
  ASSERT_EQ(client
                .PostJson("/v1/events", R"({"customer":"c-m","type":"order.placed"})",
                          Bearer(keys_[store::Role::kAdmin]))
                ->status,
            201);
  ASSERT_EQ(client.Get("/v1/customers/c-m")->status, 401);
  auto r = client.Get("/metrics", Bearer(keys_[store::Role::kAuditor]));
  ASSERT_OK(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_THAT(r->Header("content-type"), HasSubstr("text/plain; version=0.0.4"));
  for (const char* expected :
       {"touchline_http_requests_total{route=\"/v1/events\",status=\"201\"}",
        "touchline_http_request_seconds_bucket{route=\"/v1/customers/{}\",le=\"+Inf\"}",
        "touchline_auth_failures_total ", "touchline_appended_events_total ",
        "touchline_commit_seconds_count ", "touchline_commit_group_events_bucket",
        "touchline_projection_lag_events{projection=\"customers\"}",
        "touchline_connections{kind=\"all\"}", "touchline_reminders_pending ",
        "touchline_rocksdb_block_cache_hits_total ",
        "touchline_rocksdb_pending_compaction_bytes{column_family=\"events\"}"}) {
    EXPECT_THAT(r->body, HasSubstr(expected));
  }
}

// Servers with limits of their own.
TEST(SecurityLimitsTest, OpenModeOnLoopbackOnlyAndRefusedElsewhere) {
  TempDir dir;
  {
    ServerProcess open_server(dir.Sub("open"));
    ASSERT_OK(open_server.Start());
    HttpClient client(open_server.port());
    auto who = client.Get("/v1/auth/whoami");
    ASSERT_OK(who);
    EXPECT_EQ(json::parse(who->body),
              json::parse(R"({"name":"anonymous","role":"admin","open_mode":true})"));
    EXPECT_THAT(ReadFile(open_server.log_path()), HasSubstr("OPEN DEVELOPMENT MODE"));
    // The first key turns keys on, without a restart.
    const std::string key = CreateKey(dir.Sub("open"), "first", store::Role::kAdmin);
    int status = 200;
    for (int i = 0; i < 40 && status != 401; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      status = client.Get("/v1/auth/whoami")->status;
    }
    EXPECT_EQ(status, 401);
    EXPECT_EQ(client.Get("/v1/auth/whoami", Bearer(key))->status, 200);
    // Revoking every key leaves a server that admits nobody, not an open one.
    ASSERT_OK(store::RevokeApiKey(dir.Sub("open"), "first", 1'700'000'300'000'000));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(client.Get("/v1/auth/whoami")->status, 401);
    EXPECT_EQ(client.Get("/v1/auth/whoami", Bearer(key))->status, 401);
  }
  // Without keys, any address but loopback is refused before anything is
  // opened.
  const std::string out = dir.Sub("exposed.out");
  const std::string cmd = std::string(TOUCHLINED_PATH) + " --data-dir " + dir.Sub("exposed") +
                          " --host 0.0.0.0 --port 0 > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << rc;
  EXPECT_THAT(ReadFile(out), HasSubstr("refusing to listen on 0.0.0.0"));
}

TEST(SecurityLimitsTest, AFloodFromOneKeyOrAddressDoesNotStarveOthers) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  const std::string flooder = CreateKey(data, "flooder", store::Role::kAdmin);
  const std::string calm = CreateKey(data, "calm", store::Role::kAdmin);
  ServerProcess server(data, {"--key-rps", "20", "--key-burst", "20", "--address-rps", "200",
                              "--address-burst", "200"});
  ASSERT_OK(server.Start());

  // Per key: the flooder is cut off with 429 and Retry-After, the calm key
  // from the same address is not.
  std::atomic<bool> stop{false};
  std::atomic<int> flood_ok{0}, flood_limited{0};
  std::thread flood([&] {
    HttpClient c(server.port());
    while (!stop) {
      auto r = c.Get("/v1/auth/whoami", Bearer(flooder));
      if (r.ok() && r->status == 200) {
        ++flood_ok;
      } else if (r.ok() && r->status == 429) {
        EXPECT_GE(std::stoi(r->Header("retry-after")), 1);
        ++flood_limited;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpClient calm_client(server.port());
  calm_client.set_local_address("127.0.0.2");
  int calm_ok = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = calm_client.Get("/v1/auth/whoami", Bearer(calm));
    ASSERT_OK(r);
    calm_ok += r->status == 200;
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  stop = true;
  flood.join();
  EXPECT_EQ(calm_ok, 10);
  EXPECT_GT(flood_limited.load(), 0);
  // 20 burst + 20/s for well under 2 s.
  EXPECT_LT(flood_ok.load(), 80);

  // Per address: 127.0.0.1 spends its budget; 127.0.0.2 is still served.
  HttpClient a(server.port());
  int limited = 0;
  for (int i = 0; i < 400 && limited == 0; ++i) {
    auto r = a.Get("/healthz");
    ASSERT_OK(r);
    limited += r->status == 429;
  }
  EXPECT_EQ(limited, 1);
  // Every request pays, even one for no route: keep asking for one that
  // does not exist until the limit answers (it refills at 200/s, so one
  // single request may find a fresh token).
  int unmatched_limited = 0;
  for (int i = 0; i < 400 && unmatched_limited == 0; ++i) {
    auto r = a.Get("/no-such-route");
    ASSERT_OK(r);
    ASSERT_TRUE(r->status == 404 || r->status == 429) << r->status;
    unmatched_limited += r->status == 429;
  }
  EXPECT_EQ(unmatched_limited, 1);
  HttpClient b(server.port());
  b.set_local_address("127.0.0.2");
  EXPECT_EQ(b.Get("/healthz")->status, 200);
}

TEST(SecurityLimitsTest, FailedAuthenticationsAreThrottledPerAddress) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  const std::string good = CreateKey(data, "good", store::Role::kAgent);
  ServerProcess server(data, {"--auth-failure-burst", "5", "--auth-failures-per-minute", "6"});
  ASSERT_OK(server.Start());
  HttpClient guesser(server.port());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(guesser.Get("/v1/customers/x", Bearer("tl_guess"))->status, 401);
  }
  // The budget is spent: even a good key from that address must wait.
  auto r = guesser.Get("/v1/customers/x", Bearer(good));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_GE(std::stoi(r->Header("retry-after")), 1);
  // Another address is unaffected.
  HttpClient other(server.port());
  other.set_local_address("127.0.0.2");
  EXPECT_EQ(other.Get("/v1/customers/x", Bearer(good))->status, 404);
}

TEST(SecurityLimitsTest, ConnectionsPerAddressAreCapped) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"), {"--max-connections-per-address", "3"});
  ASSERT_OK(server.Start());
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<HttpClient>(server.port()));
    ASSERT_EQ(held.back()->Get("/healthz")->status, 200);
  }
  HttpClient fourth(server.port());
  auto r = fourth.Get("/healthz");
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("from this address"));
  HttpClient elsewhere(server.port());
  elsewhere.set_local_address("127.0.0.2");
  EXPECT_EQ(elsewhere.Get("/healthz")->status, 200);
  // A slot comes back when a connection closes.
  held.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  HttpClient fifth(server.port());
  EXPECT_EQ(fifth.Get("/healthz")->status, 200);
}

// Runs a shell command; returns its exit code and output (stdout+stderr).
std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    out.append(buf, n);
  }
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(SecurityTlsTest, HttpsAndWssEndToEnd) {
  TempDir dir;
  const std::string cert = dir.Sub("cert.pem"), key_file = dir.Sub("key.pem");
  // A self-signed certificate for 127.0.0.1, made for this test.
  auto [gen_rc, gen_out] = Shell(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key_file + " -out " + cert);
  ASSERT_EQ(gen_rc, 0) << gen_out;
  const std::string data = dir.Sub("data");
  const std::string key = CreateKey(data, "tls-admin", store::Role::kAdmin);
  ServerProcess server(data, {"--tls-cert", cert, "--tls-key", key_file});
  ASSERT_OK(server.Start());
  const std::string base = "https://127.0.0.1:" + std::to_string(server.port());

  // curl verifies the certificate and speaks TLS 1.3 or 1.2.
  auto [post_rc, post_out] =
      Shell("curl -sS --cacert " + cert + " -H 'Authorization: Bearer " + key +
            "' -H 'Content-Type: application/json' -d '{\"customer\":\"c-tls\",\"type\":"
            "\"order.placed\"}' -w ' %{http_code} %{ssl_verify_result}' " +
            base + "/v1/events");
  EXPECT_EQ(post_rc, 0) << post_out;
  EXPECT_THAT(post_out, HasSubstr(" 201 0")) << post_out;
  for (const char* version : {"--tlsv1.2 --tls-max 1.2", "--tlsv1.3"}) {
    auto [rc, out] = Shell("curl -sS --cacert " + cert + " " + version + " -w ' %{http_code}' " +
                           base + "/healthz");
    EXPECT_EQ(rc, 0) << version << ": " << out;
    EXPECT_THAT(out, HasSubstr(" 200")) << version;
  }
  // TLS 1.1 is refused, and plain HTTP on the TLS port gets no answer.
  auto [old_rc, old_out] =
      Shell("curl -sS --cacert " + cert + " --tlsv1.1 --tls-max 1.1 " + base + "/healthz");
  EXPECT_NE(old_rc, 0) << old_out;
  HttpClient plain(server.port());
  plain.set_timeout(std::chrono::seconds(3));
  auto r = plain.Get("/healthz");
  EXPECT_TRUE(!r.ok() || r->status != 200);

  // WSS: a subscription over TLS, authenticated by access_token.
  auto reply = WssExchange(server.port(), cert, "/v1/stream?access_token=" + key,
                           R"({"op":"subscribe","id":"t","customers":["c-tls"],"from":0})");
  ASSERT_OK(reply);
  EXPECT_THAT(*reply, HasSubstr("subscribed"));
  // The server still serves after all that.
  auto [rc, out] = Shell("curl -sS --cacert " + cert + " -w ' %{http_code}' " + base + "/healthz");
  EXPECT_THAT(out, HasSubstr(" 200"));
}

TEST(SecurityTlsTest, BadCertificateFilesStopTheStart) {
  TempDir dir;
  const std::string junk = dir.Sub("junk.pem");
  std::ofstream(junk) << "not a certificate\n";
  const std::string out = dir.Sub("out");
  const int rc =
      std::system((std::string(TOUCHLINED_PATH) + " --data-dir " + dir.Sub("data") +
                   " --port 0 --tls-cert " + junk + " --tls-key " + junk + " > " + out + " 2>&1")
                      .c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << rc;
  EXPECT_THAT(ReadFile(out), HasSubstr("cannot load a PEM certificate chain"));
}

TEST(SecurityConfigTest, ConfigFileThenEnvironmentThenFlags) {
  TempDir dir;
  const std::string config = dir.Sub("touchline.toml");
  std::ofstream(config) << "# touchlined options\nmax-batch-events = 2\nlog-format = \"json\"\n";
  auto batch = [](int n) {
    std::string body = "[";
    for (int i = 0; i < n; ++i) {
      body += std::string(i ? "," : "") + R"({"customer":"c","type":"a.b"})";
    }
    return body + "]";
  };
  {
    ServerProcess server(dir.Sub("a"), {"--config", config});
    ASSERT_OK(server.Start());
    HttpClient c(server.port());
    EXPECT_EQ(c.PostJson("/v1/events", batch(2))->status, 201);
    EXPECT_EQ(c.PostJson("/v1/events", batch(3))->status, 400);
    // --log-format json from the file: every log line is one JSON object.
    ASSERT_EQ(server.Stop(), 0);
    std::istringstream lines(ReadFile(server.log_path()));
    int parsed = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) {
        continue;
      }
      json::error_code ec;
      auto v = json::parse(line, ec);
      ASSERT_FALSE(ec) << line;
      EXPECT_TRUE(v.as_object().contains("msg")) << line;
      ++parsed;
    }
    EXPECT_GT(parsed, 2);
  }
  ::setenv("TOUCHLINE_MAX_BATCH_EVENTS", "3", 1);
  {
    // The environment overrides the file...
    ServerProcess server(dir.Sub("b"), {"--config", config});
    ASSERT_OK(server.Start());
    HttpClient c(server.port());
    EXPECT_EQ(c.PostJson("/v1/events", batch(3))->status, 201);
    EXPECT_EQ(c.PostJson("/v1/events", batch(4))->status, 400);
  }
  {
    // ...and a flag overrides both.
    ServerProcess server(dir.Sub("c"), {"--config", config, "--max-batch-events", "4"});
    ASSERT_OK(server.Start());
    HttpClient c(server.port());
    EXPECT_EQ(c.PostJson("/v1/events", batch(4))->status, 201);
  }
  ::unsetenv("TOUCHLINE_MAX_BATCH_EVENTS");
}

}  // namespace
}  // namespace touchline::testing
