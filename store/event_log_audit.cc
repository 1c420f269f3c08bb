// The event log's tamper evidence and erasure: integrity set-up at open,
// the checkpointer, proofs, raw reads for auditors, and the purge that
// makes erasure physical. See store/event_log.h for the contract.
#include <pthread.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <cstring>

#include "core/coding.h"
#include "store/internal/event_log_impl.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"

namespace touchline::store::internal {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

// Perfect subtrees as stored in the merkle column family.
class StoredNodes final : public NodeReader {
 public:
  StoredNodes(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}
  StatusOr<Hash> Node(int level, std::uint64_t index) const override {
    std::string value;
    const auto s = db_->Get({}, cf_, TreeLeafKey(LeafHoldingNode(level, index)), &value);
    if (s.IsNotFound()) {
      return Status::NotFound("the Merkle tree has no node (level " + std::to_string(level) +
                              ", index " + std::to_string(index) + ")");
    }
    RETURN_IF_ERROR(FromRocks(s, "reading the Merkle tree"));
    const std::size_t at = NodeOffsetInEntry(level);
    if (value.size() % 32 != 0 || value.size() < at + 32) {
      return Status::DataLoss("the Merkle tree entry holding node (level " + std::to_string(level) +
                              ", index " + std::to_string(index) + ") is malformed");
    }
    Hash h{};
    std::memcpy(h.data(), value.data() + at, h.size());
    return h;
  }

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
};

std::string RandomOrigin() {
  unsigned char raw[8];
  randombytes_buf(raw, sizeof(raw));
  char hex[17];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  return std::string("touchline/") + hex;
}

Status NoIntegrity() {
  return Status::FailedPrecondition(
      "this log was created without integrity (--no-integrity, for benchmarks): it has no "
      "Merkle tree, checkpoints or sealed data");
}

}  // namespace

Status EventLogImpl::InitIntegrity(int stored_format) {
  const auto meta = cf(ColumnFamily::kMeta);
  std::string mode;
  auto s = db_->Get({}, meta, std::string(kIntegrityKey), &mode);
  if (!s.IsNotFound()) {
    RETURN_IF_ERROR(FromRocks(s, "reading the integrity mode"));
    integrity_ = mode == "on";
    if (!options_.read_only && integrity_ != options_.integrity) {
      return Status::FailedPrecondition("the data directory '" + options_.path +
                                        "' was created with integrity " + mode + "; open it " +
                                        (integrity_ ? "without" : "with") +
                                        " --no-integrity, or use another data directory");
    }
  } else if (options_.read_only) {
    integrity_ = false;  // written before format 3 and never opened since
  } else {
    integrity_ = options_.integrity;
  }
  if (!integrity_) {
    if (!options_.read_only && s.IsNotFound()) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      return FromRocks(db_->Put(wo, meta, std::string(kIntegrityKey), "off"),
                       "writing the integrity mode");
    }
    return Status::Ok();
  }

  // The origin: fixed when the directory is created.
  s = db_->Get({}, meta, std::string(kLogOriginKey), &origin_);
  if (s.IsNotFound()) {
    if (options_.read_only) {
      return Status::DataLoss("the data directory has integrity on but no log name");
    }
    origin_ = options_.log_name.empty() ? RandomOrigin() : options_.log_name;
    rocksdb::WriteBatch batch;
    batch.Put(meta, std::string(kLogOriginKey), origin_);
    batch.Put(meta, std::string(kIntegrityKey), "on");
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "writing the log's name"));
  } else {
    RETURN_IF_ERROR(FromRocks(s, "reading the log's name"));
    if (!options_.log_name.empty() && options_.log_name != origin_) {
      return Status::FailedPrecondition("the log in '" + options_.path + "' is named '" + origin_ +
                                        "', not '" + options_.log_name + "'");
    }
  }

  // The tree's right edge at the head.
  const StoredNodes nodes(db_.get(), cf(ColumnFamily::kMerkle));
  std::vector<Hash> edge;
  bool complete = true;
  for (const auto& [level, index] : CompactRangeNodes(head())) {
    auto h = nodes.Node(level, index);
    if (h.status().IsNotFound()) {
      complete = false;
      break;
    }
    RETURN_IF_ERROR(h.status());
    edge.push_back(*h);
  }
  if (complete) {
    ASSIGN_OR_RETURN(tree_, CompactRange::FromNodes(head(), std::move(edge)));
  } else if (options_.read_only) {
    // Nothing to repair here: proofs fail and `tlctl verify` reports it.
  } else if (stored_format < 3) {
    RETURN_IF_ERROR(BuildTree());
  } else {
    return Status::DataLoss("the Merkle tree of '" + options_.path +
                            "' is missing nodes at the head; run tlctl verify");
  }

  if (!options_.read_only) {
    if (options_.in_memory && options_.signing_key_file.empty()) {
      signer_ = CheckpointSigner::Generate(origin_);
    } else {
      const bool own = options_.signing_key_file.empty();
      ASSIGN_OR_RETURN(auto signer, CheckpointSigner::Load(own ? SigningKeyFilePath(options_.path)
                                                               : options_.signing_key_file,
                                                           origin_, /*create=*/own));
      signer_ = std::move(signer);
    }
    const PublicKey& pk = signer_->public_key();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(
        FromRocks(db_->Put(wo, meta, SigningKeyMetaKey(pk.IdHex()),
                           rocksdb::Slice(reinterpret_cast<const char*>(pk.key.data()), 32)),
                  "registering the signing key"));
  }

  // The last signed checkpoint: a writable log must still extend it.
  ASSIGN_OR_RETURN(auto last, ReadLastCheckpoint());
  if (last.has_value() && !options_.read_only) {
    if (last->tree_size > head()) {
      return Status::DataLoss("the log ends at seq " + std::to_string(head()) +
                              " but a checkpoint was signed at tree size " +
                              std::to_string(last->tree_size) +
                              ": acknowledged events are gone. Restore from a backup; tlctl "
                              "verify shows what is missing");
    }
    ASSIGN_OR_RETURN(auto keys, CheckpointKeys());
    const PublicKey* key = nullptr;
    for (const auto& k : keys) {
      key = k.id == last->key_id ? &k : key;
    }
    if (key == nullptr || !VerifyCheckpoint(*last, *key).ok()) {
      return Status::DataLoss("the last checkpoint (tree size " + std::to_string(last->tree_size) +
                              ") is not signed by a key registered for this log; run tlctl verify");
    }
    ASSIGN_OR_RETURN(Hash root, RootAt(nodes, last->tree_size));
    if (root != last->root) {
      return Status::DataLoss("the log no longer matches its last signed checkpoint (tree size " +
                              std::to_string(last->tree_size) +
                              "): it was altered. Run tlctl verify to find where");
    }
  }
  MutexLock lock(&checkpoint_mu_);
  latest_checkpoint_ = std::move(last);
  events_since_checkpoint_ =
      head() - (latest_checkpoint_.has_value() ? latest_checkpoint_->tree_size : 0);
  return Status::Ok();
}

Status EventLogImpl::BuildTree() {
  // A directory from before format 3: hash the records it has (unsealed, as
  // they were written) into a tree, in synced batches.
  CompactRange tree;
  rocksdb::WriteBatch batch;
  Seq expect = 1;
  Status status;
  RETURN_IF_ERROR(ScanStored(1, [&](Seq seq, std::string_view bytes) {
    if (seq != expect) {
      status = Status::DataLoss("seq " + std::to_string(expect) +
                                " is missing from the log; cannot build its Merkle tree");
      return false;
    }
    ++expect;
    const std::uint64_t index = tree.size();
    batch.Put(cf(ColumnFamily::kMerkle), TreeLeafKey(index), tree.AppendEntry(LeafHash(bytes)));
    if (batch.Count() >= 100000) {
      status = FromRocks(db_->Write({}, &batch), "building the Merkle tree");
      batch.Clear();
    }
    return status.ok();
  }));
  RETURN_IF_ERROR(status);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "building the Merkle tree"));
  tree_ = std::move(tree);
  return Status::Ok();
}

StatusOr<std::optional<Checkpoint>> EventLogImpl::ReadLastCheckpoint() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(ColumnFamily::kMerkle)));
  it->SeekForPrev(CheckpointKey(UINT64_MAX));
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the last checkpoint"));
  std::uint64_t size = 0;
  if (!it->Valid() || !DecodeCheckpointKey(it->key().ToStringView(), &size)) {
    return std::optional<Checkpoint>();
  }
  auto c = ParseCheckpoint(it->value().ToStringView());
  if (!c.ok() || c->tree_size != size) {
    return Status::DataLoss("the checkpoint stored for tree size " + std::to_string(size) +
                            " is malformed; run tlctl verify");
  }
  return std::optional<Checkpoint>(std::move(c).value());
}

void EventLogImpl::CheckpointerLoop() {
  pthread_setname_np(pthread_self(), "tl-checkpoint");
  const auto interval = options_.checkpoint_interval;
  auto deadline = std::chrono::steady_clock::now() + interval;
  checkpoint_mu_.Lock();
  while (!stop_checkpointer_) {
    if (interval.count() > 0) {
      checkpoint_cv_.WaitUntil(&checkpoint_mu_, deadline);
    } else {
      checkpoint_cv_.Wait(&checkpoint_mu_);
    }
    const auto now = std::chrono::steady_clock::now();
    const bool due = checkpoint_wanted_ || (interval.count() > 0 && now >= deadline);
    if (!due || stop_checkpointer_) {
      continue;
    }
    checkpoint_wanted_ = false;
    deadline = now + interval;
    checkpoint_mu_.Unlock();
    {
      MutexLock sign(&sign_mu_);
      // A failure (a tree that no longer matches the last checkpoint) is
      // retried next time and reported by SignCheckpoint(); nothing is
      // signed meanwhile.
      SignLocked().status().IgnoreError();
    }
    checkpoint_mu_.Lock();
  }
  checkpoint_mu_.Unlock();
  // A clean close leaves the final head signed.
  MutexLock sign(&sign_mu_);
  if (head() > 0) {
    SignLocked().status().IgnoreError();
  }
}

StatusOr<Checkpoint> EventLogImpl::SignLocked() {
  const Seq size = head();
  std::optional<Checkpoint> prev;
  {
    MutexLock lock(&checkpoint_mu_);
    if (latest_checkpoint_.has_value() && latest_checkpoint_->tree_size == size) {
      return *latest_checkpoint_;
    }
    prev = latest_checkpoint_;
  }
  if (size == 0) {
    return Status::FailedPrecondition("the log is empty: there is nothing to sign yet");
  }
  const StoredNodes nodes(db_.get(), cf(ColumnFamily::kMerkle));
  // Never sign a tree that does not extend the last signed one.
  if (prev.has_value()) {
    ASSIGN_OR_RETURN(Hash prev_root, RootAt(nodes, prev->tree_size));
    if (prev->tree_size > size || prev_root != prev->root) {
      return Status::DataLoss("the tree no longer extends the checkpoint of tree size " +
                              std::to_string(prev->tree_size) +
                              "; refusing to sign. Run tlctl verify");
    }
  }
  ASSIGN_OR_RETURN(Hash root, RootAt(nodes, size));
  std::int64_t now = options_.clock->NowMicros();
  if (prev.has_value() && now <= prev->time_us) {
    now = prev->time_us + 1;  // each checkpoint is newer than the last
  }
  Checkpoint c = signer_->Sign(size, root, now);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(db_->Put(wo, cf(ColumnFamily::kMerkle), CheckpointKey(size), c.note),
                            "storing a checkpoint"));
  MutexLock lock(&checkpoint_mu_);
  latest_checkpoint_ = c;
  events_since_checkpoint_ = head() - size;
  return c;
}

StatusOr<PublicKey> EventLogImpl::SigningKey() const {
  if (!integrity_) {
    return NoIntegrity();
  }
  if (signer_.has_value()) {
    return signer_->public_key();
  }
  ASSIGN_OR_RETURN(auto keys, CheckpointKeys());
  ASSIGN_OR_RETURN(auto last, LatestCheckpoint());
  for (const auto& k : keys) {
    if (last.has_value() && k.id == last->key_id) {
      return k;
    }
  }
  if (keys.empty()) {
    return Status::NotFound("no signing key is registered in this data directory");
  }
  return keys.back();
}

StatusOr<std::optional<Checkpoint>> EventLogImpl::LatestCheckpoint() const {
  if (!integrity_) {
    return NoIntegrity();
  }
  MutexLock lock(&checkpoint_mu_);
  return latest_checkpoint_;
}

StatusOr<Checkpoint> EventLogImpl::SignCheckpoint() {
  if (!integrity_) {
    return NoIntegrity();
  }
  if (!signer_.has_value()) {
    return Status::Unavailable("a read-only log cannot sign checkpoints");
  }
  MutexLock sign(&sign_mu_);
  return SignLocked();
}

StatusOr<std::vector<Checkpoint>> EventLogImpl::Checkpoints(std::uint64_t from_size,
                                                            std::size_t limit) const {
  if (!integrity_) {
    return NoIntegrity();
  }
  std::vector<Checkpoint> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(ColumnFamily::kMerkle)));
  for (it->Seek(CheckpointKey(from_size)); it->Valid() && out.size() < limit; it->Next()) {
    std::uint64_t size = 0;
    if (!DecodeCheckpointKey(it->key().ToStringView(), &size)) {
      break;
    }
    auto c = ParseCheckpoint(it->value().ToStringView());
    if (!c.ok()) {
      return Status::DataLoss("the checkpoint stored for tree size " + std::to_string(size) +
                              " is malformed: " + c.status().message());
    }
    out.push_back(std::move(c).value());
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading checkpoints"));
  return out;
}

StatusOr<std::vector<PublicKey>> EventLogImpl::CheckpointKeys() const {
  if (!integrity_) {
    return NoIntegrity();
  }
  std::vector<PublicKey> out;
  const std::string prefix = SigningKeyMetaKey("");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(ColumnFamily::kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 32) {
      return Status::DataLoss("a registered signing key is not 32 bytes");
    }
    std::array<unsigned char, 32> key{};
    std::memcpy(key.data(), it->value().data(), key.size());
    out.push_back(MakePublicKey(origin_, key));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading signing keys"));
  return out;
}

StatusOr<Hash> EventLogImpl::TreeRoot(std::uint64_t tree_size) const {
  if (!integrity_) {
    return NoIntegrity();
  }
  if (tree_size > head()) {
    return Status::InvalidArgument("tree size " + std::to_string(tree_size) +
                                   " is beyond the log's head " + std::to_string(head()));
  }
  return RootAt(StoredNodes(db_.get(), cf(ColumnFamily::kMerkle)), tree_size);
}

StatusOr<std::optional<Hash>> EventLogImpl::TreeNode(int level, std::uint64_t index) const {
  if (!integrity_) {
    return NoIntegrity();
  }
  auto h = StoredNodes(db_.get(), cf(ColumnFamily::kMerkle)).Node(level, index);
  if (h.status().IsNotFound()) {
    return std::optional<Hash>();
  }
  RETURN_IF_ERROR(h.status());
  return std::optional<Hash>(*h);
}

namespace {

class RocksTreeCursor final : public EventLog::TreeCursor {
 public:
  RocksTreeCursor(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    rocksdb::ReadOptions ro;
    ro.readahead_size = 1u << 20;
    ro.fill_cache = false;
    it_.reset(db->NewIterator(ro, cf));
  }
  StatusOr<std::optional<std::string_view>> Entry(std::uint64_t leaf) override {
    std::uint64_t at = 0;
    const auto here = [&] {
      return it_->Valid() && DecodeTreeLeafKey(it_->key().ToStringView(), &at);
    };
    // Entries are read in order: step forward a little, seek when far.
    for (int steps = 0; steps < 8 && positioned_ && here() && at < leaf; ++steps) {
      it_->Next();
    }
    if (!positioned_ || !here() || at < leaf) {
      it_->Seek(TreeLeafKey(leaf));
      positioned_ = true;
    }
    RETURN_IF_ERROR(FromRocks(it_->status(), "reading the Merkle tree"));
    if (!here() || at != leaf) {
      return std::optional<std::string_view>();
    }
    return std::optional<std::string_view>(it_->value().ToStringView());
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  bool positioned_ = false;
};

}  // namespace

std::unique_ptr<EventLog::TreeCursor> EventLogImpl::ScanTree() const {
  return std::make_unique<RocksTreeCursor>(db_.get(), cf(ColumnFamily::kMerkle));
}

StatusOr<std::vector<Hash>> EventLogImpl::InclusionProof(Seq seq, std::uint64_t tree_size) const {
  if (!integrity_) {
    return NoIntegrity();
  }
  if (seq == 0 || seq > tree_size || tree_size > head()) {
    return Status::InvalidArgument("an inclusion proof needs 1 <= seq <= tree_size <= head (" +
                                   std::to_string(head()) + "); got seq " + std::to_string(seq) +
                                   ", tree_size " + std::to_string(tree_size));
  }
  return store::InclusionProof(StoredNodes(db_.get(), cf(ColumnFamily::kMerkle)), seq - 1,
                               tree_size);
}

StatusOr<std::vector<Hash>> EventLogImpl::ConsistencyProof(std::uint64_t from,
                                                           std::uint64_t to) const {
  if (!integrity_) {
    return NoIntegrity();
  }
  if (from > to || to > head()) {
    return Status::InvalidArgument("a consistency proof needs from <= to <= head (" +
                                   std::to_string(head()) + "); got from " + std::to_string(from) +
                                   ", to " + std::to_string(to));
  }
  return store::ConsistencyProof(StoredNodes(db_.get(), cf(ColumnFamily::kMerkle)), from, to);
}

StatusOr<std::vector<std::string>> EventLogImpl::ReadStored(Seq from, std::size_t limit) const {
  std::vector<std::string> out;
  const Seq head_now = head();
  from = std::max<Seq>(from, 1);
  if (limit == 0 || from > head_now) {
    return out;
  }
  const Seq last = from - 1 + std::min<Seq>(limit, head_now - from + 1);
  std::vector<std::string> keys;
  std::vector<rocksdb::Slice> slices;
  keys.reserve(last - from + 1);
  for (Seq s = from; s <= last; ++s) {
    keys.push_back(EventKey(s));
  }
  for (const auto& k : keys) {
    slices.push_back(ToSlice(k));
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet({}, cf(ColumnFamily::kEvents), keys.size(), slices.data(), values.data(),
                statuses.data(), /*sorted_input=*/true);
  out.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      return Status::DataLoss("event " + std::to_string(from + i) + " is missing from the log");
    }
    RETURN_IF_ERROR(FromRocks(statuses[i], "reading an event"));
    out.push_back(values[i].ToString());
  }
  return out;
}

Status EventLogImpl::ScanStored(Seq from,
                                const std::function<bool(Seq, std::string_view)>& visit) const {
  rocksdb::ReadOptions ro;
  ro.readahead_size = 4u << 20;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(ColumnFamily::kEvents)));
  for (it->Seek(EventKey(std::max<Seq>(from, 1))); it->Valid(); it->Next()) {
    const auto key = it->key();
    const Seq seq = key.size() == 8 ? DecodeEventKey(key.ToStringView()) : 0;
    if (!visit(seq, it->value().ToStringView())) {
      return Status::Ok();
    }
  }
  return FromRocks(it->status(), "scanning the log");
}

Status EventLogImpl::ScanKeys(
    const std::function<void(std::string_view, const KeyEntry&)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(ColumnFamily::kKeys)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    KeyEntry e;
    if (!DecodeKeyEntry(it->value().ToStringView(), &e)) {
      return Status::DataLoss("malformed key entry for customer '" + it->key().ToString() + "'");
    }
    visit(it->key().ToStringView(), e);
  }
  return FromRocks(it->status(), "scanning customer keys");
}

StatusOr<std::optional<Seq>> EventLogImpl::ErasedAt(const std::string& customer) const {
  std::string value;
  const auto s = db_->Get({}, cf(ColumnFamily::kKeys), customer, &value);
  if (s.IsNotFound()) {
    return std::optional<Seq>();
  }
  RETURN_IF_ERROR(FromRocks(s, "reading a customer key"));
  KeyEntry e;
  if (!DecodeKeyEntry(value, &e)) {
    return Status::DataLoss("malformed key entry for customer '" + customer + "'");
  }
  return e.state == KeyEntry::State::kErased ? std::optional<Seq>(e.erased_seq)
                                             : std::optional<Seq>();
}

Status EventLogImpl::PurgeErased(Seq through) {
  if (options_.read_only) {
    return Status::FailedPrecondition("a read-only log cannot be compacted");
  }
  MutexLock lock(&purge_mu_);
  // Flushing every column family makes every WAL file obsolete (RocksDB
  // deletes them), so no old key survives there; compacting to the bottom
  // level drops overwritten keys and deleted projection state from the
  // table files.
  rocksdb::FlushOptions fo;
  fo.wait = true;
  RETURN_IF_ERROR(FromRocks(db_->Flush(fo, handles_), "flushing before a purge"));
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (const auto c : {ColumnFamily::kKeys, ColumnFamily::kProjections}) {
    RETURN_IF_ERROR(
        FromRocks(db_->CompactRange(co, cf(c), nullptr, nullptr), "compacting after an erasure"));
  }
  std::string value;
  PutFixed64BE(&value, through);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, cf(ColumnFamily::kMeta), std::string(kPurgedThroughKey), value),
                   "recording a purge");
}

StatusOr<Seq> EventLogImpl::PurgedThrough() const { return ReadSeqMeta(kPurgedThroughKey); }

StatusOr<Seq> EventLogImpl::NewestErasure() const { return ReadSeqMeta(kNewestErasureKey); }

StatusOr<Seq> EventLogImpl::ReadSeqMeta(std::string_view key) const {
  std::string value;
  const auto s = db_->Get({}, cf(ColumnFamily::kMeta), std::string(key), &value);
  if (s.IsNotFound()) {
    return Seq{0};
  }
  RETURN_IF_ERROR(FromRocks(s, "reading " + std::string(key)));
  if (value.size() != 8) {
    return Status::DataLoss("meta " + std::string(key) + " is not 8 bytes");
  }
  return DecodeFixed64BE(value.data());
}

}  // namespace touchline::store::internal
