// Fuzz target: the JSON reader (io/json.h). Any bytes as text; Json::parse accepts a document or
// throws ghm::Error. Property of an accepted document: dump() writes JSON that parses again to a
// document with the same dump (the writer and the reader agree, numbers round-trip).
#include <string>
#include <string_view>

#include "fuzz/targets.h"
#include "io/json.h"

namespace ghm::fuzz {

int fuzz_json(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  return reject_quietly([&] {
    const io::Json document = io::Json::parse(text, "fuzz input");
    const std::string dumped = document.dump();
    io::Json again;
    try {
      again = io::Json::parse(dumped, "dump of the fuzz input");
    } catch (const ghm::Error& e) {
      fuzz_failure(std::string("dump() wrote JSON that parse() rejects: ") + e.what(), __FILE__, __LINE__);
    }
    GHM_FUZZ_REQUIRE(again.dump() == dumped, "dump(parse(dump(x))) differs from dump(x)");
  });
}

}  // namespace ghm::fuzz
