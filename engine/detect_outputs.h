// Where `detect` writes each image's outputs. The inputs (image files, and folders whose .jpg,
// .jpeg, .png and .bmp files are taken, not recursively) keep their folder structure under the
// output folder, relative to the deepest folder that holds them all:
//
//   detect --out det  a/x.jpg            ->  det/x.{json,jpg}
//   detect --out det  imgs/              ->  det/<each file's stem>.{json,jpg}
//   detect --out det  a/x.jpg b/x.jpg    ->  det/a/x.{json,jpg}, det/b/x.{json,jpg}
//
// Two inputs of one folder with the same stem (x.jpg and x.png) keep their extension in the
// output name (det/x.jpg.{json,jpg}, det/x.png.{json,jpg}). A file given twice (also through a
// link or a folder) is done once. An output folder that holds an input is refused, so outputs
// never overwrite or mix with the images they came from.
#pragma once

#include <string>
#include <vector>

namespace ghm::engine {

struct DetectOutput {
  std::string input;  // the image file, as given (or as found in a given folder)
  std::string stem;   // the output path without extension: stem + ".json" and stem + ".jpg"
};

// The input files in order (a folder's files sorted by name), each with its output stem under
// out_dir. Throws ghm::Error naming the path for a missing input, a folder without images, an
// out_dir that holds an input, or two inputs that would still share an output.
std::vector<DetectOutput> plan_detect_outputs(const std::vector<std::string>& inputs, const std::string& out_dir);

}  // namespace ghm::engine
