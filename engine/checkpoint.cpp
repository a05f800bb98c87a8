// Training checkpoints (see checkpoint.h).
#include "engine/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <exception>
#include <map>

#include "core/check.h"
#include "io/safetensors.h"

namespace ghm::engine {
namespace {

constexpr const char* kFormat = "ghm_retinanet.checkpoint.v1";
constexpr const char* kModelPrefix = "model.";
constexpr const char* kMomentumPrefix = "optim.";

// values(): a CUDA loss keeps the state on the GPU (losses/ghm_state.h).
Tensor ema_tensor(const losses::GhmEmaState& s) {
  const std::vector<float> values = s.values();
  return Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())});
}

void load_ema(const io::SafetensorsData& data, const std::string& name, losses::GhmEmaState& s) {
  const Tensor& t = data.at(name);
  GHM_CHECK(t.dtype() == DType::F32 && t.dim() == 1 && t.size(0) == static_cast<std::int64_t>(s.acc_sum.size()),
            data.path, ": '", name, "' is ", t.dtype(), " ", t.shape(), " but the config has ", s.acc_sum.size(),
            " bins");
  s.acc_sum = t.to_vector<float>();
  s.on_device = false;  // the loaded values are current; a CUDA loss copies them to its device
}

std::int64_t metadata_int(const io::SafetensorsData& data, const std::string& key) {
  const auto it = data.metadata.find(key);
  GHM_CHECK(it != data.metadata.end(), data.path, ": checkpoint metadata lacks '", key, "'");
  try {
    std::size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    GHM_CHECK(used == it->second.size() && v >= 0, "");
    return v;
  } catch (const std::exception&) {
    GHM_FAIL(data.path, ": checkpoint metadata '", key, "' = '", it->second, "' is not a non-negative integer");
  }
}

std::vector<std::pair<std::string, Tensor>> with_prefix(const io::SafetensorsData& data, const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : data.tensors)
    if (name.starts_with(prefix)) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

bool is_checkpoint(const io::SafetensorsData& data) {
  const auto it = data.metadata.find("format");
  return it != data.metadata.end() && it->second == kFormat;
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Sgd& sgd,
                     const detection::DetectionLossState& loss_state, const TrainProgress& progress,
                     const std::string& config_json, const std::vector<detection::DetectionLossState>& other_ranks) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, t] : model.state()) tensors.emplace_back(kModelPrefix + name, t);
  for (auto& [name, t] : sgd.state()) tensors.emplace_back(kMomentumPrefix + name, t);
  tensors.emplace_back("ghm.cls.acc_sum", ema_tensor(loss_state.cls));
  tensors.emplace_back("ghm.reg.acc_sum", ema_tensor(loss_state.reg));
  for (std::size_t r = 0; r < other_ranks.size(); ++r) {
    const std::string suffix = ".rank" + std::to_string(r + 1);
    tensors.emplace_back("ghm.cls.acc_sum" + suffix, ema_tensor(other_ranks[r].cls));
    tensors.emplace_back("ghm.reg.acc_sum" + suffix, ema_tensor(other_ranks[r].reg));
  }
  std::map<std::string, std::string> metadata{{"format", kFormat},
                                              {"iteration", std::to_string(progress.iteration)},
                                              {"epoch", std::to_string(progress.epoch)},
                                              {"epoch_batch", std::to_string(progress.epoch_batch)},
                                              {"config", config_json}};
  if (progress.loss_scale > 0) {
    char scale[32];
    std::snprintf(scale, sizeof scale, "%.17g", progress.loss_scale);  // exact: round-trips through strtod
    metadata.emplace("loss_scale", scale);
    metadata.emplace("loss_scale_good_steps", std::to_string(progress.loss_scale_good_steps));
  }
  io::save_safetensors(path, tensors, metadata);
}

CheckpointInfo load_checkpoint(const std::string& path, nn::Module& model, nn::Sgd& sgd,
                               detection::DetectionLossState& loss_state, int rank) {
  const io::SafetensorsData data = io::load_safetensors(path);
  GHM_CHECK(is_checkpoint(data), path, ": not a training checkpoint (no \"format\": \"", kFormat,
            "\" in its metadata); model-only weights go to train.init_weights");
  try {
    model.load_state(with_prefix(data, kModelPrefix), nn::Strict::Yes);
    sgd.load_state(with_prefix(data, kMomentumPrefix));
  } catch (const Error& e) {
    GHM_FAIL(path, ": ", e.what());
  }
  const std::string own = ".rank" + std::to_string(rank);
  const bool has_own = rank > 0 && data.contains("ghm.cls.acc_sum" + own) && data.contains("ghm.reg.acc_sum" + own);
  load_ema(data, "ghm.cls.acc_sum" + (has_own ? own : std::string()), loss_state.cls);
  load_ema(data, "ghm.reg.acc_sum" + (has_own ? own : std::string()), loss_state.reg);
  CheckpointInfo info;
  info.progress.iteration = metadata_int(data, "iteration");
  info.progress.epoch = metadata_int(data, "epoch");
  info.progress.epoch_batch = metadata_int(data, "epoch_batch");
  if (const auto it = data.metadata.find("loss_scale"); it != data.metadata.end()) {
    char* end = nullptr;
    info.progress.loss_scale = std::strtod(it->second.c_str(), &end);
    GHM_CHECK(end != it->second.c_str() && *end == '\0' && info.progress.loss_scale > 0, path,
              ": metadata \"loss_scale\" is not a positive number: '", it->second, "'");
    info.progress.loss_scale_good_steps = metadata_int(data, "loss_scale_good_steps");
  }
  info.config_json = data.metadata.at("config");
  return info;
}

nn::LoadReport load_model_weights(const std::string& path, nn::Module& model, nn::Strict strict) {
  const io::SafetensorsData data = io::load_safetensors(path);
  try {
    return is_checkpoint(data) ? model.load_state(with_prefix(data, kModelPrefix), strict)
                               : model.load_state(data.tensors, strict);
  } catch (const Error& e) {
    GHM_FAIL(path, ": ", e.what());
  }
}

std::string checkpoint_config(const std::string& path) {
  const io::SafetensorsData data = io::load_safetensors(path);
  const auto it = data.metadata.find("config");
  return it == data.metadata.end() ? std::string() : it->second;
}

std::string resolve_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  const std::vector<std::string> found = list_checkpoints(path);
  GHM_CHECK(!found.empty(), path, ": no checkpoint (iter_<N>.safetensors) in this folder");
  return found.back();
}

std::vector<std::string> list_checkpoints(const std::string& work_dir) {
  std::vector<std::pair<std::int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(work_dir, ec)) {
    const std::int64_t n = checkpoint_iteration(entry.path().filename().string());
    if (n >= 0) found.emplace_back(n, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::int64_t checkpoint_iteration(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  if (!name.starts_with("iter_") || !name.ends_with(".safetensors")) return -1;
  const std::string digits = name.substr(5, name.size() - 5 - 12);
  if (digits.empty() || digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

ResumePoint load_newest_checkpoint(const std::string& work_dir, nn::Module& model, nn::Sgd& sgd,
                                   detection::DetectionLossState& loss_state) {
  const std::vector<std::string> found = list_checkpoints(work_dir);
  GHM_CHECK(!found.empty(), "train --resume: no checkpoint (iter_<N>.safetensors) in '", work_dir, "'");
  ResumePoint point;
  for (auto it = found.rbegin(); it != found.rend(); ++it) {
    try {
      point.info = load_checkpoint(*it, model, sgd, loss_state);
      point.path = *it;
      return point;
    } catch (const std::exception& e) {  // Error, or bad_alloc from a corrupt header's sizes
      point.skipped.push_back(*it + ": " + e.what());
    }
  }
  std::string reasons;
  for (const std::string& s : point.skipped) reasons += "\n  " + s;
  GHM_FAIL("train --resume: none of the ", found.size(), " checkpoints in '", work_dir, "' loads:", reasons);
}

}  // namespace ghm::engine
