// Little-endian fixed-width integers in and out of byte strings, for the store's formats.
// Internal to storage/.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace token::storage {

inline void PutU8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

inline void PutU32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}

inline void PutU64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}

// Overwrites 4 bytes at `at` (REQUIRES: at + 4 <= out.size()).
inline void SetU32(std::string& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}

inline std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline std::uint64_t GetU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Reads fields one after the other; a read past the end yields nullopt and leaves the
// reader at the offset where the missing field starts.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }

  std::optional<std::uint8_t> U8() {
    if (remaining() < 1) return std::nullopt;
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }
  std::optional<std::uint32_t> U32() {
    if (remaining() < 4) return std::nullopt;
    const std::uint32_t v = GetU32(bytes_.data() + pos_);
    pos_ += 4;
    return v;
  }
  std::optional<std::uint64_t> U64() {
    if (remaining() < 8) return std::nullopt;
    const std::uint64_t v = GetU64(bytes_.data() + pos_);
    pos_ += 8;
    return v;
  }
  std::optional<std::string_view> Bytes(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    const std::string_view v = bytes_.substr(pos_, n);
    pos_ += n;
    return v;
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace token::storage
