// The synthetic classification set of `ghm_retinanet pretrain`, our stand-in for ImageNet: one
// object per image, classified by its shape and how it is painted.
//
//   ClassificationImage s = generate_classification_image(64, seed, ClassificationSplit::Train, index);
//
// Classes: the 7 shapes of the detection data (io/shapes.h) x 4 paint families = 28, label
// shape * 4 + family, named "<shape>/<family>":
//   flat      one colour, mildly shaded;
//   striped   stripes of a second colour, 3 px to a third of the object wide, any direction;
//   outlined  a band of a contrasting colour inside the edge, 8-14% of the object's size;
//   gradient  a smooth blend from one colour to another across the object.
// An image (image_size x image_size) has the detection data's background and 1 to 3 of its
// distractors (crescents, arcs, bars, blobs, strokes, text, noise patches), then the object: a
// random rotation, its longest side log-uniform in [0.3, 0.9] x image_size, placed with its box
// inside the image, its colour contrasting with what lies under it; then pixel noise.
//
// An image is a pure function of (image_size, seed, split, index), on random streams of their own:
// no image of this set is an image of the detection splits, and the same arguments give the same
// pixels on any number of threads.
#pragma once

#include <cstdint>
#include <string>

#include "io/image.h"

namespace ghm::io {

enum class ClassificationSplit { Train, Val };

constexpr int kPaintFamilies = 4;
int classification_class_count();                 // 28
std::string classification_class_name(int label);  // "circle/flat", ..., "cross/gradient"

struct ClassificationImage {
  Image image;    // [image_size, image_size] RGB
  int label = 0;  // 0..classification_class_count() - 1
};

// image_size: 32..1024 (an error naming the value otherwise). Image `index` has label index mod 28,
// so any 28 consecutive indices hold every class once.
ClassificationImage generate_classification_image(int image_size, std::uint64_t seed, ClassificationSplit split,
                                                  std::int64_t index);

}  // namespace ghm::io
