#include "store/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

using touchline::testing::StatusIs;

class CheckpointTest : public ::testing::Test {
 protected:
  std::string KeyPath() const { return dir_.Sub("signing.key"); }

  testing::TempDir dir_;
};

TEST_F(CheckpointTest, SignedNoteRoundTripsAndVerifies) {
  ASSERT_OK_AND_ASSIGN(auto signer, CheckpointSigner::Load(KeyPath(), "touchline/test", true));
  const Hash root = LeafHash("root");
  const Checkpoint c = signer.Sign(1024, root, 1764000000123456);
  // The C2SP layout: origin, size, base64 root, time, blank, signature.
  EXPECT_THAT(c.note, ::testing::StartsWith("touchline/test\n1024\n" + HashBase64(root) +
                                            "\ntime 2025-11-24T16:00:00.123456Z\n\n"
                                            "\xE2\x80\x94 touchline/test "));
  ASSERT_OK_AND_ASSIGN(Checkpoint parsed, ParseCheckpoint(c.note));
  EXPECT_EQ(parsed.origin, "touchline/test");
  EXPECT_EQ(parsed.tree_size, 1024u);
  EXPECT_EQ(parsed.root, root);
  EXPECT_EQ(parsed.time_us, 1764000000123456);
  EXPECT_OK(VerifyCheckpoint(parsed, signer.public_key()));
  // And through the JSON the API serves.
  ASSERT_OK_AND_ASSIGN(Checkpoint from_json, CheckpointFromText(CheckpointJson(c)));
  EXPECT_OK(VerifyCheckpoint(from_json, signer.public_key()));
}

TEST_F(CheckpointTest, AlteredNotesAndOtherKeysFail) {
  ASSERT_OK_AND_ASSIGN(auto signer, CheckpointSigner::Load(KeyPath(), "touchline/test", true));
  const Checkpoint c = signer.Sign(10, LeafHash("a"), 1);
  // Another tree size under the same signature.
  std::string note = c.note;
  note.replace(note.find("\n10\n"), 4, "\n11\n");
  ASSERT_OK_AND_ASSIGN(Checkpoint altered, ParseCheckpoint(note));
  EXPECT_THAT(VerifyCheckpoint(altered, signer.public_key()),
              StatusIs(StatusCode::kInvalidArgument));
  // A key of another log, or another key of this one.
  const CheckpointSigner other = CheckpointSigner::Generate("touchline/test");
  EXPECT_THAT(VerifyCheckpoint(c, other.public_key()), StatusIs(StatusCode::kInvalidArgument));
  const CheckpointSigner stranger = CheckpointSigner::Generate("touchline/other");
  EXPECT_THAT(VerifyCheckpoint(c, stranger.public_key()), StatusIs(StatusCode::kInvalidArgument));
  // Malformed notes.
  for (const std::string& bad :
       std::vector<std::string>{"", "touchline/test\n10\n", "a\nb\nc\nd\n\n— a AAAA\n",
                                c.note.substr(0, c.note.size() - 10)}) {
    EXPECT_THAT(ParseCheckpoint(bad).status(), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
}

TEST_F(CheckpointTest, KeyFileIsPrivateAndReloadsTheSameKey) {
  ASSERT_OK_AND_ASSIGN(auto first, CheckpointSigner::Load(KeyPath(), "touchline/test", true));
  struct stat st {};
  ASSERT_EQ(::stat(KeyPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(auto second, CheckpointSigner::Load(KeyPath(), "touchline/test", false));
  EXPECT_EQ(first.public_key().key, second.public_key().key);
  EXPECT_OK(VerifyCheckpoint(first.Sign(1, LeafHash("x"), 5), second.public_key()));

  EXPECT_THAT(CheckpointSigner::Load(dir_.Sub("missing.key"), "o", false).status(),
              StatusIs(StatusCode::kNotFound));
  std::ofstream(dir_.Sub("junk.key")) << "not a key\n";
  EXPECT_THAT(CheckpointSigner::Load(dir_.Sub("junk.key"), "o", false).status(),
              StatusIs(StatusCode::kDataLoss));
}

TEST_F(CheckpointTest, VerifierKeysRoundTrip) {
  const CheckpointSigner signer = CheckpointSigner::Generate("touchline/abc");
  const std::string text = signer.public_key().VerifierKey();
  EXPECT_THAT(text, ::testing::StartsWith("touchline/abc+" + signer.public_key().IdHex() + "+"));
  ASSERT_OK_AND_ASSIGN(PublicKey parsed, ParseVerifierKey(text));
  EXPECT_EQ(parsed.key, signer.public_key().key);
  EXPECT_EQ(parsed.id, signer.public_key().id);
  EXPECT_EQ(parsed.name, "touchline/abc");
  std::string wrong_id = text;
  wrong_id[wrong_id.find('+') + 1] = wrong_id[wrong_id.find('+') + 1] == '0' ? '1' : '0';
  EXPECT_THAT(ParseVerifierKey(wrong_id).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseVerifierKey("no-plus-signs").status(), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace touchline::store
