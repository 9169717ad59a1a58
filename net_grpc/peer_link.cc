#include "net_grpc/peer_link.h"

#include <fmt/format.h>

#include "net_grpc/peer_auth.h"

namespace token::net {

namespace pb = tokenmgr::v1;

namespace {
constexpr std::chrono::milliseconds kBackoffMin{50};
constexpr std::chrono::milliseconds kBackoffMax{1000};
// A stream opened right after the peer showed it is up waits for the connection (instead
// of failing while the channel still reports the old failure); if no write of it has
// completed after this long, a later Flush cancels it (the peer went away again).
constexpr std::chrono::milliseconds kWaitForReadyLimit{2000};
}  // namespace

class PeerLink::Stream : public grpc::ClientWriteReactor<pb::PeerBatch> {
 public:
  Stream(PeerLink* link, pb::Replica::Stub* stub, bool wait_for_ready)
      : waits_for_ready_(wait_for_ready), link_(link) {
    ctx_.set_wait_for_ready(wait_for_ready);
    ctx_.AddMetadata("x-token-node", link->self_);
    ctx_.AddMetadata("x-token-scheme", link->fingerprint_);
    if (!link->secret_.empty()) {
      ctx_.AddMetadata("x-token-auth", MakePeerProof(link->secret_, "Deliver", link->self_,
                                                     link->peer_, link->fingerprint_));
    }
    stub->async()->Deliver(&ctx_, &summary_, this);
    // The hold keeps the call open between writes started from the executor thread.
    AddHold();
    StartCall();
  }
  // The caller took a hold (PinForWrite) under the link's mutex, so a concurrent Close
  // cannot end the call between that decision and this write.
  void PinForWrite() { AddHold(); }
  void Write() {
    StartWrite(&current_);
    RemoveHold();
  }
  void Cancel() { ctx_.TryCancel(); }
  void Release() { RemoveHold(); }

  void OnWriteDone(bool ok) override { link_->WriteDone(this, ok); }
  void OnDone(const grpc::Status& status) override {
    link_->StreamDone(this, status);
    delete this;
  }

  pb::PeerBatch current_;
  bool released_ = false;  // guarded by the link's mutex
  // Guarded by the link's mutex: a wait-for-ready stream none of whose writes completed
  // yet is still waiting for its connection.
  const bool waits_for_ready_;
  bool wrote_ = false;
  const std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();

 private:
  PeerLink* link_;
  grpc::ClientContext ctx_;
  pb::DeliverSummary summary_;
};

PeerLink::PeerLink(std::shared_ptr<grpc::Channel> channel, std::string self, std::string peer,
                   std::string scheme_fingerprint, std::string cluster_secret, Logger log)
    : PeerSender(std::move(peer), std::move(log)),
      channel_(std::move(channel)),
      stub_(pb::Replica::NewStub(channel_)),
      self_(std::move(self)),
      fingerprint_(std::move(scheme_fingerprint)),
      secret_(std::move(cluster_secret)) {}

PeerLink::~PeerLink() { Close(); }

void PeerSender::Batches::Add(pb::PeerMessage message, std::size_t bytes) {
  // A message's bytes in its batch: the message plus its tag and length prefix.
  const std::size_t cost = bytes + 8;
  if (batches.empty() || (last_bytes > 0 && last_bytes + cost > kPeerBatchBytes)) {
    batches.emplace_back();
    last_bytes = 0;
  }
  *batches.back().add_messages() = std::move(message);
  last_bytes += cost;
  ++messages;
}

void PeerSender::Batches::Append(Batches&& other) {
  for (auto& b : other.batches) batches.push_back(std::move(b));
  last_bytes = other.batches.empty() ? last_bytes : other.last_bytes;
  messages += other.messages;
  other.Clear();
}

void PeerSender::Add(pb::PeerMessage message) {
  const std::size_t bytes = message.ByteSizeLong();
  if (bytes > kMaxPeerMessageBytes) {
    // Cannot happen with values the coordinators accept (core/token.h kMaxNameBytes); a
    // message that could never cross the transport is dropped rather than break the stream.
    const std::uint64_t n = ++oversized_;
    ++dropped_;
    if (log_ && (n & (n - 1)) == 0) {
      log_(fmt::format("peer {}: dropped a message of {} bytes (at most {}; {} so far)", peer_,
                       bytes, kMaxPeerMessageBytes, n));
    }
    return;
  }
  pending_.Add(std::move(message), bytes);
}

void PeerLink::Flush() {
  if (pending_.messages == 0) return;
  Stream* to_write = nullptr;
  Stream* stuck = nullptr;
  {
    std::lock_guard lock(mu_);
    if (stream_ != nullptr && stream_->waits_for_ready_ && !stream_->wrote_ &&
        std::chrono::steady_clock::now() - stream_->created_ > kWaitForReadyLimit) {
      stuck = stream_;  // cancelled below; its OnDone clears stream_
    }
    if (closed_) {
      dropped_ += pending_.messages;
      pending_.Clear();
      return;
    }
    if (stream_ == nullptr) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_attempt_) {
        dropped_ += pending_.messages;
        pending_.Clear();
        return;
      }
      next_attempt_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, kBackoffMax);
      stream_ = new Stream(this, stub_.get(), peer_is_up_);
      peer_is_up_ = false;
      ++live_streams_;
      write_in_flight_ = false;
      queued_.Clear();
    }
    queued_.Append(std::move(pending_));
    if (!write_in_flight_) {
      to_write = stream_;
      TakeNextBatch(to_write);
    }
  }
  if (stuck != nullptr) stuck->Cancel();
  if (to_write != nullptr) to_write->Write();
}

void PeerLink::TakeNextBatch(Stream* stream) {
  stream->current_.Clear();
  stream->current_.Swap(&queued_.batches.front());
  queued_.batches.pop_front();
  queued_.messages -= static_cast<std::uint64_t>(stream->current_.messages_size());
  if (queued_.batches.empty()) queued_.last_bytes = 0;
  write_in_flight_ = true;
  stream->PinForWrite();
}

void PeerLink::WriteDone(Stream* stream, bool ok) {
  Stream* to_write = nullptr;
  bool release = false;
  {
    std::lock_guard lock(mu_);
    if (stream != stream_) return;  // an old stream, already replaced
    if (!ok) {
      // The stream broke: what was in flight and queued is lost; reopen on a later Flush.
      dropped_ += static_cast<std::uint64_t>(stream->current_.messages_size()) + queued_.messages;
      queued_.Clear();
      stream_ = nullptr;
      write_in_flight_ = false;
      release = !stream->released_;
      stream->released_ = true;
    } else {
      stream->wrote_ = true;
      sent_ += static_cast<std::uint64_t>(stream->current_.messages_size());
      backoff_ = kBackoffMin;
      if (logged_down_) {
        logged_down_ = false;
        if (log_) log_(fmt::format("peer {}: stream up", peer_));
      }
      if (!queued_.batches.empty() && !closed_) {
        to_write = stream;
        TakeNextBatch(to_write);
      } else {
        write_in_flight_ = false;
      }
    }
  }
  if (to_write != nullptr) to_write->Write();
  if (release) stream->Release();
}

void PeerLink::StreamDone(Stream* stream, const grpc::Status& status) {
  std::lock_guard lock(mu_);
  if (stream == stream_) {
    stream_ = nullptr;
    write_in_flight_ = false;
  }
  if (!closed_ && !logged_down_ && log_) {
    logged_down_ = true;
    log_(fmt::format("peer {}: stream down ({}: {})", peer_, static_cast<int>(status.error_code()),
                     status.error_message()));
  }
  --live_streams_;
  done_cv_.notify_all();
}

void PeerLink::PeerIsUp() {
  {
    std::lock_guard lock(mu_);
    if (stream_ != nullptr) return;  // connected already
    backoff_ = kBackoffMin;
    next_attempt_ = {};
    peer_is_up_ = true;
  }
  grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
}

void PeerLink::Close() {
  Stream* open = nullptr;
  bool release = false;
  {
    std::lock_guard lock(mu_);
    if (closed_ && live_streams_ == 0) return;
    closed_ = true;
    open = stream_;
    if (open != nullptr) {
      release = !open->released_;
      open->released_ = true;
    }
  }
  if (open != nullptr) {
    open->Cancel();
    if (release) open->Release();
  }
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [this] { return live_streams_ == 0; });
}

}  // namespace token::net
