// Internal to the checker: faults in the pages of a big buffer's spare room on a thread
// of its own, 2 MiB at a time, while the caller fills the buffer. On this checker's
// virtual machine a fresh page costs the kernel milliseconds a megabyte to clear
// (docs/CHECKER.md, "Speed"); done on a thread of its own, that work leaves the filling
// thread. A hint only: the pages' contents do not change, and a failure changes nothing.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <thread>

namespace checker::internal {

class Prefaulter {
 public:
  // Which end of the range goes first: the front, for a buffer filled faster than the
  // kernel clears its pages (the faulting thread stays ahead where it can); the back, for
  // one filled from the front at about that speed (the two meet half way, and the filling
  // thread clears only the front part).
  enum class From { kFront, kBack };

  Prefaulter() = default;
  Prefaulter(const Prefaulter&) = delete;
  Prefaulter& operator=(const Prefaulter&) = delete;
  ~Prefaulter() { Stop(); }

  // Starts on [p, p + n), spare room of the buffer at `owner` (after stopping any earlier
  // range).
  void Start(const void* owner, void* p, std::size_t n, From from = From::kFront) {
    Stop();
    owner_ = owner;
    stop_ = false;
    try {
      thread_ = std::thread([this, p, n, from] { Run(static_cast<char*>(p), n, from); });
    } catch (const std::system_error&) {
      // No thread: the pages are faulted in as they are written.
    }
  }
  // Stops and waits (before the range is freed or moved).
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    owner_ = nullptr;
  }
  // Stops if working in the buffer at `owner`.
  void StopFor(const void* owner) {
    if (owner == owner_) Stop();
  }

 private:
  void Run(char* p, std::size_t n, From from) {
#ifdef MADV_POPULATE_WRITE
    constexpr std::uintptr_t kPage = 4096;
    constexpr std::size_t kStep = std::size_t{2} << 20;
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(kPage - 1);
    if (from == From::kFront) {
      for (std::uintptr_t at = begin; at < end && !stop_; at += kStep) {
        ::madvise(reinterpret_cast<void*>(at), std::min<std::size_t>(kStep, end - at),
                  MADV_POPULATE_WRITE);
      }
    } else {
      for (std::uintptr_t at = end; at > begin && !stop_;) {
        const std::uintptr_t from_at = at - std::min<std::size_t>(kStep, at - begin);
        ::madvise(reinterpret_cast<void*>(from_at), at - from_at, MADV_POPULATE_WRITE);
        at = from_at;
      }
    }
#else
    (void)p;
    (void)n;
    (void)from;
#endif
  }

  std::atomic<bool> stop_{false};
  const void* owner_ = nullptr;
  std::thread thread_;
};

}  // namespace checker::internal
