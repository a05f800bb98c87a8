// Writing a whole file so that a reader (or a crash) sees either the old file or the complete new
// one: the bytes go to "<path>.tmp.<pid>" in the same folder, which is flushed, fsync'ed and
// renamed over `path`. Errors name the path and the system's reason.
#pragma once
#include <string>
#include <string_view>

namespace ghm::io {

void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace ghm::io
