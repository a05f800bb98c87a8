// Bounded whole-file reads and the process-wide input limits (input_file.h).
//
// A regular file: fstat, compare st_size with the limit, allocate once, read exactly st_size bytes
// (fewer means the file shrank while being read: an error). Anything else: read 64 KiB at a time
// into a buffer that doubles (up to the limit plus one byte), and stop with an error as soon as the
// limit is passed.
#include "io/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "core/check.h"

namespace ghm::io {
namespace {

std::mutex limits_mutex;
std::optional<InputLimits> current_limits;  // guarded by limits_mutex; empty until first use

void from_env(std::uint64_t& value, const char* variable) {
  const char* text = std::getenv(variable);
  if (text != nullptr && *text != '\0') value = parse_limit_value(text, variable);
}

InputLimits limits_from_env() {
  InputLimits l;
  from_env(l.json_bytes, "GHM_MAX_JSON_BYTES");
  from_env(l.config_bytes, "GHM_MAX_CONFIG_BYTES");
  from_env(l.image_bytes, "GHM_MAX_IMAGE_BYTES");
  from_env(l.image_pixels, "GHM_MAX_IMAGE_PIXELS");
  return l;
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// read() until `n` bytes or the end; retried on EINTR. Returns the bytes read.
std::size_t read_some(int fd, char* dst, std::size_t n, const std::string& path, const char* what) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, dst + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    GHM_CHECK(r >= 0, "cannot read ", what, " '", path, "': ", std::strerror(errno));
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

[[noreturn]] void fail_too_large(const std::string& path, const char* what, const std::string& size, ByteLimit limit) {
  GHM_FAIL(what, " '", path, "' is ", size, ", more than the limit of ", limit.bytes, " bytes (", limit.variable,
           " raises it)");
}

}  // namespace

std::uint64_t parse_limit_value(const std::string& text, const char* variable) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string suffix = text.substr(digits);
  int shift = -1;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (suffix == "T" || suffix == "t") shift = 40;
  GHM_CHECK(digits > 0 && digits <= 15 && shift >= 0, variable, "='", text,
            "' is not a positive count (a number with an optional K, M, G or T suffix)");
  const std::uint64_t count = std::strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  GHM_CHECK(count > 0, variable, "='", text, "' must be positive");
  GHM_CHECK(count <= (std::uint64_t{1} << 62) >> shift, variable, "='", text, "' is more than 2^62");
  return count << shift;
}

InputLimits input_limits() {
  const std::lock_guard<std::mutex> lock(limits_mutex);
  if (!current_limits) current_limits = limits_from_env();
  return *current_limits;
}

void set_input_limits(const InputLimits& limits) {
  GHM_CHECK(limits.json_bytes > 0 && limits.config_bytes > 0 && limits.image_bytes > 0 && limits.image_pixels > 0,
            "input limits must be positive");
  const std::lock_guard<std::mutex> lock(limits_mutex);
  current_limits = limits;
}

ByteLimit json_limit() { return {input_limits().json_bytes, "GHM_MAX_JSON_BYTES"}; }
ByteLimit config_limit() { return {input_limits().config_bytes, "GHM_MAX_CONFIG_BYTES"}; }
ByteLimit image_limit() { return {input_limits().image_bytes, "GHM_MAX_IMAGE_BYTES"}; }

FileBytes read_input_file(const std::string& path, const char* what, ByteLimit limit, std::size_t padding) {
  const Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  GHM_CHECK(f.fd >= 0, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  struct stat st {};
  GHM_CHECK(::fstat(f.fd, &st) == 0, "cannot read ", what, " '", path, "': ", std::strerror(errno));
  GHM_CHECK(!S_ISDIR(st.st_mode), "cannot read ", what, " '", path, "': it is a folder");
  FileBytes out;
  if (S_ISREG(st.st_mode)) {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > limit.bytes) fail_too_large(path, what, std::to_string(size) + " bytes", limit);
    out.size = static_cast<std::size_t>(size);
    out.bytes = std::make_unique_for_overwrite<char[]>(out.size + padding);
    const std::size_t got = read_some(f.fd, out.bytes.get(), out.size, path, what);
    GHM_CHECK(got == out.size, what, " '", path, "' ended after ", got, " of its ", out.size,
              " bytes (did it change while being read?)");
  } else {  // a stream: read with the limit as the bound
    // Capacity never beyond limit + 1: one byte past the limit is enough to refuse. The buffer
    // (with room for the padding) doubles, one copy per doubling, and is handed over as it is.
    const std::uint64_t most = std::min<std::uint64_t>(limit.bytes, std::uint64_t{1} << 62) + 1;
    std::size_t capacity = static_cast<std::size_t>(std::min<std::uint64_t>(std::uint64_t{64} << 10, most));
    out.bytes = std::make_unique_for_overwrite<char[]>(capacity + padding);
    std::size_t size = 0;
    for (;;) {
      if (size == capacity) {
        capacity = static_cast<std::size_t>(std::min<std::uint64_t>(2 * std::uint64_t{capacity}, most));
        auto grown = std::make_unique_for_overwrite<char[]>(capacity + padding);
        std::memcpy(grown.get(), out.bytes.get(), size);
        out.bytes = std::move(grown);
      }
      const std::size_t got = read_some(f.fd, out.bytes.get() + size, capacity - size, path, what);
      size += got;
      if (size > limit.bytes || got == 0) break;
    }
    if (size > limit.bytes) fail_too_large(path, what, "a stream of more than that", limit);
    out.size = size;
  }
  std::memset(out.bytes.get() + out.size, 0, padding);
  return out;
}

std::string read_input_text(const std::string& path, const char* what, ByteLimit limit) {
  const FileBytes f = read_input_file(path, what, limit);
  return std::string(f.bytes.get(), f.size);
}

}  // namespace ghm::io
