#include "api/stream_hub.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "core/identity.h"
#include "core/validation.h"
#include "projections/customer_state.h"
#include "projections/customer_view_projection.h"

namespace touchline::api {
namespace {

constexpr std::size_t kDispatchBatch = 1024;
constexpr std::string_view kIdentityPrefix = "customer:";

std::string StreamKey(std::string_view stream) {
  std::string k = "s";
  k.push_back('\0');
  k.append(stream);
  return k;
}

std::string IdentityKey(std::string_view identity) {
  std::string k = "i";
  k.push_back('\0');
  k.append(identity);
  return k;
}

// The index key of an identity string ("customer:x" is the stream x).
std::string KeyOfIdentity(std::string_view identity) {
  if (identity.starts_with(kIdentityPrefix)) {
    return StreamKey(identity.substr(kIdentityPrefix.size()));
  }
  return IdentityKey(identity);
}

// The identities a graph-emitted profile.merged record moved ("type:value").
std::vector<std::string> MergedIdentities(const store::Record& r) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  const auto doc = boost::json::parse(r.json, ec);
  if (ec || !doc.is_object()) {
    return out;
  }
  const auto* data = doc.as_object().if_contains("data");
  if (data == nullptr || !data->is_object()) {
    return out;
  }
  const auto* source = data->as_object().if_contains("source");
  const auto* ids = data->as_object().if_contains("identities");
  if (source == nullptr || !source->is_string() ||
      source->as_string() != projections::kGraphSource || ids == nullptr || !ids->is_array()) {
    return out;
  }
  for (const auto& v : ids->as_array()) {
    if (v.is_string()) {
      out.emplace_back(v.as_string());
    }
  }
  return out;
}

}  // namespace

StreamFeed::~StreamFeed() {
  if (hub_ != nullptr) {
    hub_->Unsubscribe(this);
  }
}

bool StreamFeed::Matches(const store::Record& r, std::vector<std::string>* added_keys) {
  if (!whole_log_) {
    // The customer part first: a linking event joins its stream to the
    // filter even if the type or channel filter then drops it.
    const std::string stream_key = StreamKey(r.customer);
    bool match = keys_.contains(stream_key);
    if (!match) {
      for (const auto& i : r.identities) {
        if (keys_.contains(IdentityKey(IdentityString(i)))) {
          match = true;
          break;
        }
      }
      if (match && keys_.insert(stream_key).second) {
        added_keys->push_back(stream_key);
      }
    }
    if (!match) {
      return false;
    }
    // The person's other ids on this event are theirs too (the identity
    // graph links them the same way, placeholders aside).
    for (const auto& i : r.identities) {
      if (!IsBlockedIdentityValue(i.value)) {
        std::string key = IdentityKey(IdentityString(i));
        if (keys_.insert(key).second) {
          added_keys->push_back(std::move(key));
        }
      }
    }
    if (r.type == "profile.merged") {
      for (const auto& id : MergedIdentities(r)) {
        std::string key = KeyOfIdentity(id);
        if (keys_.insert(key).second) {
          added_keys->push_back(std::move(key));
        }
      }
    }
  }
  return TypeMatchesAny(r.type, types_) && ChannelMatchesAny(r.channel, channels_);
}

StatusOr<StreamFeed::Batch> StreamFeed::Poll(std::size_t max) {
  Batch out;
  if (max == 0) {
    return out;
  }
  Seq from = 0;
  {
    MutexLock lock(&hub_->mu_);
    if (live_) {
      while (!queue_.empty() && out.records.size() < max) {
        position_ = queue_.front()->seq;
        out.records.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      out.more = !queue_.empty();
      return out;
    }
    if (position_ >= hub_->dispatched_) {
      // Caught up: join the dispatcher. Every record it hands out from now
      // on has a seq above position_.
      live_ = true;
      if (whole_log_) {
        hub_->whole_log_.push_back(this);
      }
      for (const auto& k : keys_) {
        hub_->IndexLocked(this, k);
      }
      return out;
    }
    from = position_ + 1;
  }
  // Catch-up: only this consumer touches the filter and position while the
  // feed is not live, so the disk read runs without the lock.
  ASSIGN_OR_RETURN(auto records, hub_->log_->ReadFrom(from, hub_->options_.catch_up_chunk));
  std::vector<std::string> ignored;
  Seq last = from - 1;
  for (auto& r : records) {
    last = r->seq;
    if (Matches(*r, &ignored)) {
      out.records.push_back(std::move(r));
    }
  }
  // Invariant: the chunk is short only at the log's head, which the
  // dispatcher may not have reached yet; the next Poll() decides.
  MutexLock lock(&hub_->mu_);
  position_ = last;
  out.more = true;
  return out;
}

Seq StreamFeed::position() const {
  MutexLock lock(&hub_->mu_);
  return position_;
}

StreamHub::StreamHub(store::EventLog* log, projections::ProjectionRunner* customers,
                     StreamHubOptions options)
    : log_(log), customers_(customers), options_(options) {}

StreamHub::~StreamHub() { Stop(); }

void StreamHub::Start() {
  subscription_ = log_->Subscribe(log_->head());
  {
    MutexLock lock(&mu_);
    dispatched_ = subscription_->position();
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tl-stream-hub");
    Dispatch();
  });
}

void StreamHub::Stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
  subscription_.reset();
}

Seq StreamHub::dispatched() const {
  MutexLock lock(&mu_);
  return dispatched_;
}

std::size_t StreamHub::feed_count() const {
  MutexLock lock(&mu_);
  return feeds_;
}

void StreamHub::Dispatch() {
  std::vector<StreamFeed*> touched;
  std::vector<std::string> added;
  std::vector<std::function<void()>> notify;
  while (!stop_) {
    auto batch = subscription_->Next(kDispatchBatch, std::chrono::milliseconds(100));
    if (!batch.ok()) {
      if (batch.status().IsUnavailable()) {
        return;  // the log is closing
      }
      // A read failed: retry from where delivery stopped (nothing is lost,
      // feeds only wait), rather than leaving every live feed starved.
      spdlog::error("stream hub: reading the log failed, retrying: {}", batch.status().ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      MutexLock lock(&mu_);
      subscription_ = log_->Subscribe(dispatched_);
      continue;
    }
    if (batch->empty()) {
      continue;
    }
    touched.clear();
    {
      MutexLock lock(&mu_);
      // Changes to the index wait until a record has been offered to every
      // feed, so the loops below never see it change under them.
      std::vector<std::pair<StreamFeed*, std::string>> to_index;
      std::vector<StreamFeed*> overflowed;
      auto deliver = [&](StreamFeed* f, const store::RecordPtr& r) {
        if (!f->live_ || r->seq <= f->position_ || r->seq <= f->offered_) {
          return;  // a feed indexed under several of r's keys sees r once
        }
        f->offered_ = r->seq;
        const bool match = f->Matches(*r, &added);
        for (auto& k : added) {
          to_index.emplace_back(f, std::move(k));
        }
        added.clear();
        if (!match) {
          return;
        }
        if (f->queue_.size() >= options_.max_queue_records) {
          overflowed.push_back(f);
        } else {
          f->queue_.push_back(r);
        }
        touched.push_back(f);
      };
      for (const auto& r : *batch) {
        for (StreamFeed* f : whole_log_) {
          deliver(f, r);
        }
        if (auto it = index_.find(StreamKey(r->customer)); it != index_.end()) {
          for (StreamFeed* f : it->second) {
            deliver(f, r);
          }
        }
        for (const auto& id : r->identities) {
          if (auto it = index_.find(IdentityKey(IdentityString(id))); it != index_.end()) {
            for (StreamFeed* f : it->second) {
              deliver(f, r);
            }
          }
        }
        for (auto& [f, k] : to_index) {
          if (f->live_) {
            IndexLocked(f, k);
          }
        }
        to_index.clear();
        for (StreamFeed* f : overflowed) {
          if (f->live_) {
            // A slow consumer: back to catch-up from its last delivered seq.
            f->queue_.clear();
            UnindexLocked(f);
            f->live_ = false;
          }
        }
        overflowed.clear();
        dispatched_ = r->seq;
      }
      std::sort(touched.begin(), touched.end());
      touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
      notify.clear();
      for (StreamFeed* f : touched) {
        if (f->notify_) {
          notify.push_back(f->notify_);
        }
      }
    }
    // Outside the lock. A feed may be unsubscribed meanwhile: its notifier
    // only posts to an executor and holds what it needs.
    for (const auto& n : notify) {
      n();
    }
  }
}

void StreamHub::IndexLocked(StreamFeed* feed, const std::string& key) {
  auto& v = index_[key];
  if (std::find(v.begin(), v.end(), feed) == v.end()) {
    v.push_back(feed);
  }
}

void StreamHub::UnindexLocked(StreamFeed* feed) {
  if (feed->whole_log_) {
    std::erase(whole_log_, feed);
    return;
  }
  for (const auto& k : feed->keys_) {
    auto it = index_.find(k);
    if (it == index_.end()) {
      continue;
    }
    std::erase(it->second, feed);
    if (it->second.empty()) {
      index_.erase(it);
    }
  }
}

void StreamHub::Unsubscribe(StreamFeed* feed) {
  MutexLock lock(&mu_);
  if (feed->live_) {
    UnindexLocked(feed);
    feed->live_ = false;
  }
  if (feed->registered_) {
    feed->registered_ = false;
    --feeds_;
  }
}

StatusOr<ResolvedCustomer> StreamHub::Resolve(const std::string& id,
                                              std::set<std::string>* keys) const {
  ResolvedCustomer out;
  out.id = id;
  if (customers_ != nullptr) {
    const store::StateReader& state = customers_->state();
    ASSIGN_OR_RETURN(auto pid, projections::ResolveProfileId(state, id));
    if (pid.has_value()) {
      ASSIGN_OR_RETURN(auto profile, projections::LoadLiveProfile(state, *pid));
      out.profile = profile.id;
      out.streams = profile.Streams();
      for (const auto& i : profile.identities) {
        keys->insert(KeyOfIdentity(i));
      }
      return out;
    }
  }
  // Unknown (yet): the stream of that name and, for type:value, that identity.
  if (const auto colon = id.find(':'); colon != std::string::npos && colon > 0) {
    if (auto identity = ParseIdentityString(id, "customers"); identity.ok()) {
      const std::string text = IdentityString(*identity);
      keys->insert(KeyOfIdentity(text));
      if (identity->type == "customer") {
        out.streams.push_back(identity->value);
      }
    }
  }
  if (out.streams.empty()) {
    RETURN_IF_ERROR(ValidateCustomerId(id, "customers"));
    out.streams.push_back(id);
  }
  for (const auto& s : out.streams) {
    keys->insert(StreamKey(s));
  }
  return out;
}

StatusOr<std::unique_ptr<StreamFeed>> StreamHub::Subscribe(const StreamFilter& filter, Seq after,
                                                           std::function<void()> notify) {
  std::unique_ptr<StreamFeed> feed(new StreamFeed());
  feed->whole_log_ = filter.customers.empty();
  feed->types_ = filter.types;
  feed->channels_ = filter.channels;
  feed->notify_ = std::move(notify);
  for (const auto& id : filter.customers) {
    ASSIGN_OR_RETURN(auto r, Resolve(id, &feed->keys_));
    feed->resolved_.push_back(std::move(r));
  }
  feed->hub_ = this;
  MutexLock lock(&mu_);
  feed->position_ = after;
  feed->registered_ = true;
  ++feeds_;
  return feed;
}

}  // namespace touchline::api
