// Black-box tests of touchlined over HTTP: the real binary on 127.0.0.1 with
// an ephemeral port, every route, and bad input of every kind. After each bad
// request the server must still serve.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"

namespace touchline::testing {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

class HttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new ServerProcess(dir_->Sub("data"),
                                {"--max-body-bytes", "1048576", "--request-timeout-ms", "700",
                                 "--idle-timeout-ms", "1500", "--max-batch-events", "500"});
    ASSERT_OK(server_->Start());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void TearDown() override {
    // Whatever a test sent, the server is still up and serving.
    HttpClient c(server_->port());
    auto r = c.Get("/healthz");
    ASSERT_OK(r);
    EXPECT_EQ(r->status, 200) << server_->LogTail();
  }

  HttpResponse Post(const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = client_.PostJson("/v1/events", body, std::move(headers));
    EXPECT_OK(r);
    return r.ok() ? *r : HttpResponse{};
  }
  HttpResponse Get(const std::string& target,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = client_.Get(target, std::move(headers));
    EXPECT_OK(r);
    return r.ok() ? *r : HttpResponse{};
  }
  // Asserts a JSON error body with `code` and returns its message.
  static std::string ExpectError(const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    json::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("error")) {
      ADD_FAILURE() << "not a JSON error body: " << r.body;
      return "";
    }
    EXPECT_EQ(v.at("error").at("code").as_string(), code) << r.body;
    return std::string(v.at("error").at("message").as_string());
  }

  static TempDir* dir_;
  static ServerProcess* server_;
  HttpClient client_{server_->port()};
};

TempDir* HttpTest::dir_ = nullptr;
ServerProcess* HttpTest::server_ = nullptr;

TEST_F(HttpTest, PostAndReadTimeline) {
  auto r = Post(R"({"id":"tour-1","customer":"ann","type":"ticket.opened","channel":"email",
                   "data":{"subject":"Where is my order?"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto res = json::parse(r.body);
  const auto seq = res.at("events").as_array()[0].at("seq").as_int64();
  EXPECT_EQ(res.at("events").as_array()[0].at("version").as_int64(), 1);
  r = Post(R"([{"customer":"ann","type":"email.sent","channel":"email"},
              {"customer":"ann","type":"call.logged","channel":"phone","department":"sales"}])");
  ASSERT_EQ(r.status, 201);
  r = Get("/v1/customers/ann/timeline?limit=2");
  ASSERT_EQ(r.status, 200);
  auto page = json::parse(r.body);
  const auto& events = page.at("events").as_array();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("type").as_string(), "call.logged");
  EXPECT_EQ(events[0].at("department").as_string(), "sales");
  EXPECT_EQ(page.at("next").as_string(), "2");
  r = Get("/v1/customers/ann/timeline?before=2");
  page = json::parse(r.body);
  ASSERT_EQ(page.at("events").as_array().size(), 1u);
  EXPECT_EQ(page.at("events").as_array()[0].at("seq").as_int64(), seq);
  EXPECT_EQ(page.at("events").as_array()[0].at("data").at("subject").as_string(),
            "Where is my order?");
  EXPECT_TRUE(page.at("next").is_null());
}

TEST_F(HttpTest, IdempotentRetryAndConflict) {
  const std::string ev = R"({"id":"retry-1","customer":"bob","type":"purchase.completed",
                             "data":{"amount":19.9}})";
  ASSERT_EQ(Post(ev).status, 201);
  auto r = Post(ev);
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("\"duplicate\":true"));
  r = Post(R"({"id":"retry-1","customer":"bob","type":"purchase.completed","data":{"amount":5}})");
  EXPECT_THAT(ExpectError(r, 409, "already_exists"), HasSubstr("retry-1"));
}

TEST_F(HttpTest, ExpectedVersionConflict) {
  ASSERT_EQ(Post(R"({"customer":"occ","type":"t","expected_version":"no_stream"})").status, 201);
  auto r = Post(R"({"customer":"occ","type":"t","expected_version":"no_stream"})");
  EXPECT_THAT(ExpectError(r, 409, "failed_precondition"), HasSubstr("at version 1"));
  r = Post(R"({"customer":"occ","type":"t"})", {{"If-Match", "\"1\""}});
  EXPECT_EQ(r.status, 201);
}

TEST_F(HttpTest, GlobalLogJsonAndNdjson) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post(R"({"customer":"log","type":"t"})").status, 201);
  }
  auto r = Get("/v1/events?after=0&limit=2");
  ASSERT_EQ(r.status, 200);
  auto page = json::parse(r.body);
  EXPECT_EQ(page.at("events").as_array().size(), 2u);
  const auto head = page.at("head").as_int64();
  r = Get("/v1/events", {{"Accept", "application/x-ndjson"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "application/x-ndjson");
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), head);
  std::size_t start = 0;
  std::int64_t expected = 1;
  while (start < r.body.size()) {
    const std::size_t end = r.body.find('\n', start);
    EXPECT_EQ(json::parse(r.body.substr(start, end - start)).at("seq").as_int64(), expected++);
    start = end + 1;
  }
}

TEST_F(HttpTest, NdjsonForHttp10ClientsIsNotChunked) {
  ASSERT_EQ(Post(R"({"customer":"old-client","type":"t"})").status, 201);
  auto raw = HttpClient::RawExchange(
      server_->port(), "GET /v1/events HTTP/1.0\r\nAccept: application/x-ndjson\r\n\r\n",
      std::chrono::seconds(5));
  ASSERT_OK(raw);
  EXPECT_THAT(*raw, HasSubstr("HTTP/1.0 200"));
  EXPECT_THAT(*raw, ::testing::Not(HasSubstr("chunked")));
  const std::string body = raw->substr(raw->find("\r\n\r\n") + 4);
  ASSERT_FALSE(body.empty());
  EXPECT_TRUE(body.starts_with("{\"seq\":1,")) << body.substr(0, 100);
  EXPECT_EQ(body.back(), '\n');
}

TEST_F(HttpTest, MalformedJson) {
  ExpectError(Post("{\"customer\": \"c\", "), 400, "invalid_argument");
  ExpectError(Post("not json at all"), 400, "invalid_argument");
  ExpectError(Post(""), 400, "invalid_argument");
  ExpectError(Post("\xff\xfe"), 400, "invalid_argument");
}

TEST_F(HttpTest, WrongTypes) {
  EXPECT_THAT(ExpectError(Post(R"({"customer":1,"type":"t"})"), 400, "invalid_argument"),
              HasSubstr("event.customer"));
  EXPECT_THAT(
      ExpectError(Post(R"({"customer":"c","type":"t","data":[]})"), 400, "invalid_argument"),
      HasSubstr("event.data"));
  EXPECT_THAT(ExpectError(Post(R"([{"customer":"c","type":"t"},{"customer":"c","type":7}])"), 400,
                          "invalid_argument"),
              HasSubstr("events[1].type"));
  EXPECT_THAT(
      ExpectError(Post(R"({"customer":"c","type":"t","surprise":true})"), 400, "invalid_argument"),
      HasSubstr("unknown field"));
}

TEST_F(HttpTest, TooManyEventsInABatch) {
  std::string body = "[";
  for (int i = 0; i < 501; ++i) {
    body += std::string(i ? "," : "") + R"({"customer":"c","type":"t"})";
  }
  body += "]";
  EXPECT_THAT(ExpectError(Post(body), 400, "invalid_argument"), HasSubstr("at most 500"));
}

TEST_F(HttpTest, OversizedBody) {
  const std::string big =
      R"({"customer":"c","type":"t","data":{"s":")" + std::string(2 << 20, 'x') + "\"}}";
  auto r = client_.PostJson("/v1/events", big);
  // The server may close before the whole body is sent, so the client can
  // see a reset instead; the raw exchange below checks the 413 either way.
  if (r.ok()) {
    ExpectError(*r, 413, "payload_too_large");
  }
  // Announced length over the limit is refused before the body is read.
  auto raw = HttpClient::RawExchange(
      server_->port(),
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 5000000\r\n\r\n",
      std::chrono::seconds(5));
  ASSERT_OK(raw);
  EXPECT_THAT(*raw, HasSubstr("HTTP/1.1 413"));
  EXPECT_THAT(*raw, HasSubstr("payload_too_large"));
}

TEST_F(HttpTest, OversizedHeaders) {
  auto r = client_.Get("/healthz", {{"X-Big", std::string(20000, 'h')}});
  if (r.ok()) {
    ExpectError(*r, 431, "headers_too_large");
  } else {
    SUCCEED() << "connection closed while sending headers: " << r.status().ToString();
  }
  auto raw = HttpClient::RawExchange(
      server_->port(), "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(9000, 'h') + "\r\n\r\n",
      std::chrono::seconds(5));
  ASSERT_OK(raw);
  EXPECT_THAT(*raw, HasSubstr("HTTP/1.1 431"));
}

TEST_F(HttpTest, UnknownRouteAndWrongMethod) {
  ExpectError(Get("/v1/nothing"), 404, "not_found");
  ExpectError(Get("/console/nothing.js"), 404, "not_found");
  ExpectError(Get("/v2/"), 404, "not_found");
  auto r = client_.Request("DELETE", "/v1/events");
  ASSERT_OK(r);
  ExpectError(*r, 405, "method_not_allowed");
  EXPECT_EQ(r->Header("allow"), "GET, POST");
  r = client_.Request("PUT", "/v1/customers/x/timeline", "{}");
  ASSERT_OK(r);
  ExpectError(*r, 405, "method_not_allowed");
}

TEST_F(HttpTest, ServesTheAgentConsole) {
  HttpResponse page = Get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_THAT(page.body, HasSubstr("<script src=\"/console/console.js\">"));
  HttpResponse js = Get("/console/console.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_THAT(js.body, HasSubstr("/v1/stream"));
  HttpResponse css = Get("/console/console.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.Header("content-type"), "text/css; charset=utf-8");
  auto r = client_.Request("POST", "/", "{}");
  ASSERT_OK(r);
  ExpectError(*r, 405, "method_not_allowed");
}

TEST_F(HttpTest, InvalidLimitAndCursor) {
  ASSERT_EQ(Post(R"({"customer":"lim","type":"t"})").status, 201);
  EXPECT_THAT(ExpectError(Get("/v1/customers/lim/timeline?limit=0"), 400, "invalid_argument"),
              HasSubstr("limit"));
  ExpectError(Get("/v1/customers/lim/timeline?limit=abc"), 400, "invalid_argument");
  ExpectError(Get("/v1/customers/lim/timeline?limit=100000"), 400, "invalid_argument");
  EXPECT_THAT(ExpectError(Get("/v1/customers/lim/timeline?before=abc"), 400, "invalid_argument"),
              HasSubstr("before"));
  ExpectError(Get("/v1/customers/lim/timeline?before=-3"), 400, "invalid_argument");
  ExpectError(Get("/v1/events?after=x"), 400, "invalid_argument");
  ExpectError(Get("/v1/events?limit=0"), 400, "invalid_argument");
  ExpectError(Get("/v1/customers/nobody-here/timeline"), 404, "not_found");
}

TEST_F(HttpTest, MalformedHttp) {
  auto raw = HttpClient::RawExchange(server_->port(), "GARBAGE\r\n\r\n", std::chrono::seconds(5));
  ASSERT_OK(raw);
  EXPECT_THAT(*raw, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(*raw, HasSubstr("\"code\":\"bad_request\""));
  raw = HttpClient::RawExchange(server_->port(),
                                "POST /v1/events HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
                                std::chrono::seconds(5));
  ASSERT_OK(raw);
  EXPECT_THAT(*raw, HasSubstr("HTTP/1.1 400"));
}

TEST_F(HttpTest, SlowlorisIsCutOff) {
  // Half a request, then silence: the connection is closed after
  // --request-timeout-ms (700 ms here), not after the 10 s client timeout.
  const auto start = std::chrono::steady_clock::now();
  auto raw = HttpClient::RawExchange(server_->port(),
                                     "GET /healthz HTTP/1.1\r\nHost:", std::chrono::seconds(10));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_OK(raw);
  EXPECT_EQ(*raw, "");
  EXPECT_GE(elapsed, std::chrono::milliseconds(600));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(HttpTest, SlowlorisDrippingBytesIsCutOff) {
  // A client that keeps sending, one header byte every 250 ms, still has
  // to finish within --request-timeout-ms (700 ms here): activity does not
  // extend the deadline. The whole header would take 12 s to drip in.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: drip\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (char c : header) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    // The server closing shows as EOF on a non-blocking read.
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      closed = true;
      break;
    }
    ASSERT_LT(n, 1) << "the server answered a request that never completed";
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_LT(elapsed, std::chrono::seconds(4));
}

TEST_F(HttpTest, IdleKeepAliveConnectionsAreClosed) {
  // Connect and send nothing: closed after --idle-timeout-ms, silently.
  const auto start = std::chrono::steady_clock::now();
  auto raw = HttpClient::RawExchange(server_->port(), "", std::chrono::seconds(10));
  ASSERT_OK(raw);
  EXPECT_EQ(*raw, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(HttpTest, KeepAliveAndPipelining) {
  // Three pipelined requests on one connection are answered in order.
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  auto raw = HttpClient::RawExchange(
      server_->port(), req + req + "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      std::chrono::seconds(5));
  ASSERT_OK(raw);
  std::size_t count = 0;
  for (std::size_t p = raw->find("HTTP/1.1 200"); p != std::string::npos;
       p = raw->find("HTTP/1.1 200", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u);
  EXPECT_THAT(*raw, HasSubstr("\"status\":\"ready\""));
}

TEST_F(HttpTest, HeadSendsNoBody) {
  // A HEAD, then a GET on the same connection: the GET's response must not
  // be confused with a stray HEAD body.
  auto raw =
      HttpClient::RawExchange(server_->port(),
                              "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              std::chrono::seconds(5));
  ASSERT_OK(raw);
  const auto first_body = raw->find("\r\n\r\n") + 4;
  EXPECT_TRUE(std::string_view(*raw).substr(first_body).starts_with("HTTP/1.1 200")) << *raw;
  EXPECT_THAT(*raw, HasSubstr("Content-Length: 15"));
}

TEST_F(HttpTest, ExpectContinue) {
  auto r = client_.PostJson("/v1/events", R"({"customer":"cont","type":"t"})",
                            {{"Expect", "100-continue"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 201);
}

TEST_F(HttpTest, RequestIdIsEchoed) {
  auto r = Get("/healthz", {{"X-Request-Id", "abc-123"}});
  EXPECT_EQ(r.Header("x-request-id"), "abc-123");
  r = Get("/healthz");
  EXPECT_FALSE(r.Header("x-request-id").empty());
}

TEST_F(HttpTest, UnsupportedMediaType) {
  auto r = client_.Request("POST", "/v1/events", R"({"customer":"c","type":"t"})",
                           {{"Content-Type", "text/csv"}});
  ASSERT_OK(r);
  ExpectError(*r, 415, "unsupported_media_type");
}

TEST(HttpLimitsTest, ConnectionLimit) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"), {"--max-connections", "2"});
  ASSERT_OK(server.Start());
  HttpClient a(server.port()), b(server.port());
  ASSERT_OK(a.Get("/healthz"));
  ASSERT_OK(b.Get("/healthz"));
  auto raw = HttpClient::RawExchange(server.port(), "GET /healthz HTTP/1.1\r\n\r\n",
                                     std::chrono::seconds(5));
  ASSERT_OK(raw);
  EXPECT_THAT(*raw, HasSubstr("HTTP/1.1 503"));
  EXPECT_THAT(*raw, HasSubstr("too many connections"));
  a.Close();
  // A slot frees up once a connection closes.
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    HttpClient c(server.port());
    auto r = c.Get("/healthz");
    served = r.ok() && r->status == 200;
    if (!served) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_TRUE(served);
}

TEST(HttpShutdownTest, SigtermFinishesInFlightAppendsAndExitsCleanly) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"));
  ASSERT_OK(server.Start());
  std::atomic<int> acked{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      HttpClient c(server.port());
      for (int i = 0; !stop; ++i) {
        auto r =
            c.PostJson("/v1/events", R"({"customer":"s)" + std::to_string(w) + R"(","type":"t"})");
        if (!r.ok() || r->status == 503) {
          return;
        }
        ASSERT_EQ(r->status, 201) << r->body;
        acked++;
      }
    });
  }
  while (acked < 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.Stop(), 0) << server.LogTail();
  stop = true;
  for (auto& t : writers) {
    t.join();
  }
  EXPECT_THAT(server.LogTail(), HasSubstr("stopped cleanly"));
  // Everything acknowledged is there after a restart.
  ASSERT_OK(server.Start());
  HttpClient c(server.port());
  auto r = c.Get("/readyz");
  ASSERT_OK(r);
  EXPECT_GE(json::parse(r->body).at("head").as_int64(), acked.load());
}

}  // namespace
}  // namespace touchline::testing
