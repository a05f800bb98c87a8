// Shape: up to kMaxDims extents, stored inline (no allocation), row-major.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace ghm {

constexpr int kMaxDims = 6;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);

  int ndim() const { return ndim_; }
  std::int64_t operator[](int d) const { return dims_[static_cast<std::size_t>(d)]; }
  std::int64_t& operator[](int d) { return dims_[static_cast<std::size_t>(d)]; }
  std::int64_t numel() const;
  // Row-major strides in elements: stride(ndim-1) == 1.
  std::int64_t stride(int d) const;
  std::vector<std::int64_t> to_vector() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + ndim_; }

  // Normalises a possibly negative dimension index; throws naming `op` when out of range.
  int wrap_dim(int d, const char* op) const;

  friend bool operator==(const Shape& a, const Shape& b);
  std::string to_string() const;  // "[2, 3, 4]"

 private:
  std::array<std::int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.to_string(); }

}  // namespace ghm
