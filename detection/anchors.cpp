// RetinaNet anchors and their valid flags; the construction is described in anchors.h.
#include "detection/anchors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/cpu/parallel.h"

namespace ghm::detection {
namespace {

constexpr std::int64_t kCellGrain = 4096;  // feature cells per thread chunk

void check_feature_size(FeatureSize size, const char* op) {
  GHM_CHECK(size.height >= 0 && size.width >= 0, op, ": feature size must be non-negative, got ", size.height, "x",
            size.width);
}

void check_flags(const Tensor& flags, std::int64_t rows, const char* op, const char* arg) {
  check_defined(flags, op, arg);
  check_dtype(flags, DType::U8, op, arg);
  GHM_CHECK(flags.device().is_cpu(), op, ": ", arg, " is on ", flags.device(), "; this op runs on the CPU");
  GHM_CHECK(flags.dim() == 1 && flags.size(0) == rows, op, ": ", arg, " must be [", rows, "], got ", flags.shape());
}

// anchors [H * W * A, 4] from base [A, 4]: row (y * W + x) * A + a = base[a] + (x s, y s, x s, y s).
void grid_anchors_cpu(const float* base,  // [A, 4]
                      std::int64_t a_count, FeatureSize size, int stride,
                      float* anchors) {  // [H * W * A, 4]
  const std::int64_t w = size.width;
  ghm::cpu::parallel_for(size.height * w, kCellGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t cell = begin; cell < end; ++cell) {
      // The reference shifts by an exact integer converted to float32.
      const float sx = static_cast<float>((cell % w) * stride);
      const float sy = static_cast<float>((cell / w) * stride);
      float* out = anchors + cell * a_count * 4;
      for (std::int64_t a = 0; a < a_count; ++a) {
        out[4 * a + 0] = base[4 * a + 0] + sx;
        out[4 * a + 1] = base[4 * a + 1] + sy;
        out[4 * a + 2] = base[4 * a + 2] + sx;
        out[4 * a + 3] = base[4 * a + 3] + sy;
      }
    }
  });
}

// flags [H * W * A]: 1 where y < valid_h and x < valid_w.
void valid_flags_cpu(FeatureSize size, std::int64_t valid_h, std::int64_t valid_w, std::int64_t a_count,
                     std::uint8_t* flags) {
  for (std::int64_t y = 0; y < size.height; ++y)
    for (std::int64_t x = 0; x < size.width; ++x)
      std::memset(flags + (y * size.width + x) * a_count, (y < valid_h && x < valid_w) ? 1 : 0,
                  static_cast<std::size_t>(a_count));
}

}  // namespace

std::vector<float> octave_scales(int octave_base_scale, int scales_per_octave) {
  GHM_CHECK(octave_base_scale > 0 && scales_per_octave > 0, "octave_scales: octave_base_scale (", octave_base_scale,
            ") and scales_per_octave (", scales_per_octave, ") must be positive");
  std::vector<float> scales;
  for (int j = 0; j < scales_per_octave; ++j)
    scales.push_back(static_cast<float>(std::pow(2.0, static_cast<double>(j) / scales_per_octave) * octave_base_scale));
  return scales;
}

Tensor base_anchors(int base_size, std::span<const float> ratios, std::span<const float> scales) {
  GHM_CHECK(base_size > 0, "base_anchors: base size must be positive, got ", base_size);
  GHM_CHECK(!ratios.empty() && !scales.empty(), "base_anchors: need at least one ratio and one scale, got ",
            ratios.size(), " ratios and ", scales.size(), " scales");
  for (const float r : ratios)
    GHM_CHECK(r > 0.f && std::isfinite(r), "base_anchors: ratios must be positive and finite, got ", r);
  for (const float c : scales)
    GHM_CHECK(c > 0.f && std::isfinite(c), "base_anchors: scales must be positive and finite, got ", c);

  const auto s_count = static_cast<std::int64_t>(scales.size());
  Tensor out = Tensor::empty({static_cast<std::int64_t>(ratios.size()) * s_count, 4});
  float* p = out.data<float>();
  const float base = static_cast<float>(base_size);
  for (std::size_t i = 0; i < ratios.size(); ++i) {
    const float h_ratio = std::sqrt(ratios[i]);
    const float w_ratio = 1.0f / h_ratio;
    for (std::size_t j = 0; j < scales.size(); ++j) {
      const float w = base * w_ratio * scales[j];
      const float h = base * h_ratio * scales[j];
      float* row = p + 4 * (static_cast<std::int64_t>(i) * s_count + static_cast<std::int64_t>(j));
      row[0] = -(0.5f * w);
      row[1] = -(0.5f * h);
      row[2] = 0.5f * w;
      row[3] = 0.5f * h;
    }
  }
  return out;
}

Tensor grid_anchors(const Tensor& base_anchors, FeatureSize size, int stride) {
  check_boxes(base_anchors, "grid_anchors", "base_anchors");
  check_feature_size(size, "grid_anchors");
  GHM_CHECK(stride > 0, "grid_anchors: stride must be positive, got ", stride);
  const std::int64_t a_count = base_anchors.size(0);
  Tensor out = Tensor::empty({size.height * size.width * a_count, 4});
  grid_anchors_cpu(base_anchors.data<float>(), a_count, size, stride, out.data<float>());
  return out;
}

Tensor anchor_inside_flags(const Tensor& anchors, const Tensor& valid_flags, ImageSize image, int allowed_border) {
  check_boxes(anchors, "anchor_inside_flags", "anchors");
  check_flags(valid_flags, anchors.size(0), "anchor_inside_flags", "valid_flags");
  Tensor out = valid_flags.clone();
  if (allowed_border < 0) return out;
  const float lo = -static_cast<float>(allowed_border);
  const float hi_x = static_cast<float>(image.width + allowed_border);
  const float hi_y = static_cast<float>(image.height + allowed_border);
  const float* box = anchors.data<float>();
  std::uint8_t* flag = out.data<std::uint8_t>();
  ghm::cpu::parallel_for(anchors.size(0), ghm::cpu::kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const float* b = box + 4 * i;
      const bool inside = b[0] >= lo && b[1] >= lo && b[2] < hi_x && b[3] < hi_y;
      flag[i] = static_cast<std::uint8_t>(flag[i] != 0 && inside);
    }
  });
  return out;
}

// ---- AnchorGenerator -----------------------------------------------------------------------------

struct AnchorGenerator::Cache {
  struct Entry {
    Tensor anchors;
    std::uint64_t last_use = 0;
  };
  std::mutex mutex;
  std::map<std::tuple<int, std::int64_t, std::int64_t>, Entry> entries;
  std::uint64_t clock = 0;
};

AnchorGenerator::AnchorGenerator(AnchorConfig config) : config_(std::move(config)), cache_(std::make_unique<Cache>()) {
  GHM_CHECK(!config_.strides.empty(), "AnchorGenerator: need at least one level (stride)");
  const std::vector<float> scales = octave_scales(config_.octave_base_scale, config_.scales_per_octave);
  for (const int stride : config_.strides) {
    GHM_CHECK(stride > 0, "AnchorGenerator: strides must be positive, got ", stride);
    base_anchors_.push_back(detection::base_anchors(stride, config_.ratios, scales));
  }
}

AnchorGenerator::~AnchorGenerator() = default;
AnchorGenerator::AnchorGenerator(AnchorGenerator&&) noexcept = default;
AnchorGenerator& AnchorGenerator::operator=(AnchorGenerator&&) noexcept = default;

void AnchorGenerator::check_level(int level, const char* op) const {
  GHM_CHECK(level >= 0 && level < num_levels(), op, ": level ", level, " out of range for ", num_levels(), " levels");
}

const Tensor& AnchorGenerator::base_anchors(int level) const {
  check_level(level, "AnchorGenerator::base_anchors");
  return base_anchors_[static_cast<std::size_t>(level)];
}

Tensor AnchorGenerator::grid_anchors(int level, FeatureSize size) const {
  check_level(level, "AnchorGenerator::grid_anchors");
  check_feature_size(size, "AnchorGenerator::grid_anchors");
  const auto key = std::make_tuple(level, size.height, size.width);
  {
    const std::lock_guard<std::mutex> lock(cache_->mutex);
    const auto it = cache_->entries.find(key);
    if (it != cache_->entries.end()) {
      it->second.last_use = ++cache_->clock;
      return it->second.anchors;
    }
  }
  // Built outside the lock; two threads racing on one key build the same values.
  Tensor anchors = detection::grid_anchors(base_anchors_[static_cast<std::size_t>(level)], size,
                                           config_.strides[static_cast<std::size_t>(level)]);
  const std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->entries.size() >= kCacheEntries && !cache_->entries.contains(key)) {
    auto oldest = cache_->entries.begin();
    for (auto it = cache_->entries.begin(); it != cache_->entries.end(); ++it)
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    cache_->entries.erase(oldest);
  }
  auto [it, inserted] = cache_->entries.try_emplace(key, Cache::Entry{anchors, 0});
  it->second.last_use = ++cache_->clock;
  return it->second.anchors;
}

MultiLevelAnchors AnchorGenerator::grid_anchors(std::span<const FeatureSize> sizes) const {
  GHM_CHECK(static_cast<int>(sizes.size()) == num_levels(), "AnchorGenerator::grid_anchors: got ", sizes.size(),
            " feature sizes for ", num_levels(), " levels");
  MultiLevelAnchors out;
  std::vector<Tensor> levels;
  out.level_begin.push_back(0);
  for (int l = 0; l < num_levels(); ++l) {
    levels.push_back(grid_anchors(l, sizes[static_cast<std::size_t>(l)]));
    out.level_begin.push_back(out.level_begin.back() + levels.back().size(0));
  }
  out.anchors = Tensor::empty({out.level_begin.back(), 4});
  float* dst = out.anchors.data<float>();
  for (int l = 0; l < num_levels(); ++l) {
    const Tensor& t = levels[static_cast<std::size_t>(l)];
    if (t.numel() > 0) std::memcpy(dst + out.level_begin[static_cast<std::size_t>(l)] * 4, t.data<float>(), t.nbytes());
  }
  return out;
}

Tensor AnchorGenerator::valid_flags(int level, FeatureSize size, ImageSize pad_shape) const {
  check_level(level, "AnchorGenerator::valid_flags");
  check_feature_size(size, "AnchorGenerator::valid_flags");
  GHM_CHECK(pad_shape.height >= 0 && pad_shape.width >= 0,
            "AnchorGenerator::valid_flags: pad shape must be non-negative, got ", pad_shape.height, "x",
            pad_shape.width);
  const std::int64_t stride = config_.strides[static_cast<std::size_t>(level)];
  const std::int64_t valid_h = std::min((pad_shape.height + stride - 1) / stride, size.height);
  const std::int64_t valid_w = std::min((pad_shape.width + stride - 1) / stride, size.width);
  const std::int64_t a_count = anchors_per_location();
  Tensor out = Tensor::empty({size.height * size.width * a_count}, DType::U8);
  valid_flags_cpu(size, valid_h, valid_w, a_count, out.data<std::uint8_t>());
  return out;
}

Tensor AnchorGenerator::valid_flags(std::span<const FeatureSize> sizes, ImageSize pad_shape) const {
  GHM_CHECK(static_cast<int>(sizes.size()) == num_levels(), "AnchorGenerator::valid_flags: got ", sizes.size(),
            " feature sizes for ", num_levels(), " levels");
  std::vector<Tensor> levels;
  std::int64_t total = 0;
  for (int l = 0; l < num_levels(); ++l) {
    levels.push_back(valid_flags(l, sizes[static_cast<std::size_t>(l)], pad_shape));
    total += levels.back().numel();
  }
  Tensor out = Tensor::empty({total}, DType::U8);
  std::uint8_t* dst = out.data<std::uint8_t>();
  for (const Tensor& t : levels) {
    if (t.numel() > 0) std::memcpy(dst, t.data<std::uint8_t>(), t.nbytes());
    dst += t.numel();
  }
  return out;
}

}  // namespace ghm::detection
