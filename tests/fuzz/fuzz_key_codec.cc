// libFuzzer target: the RocksDB key and value codecs (store/key_format.h)
// and the stored-record decoder (store/record_format.h), on bytes as they
// might come off a damaged disk. Decoders must reject garbage without
// crashing, and whatever decodes must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/key_format.h"
#include "store/record_format.h"

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
  if (record.ok() && record->json != bytes) {
    std::abort();
  }
  return 0;
}
