// EventLog: the durable, append-only log of customer events, on RocksDB.
//
// Appends are serialised through one appender thread that assigns the global
// seq (gap-free, in commit order) and the per-customer version, checks
// idempotency and expected versions, and commits with group commit: every
// request queued while the previous write was syncing is merged into one
// WriteBatch and one synced write. A request is all-or-nothing. A callback
// fires only after the write is synced (acknowledged = fsynced), and only
// then do readers and subscribers see the records.
//
// Idempotency: an event with an id that was appended before (ever: the index
// is permanent) is not written again; its result carries the original seq
// and version with duplicate=true. The same id with a different body is
// AlreadyExists. A duplicate's expected_version must have held when the
// original was written (so a retry succeeds), and the request's next new
// event for that customer must directly follow the original.
//
// Tamper evidence: every record is a leaf of a Merkle tree (store/
// merkle.h) whose nodes are written in the record's WriteBatch; a
// checkpointer thread signs the tree's root every `checkpoint_events`
// events or `checkpoint_interval` (store/checkpoint.h), never a root
// inconsistent with the last one it signed, and the log refuses to open
// for writing if it is shorter than, or does not extend, its last signed
// checkpoint. Erasure: each record's identities and data are sealed under
// its customer's key (store/sealing.h); a `customer.erased` event destroys
// the key in its own WriteBatch, and reads then show the customer's
// records with "data":"[erased]".
//
// Layout and record bytes: store/key_format.h and store/record_format.h.
//
// Thread safety: every method is thread-safe. Callbacks run on the writer
// thread that commits and publishes each group (store/internal/
// event_log_impl.h): they must be quick and must not call Append()
// synchronously.
// Ownership: Open() returns the only handle; destroying it drains queued
// appends, closes subscriptions and closes the database.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/status.h"
#include "store/checkpoint.h"
#include "store/merkle.h"
#include "store/record_format.h"
#include "store/sealing.h"
#include "store/state_store.h"
#include "store/subscription.h"

namespace touchline::store {

struct EventLogOptions {
  // The data directory (created if missing unless read_only).
  std::string path;
  // Open without the write lock, alongside a running server (tlctl). Appends
  // fail with FailedPrecondition; the view is the state at open time.
  bool read_only = false;
  // Keep the database in memory (unit tests only; nothing survives).
  bool in_memory = false;
  // RocksDB block cache shared by all column families.
  std::size_t block_cache_bytes = 256u << 20;
  // When set, every column family's memtables together are held to this
  // (RocksDB's WriteBufferManager, the largest memtable flushed past it)
  // and charged to the block cache, so block_cache_bytes bounds RocksDB's
  // memory as a whole. 0: RocksDB's per column family limits alone.
  std::size_t memtable_bytes = 0;
  // Time source for recorded_at. Not owned; must outlive the log.
  const Clock* clock = SystemClock::Default();
  // fsync every commit. Turning it off is for benchmarks that measure the
  // cost of durability; acknowledged writes may then be lost on power loss.
  bool sync = true;
  // At most this many requests and events share one commit group
  // (max_group_requests = 1 disables group commit, for comparison).
  std::size_t max_group_requests = 4096;
  std::size_t max_group_events = 20000;
  // Live buffer of each subscription before it falls back to disk reads.
  std::size_t subscription_buffer_records = 8192;
  // Opened records kept in memory for reads (store/internal/record_cache.h),
  // and the newest entries of busy streams (store/internal/stream_tails.h),
  // in bytes; 0 turns either off.
  std::size_t record_cache_bytes = 128u << 20;
  std::size_t stream_tail_bytes = 32u << 20;
  // Values each projection's state keeps in memory for point reads
  // (store/state_store.h), in bytes; 0 turns it off.
  std::size_t state_cache_bytes = 32u << 20;
  // Records whose customer keys LastTouch() remembers exactly (about 100
  // bytes of memory each).
  std::size_t touch_window_records = 1u << 17;
  // The Merkle tree, signed checkpoints and sealing. Off is for benchmarks
  // that measure their cost, nothing else: such a log has no proofs and
  // cannot erase anyone. A directory keeps the setting it was created with
  // (opening it for writing with the other is FailedPrecondition);
  // read-only opens follow the directory.
  bool integrity = true;
  // The Ed25519 key that signs checkpoints. Empty: "<path>/audit_signing.key",
  // created on first open.
  std::string signing_key_file;
  // The log's name in its checkpoints, fixed when the directory is created
  // (empty: "touchline/" + 16 random hex digits).
  std::string log_name;
  // Sign a checkpoint once this many events were appended since the last
  // one, and at least every checkpoint_interval while the log grows
  // (0 turns each trigger off).
  std::uint64_t checkpoint_events = 100000;
  std::chrono::milliseconds checkpoint_interval{10000};
};

struct AppendRequest {
  std::vector<ProposedEvent> events;
  // Who is writing (the authenticated key name); stored in every record.
  std::string actor;
  // How: the HTTP route or the part of touchline that writes (empty: POST
  // /v1/events); stored in every record (store/record_format.h).
  std::string route{};
  // touchline's own writes: only they may use streams whose name starts
  // with '~' and the types customer.erased and audit.*.
  bool system = false;
  // What one event the log refuses (an expected_version that does not
  // hold, an erased customer) does to the request:
  //  kAllOrNothing (POST /v1/events): the whole request fails, and an id
  //    reused with another body is AlreadyExists;
  //  kEachEvent (the Segment and CloudEvents endpoints, api/ingest.h): the
  //    event is skipped, its AppendedEvent says why (`refused`), the rest
  //    are written; an id reused with another body is a duplicate of the
  //    original (first write wins), because those protocols name a message
  //    by its id alone and rebuild it on every retry (Segment's sentAt).
  // Validation (core/validation.h) and I/O errors fail the request either way.
  enum class Mode : std::uint8_t { kAllOrNothing, kEachEvent };
  Mode mode = Mode::kAllOrNothing;
};

struct AppendResult {
  std::vector<AppendedEvent> events;  // one per request event, same order
  bool AllDuplicates() const;
};

// What ReadStream returns for one page.
struct StreamPage {
  std::vector<RecordPtr> records;  // newest first (empty if seqs_only)
  std::vector<Seq> seqs;           // the page's seqs, newest first
  // Pass as `before` to get the next (older) page; unset at the end.
  std::optional<StreamVersion> next_before;
  // When next_before is set: the seq of the entry at version next_before.
  // Every entry not yet returned has a smaller seq (merged timelines of
  // several streams cut their pages at this bound).
  Seq next_before_seq = 0;
  // The stream's version when the page was read (0 = no events).
  StreamVersion current_version = 0;
};

struct StreamQuery {
  std::string customer;
  // Only versions strictly below this (a cursor from StreamPage); unset = newest.
  std::optional<StreamVersion> before;
  // Only entries whose seq is strictly below this (found by binary search
  // over versions, which grow with seq); combines with `before`.
  std::optional<Seq> before_seq;
  std::size_t limit = 50;
  // Event types to keep, matched by dotted segments: "ticket" keeps
  // "ticket" and "ticket.opened" but not "tickets". Empty = all.
  std::vector<std::string> types;
  // Channels to keep, exact match. Empty = all.
  std::vector<std::string> channels;
  // With filters, stop after examining this many entries and return a cursor,
  // so a rare filter cannot turn one request into a scan of a huge stream.
  std::size_t max_scan = 10000;
  // Return only the seqs, not the records (to merge several streams before
  // reading the records that make the page).
  bool seqs_only = false;
};

struct ColumnFamilyStats {
  std::string name;
  std::uint64_t estimated_keys = 0;
  std::uint64_t sst_bytes = 0;
  std::uint64_t memtable_bytes = 0;
  std::uint64_t pending_compaction_bytes = 0;  // RocksDB's estimate
};

struct EventLogStats {
  Seq head = 0;
  int format_version = 0;
  std::vector<ColumnFamilyStats> column_families;
  std::uint64_t commit_groups = 0;     // synced writes since open
  std::uint64_t committed_events = 0;  // events written since open
  std::uint64_t running_compactions = 0;
  std::uint64_t block_cache_hits = 0;  // since open
  std::uint64_t block_cache_misses = 0;
  std::uint64_t block_cache_bytes = 0;  // in use
  std::uint64_t record_cache_hits = 0;  // since open
  std::uint64_t record_cache_misses = 0;
  std::uint64_t record_cache_bytes = 0;  // in use
  std::uint64_t stream_tail_bytes = 0;   // in use
};

struct BackupInfo {
  std::uint32_t id = 0;  // the BackupEngine's backup id
  Seq head = 0;          // the log's head when the backup began
  std::uint64_t bytes = 0;
};

class EventLog {
 public:
  using AppendCallback = std::function<void(StatusOr<AppendResult>)>;

  // Opens (or creates) the log at options.path. Returns FailedPrecondition if
  // the directory was written by a newer format, DataLoss if RocksDB finds
  // corruption (it refuses to drop a damaged WAL record silently),
  // NotFound if read_only and the directory does not exist.
  static StatusOr<std::unique_ptr<EventLog>> Open(const EventLogOptions& options);

  virtual ~EventLog() = default;

  // Queues an append; `done` runs on the writer thread after the synced
  // write (at once, on the caller's thread, for a request refused before it
  // is queued; on the appender thread for one staged on top of a group
  // whose write failed). Errors:
  //  - InvalidArgument: no events, or an event that fails core validation;
  //  - FailedPrecondition: an expected_version mismatch (the message names
  //    the customer, the expected and the current version), or a read-only log;
  //  - AlreadyExists: an event id reused with a different body;
  //  - Unavailable: the log is closing, or the write failed (nothing of the
  //    request was written).
  virtual void AppendAsync(AppendRequest request, AppendCallback done) = 0;

  // Blocking form of AppendAsync.
  StatusOr<AppendResult> Append(AppendRequest request);

  // Up to `limit` records with seq >= `from`, in seq order (empty past head).
  // A range read: it uses records in memory but does not keep what it had
  // to read from disk, so a replay does not push hot records out.
  virtual StatusOr<std::vector<RecordPtr>> ReadFrom(Seq from, std::size_t limit) const = 0;

  // The records with these seqs, in the same order. Returns NotFound if a
  // seq is above the head, DataLoss if one is missing below it. Records read
  // from disk are kept in memory for the next read.
  virtual StatusOr<std::vector<RecordPtr>> ReadSeqs(const std::vector<Seq>& seqs) const = 0;

  // A page of one customer's stream, newest first. A customer with no events
  // yields an empty page (not NotFound).
  virtual StatusOr<StreamPage> ReadStream(const StreamQuery& query) const = 0;

  // The current version of a customer's stream (0 if none).
  virtual StatusOr<StreamVersion> CurrentVersion(const std::string& customer) const = 0;

  // Read-your-writes per customer: the seq of the newest record at or
  // below the head that touched one of `keys`, each an identity string
  // "type:value" (core/identity.h) where "customer:<id>" names a stream: a
  // record touches its stream and each of its identities. A read of a
  // customer's data that waits until a projection has folded this seq
  // reflects every acknowledged write concerning those keys. May
  // overestimate (it remembers the last EventLogOptions::
  // touch_window_records records exactly, and counts every record before
  // them, or before the log was opened, as touching everything; records of
  // types profile.* touch everything too), never underestimates. 0 if none.
  virtual Seq LastTouch(const std::vector<std::string>& keys) const = 0;

  // The seq of the newest acknowledged event (0 if the log is empty).
  virtual Seq head() const = 0;

  // The state of the projection `name` (a dotted lower-case name), in the
  // projections column family. Returns InvalidArgument for a bad name.
  virtual StatusOr<std::unique_ptr<StateStore>> OpenStateStore(std::string_view name) = 0;

  // A subscription delivering records with seq > `after`.
  virtual std::unique_ptr<Subscription> Subscribe(Seq after) = 0;

  // Stops accepting appends (they fail with Unavailable), drains queued
  // ones, and closes subscriptions. Idempotent; the destructor calls it.
  virtual void Close() = 0;

  virtual EventLogStats Stats() const = 0;

  // OK while appends can be written. After a failed write (the disk refused
  // a write or an fsync) this returns Unavailable with the first error, and
  // reads keep working. A full disk (NoSpace) heals: the log retries with
  // DB::Resume() at most once a second while appends arrive, and the first
  // write that succeeds clears the error. Any other failure is final until
  // the log is reopened: after a failed fsync nobody knows what the disk
  // holds, so the log does not guess.
  virtual Status WriteHealth() const = 0;

  // --- Tamper evidence. Each returns FailedPrecondition on a log without
  // integrity.

  // The public half of the checkpoint signing key (its name is the log's
  // origin). On a read-only log, the newest key registered in the directory.
  virtual StatusOr<PublicKey> SigningKey() const = 0;
  // The newest signed checkpoint, or nullopt before the first.
  virtual StatusOr<std::optional<Checkpoint>> LatestCheckpoint() const = 0;
  // Signs a checkpoint of the head now, unless the newest one covers it
  // (then returns that). Unavailable on a read-only log, DataLoss if the
  // tree no longer matches the last checkpoint (it is then never signed).
  virtual StatusOr<Checkpoint> SignCheckpoint() = 0;
  // Stored checkpoints of tree size >= `from_size`, smallest first, at
  // most `limit`.
  virtual StatusOr<std::vector<Checkpoint>> Checkpoints(std::uint64_t from_size,
                                                        std::size_t limit) const = 0;
  // Every public key registered for this log's checkpoints.
  virtual StatusOr<std::vector<PublicKey>> CheckpointKeys() const = 0;
  // The root of the tree of records 1..tree_size. InvalidArgument if
  // tree_size is above the head.
  virtual StatusOr<Hash> TreeRoot(std::uint64_t tree_size) const = 0;
  // A stored perfect subtree (level 0: leaves), or nullopt if there is none.
  virtual StatusOr<std::optional<Hash>> TreeNode(int level, std::uint64_t index) const = 0;
  // A forward-only reader of the stored tree, for walking it in order
  // (tlctl verify): Entry(i) returns leaf i's stored entry (its hash, then
  // the subtrees it completed; store/merkle.h) or nullopt, for
  // non-decreasing i. The bytes stay valid until the next call.
  class TreeCursor {
   public:
    virtual ~TreeCursor() = default;
    virtual StatusOr<std::optional<std::string_view>> Entry(std::uint64_t leaf) = 0;
  };
  virtual std::unique_ptr<TreeCursor> ScanTree() const = 0;
  // RFC 6962 inclusion proof of record `seq` in the tree of `tree_size`
  // records. InvalidArgument unless 1 <= seq <= tree_size <= head.
  virtual StatusOr<std::vector<Hash>> InclusionProof(Seq seq, std::uint64_t tree_size) const = 0;
  // RFC 6962 consistency proof between trees of `from` and `to` records.
  // InvalidArgument unless from <= to <= head.
  virtual StatusOr<std::vector<Hash>> ConsistencyProof(std::uint64_t from,
                                                       std::uint64_t to) const = 0;
  // The exact stored bytes (sealed) of records from..from+limit-1, capped
  // at the head; DataLoss if one is missing.
  virtual StatusOr<std::vector<std::string>> ReadStored(Seq from, std::size_t limit) const = 0;
  // Walks the events column family in key order from `from`, calling
  // `visit(key seq, stored bytes)` until it returns false, whatever the
  // bytes are (the verifier judges them). Storage errors only.
  virtual Status ScanStored(Seq from,
                            const std::function<bool(Seq, std::string_view)>& visit) const = 0;
  // Every entry of the keys column family: (customer, entry), in customer
  // order; malformed entries are reported as DataLoss.
  virtual Status ScanKeys(
      const std::function<void(std::string_view, const KeyEntry&)>& visit) const = 0;

  // --- Erasure.

  // The seq of the customer.erased event of `customer`, or nullopt.
  virtual StatusOr<std::optional<Seq>> ErasedAt(const std::string& customer) const = 0;
  // Flushes the memtables and compacts the keys and projections column
  // families, so destroyed keys and dropped projection state are gone
  // from the files on disk, not only hidden, then remembers that every
  // erasure up to `through` is purged. Slow on a big log; erasure runs it
  // in the background once the projections have folded it
  // (projections/erasure_purger.h).
  virtual Status PurgeErased(Seq through) = 0;
  // What the last PurgeErased() covered (0 if none ran), and the seq of the
  // newest customer.erased event (0 if none): a purge is owed while the
  // second is above the first.
  virtual StatusOr<Seq> PurgedThrough() const = 0;
  virtual StatusOr<Seq> NewestErasure() const = 0;

  // Backpressure, as RocksDB stalls writes when compaction falls behind:
  // the appender takes no new group while more than `max_lag` committed
  // events are ahead of `folded()` (the checkpoint of the slowest reader
  // that matters, e.g. the projections), waiting for it to catch up, so an
  // ingest faster than the folds cannot leave reads waiting ever longer.
  // `folded` is called from the appender thread and must be cheap; a
  // reader that is stuck (a faulted projection) must not be counted, or
  // ingest stops. Set once, before appends start; max_lag 0 turns it off.
  virtual void SetBackpressure(std::function<Seq()> folded, Seq max_lag) = 0;

  // Backs the database up into `backup_dir` (RocksDB BackupEngine; created
  // if missing, incremental: files shared with earlier backups there are
  // not copied again). Safe while appends run: the backup holds at least
  // every event acknowledged before the call. FailedPrecondition for a
  // read-only log.
  virtual StatusOr<BackupInfo> Backup(const std::string& backup_dir) = 0;
};

}  // namespace touchline::store
