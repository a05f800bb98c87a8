// Error reporting for the whole project.
//
//   GHM_CHECK(cond, "conv2d: input ", x.shape(), " and weight ", w.shape(), " disagree");
//
// throws ghm::Error whose message is the concatenation of the arguments (anything with an
// operator<<), followed by the failed condition, file and line. Used at public boundaries; hot
// loops assume valid input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ghm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

[[noreturn]] void throw_error(const std::string& message, const char* condition, const char* file, int line);

}  // namespace ghm

#define GHM_CHECK(cond, ...)                                                              \
  do {                                                                                    \
    if (!(cond)) [[unlikely]]                                                             \
      ::ghm::throw_error(::ghm::str_cat(__VA_ARGS__), #cond, __FILE__, __LINE__);         \
  } while (0)

#define GHM_FAIL(...) ::ghm::throw_error(::ghm::str_cat(__VA_ARGS__), nullptr, __FILE__, __LINE__)
