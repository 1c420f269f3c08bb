#include "store/log_import.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>

#include "core/coding.h"
#include "store/checkpoint.h"
#include "store/event_log.h"
#include "store/internal/column_families.h"
#include "store/internal/rocks_status.h"
#include "store/key_format.h"
#include "store/record_format.h"
#include "store/sealing.h"

namespace touchline::store {
namespace {

namespace json = boost::json;
using internal::ColumnFamily;
using internal::FromRocks;

Status Bad(std::string what) { return Status::InvalidArgument("cannot import: " + what); }

// The raw database of a directory EventLog::Open has just created.
class RawDb {
 public:
  Status Open(const std::string& path) {
    rocksdb::DB* raw = nullptr;
    RETURN_IF_ERROR(FromRocks(
        rocksdb::DB::Open(internal::MakeDbOptions(), path,
                          internal::MakeColumnFamilyDescriptors(rocksdb::NewLRUCache(64u << 20)),
                          &handles_, &raw),
        "opening '" + path + "'"));
    db_.reset(raw);
    return Status::Ok();
  }
  ~RawDb() {
    for (auto* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    if (db_) {
      db_->Close().PermitUncheckedError();
    }
  }
  rocksdb::ColumnFamilyHandle* cf(ColumnFamily c) const {
    return handles_[static_cast<std::size_t>(c)];
  }
  Status Write(rocksdb::WriteBatch* batch, bool sync) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    RETURN_IF_ERROR(FromRocks(db_->Write(wo, batch), "importing"));
    batch->Clear();
    return Status::Ok();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace

namespace {

StatusOr<ImportReport> Import(const std::string& data_dir,
                              const std::function<bool(std::string*)>& next_line) {
  std::error_code ec;
  if (std::filesystem::exists(data_dir, ec) && !std::filesystem::is_empty(data_dir, ec)) {
    return Status::FailedPrecondition("'" + data_dir +
                                      "' is not empty; import into a new directory");
  }
  std::string line;
  if (!next_line(&line)) {
    return Bad("the export is empty");
  }
  boost::system::error_code jec;
  const json::value header = json::parse(line, jec);
  const json::object* h = jec ? nullptr : header.if_object();
  if (h == nullptr || !h->contains("touchline_export") || !h->contains("origin") ||
      !h->at("origin").is_string() || !h->contains("from") || !h->contains("to")) {
    return Bad("the first line is not an export header (tlctl export writes one)");
  }
  if (json::value_to<std::uint64_t>(h->at("from")) != 1) {
    return Bad(
        "the export starts after seq 1; only a whole export (tlctl export without --from) "
        "can be imported");
  }
  const Seq to = json::value_to<std::uint64_t>(h->at("to"));
  ImportReport report;
  report.origin = std::string(h->at("origin").as_string());
  std::vector<PublicKey> keys;
  if (const auto* pks = h->if_contains("public_keys"); pks != nullptr && pks->is_array()) {
    for (const auto& x : pks->as_array()) {
      if (x.is_string()) {
        ASSIGN_OR_RETURN(PublicKey k, ParseVerifierKey(x.as_string()));
        keys.push_back(std::move(k));
      }
    }
  }

  // The directory, as a new log of the export's name (format, integrity,
  // a signing key of its own).
  {
    EventLogOptions o;
    o.path = data_dir;
    o.log_name = report.origin;
    o.checkpoint_events = 0;
    o.checkpoint_interval = std::chrono::milliseconds(0);
    ASSIGN_OR_RETURN(auto log, EventLog::Open(o));
    log->Close();
  }
  RawDb db;
  RETURN_IF_ERROR(db.Open(data_dir));
  rocksdb::WriteBatch batch;
  for (const auto& k : keys) {
    batch.Put(db.cf(ColumnFamily::kMeta), SigningKeyMetaKey(k.IdHex()),
              rocksdb::Slice(reinterpret_cast<const char*>(k.key.data()), k.key.size()));
  }

  // Checkpoints come first; each must verify and match the records.
  std::map<std::uint64_t, Checkpoint> checkpoints;
  bool have = next_line(&line);
  for (; have && line.starts_with("{\"checkpoint\":"); have = next_line(&line)) {
    const json::value v = json::parse(line, jec);
    const json::value* c = jec ? nullptr : v.as_object().if_contains("checkpoint");
    auto parsed = c == nullptr ? StatusOr<Checkpoint>(Bad("a malformed checkpoint line"))
                               : CheckpointFromText(json::serialize(*c));
    RETURN_IF_ERROR(parsed.status());
    const auto k = std::find_if(keys.begin(), keys.end(),
                                [&](const PublicKey& pk) { return pk.id == parsed->key_id; });
    if (k == keys.end() || !VerifyCheckpoint(*parsed, *k).ok()) {
      return Bad("the checkpoint of tree size " + std::to_string(parsed->tree_size) +
                 " is not signed by a key the export names");
    }
    batch.Put(db.cf(ColumnFamily::kMerkle), CheckpointKey(parsed->tree_size), parsed->note);
    checkpoints.emplace(parsed->tree_size, std::move(parsed).value());
  }

  CompactRange tree;
  Seq next = 1;
  for (; have && IsRecordLine(line); have = next_line(&line)) {
    ASSIGN_OR_RETURN(const std::string stored, StoredFromExportLine(line));
    ASSIGN_OR_RETURN(Record rec, DecodeRecord(stored));
    if (rec.seq != next) {
      return Bad("record " + std::to_string(next) + " says seq " + std::to_string(rec.seq));
    }
    const std::string key = EventKey(rec.seq);
    batch.Put(db.cf(ColumnFamily::kEvents), key, stored);
    batch.Put(db.cf(ColumnFamily::kStreams), StreamKey(rec.customer, rec.version),
              StreamEntry(rec.seq, rec.type, rec.channel));
    if (!rec.id.empty()) {
      batch.Put(db.cf(ColumnFamily::kEventIds), rec.id, key);
    }
    const std::uint64_t index = tree.size();
    batch.Put(db.cf(ColumnFamily::kMerkle), TreeLeafKey(index), tree.AppendEntry(LeafHash(stored)));
    if (auto c = checkpoints.find(tree.size());
        c != checkpoints.end() && c->second.root != tree.Root()) {
      return Bad("the records do not match the checkpoint of tree size " +
                 std::to_string(c->first));
    }
    ++next;
    if (batch.Count() >= 50000) {
      RETURN_IF_ERROR(db.Write(&batch, /*sync=*/false));
    }
  }
  report.records = next - 1;
  if (report.records != to) {
    return Bad("the export promises records 1.." + std::to_string(to) + " but holds " +
               std::to_string(report.records));
  }
  if (!checkpoints.empty() && checkpoints.rbegin()->first > report.records) {
    return Bad("a checkpoint covers more records than the export holds");
  }
  report.checkpoints = checkpoints.size();

  bool ended = false;
  Seq newest_erasure = 0;
  for (; have; have = next_line(&line)) {
    const json::value v = json::parse(line, jec);
    const json::object* o = jec ? nullptr : v.if_object();
    if (o == nullptr) {
      return Bad("a line after the records is not JSON");
    }
    if (const auto* e = o->if_contains("erased")) {
      const auto& eo = e->as_object();
      KeyEntry entry;
      entry.state = KeyEntry::State::kErased;
      entry.erased_seq = json::value_to<std::uint64_t>(eo.at("seq"));
      batch.Put(db.cf(ColumnFamily::kKeys), std::string(eo.at("customer").as_string()),
                EncodeKeyEntry(entry));
      ++report.erased;
      newest_erasure = std::max(newest_erasure, entry.erased_seq);
    } else if (const auto* k = o->if_contains("key")) {
      const auto& ko = k->as_object();
      const std::string b64(ko.at("key").as_string());
      KeyEntry entry;
      std::size_t len = 0;
      if (sodium_base642bin(entry.key.data(), entry.key.size(), b64.data(), b64.size(), nullptr,
                            &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
          len != entry.key.size()) {
        return Bad("a customer key is not the base64 of 32 bytes");
      }
      batch.Put(db.cf(ColumnFamily::kKeys), std::string(ko.at("customer").as_string()),
                EncodeKeyEntry(entry));
      ++report.keys;
    } else if (const auto* end = o->if_contains("end")) {
      Hash root{};
      const auto& eo = end->as_object();
      if (!eo.contains("root") || !eo.at("root").is_string() ||
          !ParseHashHex(eo.at("root").as_string(), &root) || root != tree.Root()) {
        return Bad("the records do not make the root the export's end line names");
      }
      ended = true;
    }
  }
  if (!ended) {
    return Bad("the export has no end line: it was cut short");
  }
  if (newest_erasure > 0) {
    // Nothing of the erased customers came in: no purge is owed.
    std::string seq;
    PutFixed64BE(&seq, newest_erasure);
    batch.Put(db.cf(ColumnFamily::kMeta), std::string(kNewestErasureKey), seq);
    batch.Put(db.cf(ColumnFamily::kMeta), std::string(kPurgedThroughKey), seq);
  }
  RETURN_IF_ERROR(db.Write(&batch, /*sync=*/true));
  report.root = tree.Root();
  return report;
}

}  // namespace

StatusOr<ImportReport> ImportExport(const std::string& data_dir,
                                    const std::function<bool(std::string*)>& next_line) {
  // Boost.JSON accessors throw on a value of the wrong type: such an export
  // is malformed input, reported as such (nothing else here throws).
  try {
    return Import(data_dir, next_line);
  } catch (const std::exception& e) {
    return Bad(std::string("a line has an unexpected shape (") + e.what() + ")");
  }
}

}  // namespace touchline::store
