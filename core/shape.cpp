#include "core/shape.h"

#include <sstream>

#include "core/check.h"

namespace ghm {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  GHM_CHECK(dims.size() <= static_cast<std::size_t>(kMaxDims), "shape with ", dims.size(),
            " dimensions: at most ", kMaxDims, " are supported");
  ndim_ = static_cast<int>(dims.size());
  for (int d = 0; d < ndim_; ++d) {
    GHM_CHECK(dims[static_cast<std::size_t>(d)] >= 0, "shape extent ", dims[static_cast<std::size_t>(d)],
              " at dimension ", d, " is negative");
    dims_[static_cast<std::size_t>(d)] = dims[static_cast<std::size_t>(d)];
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int d = 0; d < ndim_; ++d) n *= (*this)[d];
  return n;
}

std::int64_t Shape::stride(int d) const {
  std::int64_t s = 1;
  for (int i = ndim_ - 1; i > d; --i) s *= (*this)[i];
  return s;
}

int Shape::wrap_dim(int d, const char* op) const {
  const int w = d < 0 ? d + ndim_ : d;
  GHM_CHECK(w >= 0 && w < ndim_, op, ": dimension ", d, " is out of range for shape ", to_string());
  return w;
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.ndim_ != b.ndim_) return false;
  for (int d = 0; d < a.ndim_; ++d)
    if (a[d] != b[d]) return false;
  return true;
}

std::string Shape::to_string() const {
  std::ostringstream os;
  os << "[";
  for (int d = 0; d < ndim_; ++d) os << (d ? ", " : "") << (*this)[d];
  os << "]";
  return os.str();
}

}  // namespace ghm
