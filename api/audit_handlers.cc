// The auditors' routes (declared in api/handlers.h): signed checkpoints,
// RFC 6962 proofs, the public key, the export stream, the access audit
// trail, and erasure.
#include <boost/json.hpp>

#include "api/handlers.h"
#include "api/http_error.h"
#include "core/validation.h"
#include "projections/audit_projection.h"
#include "projections/customer_view.h"
#include "projections/erasure_purger.h"
#include "store/log_export.h"
#include "store/record_format.h"

namespace touchline::api {
namespace {

constexpr std::size_t kDefaultTrailLimit = 100;

std::string HashList(const std::vector<store::Hash>& hashes) {
  std::string out = "[";
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    out += (i ? ",\"" : "\"") + store::HashHex(hashes[i]) + "\"";
  }
  return out + "]";
}

// A checkpoint with the verifier key to check it with.
StatusOr<std::string> CheckpointBody(const store::Checkpoint& c, Services& services) {
  ASSIGN_OR_RETURN(store::PublicKey key, services.log->SigningKey());
  std::string out = store::CheckpointJson(c);
  out.pop_back();
  return out + ",\"verifier_key\":" + JsonString(key.VerifierKey()) + "}";
}

// The tree size a proof is for: the one asked for, else the newest
// checkpoint's, else the head.
StatusOr<std::uint64_t> TreeSizeParam(const QueryParams& query, std::string_view name,
                                      Services& services) {
  ASSIGN_OR_RETURN(auto size, GetUint(query, name, 0, UINT64_MAX));
  if (size.has_value()) {
    return *size;
  }
  ASSIGN_OR_RETURN(auto latest, services.log->LatestCheckpoint());
  return latest.has_value() ? latest->tree_size : services.log->head();
}

}  // namespace

StatusOr<Response> HandleCheckpoint(Services& services) {
  ASSIGN_OR_RETURN(auto latest, services.log->LatestCheckpoint());
  if (!latest.has_value()) {
    return Status::NotFound(
        "no checkpoint has been signed yet (the first is signed once the log has events); "
        "POST /v1/audit/checkpoint signs one now");
  }
  Response r;
  ASSIGN_OR_RETURN(r.body, CheckpointBody(*latest, services));
  return r;
}

StatusOr<Response> HandleSignCheckpoint(Services& services) {
  ASSIGN_OR_RETURN(store::Checkpoint c, services.log->SignCheckpoint());
  Response r;
  r.status = 201;
  ASSIGN_OR_RETURN(r.body, CheckpointBody(c, services));
  return r;
}

StatusOr<Response> HandlePublicKey(Services& services) {
  ASSIGN_OR_RETURN(store::PublicKey key, services.log->SigningKey());
  ASSIGN_OR_RETURN(auto all, services.log->CheckpointKeys());
  Response r;
  r.body = "{\"origin\":" + JsonString(key.name) +
           ",\"algorithm\":\"ed25519\",\"key_id\":" + JsonString(key.IdHex()) +
           ",\"public_key\":" + JsonString(key.KeyBase64()) +
           ",\"verifier_key\":" + JsonString(key.VerifierKey()) + ",\"all_verifier_keys\":[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    r.body += (i ? "," : "") + JsonString(all[i].VerifierKey());
  }
  r.body += "]}";
  return r;
}

StatusOr<Response> HandleInclusionProof(const QueryParams& query, Services& services) {
  RETURN_IF_ERROR(CheckParams(query, {"seq", "tree_size"}));
  ASSIGN_OR_RETURN(auto seq, GetUint(query, "seq", 1, UINT64_MAX));
  if (!seq.has_value()) {
    return Status::InvalidArgument("query parameter 'seq' is required: the record to prove");
  }
  ASSIGN_OR_RETURN(std::uint64_t size, TreeSizeParam(query, "tree_size", services));
  if (*seq > size) {
    return Status::InvalidArgument("seq " + std::to_string(*seq) + " is not in the tree of size " +
                                   std::to_string(size) +
                                   "; ask for a larger tree_size (at most the head, " +
                                   std::to_string(services.log->head()) + ")");
  }
  ASSIGN_OR_RETURN(auto proof, services.log->InclusionProof(*seq, size));
  ASSIGN_OR_RETURN(store::Hash root, services.log->TreeRoot(size));
  ASSIGN_OR_RETURN(auto stored, services.log->ReadStored(*seq, 1));
  Response r;
  r.body = "{\"seq\":" + std::to_string(*seq) + ",\"leaf_index\":" + std::to_string(*seq - 1) +
           ",\"tree_size\":" + std::to_string(size) + ",\"leaf_hash\":\"" +
           store::HashHex(store::LeafHash(stored.at(0))) + "\",\"root_hash\":\"" +
           store::HashHex(root) + "\",\"proof\":" + HashList(proof) + ",\"stored_base64\":\"" +
           store::StoredBase64(stored.at(0)) + "\"";
  if (!store::IsBinaryRecord(stored.at(0))) {
    r.body += ",\"record\":" + JsonString(stored.at(0));  // format 3: its JSON text
  }
  r.body += "}";
  return r;
}

StatusOr<Response> HandleConsistencyProof(const QueryParams& query, Services& services) {
  RETURN_IF_ERROR(CheckParams(query, {"from", "to"}));
  ASSIGN_OR_RETURN(auto from, GetUint(query, "from", 0, UINT64_MAX));
  if (!from.has_value()) {
    return Status::InvalidArgument(
        "query parameter 'from' is required: the tree size of the checkpoint you hold");
  }
  ASSIGN_OR_RETURN(std::uint64_t to, TreeSizeParam(query, "to", services));
  ASSIGN_OR_RETURN(auto proof, services.log->ConsistencyProof(*from, to));
  ASSIGN_OR_RETURN(store::Hash from_root, services.log->TreeRoot(*from));
  ASSIGN_OR_RETURN(store::Hash to_root, services.log->TreeRoot(to));
  Response r;
  r.body = "{\"from\":" + std::to_string(*from) + ",\"to\":" + std::to_string(to) +
           ",\"from_root\":\"" + store::HashHex(from_root) + "\",\"to_root\":\"" +
           store::HashHex(to_root) + "\",\"proof\":" + HashList(proof) + "}";
  return r;
}

StatusOr<Response> HandleExport(const QueryParams& query, Services& services) {
  RETURN_IF_ERROR(CheckParams(query, {"from", "to"}));
  store::ExportOptions options;
  ASSIGN_OR_RETURN(auto from, GetUint(query, "from", 1, UINT64_MAX));
  ASSIGN_OR_RETURN(auto to, GetUint(query, "to", 1, UINT64_MAX));
  options.from = from.value_or(1);
  options.to = to.value_or(0);
  options.chunk_records = services.ndjson_chunk_records;
  ASSIGN_OR_RETURN(auto writer, store::ExportWriter::Begin(*services.log, options));
  std::shared_ptr<store::ExportWriter> shared(std::move(writer));
  Response r;
  r.content_type = "application/x-ndjson";
  r.accessed = {"*"};
  r.stream = [shared]() { return shared->Next(); };
  return r;
}

void HandleAuditTrail(bool by_actor, const std::string& id, const QueryParams& query,
                      Services& services, Responder respond) {
  if (Status s = CheckParams(query, {"limit", "after"}); !s.ok()) {
    respond(ErrorResponse(s));
    return;
  }
  AfterProjection(
      services.audit, "the audit trail", services, std::move(respond),
      [by_actor, id, query, &services]() -> StatusOr<Response> {
        ASSIGN_OR_RETURN(auto limit, GetUint(query, "limit", 1, services.max_page_limit));
        const std::string* after = FindParam(query, "after");
        ASSIGN_OR_RETURN(auto page, projections::ReadAuditTrail(
                                        services.audit->state(), *services.log, by_actor, id,
                                        after ? *after : "", limit.value_or(kDefaultTrailLimit)));
        Response r;
        r.body = std::string("{\"") + (by_actor ? "actor" : "customer") + "\":" + JsonString(id) +
                 ",\"entries\":[";
        for (std::size_t i = 0; i < page.entries.size(); ++i) {
          r.body += (i ? "," : "") + page.entries[i];
        }
        r.body += "],\"next_after\":";
        r.body += page.next_after ? JsonString(*page.next_after) : "null";
        r.body += "}";
        return r;
      });
}

void HandleErase(const std::string& id, const Request& request, Services& services,
                 Responder respond) {
  if (Status s = ValidateCustomerId(id, "customer id in the path"); !s.ok()) {
    respond(ErrorResponse(s));
    return;
  }
  if (store::IsSystemStream(id)) {
    respond(ErrorResponse(
        Status::InvalidArgument("'" + id + "' is one of touchline's own streams, not a customer")));
    return;
  }
  AfterProjectionAsync(
      services.customers, "the customer view", services, std::move(respond),
      [id, actor = request.actor, &services](const Responder& reply) {
        // Every stream of the person, as the view knows them; else the
        // stream of that name.
        std::vector<std::string> streams;
        std::string profile;
        const store::StateReader& state = services.customers->state();
        auto pid = projections::ResolveProfileId(state, id);
        if (!pid.ok()) {
          reply(ErrorResponse(pid.status()));
          return;
        }
        if (pid->has_value()) {
          auto p = projections::LoadLiveProfile(state, **pid);
          if (!p.ok()) {
            reply(ErrorResponse(p.status()));
            return;
          }
          profile = p->id;
          streams = p->Streams();
        } else {
          streams = {id};
        }
        store::AppendRequest append;
        append.actor = actor;
        append.route = "POST /v1/customers/{id}/erase";
        append.system = true;
        std::string already = "[";
        for (const auto& s : streams) {
          auto erased = services.log->ErasedAt(s);
          auto version = services.log->CurrentVersion(s);
          if (!erased.ok() || !version.ok()) {
            reply(ErrorResponse(!erased.ok() ? erased.status() : version.status()));
            return;
          }
          if (erased->has_value()) {
            already += (already.size() > 1 ? "," : "") + std::string("{\"customer\":") +
                       JsonString(s) + ",\"seq\":" + std::to_string(**erased) + "}";
          } else if (*version > 0) {
            Event e;
            e.customer = s;
            e.type = std::string(store::kCustomerErasedType);
            append.events.push_back(ProposedEvent{std::move(e), {}});
          }
        }
        already += "]";
        if (append.events.empty()) {
          if (already == "[]") {
            reply(ErrorResponse(Status::NotFound("no customer known as '" + id.substr(0, 200) +
                                                 "' (give a customer id, a profile id p-N or an "
                                                 "identity such as email:alice@example.com)")));
          } else {
            Response r;
            r.body = "{\"customer\":" + JsonString(id) +
                     ",\"erased\":[],\"already_erased\":" + already + "}";
            reply(std::move(r));
          }
          return;
        }
        std::vector<std::string> names;
        for (const auto& p : append.events) {
          names.push_back(p.event.customer);
        }
        services.log->AppendAsync(
            std::move(append), [reply, id, profile, names = std::move(names), already,
                                purger = services.purger](StatusOr<store::AppendResult> result) {
              if (!result.ok()) {
                reply(ErrorResponse(result.status()));
                return;
              }
              Response r;
              r.body = "{\"customer\":" + JsonString(id) +
                       ",\"profile\":" + (profile.empty() ? "null" : JsonString(profile)) +
                       ",\"erased\":[";
              for (std::size_t i = 0; i < names.size(); ++i) {
                r.body += (i ? "," : "") + std::string("{\"customer\":") + JsonString(names[i]) +
                          ",\"seq\":" + std::to_string(result->events[i].seq) + "}";
              }
              r.body += "],\"already_erased\":" + already + "}";
              if (purger != nullptr) {
                purger->PurgeAfter(result->events.back().seq);
              }
              reply(std::move(r));
            });
      });
}

}  // namespace touchline::api
