// The auditors' side of the real server: who read or wrote a customer's
// data, as two different API keys do it; erasure of a customer carrying
// canary personal data, which must then be absent from every API answer,
// every export, the projections, the server's log and (after the purge)
// every file of the data directory, while tlctl verify still passes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store/api_keys.h"
#include "store/merkle.h"
#include "store/record_format.h"
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

// Strings that exist only in the erased customer's data.
constexpr std::string_view kCanaryName = "Zebulon Quillfeather";
constexpr std::string_view kCanaryEmail = "zq-canary@example.org";
constexpr std::string_view kCanaryPhone = "+6281299887766";
constexpr std::string_view kCanaryNote = "parcel-canary-4711";

std::string CreateKey(const std::string& dir, const std::string& name, store::Role role) {
  auto k = store::CreateApiKey(dir, name, role, 1'700'000'000'000'000);
  EXPECT_OK(k);
  return k.ok() ? k->secret : "";
}

Headers Bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Which canary strings `text` holds.
std::vector<std::string> Canaries(const std::string& text) {
  std::vector<std::string> found;
  for (std::string_view c : {kCanaryName, kCanaryEmail, kCanaryPhone, kCanaryNote}) {
    if (text.find(c) != std::string::npos) {
      found.emplace_back(c);
    }
  }
  return found;
}

int RunTlctl(const std::string& args, std::string* out) {
  FILE* p = ::popen((std::string(TLCTL_PATH) + " " + args + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    out->append(buf.data(), n);
  }
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.Sub("data");
    std::filesystem::create_directories(data_);
    admin_ = CreateKey(data_, "ops-admin", store::Role::kAdmin);
    ann_ = CreateKey(data_, "agent-ann", store::Role::kAgent);
    bob_ = CreateKey(data_, "agent-bob", store::Role::kAgent);
    auditor_ = CreateKey(data_, "auditor-eve", store::Role::kAuditor);
    ingest_ = CreateKey(data_, "crm-sync", store::Role::kIngest);
    server_ = std::make_unique<ServerProcess>(
        data_, std::vector<std::string>{"--log-level", "debug", "--checkpoint-interval-ms", "200"});
    ASSERT_OK(server_->Start());
    http_ = std::make_unique<HttpClient>(server_->port());
  }

  HttpResponse Call(const std::string& method, const std::string& target, const std::string& key,
                    const std::string& body = "") {
    Headers h = Bearer(key);
    if (!body.empty()) {
      h.emplace_back("Content-Type", "application/json");
    }
    auto r = http_->Request(method, target, body, h);
    EXPECT_OK(r);
    return r.ok() ? *r : HttpResponse{};
  }

  // The audit trail of a customer, once the reads have been appended and
  // folded (the access log appends every 100 ms).
  json::array Trail(const std::string& path, std::size_t at_least) {
    json::array entries;
    for (int i = 0; i < 100; ++i) {
      auto r = Call("GET", path, auditor_);
      EXPECT_EQ(r.status, 200) << r.body;
      entries = json::parse(r.body).as_object().at("entries").as_array();
      if (entries.size() >= at_least) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return entries;
  }

  TempDir dir_;
  std::string data_;
  std::string admin_, ann_, bob_, auditor_, ingest_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
};

TEST_F(AuditTest, ReadsAndWritesByTwoKeysAreListedPerCustomerAndPerActor) {
  ASSERT_EQ(Call("POST", "/v1/events", ingest_,
                 R"({"customer":"c-7","type":"ticket.opened","data":{"subject":"hi"}})")
                .status,
            201);
  ASSERT_EQ(Call("GET", "/v1/customers/c-7", ann_).status, 200);
  ASSERT_EQ(Call("GET", "/v1/customers/c-7/timeline", bob_).status, 200);
  ASSERT_EQ(Call("POST", "/v1/customers/c-7/notes", bob_, R"({"text":"called back"})").status, 201);
  // A read that fails records nothing; another customer's read is not c-7's.
  ASSERT_EQ(Call("GET", "/v1/customers/nobody", ann_).status, 404);

  const json::array trail = Trail("/v1/audit/customers/c-7", 4);
  ASSERT_EQ(trail.size(), 4u) << json::serialize(trail);
  // Newest first: bob's note, bob's timeline read, ann's view read, the write.
  EXPECT_EQ(trail[0].at("action"), "write");
  EXPECT_EQ(trail[0].at("actor"), "agent-bob");
  EXPECT_EQ(trail[0].at("route"), "POST /v1/customers/{id}/notes");
  EXPECT_EQ(trail[0].at("type"), "note.added");
  std::vector<std::string> reads;
  for (const auto& e : trail) {
    if (e.at("action") == "read") {
      reads.push_back(std::string(e.at("actor").as_string()) + " " +
                      std::string(e.at("route").as_string()));
      EXPECT_EQ(e.at("customers").as_array().at(0), "c-7");
      EXPECT_TRUE(e.as_object().contains("at"));
    }
  }
  EXPECT_THAT(reads, ::testing::UnorderedElementsAre("agent-ann GET /v1/customers/{id}",
                                                     "agent-bob GET /v1/customers/{id}/timeline"));
  EXPECT_EQ(trail.back().at("actor"), "crm-sync");
  EXPECT_EQ(trail.back().at("route"), "POST /v1/events");

  const json::array bob = Trail("/v1/audit/actors/agent-bob", 2);
  ASSERT_EQ(bob.size(), 2u) << json::serialize(bob);
  EXPECT_EQ(bob[0].at("type"), "note.added");
  EXPECT_EQ(bob[1].at("route"), "GET /v1/customers/{id}/timeline");
  const json::array ann = Trail("/v1/audit/actors/agent-ann", 1);
  ASSERT_EQ(ann.size(), 1u) << json::serialize(ann);

  // Following a customer live reads their data too.
  auto ws = WsClient::Connect(server_->port(), "", "/v1/stream?access_token=" + ann_);
  ASSERT_OK(ws);
  ASSERT_OK((*ws)->Send(R"({"op":"subscribe","customers":["c-7"],"from":0})"));
  const json::array followed = Trail("/v1/audit/customers/c-7", 5);
  ASSERT_EQ(followed.size(), 5u) << json::serialize(followed);
  EXPECT_EQ(followed[0].at("actor"), "agent-ann");
  EXPECT_EQ(followed[0].at("route"), "WS /v1/stream subscribe");
  (*ws)->Close();

  // Pages, and who may ask.
  auto page = json::parse(Call("GET", "/v1/audit/customers/c-7?limit=2", auditor_).body);
  ASSERT_EQ(page.at("entries").as_array().size(), 2u);
  const std::string after(page.at("next_after").as_string());
  auto rest = json::parse(
      Call("GET", "/v1/audit/customers/c-7?limit=10&after=" + UrlEncode(after), auditor_).body);
  EXPECT_EQ(rest.at("entries").as_array().size(), 3u);
  EXPECT_TRUE(rest.at("next_after").is_null());
  EXPECT_EQ(Call("GET", "/v1/audit/customers/c-7", ann_).status, 403);
}

TEST_F(AuditTest, ErasedCustomerLeavesNoTraceButTheChainVerifies) {
  // The person: two streams (a CRM id and a web shop id) linked by email,
  // with canary values in identities, traits and data.
  const std::string e1 = R"({"customer":"crm-901","type":"identify","channel":"web",
      "identities":{"email":")" +
                         std::string(kCanaryEmail) + R"(","phone":")" + std::string(kCanaryPhone) +
                         R"("},
      "data":{"traits":{"name":")" +
                         std::string(kCanaryName) + R"("}}})";
  const std::string e2 = R"({"customer":"shop-77","type":"ticket.opened","channel":"email",
      "identities":{"email":")" +
                         std::string(kCanaryEmail) + R"("},
      "data":{"subject":")" +
                         std::string(kCanaryNote) + R"("}})";
  ASSERT_EQ(Call("POST", "/v1/events", ingest_, e1).status, 201);
  ASSERT_EQ(Call("POST", "/v1/events", ingest_, e2).status, 201);
  ASSERT_EQ(Call("POST", "/v1/events", ingest_,
                 R"({"customer":"c-other","type":"ticket.opened","data":{"subject":"kept"}})")
                .status,
            201);
  // Read it the ways an agent would (all recorded), and check it is there.
  auto view = Call("GET", "/v1/customers/crm-901", ann_);
  ASSERT_EQ(view.status, 200);
  ASSERT_THAT(view.body, HasSubstr(kCanaryName));
  ASSERT_THAT(Call("GET", "/v1/customers/shop-77/timeline", ann_).body, HasSubstr(kCanaryNote));
  ASSERT_EQ(Call("GET", "/v1/customers?email=" + UrlEncode(std::string(kCanaryEmail)), bob_).status,
            200);
  ASSERT_THAT(Call("GET", "/v1/customers?q=zq-can", bob_).body, HasSubstr(kCanaryEmail));

  auto erased = Call("POST", "/v1/customers/crm-901/erase", admin_);
  ASSERT_EQ(erased.status, 200) << erased.body;
  const auto body = json::parse(erased.body).as_object();
  ASSERT_EQ(body.at("erased").as_array().size(), 2u) << erased.body;  // both streams
  EXPECT_EQ(Call("POST", "/v1/customers/crm-901/erase", ann_).status, 403);
  // Erasing again is harmless, and says so.
  auto again = Call("POST", "/v1/customers/shop-77/erase", admin_);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body).at("already_erased").as_array().size(), 1u);

  // Every answer an API key can get.
  std::vector<std::pair<std::string, std::string>> reads = {
      {"/v1/customers/crm-901", admin_},
      {"/v1/customers/shop-77", admin_},
      {"/v1/customers/crm-901/timeline", admin_},
      {"/v1/customers/shop-77/timeline", admin_},
      {"/v1/customers?q=zq", admin_},
      {"/v1/customers?q=zebulon", admin_},
      {"/v1/customers/crm-901?as_of=2", admin_},
      {"/v1/customers/crm-901/reminders", admin_},
      {"/v1/events?after=0&limit=1000", auditor_},
      {"/v1/audit/export", auditor_},
      {"/v1/audit/customers/crm-901", auditor_},
      {"/v1/audit/actors/agent-ann", auditor_},
      {"/v1/audit/proof/inclusion?seq=1", auditor_},
      {"/v1/projections", auditor_},
      {"/metrics", auditor_},
  };
  for (const auto& [path, key] : reads) {
    auto r = Call("GET", path, key);
    EXPECT_THAT(Canaries(r.body), ::testing::IsEmpty()) << path << ": " << r.body;
  }
  // Looked up by the erased identities: not found (the message quotes what
  // the caller sent, nothing stored).
  for (const std::string& q : {"email=" + UrlEncode(std::string(kCanaryEmail)),
                               "phone=" + UrlEncode(std::string(kCanaryPhone))}) {
    auto r = Call("GET", "/v1/customers?" + q, admin_);
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr(kCanaryName)));
  }
  auto ndjson = http_->Get(
      "/v1/events", {{"Authorization", "Bearer " + auditor_}, {"Accept", "application/x-ndjson"}});
  ASSERT_OK(ndjson);
  EXPECT_THAT(Canaries(ndjson->body), ::testing::IsEmpty());
  EXPECT_THAT(ndjson->body, HasSubstr("\"data\":\"[erased]\""));
  EXPECT_THAT(Call("GET", "/v1/customers/c-other/timeline", admin_).body, HasSubstr("kept"));
  // The live stream replays the log from the start.
  auto ws = WsClient::Connect(server_->port(), "", "/v1/stream?access_token=" + admin_);
  ASSERT_OK(ws);
  ASSERT_OK((*ws)->Send(R"({"op":"subscribe","all":true,"from":0})"));
  std::string streamed;
  for (int i = 0; i < 20; ++i) {
    auto m = (*ws)->Read(std::chrono::milliseconds(300));
    if (!m.ok()) {
      break;
    }
    streamed += *m;
  }
  EXPECT_THAT(streamed, HasSubstr("[erased]"));
  EXPECT_THAT(Canaries(streamed), ::testing::IsEmpty());
  (*ws)->Close();

  // The reads made before the erasure are still on the record.
  const json::array trail = Trail("/v1/audit/customers/crm-901", 3);
  EXPECT_GE(trail.size(), 3u);

  // Stop (the purge it was asked for completes first), then look at every
  // byte the server left behind.
  ASSERT_EQ(server_->Stop(), 0);
  EXPECT_THAT(Canaries(ReadFile(server_->log_path())), ::testing::IsEmpty());
  EXPECT_THAT(ReadFile(server_->log_path()), HasSubstr("GET /v1/customers/{id}"));
  for (const auto& f : std::filesystem::recursive_directory_iterator(data_)) {
    if (f.is_regular_file()) {
      EXPECT_THAT(Canaries(ReadFile(f.path().string())), ::testing::IsEmpty()) << f.path();
    }
  }
  std::string out;
  EXPECT_EQ(RunTlctl("verify --data-dir " + data_, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("RESULT      OK"));
  out.clear();
  EXPECT_EQ(RunTlctl("export --data-dir " + data_ + " --with-keys", &out), 0);
  EXPECT_THAT(Canaries(out), ::testing::IsEmpty());
  out.clear();
  EXPECT_EQ(RunTlctl("replay --data-dir " + data_, &out), 0);
  EXPECT_THAT(Canaries(out), ::testing::IsEmpty());
}

TEST_F(AuditTest, CheckpointsAndProofsOverHttp) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Call("POST", "/v1/events", ingest_, R"({"customer":"c-1","type":"x.y"})").status,
              201);
  }
  auto signed_now = Call("POST", "/v1/audit/checkpoint", auditor_);
  ASSERT_EQ(signed_now.status, 201) << signed_now.body;
  const auto c = json::parse(signed_now.body).as_object();
  EXPECT_GE(c.at("tree_size").as_int64(), 5);
  auto latest = Call("GET", "/v1/audit/checkpoint", auditor_);
  ASSERT_EQ(latest.status, 200);
  auto pk = http_->Get("/v1/audit/public-key");  // public: no key needed
  ASSERT_OK(pk);
  EXPECT_EQ(pk->status, 200);
  EXPECT_EQ(json::parse(pk->body).at("verifier_key"), c.at("verifier_key"));
  auto proof = Call("GET", "/v1/audit/proof/inclusion?seq=3&tree_size=5", auditor_);
  ASSERT_EQ(proof.status, 200) << proof.body;
  const auto proved = json::parse(proof.body).as_object();
  EXPECT_EQ(proved.at("proof").as_array().size(), 3u);
  // The stored bytes come with the proof: an auditor recomputes the leaf.
  auto stored = store::StoredFromExportLine(
      "{\"record\":\"" + std::string(proved.at("stored_base64").as_string()) + "\"}");
  ASSERT_OK(stored);
  EXPECT_EQ(store::HashHex(store::LeafHash(*stored)), proved.at("leaf_hash").as_string());
  EXPECT_FALSE(proved.contains("record"));  // format 4: no JSON text to show
  auto consistency = Call("GET", "/v1/audit/proof/consistency?from=3&to=5", auditor_);
  ASSERT_EQ(consistency.status, 200) << consistency.body;
  EXPECT_EQ(Call("GET", "/v1/audit/proof/inclusion?seq=9&tree_size=5", auditor_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/audit/proof/inclusion", auditor_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/audit/proof/consistency?from=3&to=99999", auditor_).status, 400);
  EXPECT_EQ(Call("POST", "/v1/audit/checkpoint", ann_).status, 403);
  EXPECT_EQ(Call("POST", "/v1/events", ingest_, R"({"customer":"~access","type":"x.y"})").status,
            400);
  EXPECT_EQ(
      Call("POST", "/v1/events", ingest_, R"({"customer":"c-1","type":"customer.erased"})").status,
      400);
}

}  // namespace
}  // namespace touchline::testing
