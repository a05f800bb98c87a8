// Parameter initialisers (in place, from a seeded Generator).
//
//   kaiming_normal_fan_out: N(0, 2 / fan_out), fan_out = O * KH * KW  (torchvision's ResNet convs)
//   normal:                 N(mean, std^2)                             (RetinaNet head: std 0.01)
//   prior_bias:             b = -log((1 - pi) / pi)                    (classifier prior, pi = 0.01)
#pragma once

#include "core/random.h"
#include "core/tensor.h"

namespace ghm::nn {

void kaiming_normal_fan_out(Tensor& weight, Generator& gen);  // weight: [O, C/G, KH, KW]
void normal(Tensor& t, float mean, float stddev, Generator& gen);
void constant(Tensor& t, float value);
float prior_bias(float pi);

}  // namespace ghm::nn
