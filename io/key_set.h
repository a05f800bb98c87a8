// The keys of one JSON object or YAML mapping, for finding a repeated key: an open-addressing hash
// table (linear probing, at most half full) whose slots hold each key's hash, its place in one
// buffer of key bytes, and a value (the YAML key's offset, for the error message).
//
// Why not std::unordered_set: it allocates a node per key and a lookup follows a pointer to the
// node and another to the key's bytes, so once an object's keys outgrow the caches each insert
// costs several cache misses and a doubling of the keys cost 3-4x the time
// (docs/performance.md, "Parsers"). Here an insert is one probe of a flat array, the key bytes
// are compared only when the full hashes agree, and the keys are appended to one buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ghm::io {

class KeySet {
 public:
  // Adds `key` with `value` and returns nullptr; when an equal key was added before, adds nothing
  // and returns that key's value (valid until the next insert).
  const std::size_t* insert(std::string_view key, std::size_t value) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    const std::uint64_t hash = std::hash<std::string_view>{}(key);
    for (std::size_t i = hash & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.offset == kEmpty) {
        s = {hash, bytes_.size(), key.size(), value};
        bytes_.append(key);
        ++used_;
        return nullptr;
      }
      if (s.hash == hash && std::string_view(bytes_).substr(s.offset, s.length) == key) return &s.value;
    }
  }
  std::size_t size() const { return used_; }

 private:
  static constexpr std::size_t kEmpty = ~std::size_t{0};
  struct Slot {
    std::uint64_t hash = 0;
    std::size_t offset = kEmpty;  // into bytes_; kEmpty: a free slot
    std::size_t length = 0;
    std::size_t value = 0;
  };

  // Twice the slots (16 at first), every key placed again by its stored hash.
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : 2 * slots_.size());
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.offset == kEmpty) continue;
      std::size_t i = s.hash & (slots_.size() - 1);
      while (slots_[i].offset != kEmpty) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;  // a power of two in size
  std::string bytes_;        // every key, back to back
  std::size_t used_ = 0;
};

}  // namespace ghm::io
