// safetensors reader and writer (format and guarantees in safetensors.h).
//
// Reading: fstat for the size, pread the 8-byte length and the header, validate every entry and
// the layout of the data region, then pread each tensor's bytes straight into its storage (no
// second copy of the file in memory). Writing: build and check the whole header first, so that
// bad input throws before any file is created; then temp file, write, fsync, close, rename, and
// fsync of the directory so the rename itself is durable.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "io/json.h"
#include "io/output_file.h"

namespace ghm::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swapping");

namespace {

constexpr std::uint64_t kHeaderLengthBytes = 8;
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference library's limit
constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kSupportedDTypes = "F32, I32, I64, U8";

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

std::optional<DType> dtype_from_safetensors_name(const std::string& name) {
  for (DType dtype : {DType::F32, DType::I32, DType::I64, DType::U8})
    if (name == safetensors_dtype_name(dtype)) return dtype;
  return std::nullopt;
}

std::string errno_text() { return std::strerror(errno); }

// An open file descriptor, closed on destruction (errors from that close are ignored: it only
// runs on paths that are already failing, or after reading).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  // Closes now and reports whether the close succeeded (it can surface delayed write errors).
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// ---- reading -----------------------------------------------------------------------------------

void read_exact(int fd, void* dst, std::uint64_t bytes, std::uint64_t offset, const std::string& path,
                const std::string& what) {
  auto* out = static_cast<char*>(dst);
  while (bytes > 0) {
    const ssize_t got = ::pread(fd, out, bytes, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    GHM_CHECK(got >= 0, "cannot read ", what, " from safetensors file '", path, "': ", errno_text());
    GHM_CHECK(got > 0, "safetensors file '", path, "' ended early while reading ", what,
              " (was it truncated while being read?)");
    out += got;
    bytes -= static_cast<std::uint64_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
}

struct TensorEntry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin;  // byte range in the data region
  std::uint64_t end;
};

Shape parse_shape(const Json& json, const std::string& where) {
  const Json::Array& extents = json.as_array();
  GHM_CHECK(extents.size() <= static_cast<std::size_t>(kMaxDims), where, ": shape has ", extents.size(),
            " dimensions; at most ", kMaxDims, " are supported");
  std::vector<std::int64_t> dims;
  for (std::size_t d = 0; d < extents.size(); ++d) {
    dims.push_back(extents[d].as_int());
    GHM_CHECK(dims.back() >= 0, where, ": shape ", json.dump(), " has negative extent ", dims.back(),
              " at dimension ", d);
  }
  return Shape(dims);
}

// Bytes that a tensor of `shape` and `dtype` occupies; throws when that does not fit in 64 bits.
std::uint64_t byte_size(const Shape& shape, DType dtype, const std::string& where) {
  std::uint64_t bytes = dtype_size(dtype);
  for (std::int64_t extent : shape) {
    GHM_CHECK(!__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(extent), &bytes), where, ": shape ",
              shape, " is too large to address");
  }
  return bytes;
}

TensorEntry parse_entry(const std::string& name, const Json& info, const std::string& path,
                        std::uint64_t data_region_bytes) {
  const std::string where = "safetensors file '" + path + "': tensor '" + name + "'";
  for (const auto& [key, value] : info.as_object()) {
    GHM_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", where, ": unknown field \"", key,
              "\" (expected dtype, shape and data_offsets)");
  }

  const std::string& dtype_name = info.at("dtype").as_string();
  const std::optional<DType> dtype = dtype_from_safetensors_name(dtype_name);
  GHM_CHECK(dtype.has_value(), where, ": dtype \"", dtype_name, "\" is not supported (supported: ", kSupportedDTypes,
            ")");
  const Shape shape = parse_shape(info.at("shape"), where);

  const Json& offsets = info.at("data_offsets");
  GHM_CHECK(offsets.as_array().size() == 2, where, ": data_offsets ", offsets.dump(),
            " must have exactly two entries [begin, end]");
  const std::int64_t begin = offsets.at(0).as_int();
  const std::int64_t end = offsets.at(1).as_int();
  GHM_CHECK(begin >= 0 && begin <= end, where, ": data_offsets ", offsets.dump(),
            " must satisfy 0 <= begin <= end");
  const auto span = static_cast<std::uint64_t>(end - begin);
  GHM_CHECK(static_cast<std::uint64_t>(end) <= data_region_bytes, where, ": data_offsets ", offsets.dump(),
            " run past the end of the data region, which holds ", data_region_bytes, " bytes");
  const std::uint64_t expected = byte_size(shape, *dtype, where);
  GHM_CHECK(span == expected, where, ": data_offsets ", offsets.dump(), " span ", span, " bytes but dtype ",
            dtype_name, " and shape ", shape, " need ", expected);
  return {name, *dtype, shape, static_cast<std::uint64_t>(begin), static_cast<std::uint64_t>(end)};
}

// The tensors must tile [0, data_region_bytes) exactly, as the reference library requires.
void check_layout(std::vector<TensorEntry> entries, const std::string& path, std::uint64_t data_region_bytes) {
  std::sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  const std::string file = "safetensors file '" + path + "'";
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const TensorEntry& e = entries[i];
    GHM_CHECK(e.begin >= covered, file, ": tensors '", entries[i - 1].name, "' and '", e.name,
              "' overlap in the data region (", entries[i - 1].name, " ends at byte ", covered, ", ", e.name,
              " begins at byte ", e.begin, ")");
    GHM_CHECK(e.begin == covered, file, ": bytes [", covered, ", ", e.begin,
              ") of the data region belong to no tensor (a hole before tensor '", e.name, "')");
    covered = e.end;
  }
  GHM_CHECK(covered == data_region_bytes, file, ": bytes [", covered, ", ", data_region_bytes,
            ") at the end of the data region belong to no tensor");
}

std::map<std::string, std::string> parse_metadata(const Json& json) {
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : json.as_object()) metadata.emplace(key, value.as_string());
  return metadata;
}

// ---- writing -----------------------------------------------------------------------------------

void check_tensors_writable(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    const std::string where = "cannot write safetensors file '" + path + "': tensor '" + name + "'";
    GHM_CHECK(tensor.defined(), where, " is undefined");
    GHM_CHECK(tensor.device().is_cpu(), where, " is on ", tensor.device(), "; move it to the CPU first");
    GHM_CHECK(name != kMetadataKey, where, ": the name ", kMetadataKey, " is reserved for metadata");
    GHM_CHECK(names.insert(name).second, where, " appears twice");
  }
}

// The header bytes, padded with spaces to a multiple of 8 so that the data region starts aligned.
std::string build_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta.set(key, value);
    header.set(kMetadataKey, std::move(meta));
  }
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    Json shape = Json::array();
    for (std::int64_t extent : tensor.shape()) shape.push_back(extent);
    const std::uint64_t end = offset + tensor.nbytes();
    header.set(name, Json::object()
                         .set("dtype", safetensors_dtype_name(tensor.dtype()))
                         .set("shape", std::move(shape))
                         .set("data_offsets", Json::array({offset, end})));
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

// ---- public API --------------------------------------------------------------------------------

const Tensor& SafetensorsData::at(const std::string& name) const {
  for (const auto& [n, tensor] : tensors)
    if (n == name) return tensor;
  std::string known;
  for (std::size_t i = 0; i < tensors.size() && i < 8; ++i) known += (i ? ", " : "") + tensors[i].first;
  if (tensors.size() > 8) known += ", ...";
  GHM_FAIL("safetensors file '", path, "' has no tensor named '", name, "' (it has ", tensors.size(), ": ", known,
           ")");
}

bool SafetensorsData::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& entry) { return entry.first == name; });
}

SafetensorsData load_safetensors(const std::string& path) {
  const std::string file = "safetensors file '" + path + "'";
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  GHM_CHECK(fd.get() >= 0, "cannot open ", file, ": ", errno_text());
  struct stat info {};
  GHM_CHECK(::fstat(fd.get(), &info) == 0, "cannot stat ", file, ": ", errno_text());
  GHM_CHECK(S_ISREG(info.st_mode), file, " is not a regular file");
  const auto file_bytes = static_cast<std::uint64_t>(info.st_size);
  GHM_CHECK(file_bytes >= kHeaderLengthBytes, file, " is ", file_bytes,
            " bytes long; it must start with an 8-byte header length");

  std::uint64_t header_bytes = 0;
  read_exact(fd.get(), &header_bytes, kHeaderLengthBytes, 0, path, "the header length");
  GHM_CHECK(header_bytes <= kMaxHeaderBytes, file, ": header length ", header_bytes, " exceeds the limit of ",
            kMaxHeaderBytes, " bytes");
  GHM_CHECK(header_bytes <= file_bytes - kHeaderLengthBytes, file, ": header length ", header_bytes,
            " is larger than the ", file_bytes - kHeaderLengthBytes, " bytes that follow it");
  const std::uint64_t data_start = kHeaderLengthBytes + header_bytes;
  const std::uint64_t data_region_bytes = file_bytes - data_start;

  std::string header_text(header_bytes, '\0');
  read_exact(fd.get(), header_text.data(), header_bytes, kHeaderLengthBytes, path, "the header");
  const Json header = Json::parse(header_text, "the header of " + file);

  SafetensorsData result;
  result.path = path;
  std::vector<TensorEntry> entries;
  for (const auto& [name, value] : header.as_object()) {
    if (name == kMetadataKey) result.metadata = parse_metadata(value);
    else entries.push_back(parse_entry(name, value, path, data_region_bytes));
  }
  check_layout(entries, path, data_region_bytes);

  for (const TensorEntry& e : entries) {
    Tensor tensor = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin)
      read_exact(fd.get(), tensor.raw_data(), e.end - e.begin, data_start + e.begin, path, "tensor '" + e.name + "'");
    result.tensors.emplace_back(e.name, std::move(tensor));
  }
  return result;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_tensors_writable(path, tensors);
  std::string header;
  try {
    header = build_header(tensors, metadata);
  } catch (const Error& e) {
    GHM_FAIL("cannot write safetensors file '", path, "': ", e.what());
  }
  const std::uint64_t header_bytes = header.size();

  OutputFile out(path);
  out.write(&header_bytes, kHeaderLengthBytes);
  out.write(header);
  for (const auto& [name, tensor] : tensors) {
    if (tensor.nbytes() == 0) continue;
    const Tensor host = tensor.device().is_cuda() ? tensor.detach().to(Device::cpu()) : tensor;  // one at a time
    out.write(host.raw_data(), host.nbytes());
  }
  out.commit();
}

}  // namespace ghm::io
