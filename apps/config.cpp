#include "apps/config.h"

#include "io/yaml.h"

namespace ghm::app {
namespace {

// Keep in step with docs/config.md.
constexpr const char* kDefaults = R"(
model:
  backbone:
    depth: 50              # 18, 34, 50, 101, 152
    groups: 1              # ResNeXt cardinality
    width_per_group: 64    # ResNeXt bottleneck width
    norm: frozen_bn        # frozen_bn | bn
    frozen_stages: 1       # stem + this many stages get no gradient (0..4)
  fpn:
    width: 256
    p6_from: c5            # c5 (Detectron, mmdetection) | p5 (torchvision)
  head:
    num_classes: 80
    anchors_per_location: 9
    convs: 4
    group_norm: 0          # 0: none; G: GroupNorm(G) after each tower conv (torchvision v2: 32)
    prior: 0.01
)";

void merge(io::Json& base, const io::Json& over) {
  for (const auto& [key, value] : over.as_object()) {
    const io::Json* old = base.find(key);
    if (old && old->is_object() && value.is_object()) {
      io::Json merged = *old;
      merge(merged, value);
      base.set(key, merged);
    } else {
      base.set(key, value);
    }
  }
}

}  // namespace

io::Json default_config() { return io::parse_yaml(kDefaults, "built-in defaults"); }

io::Json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  io::Json config = default_config();
  const io::Json file = io::load_yaml_file(path);
  GHM_CHECK(file.is_object() || file.is_null(), path, ": a config must be a mapping of sections");
  if (file.is_object()) {
    const std::vector<std::string> unknown = io::validate_keys(file, config);
    GHM_CHECK(unknown.empty(), path, ": ", unknown.front(), unknown.size() > 1 ? " (and more)" : "");
    merge(config, file);
  }
  for (const std::string& o : overrides) io::apply_override(config, o);
  return config;
}

detection::RetinaNetConfig retinanet_config(const io::Json& config) {
  const io::Json& m = config.at("model");
  const io::Json& b = m.at("backbone");
  detection::RetinaNetConfig c;
  c.backbone.depth = static_cast<int>(b.at("depth").as_int());
  c.backbone.groups = static_cast<int>(b.at("groups").as_int());
  c.backbone.width_per_group = static_cast<int>(b.at("width_per_group").as_int());
  const std::string norm = b.at("norm").as_string();
  GHM_CHECK(norm == "frozen_bn" || norm == "bn", b.at("norm").location(), ": norm must be frozen_bn or bn, got '", norm, "'");
  c.backbone.norm = norm == "bn" ? nn::NormKind::BatchNorm : nn::NormKind::FrozenBatchNorm;
  c.backbone.frozen_stages = static_cast<int>(b.at("frozen_stages").as_int());
  const io::Json& f = m.at("fpn");
  c.width = f.at("width").as_int();
  const std::string p6 = f.at("p6_from").as_string();
  GHM_CHECK(p6 == "c5" || p6 == "p5", f.at("p6_from").location(), ": p6_from must be c5 or p5, got '", p6, "'");
  c.p6_source = p6 == "p5" ? nn::P6Source::P5 : nn::P6Source::C5;
  const io::Json& h = m.at("head");
  c.num_classes = h.at("num_classes").as_int();
  c.anchors_per_location = h.at("anchors_per_location").as_int();
  c.head_convs = static_cast<int>(h.at("convs").as_int());
  c.head_group_norm = static_cast<int>(h.at("group_norm").as_int());
  GHM_CHECK(c.head_group_norm >= 0 && (c.head_group_norm == 0 || c.width % c.head_group_norm == 0),
            h.at("group_norm").location(), ": group_norm ", c.head_group_norm, " must be 0 or divide the width ", c.width);
  c.prior = static_cast<float>(h.at("prior").as_double());
  GHM_CHECK(c.width > 0 && c.num_classes > 0 && c.anchors_per_location > 0 && c.head_convs >= 0, "model: width ",
            c.width, ", num_classes ", c.num_classes, ", anchors_per_location ", c.anchors_per_location, " and convs ",
            c.head_convs, " must be positive");
  return c;
}

}  // namespace ghm::app
