#include "nn/fpn.h"

#include "core/ops/elementwise.h"
#include "core/ops/pool.h"

namespace ghm::nn {

FPN::FPN(const std::vector<std::int64_t>& in_channels, std::int64_t out, P6Source p6_source, Generator& gen)
    : p6_source_(p6_source) {
  GHM_CHECK(in_channels.size() >= 2, "FPN: expects the channels of at least two maps, got ", in_channels.size());
  for (std::size_t i = 0; i < in_channels.size(); ++i) {
    lateral_.push_back(std::make_shared<Conv2d>(in_channels[i], out, 1, 1, 0, Bias::Yes, gen));
    output_.push_back(std::make_shared<Conv2d>(out, out, 3, 1, 1, Bias::Yes, gen));
  }
  auto lat = std::make_shared<Sequential>(), outs = std::make_shared<Sequential>();
  for (auto& m : lateral_) lat->add(m);
  for (auto& m : output_) outs->add(m);
  register_module("lateral", lat);
  register_module("output", outs);
  if (p6_source == P6Source::MaxPoolP5) return;
  p6_ = register_module("p6", std::make_shared<Conv2d>(p6_source == P6Source::C5 ? in_channels.back() : out, out, 3, 2,
                                                       1, Bias::Yes, gen));
  p7_ = register_module("p7", std::make_shared<Conv2d>(out, out, 3, 2, 1, Bias::Yes, gen));
}

std::vector<Tensor> FPN::forward(const std::vector<Tensor>& c) {
  GHM_CHECK(c.size() == lateral_.size(), "FPN: forward expects ", lateral_.size(), " maps, got ", c.size());
  const std::size_t last = c.size() - 1;
  std::vector<Tensor> p(c.size());
  Tensor top = lateral_[last]->forward(c[last]);
  p[last] = output_[last]->forward(top);
  for (int i = static_cast<int>(last) - 1; i >= 0; --i) {
    const auto I = static_cast<std::size_t>(i);
    Tensor lateral = lateral_[I]->forward(c[I]);
    top = add(lateral, upsample_nearest(top, lateral.size(2), lateral.size(3)));
    p[I] = output_[I]->forward(top);
  }
  if (p6_source_ == P6Source::MaxPoolP5) {
    p.push_back(max_pool2d(p[last], Pool2dParams::square(1, 2, 0)));
    return p;
  }
  Tensor p6 = p6_->forward(p6_source_ == P6Source::C5 ? c[last] : p[last]);
  Tensor p7 = p7_->forward(relu(p6));
  p.push_back(p6);
  p.push_back(p7);
  return p;
}

}  // namespace ghm::nn
