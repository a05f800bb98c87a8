// Tests for io/safetensors: round trips of every dtype (scalars, empty tensors, 6-d, metadata),
// the exact bytes of a small file, one hand-made malformed file per validation rule (each error
// must name the file and the reason), and the atomic write (no temp file left behind, an existing
// file survives a failed save).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "file_size_limit.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
using ghm::testing::read_file;
using ghm::testing::ScratchDir;
using ghm::DType;
using ghm::Shape;
using ghm::Tensor;
using ghm::io::load_safetensors;
using ghm::io::save_safetensors;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string u64_le(std::uint64_t v) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return bytes;
}

// A file with the given header text (used as is, no padding) and data region.
std::string file_bytes(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

std::string tensor_bytes(const Tensor& t) { return {static_cast<const char*>(t.raw_data()), t.nbytes()}; }

// A doctest matcher for exception messages containing `text` (doctest's own takes a C string).
doctest::Contains message_has(const std::string& text) { return doctest::Contains(text.c_str()); }

// The message of the ghm::Error that loading `path` throws ("" if it loads).
std::string load_error(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "";
}

// Writes `bytes` to a file and checks that loading it fails with a message naming the file and
// containing `reason`.
void check_rejected(const std::string& bytes, const std::string& reason) {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, bytes);
  const std::string message = load_error(path);
  INFO("error message: ", message);
  CHECK(message.find("'" + path + "'") != std::string::npos);
  CHECK(message.find(reason) != std::string::npos);
}

// A malformed file: the kind of damage, the file's bytes, and what the error must say.
struct Malformed {
  const char* damage;
  std::string bytes;
  const char* reason;
};

// One file per validation rule of the loader for the file as a whole and the header's layout.
std::vector<Malformed> malformed_files() {
  const std::string u8x4 = R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})";
  return {
      {"shorter than the length field", std::string("\x05\0\0\0\0", 5), "is 5 bytes long; it must start with"},
      {"header length past the end of the file", u64_le(100) + "{}",
       "header length 100 is larger than the 2 bytes that follow it"},
      {"header length over the limit", u64_le(std::uint64_t{1} << 40) + "{}", "exceeds the limit of 100000000 bytes"},
      {"empty header", u64_le(0), "invalid JSON in the header of safetensors file"},
      {"header is not JSON", file_bytes(R"({"t":{"dtype":"U8",})", ""), "(byte 19): expected a string key, got '}'"},
      {"header is not an object", file_bytes("[]", ""), "at $: expected an object, got an array"},
      {"duplicate tensor names", file_bytes(R"({"t":)" + u8x4 + R"(,"t":)" + u8x4 + "}", "abcd"),
       "duplicate key \"t\""},
      {"overlapping tensors",
       file_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                  R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                  "abcdef"),
       "tensors 'a' and 'b' overlap in the data region (a ends at byte 4, b begins at byte 2)"},
      {"hole between tensors",
       file_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                  R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                  "abcdef"),
       "bytes [2, 4) of the data region belong to no tensor (a hole before tensor 'b')"},
      {"metadata value that is not a string", file_bytes(R"({"__metadata__":{"epoch":3}})", ""),
       "at $.__metadata__.epoch: expected a string"},
      {"metadata that is not an object", file_bytes(R"({"__metadata__":"x"})", ""),
       "at $.__metadata__: expected an object"},
  };
}

// A header that holds one U8 tensor "t": the kind of damage, the tensor's entry, the bytes of data
// that follow the header, and what the error must say.
struct MalformedEntry {
  const char* damage;
  const char* entry;
  std::size_t data_bytes;
  const char* reason;
};

// One file per validation rule of the loader for a tensor's entry.
std::vector<MalformedEntry> malformed_entries() {
  return {
      {"entry is not an object", "[1]", 0, "at $.t: expected an object, got an array"},
      {"missing dtype", R"({"shape":[4],"data_offsets":[0,4]})", 4, "at $.t: missing key \"dtype\""},
      {"missing shape", R"({"dtype":"U8","data_offsets":[0,4]})", 4, "at $.t: missing key \"shape\""},
      {"missing data_offsets", R"({"dtype":"U8","shape":[4]})", 4, "at $.t: missing key \"data_offsets\""},
      {"unknown field", R"({"dtype":"U8","shape":[4],"data_offsets":[0,4],"stride":[1]})", 4,
       "tensor 't': unknown field \"stride\""},
      {"dtype of the wrong type", R"({"dtype":1,"shape":[4],"data_offsets":[0,4]})", 4,
       "at $.t.dtype: expected a string"},
      {"shape of the wrong type", R"({"dtype":"U8","shape":"4","data_offsets":[0,4]})", 4,
       "at $.t.shape: expected an array"},
      {"fractional extent", R"({"dtype":"U8","shape":[1.5],"data_offsets":[0,4]})", 4,
       "at $.t.shape[0]: expected an integer that fits in int64, got 1.5"},
      {"data_offsets of the wrong type", R"({"dtype":"U8","shape":[4],"data_offsets":[0,"4"]})", 4,
       "at $.t.data_offsets[1]: expected an integer, got a string"},
      {"unsupported dtype", R"({"dtype":"F16","shape":[2],"data_offsets":[0,4]})", 4,
       "tensor 't': dtype \"F16\" is not supported (supported: F32, I32, I64, U8)"},
      {"negative extent", R"({"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]})", 0,
       "tensor 't': shape [2,-1] has negative extent -1 at dimension 1"},
      {"more than 6 dimensions", R"({"dtype":"U8","shape":[1,1,1,1,1,1,1],"data_offsets":[0,1]})", 1,
       "tensor 't': shape has 7 dimensions; at most 6 are supported"},
      {"shape too large to address", R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]})", 0,
       "tensor 't': shape [4611686018427387904, 4] is too large to address"},
      {"data_offsets with three entries", R"({"dtype":"U8","shape":[4],"data_offsets":[0,4,8]})", 4,
       "data_offsets [0,4,8] must have exactly two entries"},
      {"begin after end", R"({"dtype":"U8","shape":[0],"data_offsets":[4,0]})", 4,
       "data_offsets [4,0] must satisfy 0 <= begin <= end"},
      {"negative begin", R"({"dtype":"U8","shape":[4],"data_offsets":[-4,0]})", 4,
       "data_offsets [-4,0] must satisfy 0 <= begin <= end"},
      {"data_offsets past the data region", R"({"dtype":"U8","shape":[8],"data_offsets":[0,8]})", 4,
       "tensor 't': data_offsets [0,8] run past the end of the data region, which holds 4 bytes"},
      {"byte size disagrees with dtype and shape", R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 4,
       "tensor 't': data_offsets [0,4] span 4 bytes but dtype F32 and shape [2] need 8"},
      {"bytes after the last tensor", R"({"dtype":"U8","shape":[2],"data_offsets":[0,2]})", 4,
       "bytes [2, 4) at the end of the data region belong to no tensor"},
  };
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, scalars, empty and 6-d tensors, and metadata") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("model.safetensors");
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"conv.weight", Tensor::from_vector<float>({1.5f, -2.25f, 0.f, 3e-38f, 1e30f, -0.f}, Shape{2, 3})},
      {"counts", Tensor::from_vector<std::int32_t>({std::numeric_limits<std::int32_t>::min(), -1, 0,
                                                    std::numeric_limits<std::int32_t>::max()},
                                                   Shape{4})},
      {"ids", Tensor::from_vector<std::int64_t>({(std::int64_t{1} << 53) + 1, std::numeric_limits<std::int64_t>::min()},
                                                Shape{2, 1})},
      {"mask", Tensor::from_vector<std::uint8_t>({0, 1, 127, 128, 255}, Shape{5})},
      {"scale", Tensor::from_vector<float>({0.5f}, Shape{})},
      {"no_boxes", Tensor::empty(Shape{0, 4}, DType::F32)},
      {"no_labels", Tensor::empty(Shape{0}, DType::I64)},
      {"deep", Tensor::from_vector<std::uint8_t>({9, 8}, Shape{1, 1, 1, 1, 2, 1})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "h\xC3\xA9llo \"quoted\"\n"}};
  save_safetensors(path, tensors, metadata);

  const ghm::io::SafetensorsData loaded = load_safetensors(path);
  CHECK(loaded.path == path);
  CHECK(loaded.metadata == metadata);
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, want] = tensors[i];
    const auto& [got_name, got] = loaded.tensors[i];
    INFO("tensor ", tensors[i].first);
    CHECK(got_name == name);  // the order they were given in
    CHECK(got.dtype() == want.dtype());
    CHECK(got.shape() == want.shape());
    CHECK(got.device().is_cpu());
    CHECK(tensor_bytes(got) == tensor_bytes(want));  // bit-exact, floats included: a file is bytes
  }
  CHECK(loaded.at("ids").to_vector<std::int64_t>()[0] == (std::int64_t{1} << 53) + 1);
  CHECK(loaded.at("scale").dim() == 0);
  CHECK(loaded.at("no_boxes").numel() == 0);
  CHECK(loaded.contains("mask"));
  CHECK_FALSE(loaded.contains("missing"));
  CHECK_THROWS_WITH_AS(loaded.at("missing"),
                       message_has("safetensors file '" + path + "' has no tensor named 'missing' (it has 8: " +
                                         "conv.weight, counts, ids, mask, scale, no_boxes, no_labels, deep)"),
                       ghm::Error);
}

TEST_CASE("safetensors: exact bytes of a small file") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("tiny.safetensors");
  save_safetensors(path, {{"x", Tensor::from_vector<float>({1.0f}, Shape{})},
                          {"y", Tensor::from_vector<std::uint8_t>({7, 8}, Shape{2})}},
                   {{"k", "v"}});
  // Header: 26 + 52 + 52 = 130 bytes of JSON, then 6 spaces to reach 136 = 0x88, a multiple of 8.
  const std::string header = std::string(R"({"__metadata__":{"k":"v"},)") +
                             R"("x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)" +
                             R"("y":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})" + "      ";
  const std::string length("\x88\0\0\0\0\0\0\0", 8);
  const std::string data("\x00\x00\x80\x3F\x07\x08", 6);  // 1.0f little-endian, then 7, 8
  CHECK(read_file(path) == length + header + data);
}

TEST_CASE("safetensors: a file with no tensors") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("empty.safetensors");
  save_safetensors(path, {});
  CHECK(read_file(path) == u64_le(8) + "{}      ");
  const ghm::io::SafetensorsData loaded = load_safetensors(path);
  CHECK(loaded.tensors.empty());
  CHECK(loaded.metadata.empty());
}

TEST_CASE("safetensors: loads other writers' layouts: header order differs from data order, no padding") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("other.safetensors");
  write_bytes(path, file_bytes(R"({"b":{"dtype":"I32","shape":[1],"data_offsets":[2,6]},)"
                               R"("a":{"data_offsets":[0,2],"shape":[2],"dtype":"U8"}} )",
                               std::string("\x05\x06\x2A\x00\x00\x00", 6)));
  const ghm::io::SafetensorsData loaded = load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 2);
  CHECK(loaded.tensors[0].first == "b");
  CHECK(loaded.at("b").to_vector<std::int32_t>() == std::vector<std::int32_t>{42});
  CHECK(loaded.at("a").to_vector<std::uint8_t>() == std::vector<std::uint8_t>{5, 6});
}

TEST_CASE("safetensors: malformed files are rejected with the file and the reason") {
  SUBCASE("missing file") {
    ScratchDir dir("safetensors");
    const std::string path = dir.file("absent.safetensors");
    const std::string message = load_error(path);
    CHECK(message.find("cannot open safetensors file '" + path + "': No such file or directory") != std::string::npos);
  }
  SUBCASE("a directory") {
    ScratchDir dir("safetensors");
    const std::string message = load_error(dir.file(""));
    CHECK(message.find("is not a regular file") != std::string::npos);
  }
  SUBCASE("one file per kind of damage to the file or its header") {
    for (const Malformed& file : malformed_files()) {
      CAPTURE(file.damage);
      check_rejected(file.bytes, file.reason);
    }
  }
  SUBCASE("one file per kind of damage to a tensor's entry") {
    for (const MalformedEntry& e : malformed_entries()) {
      CAPTURE(e.damage);
      check_rejected(file_bytes(R"({"t":)" + std::string(e.entry) + "}", std::string(e.data_bytes, '\x01')), e.reason);
    }
  }
}

TEST_CASE("safetensors: a successful save replaces the old file and leaves no temp file") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector<float>({1.f, 2.f}, Shape{2})}});
  save_safetensors(path, {{"b", Tensor::from_vector<std::int32_t>({3}, Shape{1})}});
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
  const ghm::io::SafetensorsData loaded = load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 1);
  CHECK(loaded.at("b").to_vector<std::int32_t>() == std::vector<std::int32_t>{3});
}

TEST_CASE("safetensors: invalid input throws before the existing file is touched") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector<float>({1.f}, Shape{1})}});
  const std::string good = read_file(path);
  const Tensor ok = Tensor::from_vector<float>({2.f}, Shape{1});

  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"ok", ok}, {"w", Tensor()}}),
                       message_has("cannot write safetensors file '" + path + "': tensor 'w' is undefined"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"w", ok}, {"w", ok}}),
                       doctest::Contains("tensor 'w' appears twice"), ghm::Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"__metadata__", ok}}),
                       doctest::Contains("the name __metadata__ is reserved for metadata"), ghm::Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"bad\xFF", ok}}),
                       message_has("cannot write safetensors file '" + path + "': cannot write JSON"), ghm::Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"ok", ok}}, {{"k", "\xC3"}}),
                       doctest::Contains("has invalid UTF-8 byte 0xC3"), ghm::Error);

  CHECK(read_file(path) == good);
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("safetensors: a save that fails late removes its temp file and keeps the old file") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector<float>({1.f}, Shape{1})}});
  const std::string old = read_file(path);
  // The header and the first bytes go out, then the file-size limit stops the tensor data.
  std::string message;
  try {
    const ghm::testing::FileSizeLimit limit(4096);
    save_safetensors(path, {{"big", Tensor::zeros(Shape{10000})}});
  } catch (const ghm::Error& e) {
    message = e.what();
  }
  CHECK(message.find("cannot write '" + path + ".tmp.") != std::string::npos);
  CHECK(message.find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_file(path) == old);
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("safetensors: a save onto a directory is refused, and nothing is written") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("taken");
  fs::create_directories(fs::path(path) / "child");
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"a", Tensor::from_vector<float>({1.f}, Shape{1})}}),
                       message_has("cannot write '" + path + "': it is a directory"), ghm::Error);
  CHECK(dir.entries() == std::vector<std::string>{"taken"});
}

TEST_CASE("safetensors: saving into a missing directory names the path") {
  ScratchDir dir("safetensors");
  const std::string path = dir.file("no/such/dir/x.safetensors");
  CHECK_THROWS_WITH_AS(save_safetensors(path, {}),
                       message_has("cannot write '" + path + "': its folder '" + dir.file("no/such/dir") +
                                   "' is not writable: No such file or directory"),
                       ghm::Error);
  CHECK(dir.entries().empty());
}
