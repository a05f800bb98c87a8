#include "core/check.h"

#include <cstring>

namespace ghm {

[[noreturn]] void throw_error(const std::string& message, const char* condition, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  std::ostringstream os;
  os << message;
  if (condition != nullptr) os << " [check '" << condition << "' failed";
  else os << " [";
  os << (condition != nullptr ? " at " : "at ") << (base != nullptr ? base + 1 : file) << ":" << line << "]";
  throw Error(os.str());
}

}  // namespace ghm
