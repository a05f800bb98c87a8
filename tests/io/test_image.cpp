// Tests for io/image: decoding of files that stb_image_write produces here (JPEG, PNG, BMP; gray,
// gray+alpha and RGBA inputs become RGB), our own encoders round-tripped, and the errors for
// missing, empty, corrupt and truncated files, each of which must name the file.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/check.h"
#include "io/image.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
using ghm::testing::ScratchDir;
using ghm::io::Image;
using ghm::io::read_image;
using ghm::io::write_jpeg;
using ghm::io::write_png;

namespace {

constexpr int kHeight = 17, kWidth = 23;  // odd sizes: no row padding or block size lines up

// A smooth RGB test image (smooth so that JPEG keeps it close).
Image gradient_image() {
  Image image(kHeight, kWidth);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x) {
      std::uint8_t* p = image.pixel(y, x);
      p[0] = static_cast<std::uint8_t>(10 + 10 * x), p[1] = static_cast<std::uint8_t>(20 + 12 * y),
      p[2] = static_cast<std::uint8_t>(200 - 4 * x - 3 * y);
    }
  return image;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// Mean and largest absolute difference between two images of the same size.
struct Difference {
  double mean = 0;
  int max = 0;
};

Difference difference(const Image& a, const Image& b) {
  REQUIRE(a.height == b.height);
  REQUIRE(a.width == b.width);
  Difference d;
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    const int e = std::abs(static_cast<int>(a.data[i]) - static_cast<int>(b.data[i]));
    d.mean += e;
    d.max = std::max(d.max, e);
  }
  d.mean /= static_cast<double>(a.data.size());
  return d;
}

// The message of the error that reading `path` throws ("" if it reads).
std::string read_error(const std::string& path) {
  try {
    read_image(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

void check_rejected(const std::string& path, const std::string& reason) {
  const std::string message = read_error(path);
  INFO("error message: ", message);
  CHECK(message.find("'" + path + "'") != std::string::npos);
  CHECK(message.find(reason) != std::string::npos);
}

// JPEG quality 95 of a smooth image: chroma subsampling and quantisation move values by a few
// levels on average; the largest error sits at the image corners.
constexpr double kJpegMeanError = 4.0;
constexpr int kJpegMaxError = 40;

}  // namespace

TEST_CASE("image: decodes JPEG, PNG and BMP files written by stb") {
  ScratchDir dir("image");
  const Image original = gradient_image();
  const std::string png = dir.file("a.png"), bmp = dir.file("a.bmp"), jpg = dir.file("a.jpg");
  REQUIRE(stbi_write_png(png.c_str(), kWidth, kHeight, 3, original.data.data(), kWidth * 3) != 0);
  REQUIRE(stbi_write_bmp(bmp.c_str(), kWidth, kHeight, 3, original.data.data()) != 0);
  REQUIRE(stbi_write_jpg(jpg.c_str(), kWidth, kHeight, 3, original.data.data(), 95) != 0);

  CHECK(read_image(png).data == original.data);
  CHECK(read_image(bmp).data == original.data);
  const Image decoded = read_image(jpg);
  CHECK(decoded.height == kHeight);
  CHECK(decoded.width == kWidth);
  const Difference d = difference(decoded, original);
  CHECK(d.mean < kJpegMeanError);
  CHECK(d.max < kJpegMaxError);
}

TEST_CASE("image: gray, gray+alpha and RGBA PNGs become RGB, alpha dropped") {
  ScratchDir dir("image");
  const std::vector<std::uint8_t> gray = {0, 17, 128, 255, 3, 200};  // 3 x 2
  const std::vector<std::uint8_t> gray_alpha = {0, 255, 17, 0, 128, 9, 255, 255, 3, 1, 200, 77};
  const std::vector<std::uint8_t> rgba = {1, 2, 3, 0, 40, 50, 60, 255, 250, 251, 252, 128,
                                          9, 8, 7, 6, 100, 0, 200, 1, 33, 66, 99, 200};
  const std::string g = dir.file("g.png"), ga = dir.file("ga.png"), c = dir.file("rgba.png");
  REQUIRE(stbi_write_png(g.c_str(), 3, 2, 1, gray.data(), 3) != 0);
  REQUIRE(stbi_write_png(ga.c_str(), 3, 2, 2, gray_alpha.data(), 6) != 0);
  REQUIRE(stbi_write_png(c.c_str(), 3, 2, 4, rgba.data(), 12) != 0);

  for (const std::string& path : {g, ga}) {
    CAPTURE(path);
    const Image image = read_image(path);
    REQUIRE(image.height == 2);
    REQUIRE(image.width == 3);
    for (std::size_t i = 0; i < gray.size(); ++i)
      for (int k = 0; k < 3; ++k) CHECK(image.data[i * 3 + k] == gray[i]);
  }
  const Image image = read_image(c);
  REQUIRE(image.data.size() == 18);
  for (std::size_t i = 0; i < 6; ++i)
    for (int k = 0; k < 3; ++k) CHECK(image.data[i * 3 + k] == rgba[i * 4 + k]);
}

TEST_CASE("image: write_png round trips exactly, write_jpeg closely, and leave no temporary file") {
  ScratchDir dir("image");
  const Image original = gradient_image();
  write_png(dir.file("out.png"), original);
  CHECK(read_image(dir.file("out.png")).data == original.data);
  write_jpeg(dir.file("out.jpg"), original, 95);
  const Difference d = difference(read_image(dir.file("out.jpg")), original);
  CHECK(d.mean < kJpegMeanError);
  CHECK(d.max < kJpegMaxError);

  write_png(dir.file("out.png"), Image(2, 5));  // replaces the existing file
  CHECK(read_image(dir.file("out.png")).width == 5);
  std::vector<std::string> names = dir.entries();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"out.jpg", "out.png"});
}

TEST_CASE("image: decode_image reads bytes in memory and names them in errors") {
  ScratchDir dir("image");
  const std::string png = dir.file("a.png");
  write_png(png, gradient_image());
  const std::string bytes = read_bytes(png);
  const std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  CHECK(ghm::io::decode_image(data, "in memory").data == gradient_image().data);
  const std::vector<std::uint8_t> garbage = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  CHECK_THROWS_WITH_AS(ghm::io::decode_image(garbage, "blob #3"), doctest::Contains("cannot decode image 'blob #3'"),
                       ghm::Error);
}

TEST_CASE("image: missing, empty, corrupt and truncated files are errors naming the file") {
  ScratchDir dir("image");
  check_rejected(dir.file("missing.jpg"), "cannot open image");
  write_bytes(dir.file("empty.png"), "");
  check_rejected(dir.file("empty.png"), "empty");
  write_bytes(dir.file("text.jpg"), "this is not an image at all");
  check_rejected(dir.file("text.jpg"), "not a JPEG, PNG or BMP file");
  // Formats stb reads but this program refuses (Debian's stb 2.27 decoders are unsafe on them).
  write_bytes(dir.file("a.ppm"), std::string("P6\n1 1\n255\n") + std::string(3, '\x7f'));
  check_rejected(dir.file("a.ppm"), "not a JPEG, PNG or BMP file");

  write_jpeg(dir.file("a.jpg"), gradient_image(), 90);
  write_png(dir.file("a.png"), gradient_image());
  REQUIRE(stbi_write_bmp(dir.file("a.bmp").c_str(), kWidth, kHeight, 3, gradient_image().data.data()) != 0);
  const std::string jpg = read_bytes(dir.file("a.jpg")), png = read_bytes(dir.file("a.png")),
                    bmp = read_bytes(dir.file("a.bmp"));
  // Cut just before the end marker, and in the middle of the data.
  for (const std::size_t keep : {jpg.size() - 2, jpg.size() / 2}) {
    write_bytes(dir.file("cut.jpg"), jpg.substr(0, keep));
    check_rejected(dir.file("cut.jpg"), "truncated JPEG");
  }
  // Trailing zero padding after the end marker is accepted.
  write_bytes(dir.file("padded.jpg"), jpg + std::string(5, '\0'));
  CHECK(read_image(dir.file("padded.jpg")).width == kWidth);
  // Cut inside the final IEND chunk (stb alone decodes that), without it, and inside the image data.
  for (const std::size_t keep : {png.size() - 4, png.size() - 12, png.size() - 30}) {
    write_bytes(dir.file("cut.png"), png.substr(0, keep));
    check_rejected(dir.file("cut.png"), "truncated PNG");
  }
  write_bytes(dir.file("cut.bmp"), bmp.substr(0, bmp.size() - 40));  // stb alone decodes this too
  check_rejected(dir.file("cut.bmp"), "truncated BMP");
}

TEST_CASE("image: the encoders reject bad images and arguments, naming the file") {
  ScratchDir dir("image");
  CHECK_THROWS_WITH_AS(write_png(dir.file("e.png"), Image()), doctest::Contains("e.png"), ghm::Error);
  Image wrong(4, 4);
  wrong.data.resize(5);
  CHECK_THROWS_WITH_AS(write_jpeg(dir.file("w.jpg"), wrong), doctest::Contains("5 bytes of data"), ghm::Error);
  CHECK_THROWS_WITH_AS(write_jpeg(dir.file("q.jpg"), gradient_image(), 0), doctest::Contains("quality 0"), ghm::Error);
  const std::string unwritable = dir.file("no/such/dir/x.png");
  CHECK_THROWS_WITH_AS(write_png(unwritable, gradient_image()), doctest::Contains(unwritable.c_str()), ghm::Error);
  CHECK(dir.entries().empty());
}
