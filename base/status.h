// Status and Result: expected outcomes as values.
//
// A Status is a code plus a human-readable message; it is cheap to copy when ok (no
// allocation). Result<T> holds either a T or a non-ok Status. Nothing in core/ throws:
// expected failures (bad request, unknown token, wrong node) are returned as values, and
// broken invariants abort through TOKEN_ASSERT (base/assert.h).
//
// Thread-safety: plain values; no shared state.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace token {

// Codes follow gRPC's names so the network layer can map them one to one.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kFailedPrecondition,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
  kResourceExhausted,
  kCancelled,
  kPermissionDenied,
};

std::string_view StatusCodeName(StatusCode code);
// Whether an operation that ended with `code` may still have taken effect: a write that
// ended UNAVAILABLE (no quorum answered in time), DEADLINE_EXCEEDED, CANCELLED or INTERNAL
// may or may not be applied (a history records it as `info`); the other codes say the
// request was refused before it changed anything.
bool MayHaveTakenEffect(StatusCode code);

class Status {
 public:
  Status() = default;  // ok

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) {
    return Status(StatusCode::kFailedPrecondition, std::move(msg));
  }
  static Status Unavailable(std::string msg) {
    return Status(StatusCode::kUnavailable, std::move(msg));
  }
  static Status DeadlineExceeded(std::string msg) {
    return Status(StatusCode::kDeadlineExceeded, std::move(msg));
  }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }
  static Status ResourceExhausted(std::string msg) {
    return Status(StatusCode::kResourceExhausted, std::move(msg));
  }
  static Status Cancelled(std::string msg) {
    return Status(StatusCode::kCancelled, std::move(msg));
  }
  static Status PermissionDenied(std::string msg) {
    return Status(StatusCode::kPermissionDenied, std::move(msg));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND: unknown token 'x'" or "OK".
  std::string ToString() const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    TOKEN_ASSERT(!std::get<Status>(data_).ok(), "Result built from an ok Status carries no value");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }

  // REQUIRES: !ok()
  const Status& status() const {
    TOKEN_ASSERT(!ok(), "status() of an ok Result");
    return std::get<Status>(data_);
  }
  // REQUIRES: ok()
  const T& value() const& {
    TOKEN_ASSERT(ok(), "value() of a failed Result");
    return std::get<T>(data_);
  }
  T& value() & {
    TOKEN_ASSERT(ok(), "value() of a failed Result");
    return std::get<T>(data_);
  }
  T&& value() && {
    TOKEN_ASSERT(ok(), "value() of a failed Result");
    return std::get<T>(std::move(data_));
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace token
