// Input limits (io/input_file.h): a regular file is measured before it is read, a stream (FIFO,
// /dev/zero) is read only up to the limit, a folder is refused; every reader of whole files (JSON,
// YAML configs, COCO files, images) goes through the limits, and an image's header is checked
// against the pixel limit before it is decoded. Errors name the file, the size, the limit and the
// variable that raises it.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "core/check.h"
#include "io/image.h"
#include "io/input_file.h"
#include "io/json_scan.h"
#include "io/yaml.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
using namespace ghm;
using io::InputLimits;

namespace {

// Sets limits for one test and puts the previous ones back.
struct LimitsForTest {
  InputLimits saved = io::input_limits();
  explicit LimitsForTest(const InputLimits& l) { io::set_input_limits(l); }
  ~LimitsForTest() { io::set_input_limits(saved); }
};

InputLimits small_limits() {
  InputLimits l;
  l.json_bytes = 100;
  l.config_bytes = 50;
  l.image_bytes = 4000;
  l.image_pixels = 1000;
  return l;
}

}  // namespace

TEST_CASE("input limits: defaults, and counts with K, M, G, T suffixes, anything else names the variable") {
  const InputLimits defaults;
  CHECK(defaults.json_bytes == (std::uint64_t{2} << 30));
  CHECK(defaults.image_pixels == 178956970u);
  CHECK(io::parse_limit_value("123", "V") == 123);
  CHECK(io::parse_limit_value("4K", "V") == 4096);
  CHECK(io::parse_limit_value("3m", "V") == 3u << 20);
  CHECK(io::parse_limit_value("2G", "V") == std::uint64_t{2} << 30);
  CHECK(io::parse_limit_value("1T", "V") == std::uint64_t{1} << 40);
  for (const char* bad : {"", "0", "-5", "1.5G", "12Q", "G", " 12", "1234567890123456", "4294967297G"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(io::parse_limit_value(bad, "GHM_MAX_JSON_BYTES"), doctest::Contains("GHM_MAX_JSON_BYTES='"),
                         Error);
  }
}

TEST_CASE("input limits: a regular file over the limit is refused before it is read, one at the limit is read") {
  const testing::ScratchDir d("input_limit");
  const std::string at = d.write("at.json", std::string(100, ' '));
  const std::string over = d.write("over.json", std::string(101, ' '));
  const io::ByteLimit limit{100, "GHM_MAX_JSON_BYTES"};
  const io::FileBytes f = io::read_input_file(at, "COCO results file", limit, 8);
  CHECK(f.size == 100);
  CHECK(f.bytes[100] == 0);
  CHECK(f.bytes[107] == 0);
  CHECK_THROWS_WITH_AS(io::read_input_file(over, "COCO results file", limit),
                       doctest::Contains(("COCO results file '" + over +
                                          "' is 101 bytes, more than the limit of 100 bytes (GHM_MAX_JSON_BYTES raises it)")
                                             .c_str()),
                       Error);
  CHECK_THROWS_WITH_AS(io::read_input_file(d.path().string(), "COCO results file", limit),
                       doctest::Contains("it is a folder"), Error);
  CHECK_THROWS_WITH_AS(io::read_input_file(d.file("missing.json"), "COCO results file", limit),
                       doctest::Contains("cannot open COCO results file"), Error);
}

TEST_CASE("input limits: an endless stream (/dev/zero) is read only up to the limit") {
  REQUIRE(fs::exists("/dev/zero"));
  CHECK_THROWS_WITH_AS(io::read_input_file("/dev/zero", "config file", {200000, "GHM_MAX_CONFIG_BYTES"}),
                       doctest::Contains("config file '/dev/zero' is a stream of more than that, more than the limit "
                                         "of 200000 bytes (GHM_MAX_CONFIG_BYTES raises it)"),
                       Error);
  // Through the readers, with the process-wide limits.
  const LimitsForTest limits(small_limits());
  CHECK_THROWS_WITH_AS(io::load_yaml_file("/dev/zero"), doctest::Contains("GHM_MAX_CONFIG_BYTES"), Error);
  CHECK_THROWS_WITH_AS(io::read_padded_file("/dev/zero", "COCO annotation file"),
                       doctest::Contains("GHM_MAX_JSON_BYTES"), Error);
  CHECK_THROWS_WITH_AS(io::read_image("/dev/zero"), doctest::Contains("GHM_MAX_IMAGE_BYTES"), Error);
}

TEST_CASE("input limits: a FIFO within the limit is read whole") {
  const testing::ScratchDir d("input_fifo");
  const std::string fifo = d.file("config.yaml");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string text = "a: 1\nb: [2, 3]\n";
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    if (fd < 0) return;
    const ssize_t written = ::write(fd, text.data(), text.size());
    (void)written;
    ::close(fd);
  });
  std::size_t items = 0;
  try {
    items = io::load_yaml_file(fifo).at("b").size();
  } catch (const std::exception& e) {
    // Release a writer still waiting for a reader, so the thread can be joined.
    const int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    writer.join();
    FAIL(e.what());
  }
  writer.join();
  CHECK(items == 2);
}

TEST_CASE("input limits: the readers use the process-wide limits") {
  const testing::ScratchDir d("input_readers");
  const std::string json = d.write("big.json", "[" + std::string(200, ' ') + "]");
  const std::string yaml = d.write("big.yaml", "a: 1\n" + std::string(60, '#') + "\n");
  const LimitsForTest limits(small_limits());
  CHECK_THROWS_WITH_AS(io::read_padded_file(json, "COCO annotation file"),
                       doctest::Contains("is 202 bytes, more than the limit of 100 bytes (GHM_MAX_JSON_BYTES"), Error);
  CHECK_THROWS_WITH_AS(io::load_yaml_file(yaml),
                       doctest::Contains(("config file '" + yaml + "' is 66 bytes, more than the limit of 50").c_str()), Error);
}

TEST_CASE("input limits: an image is checked against the pixel limit from its header, before decoding") {
  const testing::ScratchDir d("input_pixels");
  const io::Image small(20, 40);  // 800 pixels
  const io::Image large(40, 40);  // 1600 pixels
  io::write_png(d.file("small.png"), small);
  io::write_png(d.file("large.png"), large);
  io::write_jpeg(d.file("large.jpg"), large);
  const LimitsForTest limits(small_limits());
  CHECK(io::read_image(d.file("small.png")).width == 40);
  for (const char* name : {"large.png", "large.jpg"}) {
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(io::read_image(d.file(name)),
                         doctest::Contains("40x40 is 1600 pixels, more than the limit of 1000 (GHM_MAX_IMAGE_PIXELS"),
                         Error);
  }
  // A file over the byte limit is refused before it is decoded.
  InputLimits tiny = small_limits();
  tiny.image_bytes = 10;
  io::set_input_limits(tiny);
  CHECK_THROWS_WITH_AS(io::read_image(d.file("small.png")), doctest::Contains("GHM_MAX_IMAGE_BYTES"), Error);
}
