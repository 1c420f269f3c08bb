#include "store/merkle.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <bit>
#include <cstring>
#include <memory>

namespace touchline::store {
namespace {

// One reusable OpenSSL context per thread: EVP picks the CPU's SHA
// extensions, several times faster than a portable SHA-256 on the leaf
// bytes the appender and `tlctl verify` hash.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {}
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Hash Of(unsigned char prefix, std::string_view a, std::string_view b = {}) {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    Hash out{};
    unsigned int len = 0;
    // These calls cannot fail for SHA-256 short of memory exhaustion, in
    // which case the hash is garbage and verification reports it.
    EVP_DigestInit_ex2(ctx_, md, nullptr);
    EVP_DigestUpdate(ctx_, &prefix, 1);
    EVP_DigestUpdate(ctx_, a.data(), a.size());
    if (!b.empty()) {
      EVP_DigestUpdate(ctx_, b.data(), b.size());
    }
    EVP_DigestFinal_ex(ctx_, out.data(), &len);
    return out;
  }

 private:
  EVP_MD_CTX* const ctx_;
};

Sha256& ThreadHasher() {
  thread_local Sha256 hasher;
  return hasher;
}

std::string_view View(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

// The largest power of two strictly below n. REQUIRES: n >= 2.
std::uint64_t SplitPoint(std::uint64_t n) { return std::bit_floor(n - 1); }

// MTH(D[begin:end]) from stored perfect subtrees. REQUIRES: begin < end.
StatusOr<Hash> SubtreeRoot(const NodeReader& nodes, std::uint64_t begin, std::uint64_t end) {
  const std::uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    return nodes.Node(std::countr_zero(n), begin / n);
  }
  const std::uint64_t k = SplitPoint(n);
  ASSIGN_OR_RETURN(Hash left, SubtreeRoot(nodes, begin, begin + k));
  ASSIGN_OR_RETURN(Hash right, SubtreeRoot(nodes, begin + k, end));
  return NodeHash(left, right);
}

Status Path(const NodeReader& nodes, std::uint64_t m, std::uint64_t begin, std::uint64_t end,
            std::vector<Hash>* out) {
  const std::uint64_t n = end - begin;
  if (n == 1) {
    return Status::Ok();
  }
  const std::uint64_t k = SplitPoint(n);
  if (m < k) {
    RETURN_IF_ERROR(Path(nodes, m, begin, begin + k, out));
    ASSIGN_OR_RETURN(Hash h, SubtreeRoot(nodes, begin + k, end));
    out->push_back(h);
  } else {
    RETURN_IF_ERROR(Path(nodes, m - k, begin + k, end, out));
    ASSIGN_OR_RETURN(Hash h, SubtreeRoot(nodes, begin, begin + k));
    out->push_back(h);
  }
  return Status::Ok();
}

Status SubProof(const NodeReader& nodes, std::uint64_t m, std::uint64_t begin, std::uint64_t end,
                bool whole, std::vector<Hash>* out) {
  const std::uint64_t n = end - begin;
  if (m == n) {
    if (!whole) {
      ASSIGN_OR_RETURN(Hash h, SubtreeRoot(nodes, begin, end));
      out->push_back(h);
    }
    return Status::Ok();
  }
  const std::uint64_t k = SplitPoint(n);
  if (m <= k) {
    RETURN_IF_ERROR(SubProof(nodes, m, begin, begin + k, whole, out));
    ASSIGN_OR_RETURN(Hash h, SubtreeRoot(nodes, begin + k, end));
    out->push_back(h);
  } else {
    RETURN_IF_ERROR(SubProof(nodes, m - k, begin + k, end, false, out));
    ASSIGN_OR_RETURN(Hash h, SubtreeRoot(nodes, begin, begin + k));
    out->push_back(h);
  }
  return Status::Ok();
}

Status Bad(std::string what) { return Status::InvalidArgument(std::move(what)); }

}  // namespace

Hash LeafHash(std::string_view leaf) { return ThreadHasher().Of(0x00, leaf); }

Hash NodeHash(const Hash& left, const Hash& right) {
  return ThreadHasher().Of(0x01, View(left), View(right));
}

Hash EmptyRoot() {
  Hash out{};
  crypto_hash_sha256(out.data(), nullptr, 0);
  return out;
}

std::string HashHex(const Hash& h) {
  char hex[65];
  sodium_bin2hex(hex, sizeof(hex), h.data(), h.size());
  return std::string(hex, 64);
}

bool ParseHashHex(std::string_view hex, Hash* out) {
  std::size_t len = 0;
  return hex.size() == 64 &&
         sodium_hex2bin(out->data(), out->size(), hex.data(), hex.size(), nullptr, &len, nullptr) ==
             0 &&
         len == 32;
}

std::string HashBase64(const Hash& h) {
  char b64[64];
  sodium_bin2base64(b64, sizeof(b64), h.data(), h.size(), sodium_base64_VARIANT_ORIGINAL);
  return b64;
}

bool ParseHashBase64(std::string_view b64, Hash* out) {
  std::size_t len = 0;
  return b64.size() == 44 &&
         sodium_base642bin(out->data(), out->size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                           sodium_base64_VARIANT_ORIGINAL) == 0 &&
         len == 32;
}

StatusOr<CompactRange> CompactRange::FromNodes(std::uint64_t size, std::vector<Hash> nodes) {
  if (static_cast<std::size_t>(std::popcount(size)) != nodes.size()) {
    return Status::InvalidArgument(
        "a tree of " + std::to_string(size) + " leaves has " + std::to_string(std::popcount(size)) +
        " perfect subtrees on its right edge, not " + std::to_string(nodes.size()));
  }
  CompactRange r;
  r.size_ = size;
  r.nodes_ = std::move(nodes);
  return r;
}

void CompactRange::Append(
    const Hash& leaf,
    const std::function<void(int level, std::uint64_t index, const Hash& hash)>& completed) {
  std::uint64_t index = size_;
  if (completed) {
    completed(0, index, leaf);
  }
  Hash h = leaf;
  int level = 0;
  // Each trailing one bit of the old size is a perfect subtree of that
  // level waiting for a right sibling of the same size: merge them.
  for (std::uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    h = NodeHash(nodes_.back(), h);
    nodes_.pop_back();
    ++level;
    index >>= 1;
    if (completed) {
      completed(level, index, h);
    }
  }
  nodes_.push_back(h);
  ++size_;
}

std::string CompactRange::AppendEntry(const Hash& leaf) {
  std::string entry;
  AppendEntry(leaf, &entry);
  return entry;
}

void CompactRange::AppendEntry(const Hash& leaf, std::string* entry) {
  entry->clear();
  Append(leaf, [entry](int, std::uint64_t, const Hash& h) { entry->append(View(h)); });
}

Hash CompactRange::Root() const {
  if (nodes_.empty()) {
    return EmptyRoot();
  }
  Hash r = nodes_.back();
  for (std::size_t i = nodes_.size() - 1; i-- > 0;) {
    r = NodeHash(nodes_[i], r);
  }
  return r;
}

std::vector<std::pair<int, std::uint64_t>> CompactRangeNodes(std::uint64_t size) {
  std::vector<std::pair<int, std::uint64_t>> out;
  for (int level = 63; level >= 0; --level) {
    if ((size >> level) & 1) {
      out.emplace_back(level, (size >> (level + 1)) << 1);
    }
  }
  return out;
}

StatusOr<Hash> RootAt(const NodeReader& nodes, std::uint64_t size) {
  if (size == 0) {
    return EmptyRoot();
  }
  return SubtreeRoot(nodes, 0, size);
}

StatusOr<std::vector<Hash>> InclusionProof(const NodeReader& nodes, std::uint64_t index,
                                           std::uint64_t size) {
  if (index >= size) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) + " is not in a tree of " +
                                   std::to_string(size) + " leaves");
  }
  std::vector<Hash> out;
  RETURN_IF_ERROR(Path(nodes, index, 0, size, &out));
  return out;
}

StatusOr<std::vector<Hash>> ConsistencyProof(const NodeReader& nodes, std::uint64_t from,
                                             std::uint64_t to) {
  if (from > to) {
    return Status::InvalidArgument("a tree of " + std::to_string(to) +
                                   " leaves cannot extend one of " + std::to_string(from));
  }
  std::vector<Hash> out;
  if (from == 0 || from == to) {
    return out;
  }
  RETURN_IF_ERROR(SubProof(nodes, from, 0, to, /*whole=*/true, &out));
  return out;
}

Status VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                       const std::vector<Hash>& proof, const Hash& root) {
  if (index >= size) {
    return Bad("leaf index " + std::to_string(index) + " is beyond the tree size " +
               std::to_string(size));
  }
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) {
      return Bad("the inclusion proof is longer than the tree is deep");
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return Bad("the inclusion proof is shorter than the tree is deep");
  }
  if (r != root) {
    return Bad("the inclusion proof leads to another root");
  }
  return Status::Ok();
}

Status VerifyConsistency(std::uint64_t size1, std::uint64_t size2, const std::vector<Hash>& proof,
                         const Hash& root1, const Hash& root2) {
  if (size2 < size1) {
    return Bad("tree size " + std::to_string(size2) + " is smaller than " + std::to_string(size1));
  }
  if (size1 == size2) {
    if (!proof.empty()) {
      return Bad("trees of equal size need an empty consistency proof");
    }
    return root1 == root2 ? Status::Ok() : Bad("two trees of the same size have different roots");
  }
  if (size1 == 0) {
    return proof.empty() ? Status::Ok()
                         : Bad("a consistency proof from the empty tree must be empty");
  }
  if (proof.empty()) {
    return Bad("the consistency proof is empty");
  }
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) {
    path.push_back(root1);
  }
  path.insert(path.end(), proof.begin(), proof.end());
  std::uint64_t fn = size1 - 1;
  std::uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) {
      return Bad("the consistency proof is longer than the tree is deep");
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return Bad("the consistency proof is shorter than the tree is deep");
  }
  if (fr != root1) {
    return Bad("the consistency proof does not lead to the first root");
  }
  if (sr != root2) {
    return Bad("the consistency proof does not lead to the second root");
  }
  return Status::Ok();
}

}  // namespace touchline::store
