// Every whole-file read of an input goes through here, so that no input can exhaust memory before
// it is checked. A regular file's size is compared with a limit before anything is allocated;
// anything else that reads as a stream (a FIFO, /dev/stdin, a character device such as /dev/zero)
// is read up to the limit and refused beyond it; a folder is refused. Errors name the file, what
// it was meant to be, its size and the limit with the variable that raises it.
//
// The limits (InputLimits) are process-wide. They start from these defaults, or from environment
// variables of the same meaning (a plain number of bytes or pixels, or with a K, M, G or T suffix
// for powers of 1024):
//
//   GHM_MAX_JSON_BYTES    2G           COCO annotation and results files, training logs
//   GHM_MAX_CONFIG_BYTES  16M          YAML (and JSON) configs
//   GHM_MAX_IMAGE_BYTES   256M         one encoded image file
//   GHM_MAX_IMAGE_PIXELS  178956970    width x height of a decoded image (Pillow's bound, where it
//                                      raises DecompressionBombError: 2 x 89478485)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ghm::io {

struct InputLimits {
  std::uint64_t json_bytes = std::uint64_t{2} << 30;
  std::uint64_t config_bytes = std::uint64_t{16} << 20;
  std::uint64_t image_bytes = std::uint64_t{256} << 20;
  std::uint64_t image_pixels = 178956970;
};

// The limits in force: the environment's on first use (a malformed value throws naming the
// variable), or the last set_input_limits().
InputLimits input_limits();
void set_input_limits(const InputLimits& limits);

// One limit and the environment variable that sets it, for error messages.
struct ByteLimit {
  std::uint64_t bytes;
  const char* variable;
};
ByteLimit json_limit();
ByteLimit config_limit();
ByteLimit image_limit();

// The bytes of a whole file followed by `padding` zero bytes.
struct FileBytes {
  std::unique_ptr<char[]> bytes;  // [size + padding]
  std::size_t size = 0;
};

// Reads all of `path`; `what` names it in errors ("COCO annotation file"): "cannot open <what>
// '<path>': <reason>", "<what> '<path>' is N bytes, more than the limit of M (GHM_MAX_..._BYTES
// raises it)".
FileBytes read_input_file(const std::string& path, const char* what, ByteLimit limit, std::size_t padding = 0);
// The same, as a string.
std::string read_input_text(const std::string& path, const char* what, ByteLimit limit);

// "a count with an optional K, M, G or T suffix" -> the count; anything else (empty, zero, a sign,
// a fraction, another suffix, more than 15 digits) throws naming `variable` and the text.
std::uint64_t parse_limit_value(const std::string& text, const char* variable);

}  // namespace ghm::io
