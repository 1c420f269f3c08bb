// The unified customer view against the real touchlined: one person who
// reached the company over email, phone and a social network with no shared
// id becomes one profile once an event links the ids; the view and the
// timeline show one person, across a restart and a kill -9; time travel
// shows them apart before the link; reads reflect acknowledged writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"

namespace touchline::testing {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

class CustomerViewIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"));
    ASSERT_OK(server_->Start());
    client_ = std::make_unique<HttpClient>(server_->port());
  }

  HttpResponse Post(const std::string& target, const std::string& body) {
    auto r = client_->PostJson(target, body);
    EXPECT_OK(r);
    return r.ok() ? *r : HttpResponse{};
  }
  Seq PostEvent(const std::string& body) {
    HttpResponse r = Post("/v1/events", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return static_cast<Seq>(json::parse(r.body).at("events").at(0).at("seq").as_int64());
  }
  json::object GetJson(const std::string& target, int want_status = 200) {
    auto r = client_->Get(target);
    EXPECT_OK(r);
    if (!r.ok()) {
      return {};
    }
    EXPECT_EQ(r->status, want_status) << target << " -> " << r->body;
    return json::parse(r->body).as_object();
  }
  std::string ProfileOf(const std::string& id) {
    return std::string(GetJson("/v1/customers/" + UrlEncode(id)).at("profile").as_string());
  }
  std::string ErrorCode(const std::string& target) {
    auto r = client_->Get(target);
    EXPECT_OK(r);
    return std::string(json::parse(r->body).at("error").at("code").as_string());
  }

  // The merged timeline, all pages, as seqs.
  std::vector<Seq> TimelineSeqs(const std::string& id) {
    std::vector<Seq> seqs;
    std::string target = "/v1/customers/" + UrlEncode(id) + "/timeline?limit=2";
    for (int i = 0; i < 100; ++i) {
      json::object page = GetJson(target);
      for (const auto& e : page.at("events").as_array()) {
        seqs.push_back(static_cast<Seq>(e.at("seq").as_int64()));
      }
      if (page.at("next").is_null()) {
        break;
      }
      target = "/v1/customers/" + UrlEncode(id) +
               "/timeline?limit=2&before=" + std::string(page.at("next").as_string());
    }
    return seqs;
  }

  void ExpectOnePerson() {
    const std::string p = ProfileOf("c-shop");
    EXPECT_EQ(p, "p-1");
    for (const char* id : {"email:ALICE@example.com", "phone:+62 812 3456 7890",
                           "social.twitter:@alice_w", "p-2", "p-3"}) {
      EXPECT_EQ(ProfileOf(id), p) << id;
    }
    // The lookup form of the same thing.
    EXPECT_EQ(GetJson("/v1/customers?phone=" + UrlEncode("0062-812-3456-7890")).at("profile"),
              "p-1");
    json::object view = GetJson("/v1/customers/c-shop");
    EXPECT_EQ(view.at("customers").as_array().size(), 4u);  // one stream named by the email
    EXPECT_EQ(view.at("identities").at("email").at(0), "alice@example.com");
    EXPECT_EQ(view.at("channels").as_object().size(), 4u);  // email, phone, social, web
    EXPECT_EQ(view.at("lifetime_value").at("EUR").as_double(), 120.5);
    EXPECT_EQ(view.at("traits").at("name").at("value"), "Alice W.");
    EXPECT_EQ(view.at("open_tickets").as_array().size(), 1u);
    // The timeline of any of the ids is every stream's history, newest
    // first, each event once.
    const std::vector<Seq> seqs = TimelineSeqs("phone:+6281234567890");
    EXPECT_GE(seqs.size(), 6u);
    EXPECT_TRUE(std::is_sorted(seqs.rbegin(), seqs.rend()));
    EXPECT_EQ(std::set<Seq>(seqs.begin(), seqs.end()).size(), seqs.size());
    EXPECT_EQ(seqs, TimelineSeqs("c-shop"));
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(CustomerViewIntegrationTest, OnePersonAcrossChannelsSurvivesRestartsAndTimeTravels) {
  PostEvent(R"({"customer":"c-shop","type":"purchase.completed","channel":"web",
                "identities":{"email":"Alice@Example.com"},
                "data":{"amount":120.5,"currency":"EUR"}})");
  PostEvent(R"({"type":"call.logged","channel":"phone","department":"support",
                "identities":{"phone":"+62 812-3456-7890"}})");
  PostEvent(R"({"type":"social.twitter.comment","channel":"social.twitter",
                "identities":{"social.twitter":"@Alice_W"},"data":{"text":"love it"}})");
  PostEvent(R"({"type":"ticket.opened","channel":"email","identities":{"email":"alice@example.com"},
                "data":{"ticket_id":"T-9","subject":"Refund?"}})");
  // Three people so far.
  EXPECT_EQ(ProfileOf("c-shop"), "p-1");
  EXPECT_EQ(ProfileOf("phone:+6281234567890"), "p-2");
  EXPECT_EQ(ProfileOf("social.twitter:alice_w"), "p-3");
  const Seq link = PostEvent(R"({"customer":"c-shop","type":"identify","channel":"web",
      "identities":{"phone":"+6281234567890","social.twitter":"alice_w","email":"null"},
      "data":{"traits":{"name":"Alice W.","plan":"gold"}}})");
  // The merges are in the log too, for agents and auditors. The view's
  // outbox appends them just after it folds the link, not before the link
  // is acknowledged, so wait for them; the timeline is then stable.
  std::set<std::string> merged;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (merged.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    merged.clear();
    json::object log = GetJson("/v1/events?after=" + std::to_string(link));
    for (const auto& e : log.at("events").as_array()) {
      if (e.at("type") == "profile.merged") {
        merged.insert(std::string(e.at("data").at("merged_profile").as_string()));
      }
    }
    if (merged.size() < 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_EQ(merged, (std::set<std::string>{"p-2", "p-3"}));
  ExpectOnePerson();
  // Before the link they were separate people.
  json::object then =
      GetJson("/v1/customers/phone:%2B6281234567890?as_of=" + std::to_string(link - 1));
  EXPECT_EQ(then.at("profile"), "p-2");
  EXPECT_EQ(then.at("customers").as_array().size(), 1u);
  EXPECT_EQ(then.at("as_of").at("current_profile"), "p-1");

  ASSERT_EQ(server_->Stop(), 0);
  Start();
  ExpectOnePerson();
  // A kill -9 loses at most unsynced view state; the log refolds it.
  for (int i = 0; i < 50; ++i) {
    PostEvent(R"({"customer":"c-shop","type":"email.sent","channel":"email"})");
  }
  server_->Kill();
  Start();
  ExpectOnePerson();
  EXPECT_EQ(GetJson("/v1/customers/c-shop").at("channels").at("email").at("count").as_int64(), 51);
}

TEST_F(CustomerViewIntegrationTest, ReadsReflectAcknowledgedWrites) {
  for (int i = 0; i < 200; ++i) {
    const std::string c = "ryw-" + std::to_string(i);
    PostEvent(R"({"customer":")" + c + R"(","type":"t","identities":{"user_id":"u)" +
              std::to_string(i) + R"("}})");
    json::object v = GetJson("/v1/customers/user_id:u" + std::to_string(i));
    ASSERT_EQ(v.at("customers").at(0).as_string(), c) << "read " << i << " missed its own write";
  }
  // Notes go through the log under the customer's stream.
  HttpResponse r = Post("/v1/customers/user_id:u7/notes",
                        R"({"text":"Called back,\nissue solved","department":"support"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body).at("customer"), "ryw-7");
  json::object t = GetJson("/v1/customers/ryw-7/timeline?limit=1");
  EXPECT_EQ(t.at("events").at(0).at("type"), "note.added");
  EXPECT_EQ(t.at("events").at(0).at("data").at("text"), "Called back,\nissue solved");
  json::object p = GetJson("/v1/projections");
  EXPECT_EQ(p.at("projections").at(0).at("name"), "customers");
  EXPECT_EQ(p.at("projections").at(0).at("state"), "running");
  // Search by prefix, paginated.
  json::object s = GetJson("/v1/customers?q=u1&limit=5");
  EXPECT_EQ(s.at("matches").as_array().size(), 5u);
  ASSERT_TRUE(s.at("next_after").is_string());
  json::object s2 = GetJson("/v1/customers?q=u1&limit=5&after=" +
                            UrlEncode(std::string(s.at("next_after").as_string())));
  EXPECT_NE(s2.at("matches").at(0).at("identity"), s.at("matches").at(4).at("identity"));
  // An online rebuild: reads wait for it, and see the same person after.
  ASSERT_EQ(Post("/v1/projections/customers/rebuild", "").status, 202);
  EXPECT_EQ(GetJson("/v1/customers/user_id:u7").at("customers").at(0), "ryw-7");
  EXPECT_THAT(GetJson("/readyz").at("projections").at("customers").at("state").as_string(),
              ::testing::AnyOf("running", "rebuilding"));
}

TEST_F(CustomerViewIntegrationTest, BadRequestsGetClearErrors) {
  PostEvent(R"({"customer":"c-1","type":"t","identities":{"email":"a@example.com"}})");
  EXPECT_EQ(ErrorCode("/v1/customers/nobody"), "not_found");
  EXPECT_EQ(ErrorCode("/v1/customers/c-1?as_of=yesterday"), "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers/c-1?colour=red"), "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers"), "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers?email=a@example.com&phone=%2B6281234567890"),
            "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers?email=not-an-email"), "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers?phone=0812"), "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers/email:nope"), "invalid_argument");
  EXPECT_EQ(ErrorCode("/v1/customers/c-1?as_of=1&as_of=2"), "invalid_argument");
  for (const char* body :
       {"", "[]", R"({"text":""})", R"({"text":7})", R"({"txt":"x"})", R"({"text":"x","id":""})"}) {
    HttpResponse r = Post("/v1/customers/c-1/notes", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
  }
  EXPECT_EQ(Post("/v1/customers/nobody/notes", R"({"text":"x"})").status, 404);
  auto form = client_->Request("POST", "/v1/customers/c-1/notes", "text=x",
                               {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_OK(form);
  EXPECT_EQ(form->status, 415);
  EXPECT_EQ(Post("/v1/projections/nope/rebuild", "").status, 404);
  auto del = client_->Request("DELETE", "/v1/customers/c-1");
  ASSERT_OK(del);
  EXPECT_EQ(del->status, 405);
  // Identities are checked at ingest, with the field named.
  HttpResponse bad = Post("/v1/events", R"({"type":"t","identities":{"phone":"12345"}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("event.identities.phone"));
}

}  // namespace
}  // namespace touchline::testing
