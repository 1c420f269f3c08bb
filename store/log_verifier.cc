#include "store/log_verifier.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <set>
#include <unordered_map>

#include "store/record_format.h"

namespace touchline::store {
namespace {

constexpr std::size_t kFindingsKept = 100;
constexpr std::uint64_t kProgressEvery = 1 << 16;

std::string SeqRange(Seq a, Seq b) {
  return a == b ? "seq " + std::to_string(a)
                : "seqs " + std::to_string(a) + ".." + std::to_string(b);
}

// What the records, the stored tree and the checkpoints must agree on,
// checked as the records stream past once, in seq order.
class Verifier {
 public:
  Verifier(VerifyReport* report, const VerifyOptions& options)
      : report_(report), options_(options) {}

  // `keys`: the keys to check signatures against. `checkpoints`: the
  // log's, in any order. `first`: the first record's seq, `before` the
  // tree of the records before it.
  void Start(const std::vector<PublicKey>& keys, std::vector<Checkpoint> checkpoints, Seq first,
             CompactRange before) {
    expected_ = first;
    report_->first = first;
    tree_ = std::move(before);
    std::sort(checkpoints.begin(), checkpoints.end(),
              [](const Checkpoint& a, const Checkpoint& b) { return a.tree_size < b.tree_size; });
    const Checkpoint* prev = nullptr;
    for (auto& c : checkpoints) {
      if (CheckSignature(c, keys, "the checkpoint of tree size " + std::to_string(c.tree_size))) {
        if (prev != nullptr && c.time_us <= prev->time_us) {
          Find(0, "the checkpoint of tree size " + std::to_string(c.tree_size) +
                      " is not newer than the one of size " + std::to_string(prev->tree_size));
        }
        prev = &c;
        pending_.push_back(Pending{c, false});
      }
    }
    if (options_.against.has_value()) {
      const Checkpoint& c = *options_.against;
      if (CheckSignature(c, keys,
                         "the saved checkpoint (tree size " + std::to_string(c.tree_size) + ")")) {
        pending_.push_back(Pending{c, true});
      }
    }
    std::stable_sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
      return a.c.tree_size < b.c.tree_size;
    });
    // Sizes the tree has already passed cannot be checked from here.
    while (next_pending_ < pending_.size() && pending_[next_pending_].c.tree_size < tree_.size()) {
      report_->notes.push_back("the checkpoint of tree size " +
                               std::to_string(pending_[next_pending_].c.tree_size) +
                               " precedes the records read and was not checked");
      ++next_pending_;
    }
    CheckPendingAtSize();
  }

  void UseStoredTree(const EventLog* log) {
    stored_ = log;
    cursor_ = log->ScanTree();
  }

  void Record(Seq key_seq, std::string_view bytes) {
    ++report_->records;
    if (key_seq == 0) {
      Find(expected_, "a key in the events column family is not an 8-byte seq");
      return;
    }
    if (key_seq != expected_) {
      Find(expected_, SeqRange(expected_, key_seq - 1) +
                          " missing: the next record stored is seq " + std::to_string(key_seq));
      tree_broken_ = true;
    }
    expected_ = key_seq + 1;
    report_->last = key_seq;
    const Hash leaf = LeafHash(bytes);
    auto rec = DecodeRecord(bytes);
    if (!rec.ok()) {
      Find(key_seq, "the record cannot be read: " + rec.status().message());
    } else {
      if (rec->seq != key_seq) {
        Find(key_seq, "the record stored as seq " + std::to_string(key_seq) + " says seq " +
                          std::to_string(rec->seq) + ": records were moved or replaced");
      }
      auto [it, fresh] = customers_.try_emplace(rec->customer, CustomerSeen{rec->version, false});
      if (!fresh) {
        if (rec->version != it->second.version + 1) {
          Find(key_seq, "customer '" + rec->customer + "' goes from version " +
                            std::to_string(it->second.version) + " to " +
                            std::to_string(rec->version));
        }
        it->second.version = rec->version;
      } else if (report_->first == 1 && rec->version != 1) {
        Find(key_seq, "customer '" + rec->customer + "' starts at version " +
                          std::to_string(rec->version) + ", not 1");
      }
      it->second.sealed = it->second.sealed || !rec->sealed.empty();
    }
    std::optional<std::string_view> entry;  // the stored tree's entry of this leaf
    if (stored_ != nullptr) {
      auto got = cursor_->Entry(key_seq - 1);
      if (!got.ok()) {
        error_ = got.status();
      } else if (!got->has_value()) {
        Find(key_seq, "the record has no leaf in the Merkle tree");
      } else if ((*got)->size() < 32 || (*got)->size() % 32 != 0) {
        Find(key_seq, "the record's entry in the Merkle tree is malformed");
      } else {
        entry = *got;
        if (std::memcmp(entry->data(), leaf.data(), 32) != 0) {
          Find(key_seq,
               "the record's bytes differ from its leaf in the Merkle tree: it was altered "
               "after it was written");
        }
      }
    }
    if (tree_broken_) {
      return;
    }
    tree_.Append(leaf, [&](int level, std::uint64_t index, const Hash& h) {
      if (stored_ == nullptr || level == 0 || !entry.has_value()) {
        return;
      }
      const Seq lo = (index << level) + 1;
      const Seq hi = (index + 1) << level;
      const std::size_t at = NodeOffsetInEntry(level);
      const bool missing = entry->size() < at + 32;
      if ((missing || std::memcmp(entry->data() + at, h.data(), 32) != 0) &&
          !FindingWithin(lo, hi)) {
        Find(lo, "the Merkle tree node over " + SeqRange(lo, hi) +
                     (missing ? " is missing" : " differs from the one the records make"));
      }
    });
    CheckPendingAtSize();
    if (options_.progress && report_->records % kProgressEvery == 0) {
      options_.progress(report_->records, total_);
    }
  }

  // After the last record.
  Status Finish() {
    RETURN_IF_ERROR(error_);
    const Seq last = report_->last != 0 ? report_->last : report_->first - 1;
    for (; next_pending_ < pending_.size(); ++next_pending_) {
      const Pending& p = pending_[next_pending_];
      if (p.c.tree_size > last) {
        Find(last + 1, Name(p) + " has tree size " + std::to_string(p.c.tree_size) +
                           " but the log ends at seq " + std::to_string(last) + ": " +
                           SeqRange(last + 1, p.c.tree_size) + " were removed");
      } else {
        report_->notes.push_back(Name(p) + " was not checked (the records have a gap)");
      }
    }
    if (stored_ != nullptr) {
      auto beyond = stored_->TreeNode(0, last);
      RETURN_IF_ERROR(beyond.status());
      if (beyond->has_value()) {
        Find(last + 1, "the Merkle tree has a leaf for seq " + std::to_string(last + 1) +
                           " but the log ends at seq " + std::to_string(last) +
                           ": records were removed from the end");
      }
    }
    if (!tree_broken_) {
      report_->root = tree_.Root();
    }
    report_->customers = customers_.size();
    if (options_.progress) {
      options_.progress(report_->records, std::max<std::uint64_t>(total_, report_->records));
    }
    return Status::Ok();
  }

  void set_total(std::uint64_t total) { total_ = total; }
  // The customers with at least one sealed record.
  std::vector<std::string_view> sealed_customers() const {
    std::vector<std::string_view> out;
    for (const auto& [customer, seen] : customers_) {
      if (seen.sealed) {
        out.push_back(customer);
      }
    }
    return out;
  }
  const CompactRange& tree() const { return tree_; }
  bool tree_broken() const { return tree_broken_; }

  void Find(Seq seq, std::string what) {
    ++report_->findings_total;
    if (seq != 0) {
      finding_seqs_.insert(seq);
    }
    if (report_->findings.size() < kFindingsKept) {
      report_->findings.push_back(VerifyFinding{seq, std::move(what)});
    }
  }

 private:
  struct Pending {
    Checkpoint c;
    bool saved;  // the auditor's, not the log's
  };

  static std::string Name(const Pending& p) {
    return p.saved ? "the saved checkpoint" : "the checkpoint";
  }

  bool CheckSignature(const Checkpoint& c, const std::vector<PublicKey>& keys,
                      const std::string& name) {
    for (const auto& k : keys) {
      if (k.id == c.key_id) {
        if (Status s = VerifyCheckpoint(c, k); !s.ok()) {
          Find(c.tree_size,
               name + " does not verify: " + s.message() + " (it was altered or replaced)");
          return false;
        }
        ++report_->checkpoints;
        return true;
      }
    }
    Find(c.tree_size, name + " is signed by a key that is not trusted here (id " +
                          PublicKey{"", {}, c.key_id}.IdHex() + "): it was replaced");
    return false;
  }

  // Checks every pending checkpoint whose size the tree has reached.
  void CheckPendingAtSize() {
    while (next_pending_ < pending_.size() && pending_[next_pending_].c.tree_size == tree_.size()) {
      const Pending& p = pending_[next_pending_++];
      if (tree_.Root() != p.c.root) {
        const Seq lo = last_good_size_ + 1;
        Find(FindingWithin(lo, p.c.tree_size) ? FirstFindingFrom(lo) : lo,
             Name(p) + " of tree size " + std::to_string(p.c.tree_size) +
                 " does not match the records: one of " + SeqRange(lo, p.c.tree_size) +
                 " was changed since it was signed");
      } else {
        last_good_size_ = p.c.tree_size;
      }
    }
  }

  bool FindingWithin(Seq lo, Seq hi) const {
    auto it = finding_seqs_.lower_bound(lo);
    return it != finding_seqs_.end() && *it <= hi;
  }
  Seq FirstFindingFrom(Seq lo) const { return *finding_seqs_.lower_bound(lo); }

  VerifyReport* const report_;
  const VerifyOptions& options_;
  const EventLog* stored_ = nullptr;
  std::unique_ptr<EventLog::TreeCursor> cursor_;
  Seq expected_ = 1;
  CompactRange tree_;
  bool tree_broken_ = false;
  std::vector<Pending> pending_;
  std::size_t next_pending_ = 0;
  std::uint64_t last_good_size_ = 0;
  struct CustomerSeen {
    StreamVersion version;  // the last one read
    bool sealed;            // whether any of its records is sealed
  };
  std::unordered_map<std::string, CustomerSeen> customers_;
  std::set<Seq> finding_seqs_;
  std::uint64_t total_ = 0;
  Status error_;
};

}  // namespace

Seq VerifyReport::FirstBadSeq() const {
  Seq bad = 0;
  for (const auto& f : findings) {
    if (f.seq != 0 && (bad == 0 || f.seq < bad)) {
      bad = f.seq;
    }
  }
  return bad;
}

std::string VerifyReport::Render() const {
  std::string out = "log         " + origin + "\n";
  out += "records     " +
         (records == 0 ? std::string("none")
                       : std::to_string(first) + ".." + std::to_string(last) + " (" +
                             std::to_string(records) + " records, " + std::to_string(customers) +
                             " customers)") +
         "\n";
  out += "checkpoints " + std::to_string(checkpoints) + " with valid signatures\n";
  out +=
      "root        " + (root.has_value() ? HashHex(*root) : std::string("(not computable)")) + "\n";
  for (const auto& n : notes) {
    out += "note        " + n + "\n";
  }
  if (ok()) {
    return out + "RESULT      OK: every record, tree node and checkpoint agrees\n";
  }
  out += "\nFINDINGS (" + std::to_string(findings_total) + ")\n";
  for (const auto& f : findings) {
    out += (f.seq != 0 ? "  seq " + std::to_string(f.seq) + ": " : "  ") + f.what + "\n";
  }
  if (findings_total > findings.size()) {
    out += "  ... and " + std::to_string(findings_total - findings.size()) + " more\n";
  }
  const Seq bad = FirstBadSeq();
  return out + "RESULT      FAILED" +
         (bad != 0 ? ": the first bad seq is " + std::to_string(bad) : std::string()) + "\n";
}

StatusOr<VerifyReport> VerifyLog(const EventLog& log, const VerifyOptions& options) {
  VerifyReport report;
  ASSIGN_OR_RETURN(PublicKey signer, log.SigningKey());
  report.origin = signer.name;
  std::vector<PublicKey> keys = options.trusted_keys;
  if (keys.empty()) {
    ASSIGN_OR_RETURN(keys, log.CheckpointKeys());
    report.notes.push_back(
        "checkpoint signatures were checked against the keys the data directory registers "
        "(give --public-key to check them against a key you trust)");
  }
  Verifier v(&report, options);
  std::vector<Checkpoint> checkpoints;
  auto stored = log.Checkpoints(1, SIZE_MAX);
  if (stored.ok()) {
    checkpoints = std::move(stored).value();
  } else if (stored.status().IsDataLoss()) {
    v.Find(0, stored.status().message());
  } else {
    return stored.status();
  }
  v.Start(keys, std::move(checkpoints), 1, CompactRange());
  v.UseStoredTree(&log);
  v.set_total(log.head());
  RETURN_IF_ERROR(log.ScanStored(1, [&](Seq seq, std::string_view bytes) {
    v.Record(seq, bytes);
    return true;
  }));
  RETURN_IF_ERROR(v.Finish());
  // Sealed records need their customer's key, or its erasure record.
  std::set<std::string, std::less<>> keyed;
  RETURN_IF_ERROR(
      log.ScanKeys([&](std::string_view customer, const KeyEntry&) { keyed.emplace(customer); }));
  std::uint64_t keyless = 0;
  for (const std::string_view c : v.sealed_customers()) {
    keyless += keyed.find(c) == keyed.end() ? 1 : 0;
  }
  if (keyless > 0) {
    report.notes.push_back(std::to_string(keyless) +
                           " customers have sealed records but neither a key nor an erasure "
                           "record (imported without keys?): their data cannot be read");
  }
  return report;
}

namespace {

StatusOr<VerifyReport> VerifyExportLines(const std::function<bool(std::string*)>& next_line,
                                         const VerifyOptions& options) {
  namespace json = boost::json;
  VerifyReport report;
  std::string line;
  if (!next_line(&line)) {
    return Status::InvalidArgument("the export is empty");
  }
  boost::system::error_code ec;
  json::value header = json::parse(line, ec);
  const json::object* h = ec ? nullptr : header.if_object();
  if (h == nullptr || !h->contains("touchline_export") || !h->contains("from") ||
      !h->contains("to") || !h->contains("tree_size") || !h->contains("compact_range")) {
    return Status::InvalidArgument(
        "not a touchline export: the first line must be its header (tlctl export writes one)");
  }
  const auto num = [&](std::string_view k) -> std::uint64_t {
    const json::value& v = h->at(k);
    return v.is_uint64()  ? v.as_uint64()
           : v.is_int64() ? static_cast<std::uint64_t>(v.as_int64())
                          : 0;
  };
  report.origin = h->contains("origin") && h->at("origin").is_string()
                      ? std::string(h->at("origin").as_string())
                      : std::string();
  const Seq from = num("from");
  const Seq to = num("to");
  const std::uint64_t tree_size = num("tree_size");
  std::vector<Hash> edge;
  for (const auto& x : h->at("compact_range").as_array()) {
    Hash hh{};
    if (!x.is_string() || !ParseHashHex(x.as_string(), &hh)) {
      return Status::InvalidArgument("the export header's compact_range is malformed");
    }
    edge.push_back(hh);
  }
  if (from == 0 || tree_size != from - 1) {
    return Status::InvalidArgument("the export header's from and tree_size disagree");
  }
  ASSIGN_OR_RETURN(CompactRange before, CompactRange::FromNodes(tree_size, std::move(edge)));
  std::vector<PublicKey> keys = options.trusted_keys;
  if (keys.empty()) {
    if (const auto* pks = h->if_contains("public_keys"); pks != nullptr && pks->is_array()) {
      for (const auto& x : pks->as_array()) {
        if (x.is_string()) {
          ASSIGN_OR_RETURN(PublicKey k, ParseVerifierKey(x.as_string()));
          keys.push_back(std::move(k));
        }
      }
    }
    report.notes.push_back(
        "checkpoint signatures were checked against the keys the export names (give "
        "--public-key to check them against a key you trust)");
  }
  Verifier v(&report, options);
  v.set_total(to >= from ? to - from + 1 : 0);
  // Checkpoint lines come first, then the records.
  std::vector<Checkpoint> checkpoints;
  bool have_line = next_line(&line);
  while (have_line && line.starts_with("{\"checkpoint\":")) {
    json::value c = json::parse(line, ec);
    const json::value* cj = ec ? nullptr : c.as_object().if_contains("checkpoint");
    auto parsed = cj == nullptr ? StatusOr<Checkpoint>(Status::InvalidArgument("not JSON"))
                                : CheckpointFromText(json::serialize(*cj));
    if (parsed.ok()) {
      checkpoints.push_back(std::move(parsed).value());
    } else {
      v.Find(0, "a checkpoint line of the export is malformed: " + parsed.status().message());
    }
    have_line = next_line(&line);
  }
  v.Start(keys, std::move(checkpoints), from, std::move(before));
  Seq seq = from;
  while (have_line && IsRecordLine(line)) {
    auto stored = StoredFromExportLine(line);
    if (stored.ok()) {
      v.Record(seq++, *stored);
    } else {
      v.Find(seq++, "the export line of the record is malformed: " + stored.status().message());
    }
    have_line = next_line(&line);
  }
  RETURN_IF_ERROR(v.Finish());
  if (seq - from != (to >= from ? to - from + 1 : 0)) {
    v.Find(seq, "the export's header promises records " + std::to_string(from) + ".." +
                    std::to_string(to) + " but it holds " + std::to_string(seq - from));
  }
  bool ended = false;
  for (; have_line; have_line = next_line(&line)) {
    if (!line.starts_with("{\"end\":")) {
      continue;  // erased customers and keys
    }
    ended = true;
    json::value e = json::parse(line, ec);
    const json::value* root = ec ? nullptr : e.at("end").as_object().if_contains("root");
    Hash claimed{};
    if (root == nullptr || !root->is_string() || !ParseHashHex(root->as_string(), &claimed)) {
      v.Find(0, "the export's end line is malformed");
    } else if (report.root.has_value() && claimed != *report.root) {
      v.Find(0, "the export's end line names root " + std::string(root->as_string()) +
                    " but its records make " + HashHex(*report.root));
    }
  }
  if (!ended) {
    v.Find(0, "the export has no end line: it was cut short");
  }
  return report;
}

}  // namespace

StatusOr<VerifyReport> VerifyExport(const std::function<bool(std::string*)>& next_line,
                                    const VerifyOptions& options) {
  // Boost.JSON accessors throw on a value of the wrong type: such an export
  // is malformed input, reported as such (nothing else here throws).
  try {
    return VerifyExportLines(next_line, options);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("the export is malformed: ") + e.what());
  }
}

}  // namespace touchline::store
