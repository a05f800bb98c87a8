// Fuzz target: image decoding (io::decode_image, io/image.h), the container checks of the
// project and stb_image's decoders behind them. Property of an accepted image: a positive size
// and a pixel buffer of exactly height * width * 3 bytes.
#include <span>

#include "fuzz/targets.h"
#include "io/image.h"

namespace ghm::fuzz {

int fuzz_image(const std::uint8_t* data, std::size_t size) {
  return reject_quietly([&] {
    const io::Image image = io::decode_image(std::span<const std::uint8_t>(data, size), "fuzz input");
    GHM_FUZZ_REQUIRE(image.height > 0 && image.width > 0, "an accepted image has no pixels");
    GHM_FUZZ_REQUIRE(image.data.size() == static_cast<std::size_t>(image.height) * image.width * 3,
                     "the pixel buffer disagrees with the image size");
  });
}

}  // namespace ghm::fuzz
