// The synthetic shapes detection dataset (shapes.h) written in COCO format, as
// `ghm_retinanet make-shapes` does:
//
//   DIR/train/000001.jpg ...  DIR/val/000001.jpg ...   JPEG, quality 90
//   DIR/train.json, DIR/val.json                        COCO instances files
//
// Image ids run from 1 in each split and file_name is relative to DIR ("train/000001.jpg").
// Annotations: bbox [x, y, w, h] is the tight box of the object's visible pixels, area their count,
// iscrowd 0, ids from 1 in each file; categories are the shape classes with ids 1..K and
// supercategory "shape". Images are generated in parallel (OpenMP), each from its own seed, so the
// files are the same for any thread count.
#pragma once

#include <cstdint>
#include <string>

#include "io/shapes.h"

namespace ghm::io {

struct ShapesDatasetOptions {
  std::string out;              // DIR, created if missing
  int train = 2000, val = 200;  // images per split
  std::uint64_t seed = 0;       // the same seed writes the same files
  ShapesOptions shapes;         // what each image holds
};

// Writes both splits and prints one summary line: images, objects per class and per COCO area
// range, images without objects, and the time taken.
void write_shapes_dataset(const ShapesDatasetOptions& options);

}  // namespace ghm::io
