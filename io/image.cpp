// Image decoding and encoding over stb_image / stb_image_write (contract in image.h).
//
// Decoding: read the whole file (at most GHM_MAX_IMAGE_BYTES), check the container is complete and
// the header's width x height is within GHM_MAX_IMAGE_PIXELS, then let stb decode it with
// three channels forced (gray, gray+alpha and RGBA become RGB). stb alone is too lenient about
// truncation (a BMP that ends early decodes with the missing rows black, a PNG cut inside its final
// chunk decodes) and its reasons for other cuts are cryptic. So before decoding we check:
//   JPEG  the last two bytes (after any trailing zero padding) are the end-of-image marker FF D9;
//         a progressive JPEG cut anywhere loses it.
//   PNG   the chunk list, walked by the lengths in the chunk headers, reaches an IEND chunk.
//   BMP   the file is at least as long as the size its header declares (when it declares one).
// The format is named from the file's first bytes, so errors say "truncated PNG" rather than the
// reason from whichever of stb's decoders happened to be tried last.
//
// Encoding: stb encodes into memory; the bytes go to "<path>.tmp.<pid>" in the same folder, which
// is then renamed over `path`, so a reader sees the old file or the whole new one.
#include "io/image.h"

#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/check.h"
#include "io/input_file.h"
#include "io/output_file.h"

namespace ghm::io {
namespace {

enum class Format { Jpeg, Png, Bmp, Other };

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr std::size_t kPngChunkOverhead = 12;  // length (4), type (4), CRC (4)

bool starts_with(std::span<const std::uint8_t> bytes, std::span<const std::uint8_t> prefix) {
  return bytes.size() >= prefix.size() && std::memcmp(bytes.data(), prefix.data(), prefix.size()) == 0;
}

// The offset just past a JPEG's start-of-image marker, 0 if the bytes do not start with one. stb
// takes fill bytes (0xFF) before the marker as part of it, so they count here too.
std::size_t jpeg_start(std::span<const std::uint8_t> bytes) {
  std::size_t fill = 0;
  while (fill < bytes.size() && bytes[fill] == 0xFF) ++fill;
  return fill >= 1 && fill < bytes.size() && bytes[fill] == 0xD8 ? fill + 1 : 0;
}

Format sniff_format(std::span<const std::uint8_t> bytes) {
  constexpr std::uint8_t kBmpStart[2] = {'B', 'M'};
  if (jpeg_start(bytes) > 0) return Format::Jpeg;
  if (starts_with(bytes, kPngSignature)) return Format::Png;
  if (starts_with(bytes, kBmpStart)) return Format::Bmp;
  return Format::Other;
}

std::uint32_t read_u32_be(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::uint32_t read_u32_le(const std::uint8_t* p) {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

void check_jpeg_complete(std::span<const std::uint8_t> bytes, const std::string& name) {
  std::size_t end = bytes.size();
  while (end > 0 && bytes[end - 1] == 0) --end;  // some writers pad files with zeros
  GHM_CHECK(end >= 2 && bytes[end - 2] == 0xFF && bytes[end - 1] == 0xD9, "cannot decode image '", name,
            "': truncated JPEG (no end-of-image marker FF D9 at the end of its ", bytes.size(), " bytes)");
}

// stb_image 2.27 (Debian 12's libstb) trusts the 16 code counts of a DHT (Huffman table) segment:
// counts adding up to more than 256 overrun its 256-entry tables, a write past the table inside
// the decoder's state. No valid table has more than 256 codes, so such a file is refused here.
// Segments are walked by their lengths as stb walks them; bytes between segments (entropy-coded
// data, fill) are skipped up to the next marker, since DHT segments may follow a scan.
void check_jpeg_huffman_tables(std::span<const std::uint8_t> bytes, const std::string& name) {
  const auto byte_at = [&](std::size_t i) -> std::size_t { return i < bytes.size() ? bytes[i] : 0; };
  std::size_t at = jpeg_start(bytes);  // after the start-of-image marker
  while (at + 1 < bytes.size()) {
    const std::size_t marker = bytes[at + 1];
    if (bytes[at] != 0xFF || marker == 0x00 || marker == 0xFF || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      ++at;  // not a marker with a segment: data, stuffing, fill, TEM, RSTn, SOI
      continue;
    }
    if (marker == 0xD9) return;  // end of image
    const std::size_t segment_end = at + 2 + (byte_at(at + 2) << 8 | byte_at(at + 3));
    for (std::size_t table = at + 4; marker == 0xC4 && table < segment_end && table < bytes.size();) {
      std::size_t codes = 0;
      for (std::size_t i = 1; i <= 16; ++i) codes += byte_at(table + i);
      GHM_CHECK(codes <= 256, "cannot decode image '", name, "': corrupt JPEG (the Huffman table at byte ", table,
                " declares ", codes, " codes; a table has at most 256)");
      table += 17 + codes;
    }
    at = std::max(segment_end, at + 2);
  }
}

void check_png_complete(std::span<const std::uint8_t> bytes, const std::string& name) {
  std::size_t offset = sizeof(kPngSignature);
  while (offset + 8 <= bytes.size()) {
    const std::uint64_t length = read_u32_be(&bytes[offset]);
    const std::string type(reinterpret_cast<const char*>(&bytes[offset + 4]), 4);
    GHM_CHECK(offset + kPngChunkOverhead + length <= bytes.size(), "cannot decode image '", name,
              "': truncated PNG (chunk '", type, "' at byte ", offset, " needs ", kPngChunkOverhead + length,
              " bytes; the file ends after ", bytes.size() - offset, ")");
    if (type == "IEND") return;
    offset += kPngChunkOverhead + length;
  }
  GHM_FAIL("cannot decode image '", name, "': truncated PNG (it ends after ", bytes.size(),
           " bytes without an IEND chunk)");
}

void check_bmp_complete(std::span<const std::uint8_t> bytes, const std::string& name) {
  constexpr std::size_t kFileSizeOffset = 2;
  if (bytes.size() < kFileSizeOffset + 4) return;  // stb reports a header this short itself
  const std::uint32_t declared = read_u32_le(&bytes[kFileSizeOffset]);
  GHM_CHECK(declared <= bytes.size(), "cannot decode image '", name, "': truncated BMP (its header declares ",
            declared, " bytes, the file has ", bytes.size(), ")");
}

void check_complete(std::span<const std::uint8_t> bytes, const std::string& name) {
  switch (sniff_format(bytes)) {
    case Format::Jpeg:
      check_jpeg_complete(bytes, name);
      check_jpeg_huffman_tables(bytes, name);
      break;
    case Format::Png: check_png_complete(bytes, name); break;
    case Format::Bmp: check_bmp_complete(bytes, name); break;
    case Format::Other:
      // stb reads more (PNM, TGA, GIF, PSD, PIC, HDR), but its 2.27 decoders of those overflow on
      // crafted headers (fuzz/regressions/image/); datasets are JPEG and PNG.
      GHM_FAIL("cannot decode image '", name, "': not a JPEG, PNG or BMP file (the formats this program reads)");
  }
}

std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason != nullptr && *reason != '\0' ? reason : "corrupt data";
}

void check_encodable(const std::string& path, const Image& image) {
  GHM_CHECK(image.height > 0 && image.width > 0 &&
                image.data.size() == static_cast<std::size_t>(image.height) * image.width * 3,
            "cannot write image '", path, "': a ", image.height, "x", image.width, " image with ", image.data.size(),
            " bytes of data (a non-empty RGB image has height * width * 3)");
}

// stbi_write_*_to_func callback: appends the encoded bytes to a std::vector<std::uint8_t>.
void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

}  // namespace

Image decode_image(std::span<const std::uint8_t> bytes, const std::string& name) {
  GHM_CHECK(!bytes.empty(), "cannot decode image '", name, "': the file is empty");
  GHM_CHECK(bytes.size() <= static_cast<std::size_t>(INT_MAX), "cannot decode image '", name, "': ", bytes.size(),
            " bytes is more than the decoder accepts");
  check_complete(bytes, name);
  int width = 0, height = 0, channels_in_file = 0;
  // The size from the header first: a small file can declare a huge image (a decompression bomb).
  GHM_CHECK(stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &channels_in_file) != 0,
            "cannot decode image '", name, "': ", stb_reason());
  const std::uint64_t count = static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
  const std::uint64_t most = input_limits().image_pixels;
  GHM_CHECK(count <= most, "cannot decode image '", name, "': ", width, "x", height, " is ", count,
            " pixels, more than the limit of ", most, " (GHM_MAX_IMAGE_PIXELS raises it)");
  const std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &channels_in_file, 3),
      stbi_image_free);
  GHM_CHECK(pixels != nullptr, "cannot decode image '", name, "': ", stb_reason());
  // stb's PNM reader accepts a header without a size ("P6") as a 0x0 image.
  GHM_CHECK(width > 0 && height > 0, "cannot decode image '", name, "': a ", width, "x", height,
            " image has no pixels");
  Image image(height, width);
  std::memcpy(image.data.data(), pixels.get(), image.data.size());
  return image;
}

Image read_image(const std::string& path) {
  const FileBytes file = read_input_file(path, "image", image_limit());
  return decode_image({reinterpret_cast<const std::uint8_t*>(file.bytes.get()), file.size}, path);
}

void write_jpeg(const std::string& path, const Image& image, int quality) {
  check_encodable(path, image);
  GHM_CHECK(quality >= 1 && quality <= 100, "cannot write image '", path, "': JPEG quality ", quality,
            " is outside 1..100");
  std::vector<std::uint8_t> bytes;
  GHM_CHECK(stbi_write_jpg_to_func(append_bytes, &bytes, image.width, image.height, 3, image.data.data(), quality) != 0,
            "cannot encode image '", path, "' as JPEG");
  write_output(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void write_png(const std::string& path, const Image& image) {
  check_encodable(path, image);
  std::vector<std::uint8_t> bytes;
  GHM_CHECK(stbi_write_png_to_func(append_bytes, &bytes, image.width, image.height, 3, image.data.data(),
                                   image.width * 3) != 0,
            "cannot encode image '", path, "' as PNG");
  write_output(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace ghm::io
