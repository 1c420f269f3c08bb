#include "store/log_export.h"

#include <sodium.h>

#include <boost/json.hpp>

namespace touchline::store {
namespace {

std::string KeyBase64(const DataKey& key) {
  char b64[64];
  sodium_bin2base64(b64, sizeof(b64), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  return b64;
}

}  // namespace

StatusOr<std::unique_ptr<ExportWriter>> ExportWriter::Begin(const EventLog& log,
                                                            ExportOptions options) {
  const Seq head = log.head();
  if (options.to == 0) {
    options.to = head;
  }
  if (options.from == 0 || options.from > options.to + 1 || options.to > head) {
    return Status::InvalidArgument(
        "an export covers from..to with 1 <= from <= to <= head (" + std::to_string(head) +
        "); got from " + std::to_string(options.from) + ", to " + std::to_string(options.to));
  }
  if (options.chunk_records == 0) {
    options.chunk_records = 1000;
  }
  std::unique_ptr<ExportWriter> w(new ExportWriter(log, options));
  RETURN_IF_ERROR(w->Prepare());
  return w;
}

Status ExportWriter::Prepare() {
  ASSIGN_OR_RETURN(PublicKey key, log_.SigningKey());
  ASSIGN_OR_RETURN(auto keys, log_.CheckpointKeys());
  // The tree of the records before the range, from its stored subtrees.
  const std::uint64_t before = options_.from - 1;
  std::vector<Hash> edge;
  boost::json::array range;
  for (const auto& [level, index] : CompactRangeNodes(before)) {
    ASSIGN_OR_RETURN(auto h, log_.TreeNode(level, index));
    if (!h.has_value()) {
      return Status::DataLoss("the Merkle tree has no node (level " + std::to_string(level) +
                              ", index " + std::to_string(index) + "); run tlctl verify");
    }
    edge.push_back(*h);
    range.emplace_back(HashHex(*h));
  }
  ASSIGN_OR_RETURN(tree_, CompactRange::FromNodes(before, std::move(edge)));
  boost::json::array public_keys;
  for (const auto& k : keys) {
    public_keys.emplace_back(k.VerifierKey());
  }
  boost::json::object h;
  h["touchline_export"] = 1;
  h["origin"] = key.name;
  h["from"] = options_.from;
  h["to"] = options_.to;
  h["head"] = log_.head();
  h["tree_size"] = before;
  h["compact_range"] = std::move(range);
  h["public_keys"] = std::move(public_keys);
  h["with_keys"] = options_.with_keys;
  header_ = boost::json::serialize(h) + "\n";
  ASSIGN_OR_RETURN(auto checkpoints, log_.Checkpoints(before == 0 ? 1 : before, SIZE_MAX));
  for (const auto& c : checkpoints) {
    if (c.tree_size > options_.to) {
      break;
    }
    header_ += "{\"checkpoint\":" + CheckpointJson(c) + "}\n";
  }
  next_ = options_.from;
  return Status::Ok();
}

StatusOr<std::string> ExportWriter::Next() {
  std::string out;
  switch (phase_) {
    case Phase::kHeader:
      phase_ = next_ <= options_.to ? Phase::kRecords : Phase::kTrailer;
      return std::move(header_);
    case Phase::kRecords: {
      const std::size_t n =
          std::min<std::uint64_t>(options_.chunk_records, options_.to - next_ + 1);
      ASSIGN_OR_RETURN(auto stored, log_.ReadStored(next_, n));
      if (stored.size() != n) {
        return Status::DataLoss("the log ended before seq " +
                                std::to_string(next_ + stored.size()));
      }
      for (const auto& s : stored) {
        tree_.Append(LeafHash(s), nullptr);
        out += ExportLine(s);
        out.push_back('\n');
      }
      next_ += n;
      if (next_ > options_.to) {
        phase_ = Phase::kTrailer;
      }
      return out;
    }
    case Phase::kTrailer: {
      RETURN_IF_ERROR(log_.ScanKeys([&](std::string_view customer, const KeyEntry& e) {
        boost::json::object o;
        o["customer"] = customer;
        if (e.state == KeyEntry::State::kErased) {
          o["seq"] = e.erased_seq;
          out += "{\"erased\":" + boost::json::serialize(o) + "}\n";
        } else if (options_.with_keys) {
          o["key"] = KeyBase64(e.key);
          out += "{\"key\":" + boost::json::serialize(o) + "}\n";
        }
      }));
      boost::json::object end;
      end["records"] = options_.to - options_.from + 1;
      end["root"] = HashHex(tree_.Root());
      out += "{\"end\":" + boost::json::serialize(end) + "}\n";
      phase_ = Phase::kDone;
      return out;
    }
    case Phase::kDone:
      return out;
  }
  return out;
}

}  // namespace touchline::store
