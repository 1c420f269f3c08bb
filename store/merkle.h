// The Merkle tree over the log, as RFC 6962 / RFC 9162 define it: leaf i is
// the exact stored bytes of the record with seq i+1 (store/record_format.h),
// leaf hash = SHA-256(0x00 || bytes), node hash = SHA-256(0x01 || left ||
// right), and the tree of n leaves splits at the largest power of two below
// n. An auditor can therefore check roots and proofs with any RFC 6962
// library, against the bytes `tlctl export` writes.
//
// Storage: every perfect subtree is stored once it is complete (a leaf is
// the perfect subtree of level 0), in one entry per leaf: the leaf's hash
// followed by those of the subtrees its append completed, by level
// (CompactRange::AppendEntry; store/key_format.h). A subtree (level, index)
// covers leaves index*2^level .. (index+1)*2^level - 1. The appender writes
// each entry in the same WriteBatch as its record, one key per record, and
// entries never change. Any other subtree hash, the root of a tree of any size
// included, is computed from O(log n) stored ones, so proofs for any
// earlier tree size can be answered without snapshots.
//
// CompactRange is the appender's in-memory right edge of the tree: the
// roots of the perfect subtrees of the current size (one per set bit of n,
// largest first), from which the root and the next nodes follow.
//
// Thread safety: pure functions and plain values. NodeReader implementations
// say their own.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace touchline::store {

using Hash = std::array<unsigned char, 32>;

// SHA-256(0x00 || leaf).
Hash LeafHash(std::string_view leaf);
// SHA-256(0x01 || left || right).
Hash NodeHash(const Hash& left, const Hash& right);
// The root of the empty tree, SHA-256 of nothing.
Hash EmptyRoot();

std::string HashHex(const Hash& h);
// Parses 64 hex digits. Returns false otherwise.
bool ParseHashHex(std::string_view hex, Hash* out);
std::string HashBase64(const Hash& h);
bool ParseHashBase64(std::string_view b64, Hash* out);

// The right edge of a tree: see the file comment.
class CompactRange {
 public:
  CompactRange() = default;
  // The range of a tree of `size` leaves from its perfect-subtree roots,
  // largest first. Returns InvalidArgument if there are not exactly as many
  // as `size` has set bits.
  static StatusOr<CompactRange> FromNodes(std::uint64_t size, std::vector<Hash> nodes);

  // Adds the next leaf (index size()) and calls `completed(level, index,
  // hash)` for every perfect subtree this completes, the leaf itself first.
  void Append(
      const Hash& leaf,
      const std::function<void(int level, std::uint64_t index, const Hash& hash)>& completed);
  // Adds the next leaf and returns its stored entry: the leaf's hash and the
  // hashes of the subtrees it completed, by level. The second form reuses
  // `entry`'s buffer.
  std::string AppendEntry(const Hash& leaf);
  void AppendEntry(const Hash& leaf, std::string* entry);

  // The tree's root (EmptyRoot() for no leaves).
  Hash Root() const;
  std::uint64_t size() const { return size_; }
  // The perfect-subtree roots, largest first.
  const std::vector<Hash>& nodes() const { return nodes_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> nodes_;
};

// The leaf whose stored entry holds the subtree (level, index), and the
// subtree's offset there.
inline std::uint64_t LeafHoldingNode(int level, std::uint64_t index) {
  return ((index + 1) << level) - 1;
}
inline std::size_t NodeOffsetInEntry(int level) { return 32 * static_cast<std::size_t>(level); }

// The level and index of each perfect subtree that makes up a tree of
// `size` leaves, largest first (what CompactRange::FromNodes needs).
std::vector<std::pair<int, std::uint64_t>> CompactRangeNodes(std::uint64_t size);

// Reads stored perfect subtrees. Returns NotFound for one that is not
// stored, or a storage error.
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  virtual StatusOr<Hash> Node(int level, std::uint64_t index) const = 0;
};

// The root of the tree of the first `size` leaves.
StatusOr<Hash> RootAt(const NodeReader& nodes, std::uint64_t size);

// RFC 6962 PATH(index, D[size]): the audit path of leaf `index` (0-based)
// in the tree of `size` leaves. InvalidArgument unless index < size.
StatusOr<std::vector<Hash>> InclusionProof(const NodeReader& nodes, std::uint64_t index,
                                           std::uint64_t size);

// RFC 6962 PROOF(from, D[to]): shows the tree of `to` leaves extends the
// tree of `from` leaves. Empty when from == to or from == 0.
// InvalidArgument unless from <= to.
StatusOr<std::vector<Hash>> ConsistencyProof(const NodeReader& nodes, std::uint64_t from,
                                             std::uint64_t to);

// RFC 9162 2.1.3.2: OK if `proof` shows `leaf` (a LeafHash) at `index` in
// the tree of `size` leaves with root `root`; else InvalidArgument saying
// why.
Status VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                       const std::vector<Hash>& proof, const Hash& root);

// RFC 9162 2.1.4.2: OK if `proof` shows the tree (size2, root2) extends the
// tree (size1, root1); else InvalidArgument saying why.
Status VerifyConsistency(std::uint64_t size1, std::uint64_t size2, const std::vector<Hash>& proof,
                         const Hash& root1, const Hash& root2);

}  // namespace touchline::store
