// Generator: a seeded, portable random source (SplitMix64 state, 64-bit outputs). The same seed
// gives the same numbers on every platform and compiler, unlike std::normal_distribution.
#pragma once

#include <cstdint>

namespace ghm {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : state_(seed) {}

  std::uint64_t next_u64();
  float uniform();                     // [0, 1) with 24 random bits
  float uniform(float low, float high);
  float normal();                      // N(0, 1), Box-Muller
  std::uint64_t state() const { return state_; }
  void set_state(std::uint64_t s) { state_ = s; }

 private:
  std::uint64_t state_;
};

}  // namespace ghm
