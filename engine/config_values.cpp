#include "engine/config_values.h"

#include <cstdint>

#include "core/check.h"

namespace ghm::engine::config_values {

int int_in(const io::Json& v, int low, int high, const char* what) {
  const std::int64_t x = v.as_int();
  GHM_CHECK(x >= low && x <= high, v.location(), ": ", what, " ", x, " is outside [", low, ", ", high, "]");
  return static_cast<int>(x);
}

int positive_int(const io::Json& v, const char* what) {
  const std::int64_t x = v.as_int();
  GHM_CHECK(x > 0 && x <= (1 << 30), v.location(), ": ", what, " must be a positive integer, got ", x);
  return static_cast<int>(x);
}

int non_negative_int(const io::Json& v) {
  const std::int64_t x = v.as_int();
  GHM_CHECK(x >= 0 && x <= (1 << 30), v.location(), ": must be a non-negative integer, got ", x);
  return static_cast<int>(x);
}

float number_in(const io::Json& v, double low, double high) {
  const double x = v.as_double();
  GHM_CHECK(x >= low && x <= high, v.location(), ": ", x, " is outside [", low, ", ", high, "]");
  return static_cast<float>(x);
}

std::string one_of(const io::Json& v, std::initializer_list<const char*> choices) {
  const std::string s = v.as_string();
  std::string list;
  for (const char* c : choices) {
    if (s == c) return s;
    list += list.empty() ? c : std::string(" | ") + c;
  }
  GHM_FAIL(v.location(), ": '", s, "' is not one of ", list);
}

}  // namespace ghm::engine::config_values
