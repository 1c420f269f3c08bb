#include "store/merkle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/status_matchers.h"

namespace touchline::store {
namespace {

using touchline::testing::StatusIs;

// RFC 6962 test data, as published with the Go reference implementation
// (transparency-dev/merkle, testonly/constants.go and proof/verify_test.go).
std::string Unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Hash H(std::string_view hex) {
  Hash h{};
  EXPECT_TRUE(ParseHashHex(hex, &h)) << hex;
  return h;
}

const std::vector<std::string> kLeaves = {"",
                                          "00",
                                          "10",
                                          "2021",
                                          "3031",
                                          "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};

const std::vector<std::string_view> kRoots = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

struct ProofVector {
  std::uint64_t a;  // inclusion: 1-based leaf; consistency: size1
  std::uint64_t b;  // tree size (size2)
  std::vector<std::string_view> proof;
};

const std::vector<ProofVector> kInclusion = {
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {3, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {2,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

const std::vector<ProofVector> kConsistency = {
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

std::vector<Hash> Hashes(const std::vector<std::string_view>& hex) {
  std::vector<Hash> out;
  for (auto h : hex) {
    out.push_back(H(h));
  }
  return out;
}

// The perfect subtrees a CompactRange completes, kept as a store would.
class MemoryNodes final : public NodeReader {
 public:
  void Add(const Hash& leaf) {
    range_.Append(leaf, [this](int level, std::uint64_t index, const Hash& h) {
      nodes_[{level, index}] = h;
    });
  }
  StatusOr<Hash> Node(int level, std::uint64_t index) const override {
    auto it = nodes_.find({level, index});
    if (it == nodes_.end()) {
      return Status::NotFound("no node");
    }
    return it->second;
  }
  const CompactRange& range() const { return range_; }

 private:
  CompactRange range_;
  std::map<std::pair<int, std::uint64_t>, Hash> nodes_;
};

MemoryNodes VectorTree() {
  MemoryNodes nodes;
  for (const auto& leaf : kLeaves) {
    nodes.Add(LeafHash(Unhex(leaf)));
  }
  return nodes;
}

TEST(MerkleTest, EmptyTreeRootIsTheHashOfNothing) {
  EXPECT_EQ(HashHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  MemoryNodes nodes;
  ASSERT_OK_AND_ASSIGN(Hash root, RootAt(nodes, 0));
  EXPECT_EQ(root, EmptyRoot());
  EXPECT_EQ(CompactRange().Root(), EmptyRoot());
}

TEST(MerkleTest, RootsMatchRfc6962VectorsAtEverySize) {
  MemoryNodes nodes;
  for (std::size_t n = 1; n <= kLeaves.size(); ++n) {
    nodes.Add(LeafHash(Unhex(kLeaves[n - 1])));
    EXPECT_EQ(HashHex(nodes.range().Root()), kRoots[n - 1]) << "size " << n;
  }
  // Roots of every earlier size, from the stored subtrees alone.
  for (std::size_t n = 1; n <= kLeaves.size(); ++n) {
    ASSERT_OK_AND_ASSIGN(Hash root, RootAt(nodes, n));
    EXPECT_EQ(HashHex(root), kRoots[n - 1]) << "size " << n;
  }
}

TEST(MerkleTest, CompactRangeRestartsFromItsNodes) {
  MemoryNodes nodes = VectorTree();
  for (std::uint64_t size = 0; size <= 7; ++size) {
    std::vector<Hash> edge;
    for (const auto& [level, index] : CompactRangeNodes(size)) {
      ASSERT_OK_AND_ASSIGN(Hash h, nodes.Node(level, index));
      edge.push_back(h);
    }
    ASSERT_OK_AND_ASSIGN(CompactRange r, CompactRange::FromNodes(size, edge));
    for (std::uint64_t i = size; i < 8; ++i) {
      r.Append(LeafHash(Unhex(kLeaves[i])), nullptr);
    }
    EXPECT_EQ(HashHex(r.Root()), kRoots[7]) << "restarted at " << size;
  }
  EXPECT_THAT(CompactRange::FromNodes(3, {EmptyRoot()}).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(MerkleTest, InclusionProofsMatchVectorsAndVerify) {
  MemoryNodes nodes = VectorTree();
  for (const auto& v : kInclusion) {
    ASSERT_OK_AND_ASSIGN(auto proof, InclusionProof(nodes, v.a - 1, v.b));
    EXPECT_EQ(proof, Hashes(v.proof)) << "leaf " << v.a << " of " << v.b;
    const Hash leaf = LeafHash(Unhex(kLeaves[v.a - 1]));
    EXPECT_OK(VerifyInclusion(v.a - 1, v.b, leaf, proof, H(kRoots[v.b - 1])));
  }
}

TEST(MerkleTest, InclusionVerificationRejectsWrongIndexSizeLeafAndBits) {
  for (const auto& v : kInclusion) {
    const auto proof = Hashes(v.proof);
    const Hash leaf = LeafHash(Unhex(kLeaves[v.a - 1]));
    const Hash root = H(kRoots[v.b - 1]);
    const std::uint64_t index = v.a - 1;
    EXPECT_THAT(VerifyInclusion(index + 1, v.b, leaf, proof, root),
                StatusIs(StatusCode::kInvalidArgument));
    if (index > 0) {
      EXPECT_THAT(VerifyInclusion(index - 1, v.b, leaf, proof, root),
                  StatusIs(StatusCode::kInvalidArgument));
    }
    EXPECT_THAT(VerifyInclusion(index, v.b * 2, leaf, proof, root),
                StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyInclusion(index, v.b / 2, leaf, proof, root),
                StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyInclusion(index, v.b, LeafHash("wrong"), proof, root),
                StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyInclusion(index, v.b, leaf, proof, EmptyRoot()),
                StatusIs(StatusCode::kInvalidArgument));
    for (std::size_t i = 0; i < proof.size(); ++i) {
      auto flipped = proof;
      flipped[i][0] ^= 8;
      EXPECT_THAT(VerifyInclusion(index, v.b, leaf, flipped, root),
                  StatusIs(StatusCode::kInvalidArgument))
          << "bit flipped in proof[" << i << "]";
    }
    auto longer = proof;
    longer.push_back(root);
    EXPECT_THAT(VerifyInclusion(index, v.b, leaf, longer, root),
                StatusIs(StatusCode::kInvalidArgument));
    auto shorter = proof;
    shorter.pop_back();
    EXPECT_THAT(VerifyInclusion(index, v.b, leaf, shorter, root),
                StatusIs(StatusCode::kInvalidArgument));
  }
}

TEST(MerkleTest, ConsistencyProofsMatchVectorsAndVerify) {
  MemoryNodes nodes = VectorTree();
  for (const auto& v : kConsistency) {
    ASSERT_OK_AND_ASSIGN(auto proof, ConsistencyProof(nodes, v.a, v.b));
    EXPECT_EQ(proof, Hashes(v.proof)) << v.a << " -> " << v.b;
    EXPECT_OK(VerifyConsistency(v.a, v.b, proof, H(kRoots[v.a - 1]), H(kRoots[v.b - 1])));
  }
  // Trivial cases: the same tree, and anything from the empty tree.
  ASSERT_OK_AND_ASSIGN(auto same, ConsistencyProof(nodes, 5, 5));
  EXPECT_TRUE(same.empty());
  EXPECT_OK(VerifyConsistency(5, 5, {}, H(kRoots[4]), H(kRoots[4])));
  EXPECT_OK(VerifyConsistency(0, 5, {}, EmptyRoot(), H(kRoots[4])));
}

TEST(MerkleTest, ConsistencyVerificationRejectsWrongSizesRootsAndBits) {
  for (const auto& v : kConsistency) {
    const auto proof = Hashes(v.proof);
    const Hash r1 = H(kRoots[v.a - 1]);
    const Hash r2 = H(kRoots[v.b - 1]);
    EXPECT_THAT(VerifyConsistency(v.a + 1, v.b, proof, r1, r2),
                StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyConsistency(v.a - 1, v.b, proof, r1, r2),
                StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyConsistency(v.a, v.b * 2, proof, r1, r2),
                StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyConsistency(v.a, v.b, proof, r2, r1), StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(VerifyConsistency(v.a, v.b, {}, r1, r2), StatusIs(StatusCode::kInvalidArgument));
    for (std::size_t i = 0; i < proof.size(); ++i) {
      auto flipped = proof;
      flipped[i][0] ^= 16;
      EXPECT_THAT(VerifyConsistency(v.a, v.b, flipped, r1, r2),
                  StatusIs(StatusCode::kInvalidArgument))
          << "bit flipped in proof[" << i << "]";
    }
    auto shorter = proof;
    shorter.pop_back();
    EXPECT_THAT(VerifyConsistency(v.a, v.b, shorter, r1, r2),
                StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(VerifyConsistency(5, 4, {}, EmptyRoot(), EmptyRoot()),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyConsistency(3, 3, {EmptyRoot()}, H(kRoots[2]), H(kRoots[2])),
              StatusIs(StatusCode::kInvalidArgument));
}

// Every proof the store can make, for every pair of sizes up to 70, is one
// the RFC's verification accepts: generation and verification agree
// beyond the published vectors.
TEST(MerkleTest, GeneratedProofsVerifyForAllSmallTrees) {
  MemoryNodes nodes;
  std::vector<Hash> leaves;
  std::vector<Hash> roots{EmptyRoot()};
  for (int i = 0; i < 70; ++i) {
    leaves.push_back(LeafHash("leaf " + std::to_string(i)));
    nodes.Add(leaves.back());
    roots.push_back(nodes.range().Root());
  }
  for (std::uint64_t n = 1; n <= 70; ++n) {
    ASSERT_OK_AND_ASSIGN(Hash root, RootAt(nodes, n));
    ASSERT_EQ(root, roots[n]);
    for (std::uint64_t m = 0; m < n; ++m) {
      ASSERT_OK_AND_ASSIGN(auto proof, InclusionProof(nodes, m, n));
      const Status ok = VerifyInclusion(m, n, leaves[m], proof, root);
      ASSERT_TRUE(ok.ok()) << m << " in " << n << ": " << ok.ToString();
    }
    for (std::uint64_t m = 0; m <= n; ++m) {
      ASSERT_OK_AND_ASSIGN(auto proof, ConsistencyProof(nodes, m, n));
      const Status ok = VerifyConsistency(m, n, proof, roots[m], root);
      ASSERT_TRUE(ok.ok()) << m << " -> " << n << ": " << ok.ToString();
    }
  }
  EXPECT_THAT(InclusionProof(nodes, 5, 5).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ConsistencyProof(nodes, 6, 5).status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(MerkleTest, HashEncodingsRoundTrip) {
  const Hash h = LeafHash("x");
  Hash back{};
  ASSERT_TRUE(ParseHashHex(HashHex(h), &back));
  EXPECT_EQ(back, h);
  ASSERT_TRUE(ParseHashBase64(HashBase64(h), &back));
  EXPECT_EQ(back, h);
  EXPECT_FALSE(ParseHashHex("abc", &back));
  EXPECT_FALSE(ParseHashHex(std::string(64, 'z'), &back));
  EXPECT_FALSE(ParseHashBase64("AAAA", &back));
}

}  // namespace
}  // namespace touchline::store
