// EventLogImpl: the RocksDB implementation of store::EventLog. Split by
// concern: event_log.cc (open, reads, stats), event_log_append.cc (the
// append pipeline and group commit), event_log_audit.cc (the tree,
// checkpoints, proofs, erasure purge).
//
// The append pipeline has two threads. The appender stages a commit group
// (checks, seqs, versions, keys, the records and the WriteBatch) and
// encodes it (sealing and hashing, with a helper thread); the writer
// writes it (one synced RocksDB write), publishes it to readers and answers
// its requests. While the writer writes group N, the appender stages group
// N+1 on top of what N staged, as if N will succeed; if N fails, N+1 fails
// with it and the appender starts again from what is on disk. One group is
// written at a time, in order.
//
// Thread safety: as EventLog. Appender-only state is touched only by the
// appender thread and carries no lock.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/mutex.h"
#include "store/checkpoint.h"
#include "store/event_log.h"
#include "store/internal/column_families.h"
#include "store/internal/helper_thread.h"
#include "store/internal/record_cache.h"
#include "store/internal/stream_tails.h"
#include "store/internal/subscription_hub.h"
#include "store/internal/touch_index.h"
#include "store/merkle.h"

namespace touchline::store::internal {

// Opens a log on `env` instead of the default (tests inject disk faults with
// it). `env` must outlive the log.
StatusOr<std::unique_ptr<EventLog>> OpenWithEnv(const EventLogOptions& options, rocksdb::Env* env);

class EventLogImpl final : public EventLog {
 public:
  // `env`: see OpenWithEnv; null means the default (or memory, if in_memory).
  EventLogImpl(const EventLogOptions& options, rocksdb::Env* env);
  ~EventLogImpl() override;

  // Opens RocksDB, checks the format version, finds the head, starts the
  // appender. Called once by EventLog::Open.
  Status Init();

  void AppendAsync(AppendRequest request, AppendCallback done) override;
  StatusOr<std::vector<RecordPtr>> ReadFrom(Seq from, std::size_t limit) const override;
  StatusOr<StreamPage> ReadStream(const StreamQuery& query) const override;
  StatusOr<std::vector<RecordPtr>> ReadSeqs(const std::vector<Seq>& seqs) const override;
  StatusOr<StreamVersion> CurrentVersion(const std::string& customer) const override;
  Seq LastTouch(const std::vector<std::string>& keys) const override {
    return touches_->LastTouch(keys);
  }
  Seq head() const override { return head_.load(std::memory_order_acquire); }
  std::unique_ptr<Subscription> Subscribe(Seq after) override;
  StatusOr<std::unique_ptr<StateStore>> OpenStateStore(std::string_view name) override;
  void Close() override;
  EventLogStats Stats() const override;
  Status WriteHealth() const override;
  StatusOr<BackupInfo> Backup(const std::string& backup_dir) override;
  void SetBackpressure(std::function<Seq()> folded, Seq max_lag) override;

  StatusOr<PublicKey> SigningKey() const override;
  StatusOr<std::optional<Checkpoint>> LatestCheckpoint() const override;
  StatusOr<Checkpoint> SignCheckpoint() override;
  StatusOr<std::vector<Checkpoint>> Checkpoints(std::uint64_t from_size,
                                                std::size_t limit) const override;
  StatusOr<std::vector<PublicKey>> CheckpointKeys() const override;
  StatusOr<Hash> TreeRoot(std::uint64_t tree_size) const override;
  StatusOr<std::optional<Hash>> TreeNode(int level, std::uint64_t index) const override;
  std::unique_ptr<TreeCursor> ScanTree() const override;
  StatusOr<std::vector<Hash>> InclusionProof(Seq seq, std::uint64_t tree_size) const override;
  StatusOr<std::vector<Hash>> ConsistencyProof(std::uint64_t from, std::uint64_t to) const override;
  StatusOr<std::vector<std::string>> ReadStored(Seq from, std::size_t limit) const override;
  Status ScanStored(Seq from,
                    const std::function<bool(Seq, std::string_view)>& visit) const override;
  Status ScanKeys(
      const std::function<void(std::string_view, const KeyEntry&)>& visit) const override;
  StatusOr<std::optional<Seq>> ErasedAt(const std::string& customer) const override;
  Status PurgeErased(Seq through) override;
  StatusOr<Seq> PurgedThrough() const override;
  StatusOr<Seq> NewestErasure() const override;

  // The raw database. No caller at present: the importer (store/
  // log_import.cc) opens the directory with RocksDB itself once
  // EventLog::Open has created it.
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* handle(ColumnFamily c) const { return cf(c); }
  bool integrity() const { return integrity_; }

  // Tests only: while paused, the appender takes no new group, so requests
  // queued meanwhile are committed together as one group after resume.
  void TEST_PauseAppender(bool paused);

 private:
  struct PendingAppend {
    AppendRequest request;
    // EncodeRecordBody() of each event (the opened record after its
    // header) and its stored private part (store/record_format.h),
    // computed by the caller's thread so the appender only adds headers.
    std::vector<std::string> bodies;
    std::vector<std::uint32_t> data_at;  // of each body's `,"data":`
    std::vector<PrivatePart> privates;
    AppendCallback done;
  };

  rocksdb::ColumnFamilyHandle* cf(ColumnFamily c) const {
    return handles_[static_cast<std::size_t>(c)];
  }
  // The stored format version (0 for a new directory). Refuses newer ones.
  StatusOr<int> CheckFormatVersion();
  Status MarkFormatVersion();
  // Integrity set-up at open (event_log_audit.cc): the mode, the origin,
  // the tree's right edge (building the tree over an older directory's
  // records), the signer and the last checkpoint's checks.
  Status InitIntegrity(int stored_format);
  Status BuildTree();
  // Opens the sealed records of `records` with their customers' keys.
  Status OpenSealed(std::vector<Record>* records) const;
  // The checkpointer thread, and one signing (REQUIRES: sign_mu_ held).
  void CheckpointerLoop();
  StatusOr<Checkpoint> SignLocked() REQUIRES(sign_mu_);
  StatusOr<std::optional<Checkpoint>> ReadLastCheckpoint() const;
  // An 8-byte seq kept in meta (0 if absent).
  StatusOr<Seq> ReadSeqMeta(std::string_view key) const;
  // The records with these seqs, in that order, from the record cache or
  // the database (kept in the cache if `fill_cache`); DataLoss if one is
  // missing or does not match its key. REQUIRES: every seq <= head().
  StatusOr<std::vector<RecordPtr>> ReadEvents(const std::vector<Seq>& seqs, bool fill_cache) const;
  // Decodes and opens stored records read under these seqs.
  StatusOr<std::vector<Record>> DecodeStored(const std::vector<Seq>& seqs,
                                             const std::vector<std::string_view>& stored) const;
  // A newest-first page of an unfiltered stream query answered from the
  // stream's tail in memory (seqs and versions only), or nullopt when the
  // tail cannot answer it (no tail, or the page reaches below it).
  std::optional<StreamPage> PageFromTail(const StreamQuery& q, Seq head,
                                         std::vector<StreamVersion>* versions) const;
  // Reads the records of page->seqs into page->records, checking each
  // against its stream entry (`versions`, parallel to the seqs).
  // REQUIRES: the seqs are entries of `customer`'s stream.
  Status ReadPageRecords(const std::string& customer, const std::vector<StreamVersion>& versions,
                         StreamPage* page) const;
  // An iterator over `streams` confined to one customer's prefix.
  std::unique_ptr<rocksdb::Iterator> NewStreamIterator() const;
  // The appender's view: the newest version, published or not.
  StatusOr<StreamVersion> ReadVersion(const std::string& customer) const;
  // Readers' view: the newest version whose event is at or below `head`.
  StatusOr<StreamVersion> VisibleVersion(rocksdb::Iterator* it, const std::string& customer,
                                         Seq head) const;

  // The largest version <= hi of `customer` whose seq is below before_seq
  // (0 if none). REQUIRES: versions 1..hi exist.
  StatusOr<StreamVersion> LastVersionBelow(const std::string& customer, StreamVersion hi,
                                           Seq before_seq) const;

  // How a record is stored: its private part, sealed under `key` (or not,
  // without a key).
  struct StoredForm {
    std::optional<DataKey> key;
    const PrivatePart* part = nullptr;  // owned by the PendingAppend
  };

  // What the log already holds for an event id.
  struct IdLookup {
    Seq seq = 0;
    StreamVersion version = 0;
    std::int64_t time_us = 0;
    // EncodeRecordBody() of the original, owned by the group that staged
    // it (a PendingAppend, or the bodies read back by LookupIds).
    std::string_view body;
    bool erased = false;  // the original's customer was erased
  };

  // One commit group on its way through the pipeline.
  struct StagedGroup {
    std::vector<PendingAppend> requests;
    std::vector<StatusOr<AppendResult>> results;  // one per request
    rocksdb::WriteBatch batch;
    // The group's records have seqs first .. next-1 (none if equal).
    Seq first = 0;
    Seq next = 0;
    std::shared_ptr<std::vector<RecordPtr>> records;
    std::vector<StoredForm> forms;  // parallel to *records
    // What the group staged: the next group's view before this one is
    // written, and the appender's caches' once it is.
    std::unordered_map<std::string, StreamVersion> versions;
    std::unordered_map<std::string, KeyEntry> keys;
    std::unordered_map<std::string, IdLookup> ids;
    std::deque<std::string> stored_bodies;  // bodies `ids` read back
    // The tree's right edge before and after the group.
    CompactRange tree_before;
    CompactRange tree_after;
    // Set by the writer.
    Status write_status;
  };

  // Appender thread (event_log_append.cc). Each stage's REQUIRES is in
  // the .cc file.
  void AppenderLoop();
  void CommitGroup(std::vector<PendingAppend> requests);
  void StageRequests(StagedGroup* g);
  void StageRequest(StagedGroup* g, std::size_t r, const Status& lookup);
  void EncodeRecords(StagedGroup* g);
  bool FinishPrevious(Status* failure);
  void FailStaged(StagedGroup* g, const Status& failure);
  // After a NoSpace failure, at most once a second: DB::Resume(), and clear
  // the error if it succeeds.
  void MaybeResumeAfterNoSpace();
  // Finds which of the group's event ids are already in the log (or staged
  // by the group being written). Bodies read back are kept in
  // g->stored_bodies.
  Status LookupIds(StagedGroup* g, std::unordered_map<std::string, IdLookup>* found);
  // Writer thread.
  void WriterLoop();
  void WriteGroup(StagedGroup* g);
  void PublishGroup(StagedGroup* g);

  // Constant after construction
  const EventLogOptions options_;

  rocksdb::Env* const env_;                // null: the default Env
  std::unique_ptr<rocksdb::Env> mem_env_;  // in_memory only
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::atomic<Seq> head_{0};
  std::unique_ptr<SubscriptionHub> hub_;
  // Read-path caches (thread-safe; filled by the appender and by reads).
  std::unique_ptr<RecordCache> record_cache_;
  std::unique_ptr<StreamTails> tails_;
  std::unique_ptr<TouchIndex> touches_;

  Mutex mu_;
  CondVar queue_cv_;
  std::deque<PendingAppend> queue_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  bool paused_ GUARDED_BY(mu_) = false;  // TEST_PauseAppender
  std::function<Seq()> folded_ GUARDED_BY(mu_);
  Seq max_lag_ GUARDED_BY(mu_) = 0;
  std::thread appender_;

  // Appender-only: the committed versions and key entries of customers,
  // coherent because every write goes through the appender (cleared when
  // they grow past a bound); the group handed to the writer whose outcome
  // the appender has not seen yet (its staged state comes before the
  // caches); the next seq to assign and the tree's right edge after every
  // staged group.
  std::unordered_map<std::string, StreamVersion> version_cache_;
  std::unordered_map<std::string, KeyEntry> key_cache_;
  std::unique_ptr<StagedGroup> previous_;
  Seq next_seq_ = 1;
  CompactRange tree_;
  // Appender-only: the version and the key entry of `customer` as of the
  // staged `request_*` and `g` maps, the previous group, the caches, then
  // the database (key nullopt: the customer has no key yet).
  StatusOr<StreamVersion> VersionFor(const std::string& customer,
                                     const std::unordered_map<std::string, StreamVersion>& request,
                                     const StagedGroup& g);
  StatusOr<std::optional<KeyEntry>> KeyFor(
      const std::string& customer, const std::unordered_map<std::string, KeyEntry>& request_keys,
      const StagedGroup& g);
  // Appender-only: where the appender and its helper write a group's stored
  // records before they are copied into its batch (kept between groups so
  // their pages stay mapped).
  std::array<std::string, 2> seal_buffers_;

  // The writer: the group it is writing (set by the appender, cleared by
  // the writer when done).
  Mutex writer_mu_;
  CondVar writer_cv_;
  StagedGroup* writing_ GUARDED_BY(writer_mu_) = nullptr;
  bool writer_stop_ GUARDED_BY(writer_mu_) = false;
  std::thread writer_;

  // Integrity, fixed by Init.
  bool integrity_ = false;
  std::string origin_;
  std::optional<CheckpointSigner> signer_;  // writable logs only
  std::unique_ptr<HelperThread> helper_;    // seals and hashes with the appender

  // Checkpoints: one signing at a time (the thread or SignCheckpoint()).
  Mutex sign_mu_;
  mutable Mutex checkpoint_mu_;
  CondVar checkpoint_cv_;
  std::optional<Checkpoint> latest_checkpoint_ GUARDED_BY(checkpoint_mu_);
  bool stop_checkpointer_ GUARDED_BY(checkpoint_mu_) = false;
  bool checkpoint_wanted_ GUARDED_BY(checkpoint_mu_) = false;
  std::uint64_t events_since_checkpoint_ GUARDED_BY(checkpoint_mu_) = 0;
  std::thread checkpointer_;
  Mutex purge_mu_;  // one purge at a time

  mutable Mutex health_mu_;
  Status write_error_ GUARDED_BY(health_mu_);  // the first failed write
  // Set when that failure was a full disk (RocksDB NoSpace),
  // which DB::Resume() may clear once space returns. Any other write or
  // fsync failure is final until the log is reopened: after a failed fsync
  // nobody knows what the disk holds, so the log does not guess.
  bool write_error_no_space_ GUARDED_BY(health_mu_) = false;
  std::chrono::steady_clock::time_point last_resume_attempt_ GUARDED_BY(health_mu_);

  std::atomic<std::uint64_t> commit_groups_{0};
  std::atomic<std::uint64_t> committed_events_{0};
};

}  // namespace touchline::store::internal
