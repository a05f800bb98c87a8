// 8-bit RGB images: decoding (JPEG, PNG and BMP; the other formats stb_image reads are refused,
// their decoders in Debian's stb 2.27 being unsafe on crafted files) and encoding
// (JPEG, PNG). Grayscale, gray+alpha and RGBA inputs become RGB (alpha is dropped, not blended).
//
// Layout: data[(y * width + x) * 3 + c], rows top to bottom, c = R, G, B.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ghm::io {

struct Image {
  int height = 0;
  int width = 0;
  std::vector<std::uint8_t> data;  // [H, W, 3]

  Image() = default;
  Image(int h, int w) : height(h), width(w), data(static_cast<std::size_t>(h) * w * 3, 0) {}
  bool empty() const { return height == 0 || width == 0; }
  std::uint8_t* pixel(int y, int x) { return data.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
  const std::uint8_t* pixel(int y, int x) const {
    return data.data() + (static_cast<std::size_t>(y) * width + x) * 3;
  }
};

// Decodes a file; a missing, unreadable, truncated or corrupt file, one over GHM_MAX_IMAGE_BYTES or
// an image over GHM_MAX_IMAGE_PIXELS (io/input_file.h) throws std::runtime_error whose message
// names the path and the reason.
Image read_image(const std::string& path);
// Decodes bytes already in memory; `name` is used in error messages.
Image decode_image(std::span<const std::uint8_t> bytes, const std::string& name);

// Encoders write to a temporary file in the same folder and rename it, so a reader never sees a
// half-written image. quality: 1..100.
void write_jpeg(const std::string& path, const Image& image, int quality = 90);
void write_png(const std::string& path, const Image& image);

}  // namespace ghm::io
