#include "store/internal/record_cache.h"

namespace touchline::store::internal {

std::size_t RecordCache::Charge(const Record& r) {
  // The strings' bytes, the Record itself, the list node and the index
  // entry (measured: about 160 bytes of bookkeeping besides the Record).
  std::size_t bytes = sizeof(Record) + 160 + r.json.capacity() + r.id.capacity() +
                      r.customer.capacity() + r.type.capacity() + r.channel.capacity() +
                      r.department.capacity() + r.actor.capacity() + r.route.capacity();
  for (const auto& i : r.identities) {
    bytes += sizeof(Identity) + i.type.capacity() + i.value.capacity();
  }
  return bytes;
}

void RecordCache::Insert(const RecordPtr& record, std::uint64_t epoch) {
  if (!lru_.enabled() || record == nullptr) {
    return;
  }
  lru_.Insert(record->seq, record, Charge(*record),
              [this, epoch] { return epoch_.load(std::memory_order_acquire) == epoch; });
}

void RecordCache::EraseCustomer(std::string_view customer) {
  // Bumped first: an insert that checks the epoch after this is refused,
  // and one that checked before has already landed and is purged below.
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  lru_.EraseIf([customer](const Seq&, const RecordPtr& r) { return r->customer == customer; });
}

}  // namespace touchline::store::internal
