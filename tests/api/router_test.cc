#include "api/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <map>
#include <set>

#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::api {
namespace {

using ::testing::HasSubstr;
using touchline::testing::TempDir;

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventLogOptions options;
    options.path = dir_.Sub("db");
    options.sync = false;
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
    services_.log = log_.get();
    services_.draining = &draining_;
  }

  Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                const std::string& if_match = "", const std::string& accept = "") {
    Request req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.if_match = if_match;
    req.accept = accept;
    req.content_type = body.empty() ? "" : "application/json";
    std::promise<Response> p;
    auto f = p.get_future();
    Route(req, services_, [&p](Response r) { p.set_value(std::move(r)); });
    Response r = f.get();
    if (r.shared_body != nullptr) {
      r.body = *r.shared_body;  // what the session sends instead of body
    }
    return r;
  }

  static std::string ErrorCode(const Response& r) {
    return std::string(boost::json::parse(r.body).at("error").at("code").as_string());
  }

  static std::string Drain(const Response& r) {
    std::string all;
    while (true) {
      auto chunk = r.stream();
      EXPECT_OK(chunk);
      if (!chunk.ok() || chunk->empty()) {
        return all;
      }
      all += *chunk;
    }
  }

  TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
  std::atomic<bool> draining_{false};
  Services services_;
};

TEST_F(RouterTest, AppendThenReplay) {
  const std::string ev = R"({"id":"e1","customer":"c-1","type":"note.added"})";
  Response r = Call("POST", "/v1/events", ev);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"events":[{"id":"e1","seq":1,"version":1,"duplicate":false}]})");
  r = Call("POST", "/v1/events", ev);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("\"duplicate\":true"));
  r = Call("POST", "/v1/events", R"({"id":"e1","customer":"c-1","type":"note.edited"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "already_exists");
}

TEST_F(RouterTest, SegmentAndCloudEventsRoutes) {
  Response r =
      Call("POST", "/v1/track", R"({"userId":"u1","event":"Order Completed","messageId":"m1"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"success":true,"accepted":1,"duplicates":0,"refused":[]})");
  r = Call("POST", "/v1/import", R"({"batch":[{"type":"track","userId":"u1","event":"Other",
                                    "messageId":"m1"},{"type":"track","event":"x"}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("accepted":0,"duplicates":1,"refused":[{"index":1,)"));
  r = Call("POST", "/v1/identify", R"({"traits":{}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("userId or anonymousId"));
  ASSERT_OK_AND_ASSIGN(auto records, log_->ReadFrom(1, 10));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]->type, "order.completed");
  EXPECT_EQ(records[0]->route, "POST /v1/track");

  Request ce;
  ce.method = "POST";
  ce.target = "/v1/cloudevents";
  ce.content_type = "text/plain";
  ce.body = "Terima kasih";
  ce.ce_headers = {{"specversion", "1.0"},
                   {"id", "1"},
                   {"source", "/chat"},
                   {"type", "chat.message"},
                   {"subject", "user_id:u1"}};
  std::vector<Response> got;
  for (int i = 0; i < 2; ++i) {
    Request copy = ce;
    std::promise<Response> p;
    Route(copy, services_, [&p](Response resp) { p.set_value(std::move(resp)); });
    got.push_back(p.get_future().get());
  }
  EXPECT_EQ(got[0].status, 201);
  EXPECT_EQ(got[1].status, 200);
  EXPECT_THAT(got[1].body, HasSubstr(R"("duplicate":true)"));
  EXPECT_EQ(Call("POST", "/v1/cloudevents", "{}").status, 415);

  Request options;
  options.method = "OPTIONS";
  options.target = "/v1/cloudevents";
  options.webhook_request_origin = "eventgrid.azure.net";
  Response handshake;
  Route(options, services_, [&](Response resp) { handshake = std::move(resp); });
  EXPECT_EQ(handshake.status, 200);
  EXPECT_THAT(handshake.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                     "WebHook-Allowed-Origin", "eventgrid.azure.net")));
}

TEST_F(RouterTest, UnsupportedMediaType) {
  Request req;
  req.method = "POST";
  req.target = "/v1/events";
  req.body = R"({"customer":"c","type":"t"})";
  req.content_type = "application/x-www-form-urlencoded";
  Response got;
  Route(req, services_, [&](Response r) { got = std::move(r); });
  EXPECT_EQ(got.status, 415);
}

TEST_F(RouterTest, IfMatch) {
  EXPECT_EQ(Call("POST", "/v1/events", R"({"customer":"c","type":"t"})", "\"0\"").status, 201);
  Response r = Call("POST", "/v1/events", R"({"customer":"c","type":"t"})", "\"0\"");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "failed_precondition");
  EXPECT_THAT(r.body, HasSubstr("at version 1"));
  EXPECT_EQ(Call("POST", "/v1/events", R"({"customer":"c","type":"t"})", "*").status, 201);
  EXPECT_EQ(Call("POST", "/v1/events",
                 R"([{"customer":"c","type":"t"},{"customer":"d","type":"t"}])", "\"2\"")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/v1/events", R"({"customer":"c","type":"t"})", "\"nope\"").status, 400);
}

TEST_F(RouterTest, TimelineAndCursor) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        Call("POST", "/v1/events", R"({"customer":"c 1/x","type":"note.added","channel":"email"})")
            .status,
        201);
  }
  Response r = Call("GET", "/v1/customers/c%201%2Fx/timeline?limit=2");
  ASSERT_EQ(r.status, 200) << r.body;
  auto page = boost::json::parse(r.body).as_object();
  EXPECT_EQ(page.at("customer").as_string(), "c 1/x");
  EXPECT_EQ(page.at("version").as_int64(), 5);
  ASSERT_EQ(page.at("events").as_array().size(), 2u);
  EXPECT_EQ(page.at("events").as_array()[0].at("version").as_int64(), 5);
  EXPECT_EQ(page.at("next").as_string(), "4");
  EXPECT_THAT(r.headers, ::testing::Contains(std::pair<std::string, std::string>("ETag", "\"5\"")));
  r = Call("GET", "/v1/customers/c%201%2Fx/timeline?limit=2&before=4&channels=email&types=note");
  ASSERT_EQ(r.status, 200);
  page = boost::json::parse(r.body).as_object();
  EXPECT_EQ(page.at("events").as_array()[0].at("version").as_int64(), 3);
}

TEST_F(RouterTest, TimelineErrors) {
  ASSERT_EQ(Call("POST", "/v1/events", R"({"customer":"c","type":"t"})").status, 201);
  EXPECT_EQ(Call("GET", "/v1/customers/nobody/timeline").status, 404);
  for (const char* q : {"?limit=0", "?limit=1001", "?limit=abc", "?before=0", "?before=x",
                        "?types=Bad", "?channels=", "?limt=5", "?limit=1&limit=2"}) {
    Response r = Call("GET", std::string("/v1/customers/c/timeline") + q);
    EXPECT_EQ(r.status, 400) << q;
    EXPECT_EQ(ErrorCode(r), "invalid_argument") << q;
  }
  EXPECT_EQ(Call("POST", "/v1/customers/c/timeline", "{}").status, 405);
}

TEST_F(RouterTest, ReadLogJsonAndNdjson) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Call("POST", "/v1/events", R"({"customer":"c","type":"t"})").status, 201);
  }
  Response r = Call("GET", "/v1/events?after=1&limit=2");
  ASSERT_EQ(r.status, 200);
  auto page = boost::json::parse(r.body).as_object();
  EXPECT_EQ(page.at("events").as_array().size(), 2u);
  EXPECT_EQ(page.at("next_after").as_int64(), 3);
  EXPECT_EQ(page.at("head").as_int64(), 5);

  services_.ndjson_chunk_records = 2;  // several chunks
  r = Call("GET", "/v1/events?after=1", "", "", "application/x-ndjson");
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(static_cast<bool>(r.stream));
  EXPECT_EQ(r.content_type, "application/x-ndjson");
  const std::string all = Drain(r);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 4);
  EXPECT_THAT(all, HasSubstr("{\"seq\":2,"));
  r = Call("GET", "/v1/events?after=1&limit=3", "", "", "application/x-ndjson");
  const std::string three = Drain(r);
  EXPECT_EQ(std::count(three.begin(), three.end(), '\n'), 3);

  EXPECT_EQ(Call("GET", "/v1/events?after=-1").status, 400);
  EXPECT_EQ(Call("GET", "/v1/events?limit=5000").status, 400);
}

// Found by fuzz_router: an error message quoting a percent-decoded path
// that is not UTF-8 made the error body invalid JSON.
TEST_F(RouterTest, ErrorBodiesStayValidJsonForAnyInput) {
  for (const char* target : {"/nope%FF%C0", "/v1/customers/%ED%A0%80/timeline?limit=x"}) {
    Response r = Call("GET", target);
    EXPECT_GE(r.status, 400) << target;
    boost::system::error_code ec;
    boost::json::parse(r.body, ec);
    EXPECT_FALSE(ec) << target << ": " << r.body;
  }
}

TEST_F(RouterTest, UnknownRouteAndMethod) {
  Response r = Call("GET", "/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "not_found");
  r = Call("DELETE", "/v1/events");
  EXPECT_EQ(r.status, 405);
  EXPECT_THAT(r.headers,
              ::testing::Contains(std::pair<std::string, std::string>("Allow", "GET, POST")));
}

TEST_F(RouterTest, HealthAndReadiness) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  draining_ = true;
  EXPECT_EQ(Call("GET", "/readyz").status, 503);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

// api/openapi.json, as served, documents exactly the route table: every
// (method, path) once, nothing that is not routed, each with the
// permission the router enforces and the matching security.
TEST_F(RouterTest, TheOpenApiDescriptionMatchesTheRouteTable) {
  const Response r = Call("GET", "/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, HasSubstr("application/json"));
  const boost::json::value doc = boost::json::parse(r.body);
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");

  // "/v1/customers/{id}/timeline" -> "/v1/customers/{}/timeline"
  auto normalise = [](std::string_view path) {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (path[i] == '{') {
        out += "{}";
        i = path.find('}', i);
      } else {
        out.push_back(path[i]);
      }
    }
    return out;
  };
  std::map<std::string, std::string> documented;  // "GET /v1/x/{}" -> permission
  std::set<std::string> operation_ids;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (method == "parameters" || method == "summary" || method == "description") {
        continue;
      }
      std::string m(method);
      for (char& ch : m) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      const std::string key = m + " " + normalise(path);
      const auto* permission = op.as_object().if_contains("x-touchline-permission");
      EXPECT_TRUE(
          documented.emplace(key, permission ? std::string(permission->as_string()) : "").second)
          << key << " is documented twice";
      EXPECT_TRUE(operation_ids.insert(std::string(op.at("operationId").as_string())).second)
          << key;
      const auto* security = op.as_object().if_contains("security");
      const bool open = security != nullptr && security->as_array().empty();
      EXPECT_EQ(open, permission != nullptr && permission->as_string() == "public")
          << key << ": public routes, and only they, have \"security\": []";
    }
  }
  std::set<std::string> routed;
  for (const RouteInfo& route : RouteTable()) {
    const std::string key = std::string(route.method) + " " + std::string(route.pattern);
    routed.insert(key);
    auto it = documented.find(key);
    if (it == documented.end()) {
      ADD_FAILURE() << key << " is routed but not in api/openapi.json";
      continue;
    }
    EXPECT_EQ(it->second, PermissionName(route.permission)) << key;
  }
  for (const auto& [key, permission] : documented) {
    EXPECT_TRUE(routed.contains(key)) << key << " is in api/openapi.json but not routed";
  }
  EXPECT_EQ(documented.size(), routed.size());
  // Not a console file.
  EXPECT_EQ(Call("GET", "/console/openapi.json").status, 404);
}

}  // namespace
}  // namespace touchline::api
