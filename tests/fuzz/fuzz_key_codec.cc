// libFuzzer target: the RocksDB key and value codecs (store/key_format.h,
// store/sealing.h), the stored-record decoder and opener (store/
// record_format.h) and the checkpoint and verifier-key parsers (store/
// checkpoint.h), on bytes as they might come off a damaged disk or from a
// tampered file. Decoders must reject garbage without crashing, and
// whatever decodes must re-encode to the same bytes.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/checkpoint.h"
#include "store/key_format.h"
#include "store/record_format.h"
#include "store/sealing.h"

using namespace touchline;  // NOLINT(build/namespaces)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() == 8) {
    if (store::EventKey(store::DecodeEventKey(bytes)) != bytes) {
      std::abort();
    }
  }
  std::string_view customer;
  StreamVersion version = 0;
  if (store::DecodeStreamKey(bytes, &customer, &version)) {
    if (customer.empty() || store::StreamKey(customer, version) != bytes) {
      std::abort();
    }
  }
  store::StreamEntryView entry;
  if (store::DecodeStreamEntry(bytes, &entry)) {
    if (store::StreamEntry(entry.seq, entry.type, entry.channel) != bytes) {
      std::abort();
    }
  }
  auto record = store::DecodeRecord(bytes);
  // A format-3 record is its own JSON; a format-4 one renders as JSON.
  if (record.ok() && !record->binary && record->json != bytes) {
    std::abort();
  }
  if (record.ok() && !record->sealed.empty()) {
    // A sealed part that does not open (no key here) renders as erased.
    const store::DataKey key{};
    store::Record copy = *record;
    if (store::OpenSealedRecord(&copy, &key).ok() ||
        !store::OpenSealedRecord(&*record, nullptr).ok() || !record->erased) {
      std::abort();
    }
  }
  if (record.ok() && record->binary && record->sealed.empty()) {
    // The data text is trusted as stored (store/record_format.h); whatever
    // the decoder renders around it must be well-formed JSON. (A format-3
    // record is its stored text, checked above.)
    boost::system::error_code record_ec;
    boost::system::error_code data_ec;
    boost::json::parse(record->json, record_ec);
    boost::json::parse(record->Data(), data_ec);
    if (record_ec && !data_ec) {
      std::abort();
    }
  }
  store::KeyEntry key_entry;
  if (store::DecodeKeyEntry(bytes, &key_entry) && store::EncodeKeyEntry(key_entry) != bytes) {
    std::abort();
  }
  std::uint64_t index = 0;
  if (store::DecodeTreeLeafKey(bytes, &index) && store::TreeLeafKey(index) != bytes) {
    std::abort();
  }
  if (store::DecodeCheckpointKey(bytes, &index) && store::CheckpointKey(index) != bytes) {
    std::abort();
  }
  auto checkpoint = store::CheckpointFromText(bytes);
  if (checkpoint.ok() && checkpoint->origin.empty()) {
    std::abort();
  }
  auto verifier = store::ParseVerifierKey(bytes);
  if (verifier.ok() && verifier->name.empty()) {
    std::abort();
  }
  return 0;
}
