#include "store/sink_store.h"

#include "core/coding.h"

namespace touchline::store {
namespace {

constexpr std::string_view kSecretPrefix = "secret/";
constexpr std::string_view kProgressPrefix = "progress/";
constexpr std::uint64_t kProgressFormat = 1;

std::string SecretKey(std::string_view sink, std::string_view ref) {
  return std::string(kSecretPrefix) + std::string(sink) + "/" + std::string(ref);
}

std::string ProgressKey(std::string_view sink) {
  return std::string(kProgressPrefix) + std::string(sink);
}

std::string EncodeProgress(const SinkProgress& p) {
  std::string out;
  PutVarint64(&out, kProgressFormat);
  PutVarint64(&out, p.created_seq);
  PutVarint64(&out, p.generation);
  PutVarint64(&out, p.cursor);
  PutVarint64(&out, p.delivered_events);
  PutVarint64(&out, p.delivered_requests);
  PutVarint64(&out, p.failed_requests);
  PutVarint64(&out, static_cast<std::uint64_t>(p.last_success_us));
  PutVarint64(&out, static_cast<std::uint64_t>(p.last_error_us));
  PutVarint64(&out, static_cast<std::uint64_t>(p.last_status));
  PutLengthPrefixed(&out, p.last_error);
  return out;
}

bool DecodeProgress(std::string_view in, SinkProgress* p) {
  std::uint64_t format = 0, success = 0, error = 0, status = 0;
  std::string_view text;
  if (!GetVarint64(&in, &format) || format != kProgressFormat ||
      !GetVarint64(&in, &p->created_seq) || !GetVarint64(&in, &p->generation) ||
      !GetVarint64(&in, &p->cursor) || !GetVarint64(&in, &p->delivered_events) ||
      !GetVarint64(&in, &p->delivered_requests) || !GetVarint64(&in, &p->failed_requests) ||
      !GetVarint64(&in, &success) || !GetVarint64(&in, &error) || !GetVarint64(&in, &status) ||
      !GetLengthPrefixed(&in, &text) || !in.empty() || status > 999) {
    return false;
  }
  p->last_success_us = static_cast<std::int64_t>(success);
  p->last_error_us = static_cast<std::int64_t>(error);
  p->last_status = static_cast<int>(status);
  p->last_error = std::string(text);
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<SinkStore>> SinkStore::Open(EventLog* log) {
  ASSIGN_OR_RETURN(auto state, log->OpenStateStore("sinks"));
  return std::unique_ptr<SinkStore>(new SinkStore(std::move(state)));
}

StatusOr<std::optional<std::string>> SinkStore::Secret(std::string_view sink,
                                                       std::string_view ref) const {
  return state_->Get(SecretKey(sink, ref));
}

Status SinkStore::PutSecret(std::string_view sink, std::string_view ref, std::string_view secret) {
  return state_->WriteLogged({{SecretKey(sink, ref), std::string(secret)}}, /*sync=*/true);
}

StatusOr<std::vector<std::pair<std::string, std::string>>> SinkStore::SecretRefs() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string after;
  while (true) {
    ASSIGN_OR_RETURN(auto page, state_->Scan(kSecretPrefix, after, 256));
    for (const auto& [key, value] : page) {
      const std::string_view rest = std::string_view(key).substr(kSecretPrefix.size());
      const auto slash = rest.rfind('/');
      if (slash != std::string_view::npos) {
        out.emplace_back(std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1)));
      }
    }
    if (page.size() < 256) {
      return out;
    }
    after = page.back().first;
  }
}

Status SinkStore::DeleteSecret(std::string_view sink, std::string_view ref) {
  return state_->WriteLogged({{SecretKey(sink, ref), std::nullopt}}, /*sync=*/false);
}

StatusOr<std::optional<SinkProgress>> SinkStore::Progress(std::string_view sink) const {
  ASSIGN_OR_RETURN(auto value, state_->Get(ProgressKey(sink)));
  if (!value.has_value()) {
    return std::optional<SinkProgress>();
  }
  SinkProgress p;
  if (!DecodeProgress(*value, &p)) {
    return Status::DataLoss("malformed delivery progress of sink '" + std::string(sink) + "'");
  }
  return std::optional<SinkProgress>(std::move(p));
}

Status SinkStore::PutProgress(std::string_view sink, const SinkProgress& progress) {
  return state_->WriteLogged({{ProgressKey(sink), EncodeProgress(progress)}}, /*sync=*/false);
}

Status SinkStore::DeleteProgress(std::string_view sink) {
  return state_->WriteLogged({{ProgressKey(sink), std::nullopt}}, /*sync=*/false);
}

}  // namespace touchline::store
