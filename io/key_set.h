// The keys of one JSON object or YAML mapping, for finding a repeated key: an open-addressing hash
// table (linear probing, at most half full) of 8-byte slots, each the upper half of a key's hash
// and the key's number; the keys' bytes, ends and values (the YAML key's offset, for the error
// message) are appended to arrays in the order the keys came.
//
// Why not std::unordered_set: it allocates a node per key and a lookup follows a pointer to the
// node and another to the key's bytes, so once an object's keys outgrow the caches each insert
// costs several cache misses and a doubling of the keys cost 3-4x the time
// (docs/performance.md, "Parsers"). Here an insert is one probe of a flat array that stays small
// (16-32 bytes per key: 1M keys fit in the L3 cache), the key bytes are compared only when the
// hash halves agree, and everything else is written in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"

namespace ghm::io {

class KeySet {
 public:
  // Adds `key` with `value` and returns nullptr; when an equal key was added before, adds nothing
  // and returns that key's value (valid until the next insert).
  const std::size_t* insert(std::string_view key, std::size_t value) {
    if (2 * (ends_.size() + 1) > slots_.size()) grow();
    const auto tag = static_cast<std::uint32_t>(std::hash<std::string_view>{}(key) >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = tag & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.number == kEmpty) {
        s = {tag, static_cast<std::uint32_t>(ends_.size())};
        bytes_.append(key);
        ends_.push_back(bytes_.size());
        values_.push_back(value);
        return nullptr;
      }
      if (s.tag == tag && this->key(s.number) == key) return &values_[s.number];
    }
  }
  std::size_t size() const { return ends_.size(); }

 private:
  static constexpr std::uint32_t kEmpty = ~std::uint32_t{0};
  struct Slot {
    std::uint32_t tag = 0;        // the hash's upper 32 bits; its low bits also pick the slot
    std::uint32_t number = kEmpty;  // the key's place in ends_ and values_; kEmpty: a free slot
  };

  std::string_view key(std::uint32_t number) const {
    const std::size_t begin = number == 0 ? 0 : ends_[number - 1];
    return std::string_view(bytes_).substr(begin, ends_[number] - begin);
  }

  // Twice the slots (16 at first), every key placed again by its stored tag.
  void grow() {
    GHM_CHECK(slots_.size() < (std::size_t{1} << 32), "an object or mapping with more than 2^31 keys");
    std::vector<Slot> old(slots_.empty() ? 16 : 2 * slots_.size());
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.number == kEmpty) continue;
      std::size_t i = s.tag & mask;
      while (slots_[i].number != kEmpty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;          // a power of two in size, at most 2^32
  std::string bytes_;                // every key, back to back
  std::vector<std::size_t> ends_;    // where each key ends in bytes_
  std::vector<std::size_t> values_;  // each key's value
};

}  // namespace ghm::io
