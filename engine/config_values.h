// The checked readers of config values that the config sections share (engine/config.cpp,
// engine/config_faster_rcnn.cpp): each error names the key's location and the allowed range.
#pragma once

#include <initializer_list>
#include <string>

#include "io/json.h"

namespace ghm::engine::config_values {

// Upper bounds of the keys that size memory or work, far beyond any sensible value, so that a typo
// gets an error naming the key instead of an allocation failure deep inside: image sides (8192
// is more than 6x COCO's 1333), batch sizes, model widths and class counts.
constexpr int kMaxImageSide = 8192;
constexpr int kMaxBatch = 1024;
constexpr int kMaxWidth = 4096;
constexpr int kMaxClasses = 100000;

int int_in(const io::Json& v, int low, int high, const char* what);
int positive_int(const io::Json& v, const char* what);
int non_negative_int(const io::Json& v);
float number_in(const io::Json& v, double low, double high);
std::string one_of(const io::Json& v, std::initializer_list<const char*> choices);

}  // namespace ghm::engine::config_values
