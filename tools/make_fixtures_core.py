"""Generate the PyTorch reference fixtures for the core op tests.

Run:  /usr/bin/python3 tools/make_fixtures_core.py [--out tests/data]

Writes one file per op family, tests/data/core_<family>.safetensors, with the
families conv2d, batch_norm_train, batch_norm_eval, frozen_batch_norm, group_norm,
max_pool2d, upsample_nearest, roi_align, permute, narrow, concat, index_select,
gather and matmul. The files are committed, so the tests never need PyTorch.

Every file holds several cases. For case i:
  - tensors are named "case<i>.<name>";
  - metadata "case<i>" is the compact JSON of the op parameters, and
    metadata "num_cases" is the number of cases, as a decimal string.
Each case has its random inputs (torch.randn), a random "grad_output" of the
output's shape, the forward "output", and the gradients that
output.backward(grad_output) produces, named "grad_<input name>".

Per family (tensor names; params):
  conv2d             input [N,C,H,W], weight [O,C/groups,kh,kw], bias [O] (absent
                     when the case has no bias), grad_output, output, grad_input,
                     grad_weight, grad_bias (with bias);
                     {"stride":[sh,sw],"padding":[ph,pw],"dilation":[dh,dw],"groups":g}
  batch_norm_train   input, weight [C], bias [C], running_mean [C], running_var [C],
                     grad_output, output, running_mean_out, running_var_out (the
                     running stats after the update; the variance update uses the
                     unbiased batch variance), grad_input, grad_weight, grad_bias;
                     {"momentum":0.1,"eps":1e-5}
  batch_norm_eval    as batch_norm_train without the *_out tensors (the running
                     stats are used, not updated)
  frozen_batch_norm  input, weight, bias, running_mean, running_var, grad_output,
                     output, grad_input (weight, bias and stats are frozen buffers):
                     scale = weight / sqrt(running_var + eps),
                     out = input * scale + (bias - running_mean * scale); {"eps":1e-5}
  group_norm         input [N,C,H,W], weight [C], bias [C], grad_output, output,
                     grad_input, grad_weight, grad_bias; params {"groups", "eps"}
  max_pool2d         input, grad_output, output, grad_input;
                     {"kernel":[kh,kw],"stride":[sh,sw],"padding":[ph,pw]}
                     (floor mode, padding acts as -inf)
  upsample_nearest   input, grad_output, output, grad_input; {"size":[h,w]}
                     (torch "nearest": src = floor(dst * in_size / out_size))
  roi_align          input [N,C,H,W], rois [K,5] (batch index, x1, y1, x2, y2: boxes
                     inside, across the border, below a pixel and outside), grad_output,
                     output, grad_input; {"output_size":[ph,pw],"spatial_scale":s,
                     "sampling_ratio":r,"aligned":a} (torchvision.ops.roi_align)
  permute            input, grad_output, output, grad_input; {"order":[...]}
  narrow             input, grad_output, output, grad_input; {"dim":d,"start":s,"length":l}
  concat             input0, input1, input2, grad_output, output, grad_input0..2;
                     {"dim":d,"num_inputs":3}
  index_select       input, index (int64, 1-D, with repeats), grad_output, output,
                     grad_input; {"dim":d}
  gather             input, index (int64, same rank as input, with repeats),
                     grad_output, output, grad_input; {"dim":d}
  matmul             a, b, grad_output, output, grad_a, grad_b; {} (torch.matmul,
                     2-D or batched 3-D)

Everything is float32 on the CPU with one thread; each case is seeded from its
family name and index, so the files are identical from run to run and adding a
case leaves the other cases unchanged. After writing, every file is read back
with tools/safetensors_py.py and compared bit for bit.
"""

import os
import sys
import zlib

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import output_folder, write_families  # noqa: E402


def seed_case(family, index):
    torch.manual_seed(zlib.crc32(f"{family}/{index}".encode()))


def leaf(*shape):
    return torch.randn(*shape, requires_grad=True)


def run_backward(tensors, output, inputs):
    """Store grad_output, output and grad_<name> for each input that takes a gradient."""
    grad_output = torch.randn(output.shape)
    output.backward(grad_output)
    tensors["grad_output"] = grad_output
    tensors["output"] = output.detach().contiguous()
    for name, tensor in inputs.items():
        if tensor.requires_grad:
            tensors[f"grad_{name}"] = tensor.grad
    return tensors


# ---------------------------------------------------------------- conv2d

CONV2D_CASES = [
    # N, C, H, W, O, (kh, kw), stride, padding, dilation, groups, bias
    dict(N=2, C=3, H=6, W=6, O=4, kernel=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1, bias=True),
    dict(N=1, C=2, H=9, W=7, O=3, kernel=[3, 3], stride=[2, 2], padding=[0, 0], dilation=[1, 1], groups=1, bias=True),
    dict(N=2, C=3, H=8, W=7, O=2, kernel=[3, 3], stride=[1, 1], padding=[2, 2], dilation=[2, 2], groups=1, bias=True),
    dict(N=2, C=4, H=5, W=6, O=6, kernel=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=2, bias=True),
    dict(N=2, C=4, H=6, W=5, O=4, kernel=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=4, bias=True),
    dict(N=3, C=5, H=4, W=5, O=3, kernel=[1, 1], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1, bias=False),
    dict(N=2, C=4, H=7, W=7, O=6, kernel=[1, 1], stride=[2, 2], padding=[0, 0], dilation=[1, 1], groups=1, bias=True),
    dict(N=1, C=3, H=16, W=15, O=4, kernel=[7, 7], stride=[2, 2], padding=[3, 3], dilation=[1, 1], groups=1, bias=True),
    dict(N=2, C=3, H=5, W=8, O=4, kernel=[3, 1], stride=[1, 2], padding=[1, 0], dilation=[1, 1], groups=1, bias=True),
]


def conv2d_case(c):
    inputs = {
        "input": leaf(c["N"], c["C"], c["H"], c["W"]),
        "weight": leaf(c["O"], c["C"] // c["groups"], *c["kernel"]),
    }
    if c["bias"]:
        inputs["bias"] = leaf(c["O"])
    params = {k: c[k] for k in ("stride", "padding", "dilation", "groups")}
    output = F.conv2d(inputs["input"], inputs["weight"], inputs.get("bias"), **params)
    tensors = {name: t.detach().clone() for name, t in inputs.items()}
    return params, run_backward(tensors, output, inputs)


# ---------------------------------------------------------------- batch norm

BN_MOMENTUM = 0.1
BN_EPS = 1e-5


def batch_norm_inputs(shape):
    C = shape[1]
    inputs = {"input": leaf(*shape), "weight": leaf(C), "bias": leaf(C)}
    stats = {"running_mean": torch.randn(C), "running_var": torch.rand(C) + 0.5}
    return inputs, stats


def batch_norm_case(shape, training):
    inputs, stats = batch_norm_inputs(shape)
    tensors = {name: t.detach().clone() for name, t in inputs.items()}
    tensors.update({name: t.clone() for name, t in stats.items()})
    output = F.batch_norm(inputs["input"], stats["running_mean"], stats["running_var"],
                          inputs["weight"], inputs["bias"], training=training,
                          momentum=BN_MOMENTUM, eps=BN_EPS)
    if training:
        # F.batch_norm updated the running stats in place.
        tensors["running_mean_out"] = stats["running_mean"]
        tensors["running_var_out"] = stats["running_var"]
    params = {"momentum": BN_MOMENTUM, "eps": BN_EPS}
    return params, run_backward(tensors, output, inputs)


def frozen_batch_norm_case(shape):
    inputs, stats = batch_norm_inputs(shape)
    x = inputs["input"]
    weight, bias = inputs["weight"].detach(), inputs["bias"].detach()
    tensors = {"input": x.detach().clone(), "weight": weight.clone(), "bias": bias.clone()}
    tensors.update({name: t.clone() for name, t in stats.items()})
    scale = weight * (stats["running_var"] + BN_EPS).rsqrt()
    shift = bias - stats["running_mean"] * scale
    output = x * scale[None, :, None, None] + shift[None, :, None, None]
    return {"eps": BN_EPS}, run_backward(tensors, output, {"input": x})


def group_norm_case(shape, groups):
    C = shape[1]
    inputs = {"input": leaf(*shape), "weight": leaf(C), "bias": leaf(C)}
    tensors = {name: t.detach().clone() for name, t in inputs.items()}
    output = F.group_norm(inputs["input"], groups, inputs["weight"], inputs["bias"], eps=BN_EPS)
    return {"groups": groups, "eps": BN_EPS}, run_backward(tensors, output, inputs)


# ---------------------------------------------------------------- pooling, resampling

def max_pool2d_case(shape, kernel, stride, padding):
    x = leaf(*shape)
    output = F.max_pool2d(x, kernel, stride, padding)
    params = {"kernel": kernel, "stride": stride, "padding": padding}
    return params, run_backward({"input": x.detach().clone()}, output, {"input": x})


def upsample_nearest_case(shape, size):
    x = leaf(*shape)
    output = F.interpolate(x, size=size, mode="nearest")
    return {"size": size}, run_backward({"input": x.detach().clone()}, output, {"input": x})


def roi_align_case(shape, num_boxes, image_size, output_size, spatial_scale, sampling_ratio, aligned):
    x = leaf(*shape)
    width, height = image_size
    x1 = (torch.rand(num_boxes) * 1.4 - 0.2) * width
    y1 = (torch.rand(num_boxes) * 1.4 - 0.2) * height
    w = torch.rand(num_boxes) * 0.6 * width
    h = torch.rand(num_boxes) * 0.6 * height
    w[::5], h[::5] = 0.3, 0.4  # below a pixel
    batch = torch.randint(0, shape[0], (num_boxes,)).float()
    rois = torch.stack([batch, x1, y1, x1 + w, y1 + h], dim=1)
    output = torchvision.ops.roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned)
    params = {"output_size": output_size, "spatial_scale": spatial_scale, "sampling_ratio": sampling_ratio,
              "aligned": aligned}
    return params, run_backward({"input": x.detach().clone(), "rois": rois}, output, {"input": x})


# ---------------------------------------------------------------- shape ops

def permute_case(shape, order):
    x = leaf(*shape)
    output = x.permute(*order)
    return {"order": order}, run_backward({"input": x.detach().clone()}, output, {"input": x})


def narrow_case(shape, dim, start, length):
    x = leaf(*shape)
    output = x.narrow(dim, start, length)
    params = {"dim": dim, "start": start, "length": length}
    return params, run_backward({"input": x.detach().clone()}, output, {"input": x})


def concat_case(shapes, dim):
    inputs = {f"input{i}": leaf(*shape) for i, shape in enumerate(shapes)}
    output = torch.cat(list(inputs.values()), dim=dim)
    tensors = {name: t.detach().clone() for name, t in inputs.items()}
    params = {"dim": dim, "num_inputs": len(shapes)}
    return params, run_backward(tensors, output, inputs)


def index_select_case(shape, dim, index):
    x = leaf(*shape)
    index = torch.tensor(index, dtype=torch.int64)
    assert index.unique().numel() < index.numel(), "index needs repeats"
    output = x.index_select(dim, index)
    tensors = {"input": x.detach().clone(), "index": index}
    return {"dim": dim}, run_backward(tensors, output, {"input": x})


def gather_case(shape, dim, index_shape):
    x = leaf(*shape)
    index = torch.randint(0, shape[dim], index_shape, dtype=torch.int64)
    assert index.unique().numel() < index.numel(), "index needs repeats"
    output = x.gather(dim, index)
    tensors = {"input": x.detach().clone(), "index": index}
    return {"dim": dim}, run_backward(tensors, output, {"input": x})


def matmul_case(a_shape, b_shape):
    inputs = {"a": leaf(*a_shape), "b": leaf(*b_shape)}
    output = torch.matmul(inputs["a"], inputs["b"])
    tensors = {name: t.detach().clone() for name, t in inputs.items()}
    return {}, run_backward(tensors, output, inputs)


# ---------------------------------------------------------------- the families

FAMILIES = {
    "conv2d": [lambda c=c: conv2d_case(c) for c in CONV2D_CASES],
    "batch_norm_train": [
        lambda: batch_norm_case([2, 3, 4, 5], training=True),
        lambda: batch_norm_case([1, 4, 3, 3], training=True),
        lambda: batch_norm_case([3, 5, 3, 7], training=True),
    ],
    "batch_norm_eval": [
        lambda: batch_norm_case([2, 3, 4, 5], training=False),
        lambda: batch_norm_case([1, 5, 3, 7], training=False),
    ],
    "frozen_batch_norm": [
        lambda: frozen_batch_norm_case([2, 3, 4, 5]),
        lambda: frozen_batch_norm_case([1, 5, 3, 7]),
    ],
    "group_norm": [
        lambda: group_norm_case([2, 6, 4, 5], 3),
        lambda: group_norm_case([1, 8, 3, 3], 8),
        lambda: group_norm_case([3, 4, 5, 2], 1),
    ],
    "max_pool2d": [
        lambda: max_pool2d_case([2, 3, 8, 8], [3, 3], [2, 2], [1, 1]),
        lambda: max_pool2d_case([1, 2, 6, 6], [2, 2], [2, 2], [0, 0]),
        lambda: max_pool2d_case([2, 2, 5, 5], [3, 3], [1, 1], [1, 1]),
        lambda: max_pool2d_case([1, 3, 9, 11], [3, 3], [2, 2], [1, 1]),
        lambda: max_pool2d_case([1, 2, 7, 9], [2, 2], [2, 2], [0, 0]),
    ],
    "upsample_nearest": [
        lambda: upsample_nearest_case([2, 3, 4, 5], [8, 10]),
        lambda: upsample_nearest_case([1, 2, 5, 7], [12, 15]),
        lambda: upsample_nearest_case([1, 2, 9, 9], [4, 5]),
        lambda: upsample_nearest_case([2, 2, 3, 4], [3, 4]),
    ],
    "roi_align": [
        lambda: roi_align_case([2, 3, 12, 10], 9, [40, 48], [7, 7], 0.25, 2, False),
        lambda: roi_align_case([2, 4, 13, 17], 11, [68, 52], [7, 7], 0.25, -1, False),
        lambda: roi_align_case([1, 3, 9, 8], 7, [16, 18], [3, 5], 0.5, 0, True),
        lambda: roi_align_case([3, 2, 25, 19], 13, [152, 200], [14, 14], 0.125, -1, True),
        lambda: roi_align_case([1, 2, 6, 6], 6, [6, 6], [2, 2], 1.0, 1, False),
    ],
    "permute": [
        lambda: permute_case([2, 3, 4, 5], [0, 2, 3, 1]),
        lambda: permute_case([2, 3, 4, 5], [3, 1, 0, 2]),
        lambda: permute_case([3, 4, 5], [2, 0, 1]),
    ],
    "narrow": [
        lambda: narrow_case([2, 6, 3, 4], 1, 2, 3),
        lambda: narrow_case([3, 4, 7], 2, 4, 3),
        lambda: narrow_case([5, 4], 0, 0, 2),
    ],
    "concat": [
        lambda: concat_case([[2, 3, 4], [1, 3, 4], [3, 3, 4]], 0),
        lambda: concat_case([[2, 3, 2, 2], [2, 1, 2, 2], [2, 4, 2, 2]], 1),
        lambda: concat_case([[3, 2], [3, 5], [3, 1]], 1),
    ],
    "index_select": [
        lambda: index_select_case([5, 4], 0, [4, 0, 4, 2, 0, 4]),
        lambda: index_select_case([2, 6, 3], 1, [1, 1, 5, 0]),
    ],
    "gather": [
        lambda: gather_case([4, 6], 1, [4, 5]),
        lambda: gather_case([3, 4, 2], 0, [5, 3, 2]),
    ],
    "matmul": [
        lambda: matmul_case([5, 7], [7, 3]),
        lambda: matmul_case([2, 4, 6], [2, 6, 5]),
    ],
}


def main():
    out = output_folder(__doc__.splitlines()[0])
    total_bytes = write_families(out, "core", FAMILIES, seed_case)
    print(f"total {total_bytes} bytes; all files read back identical")

if __name__ == "__main__":
    main()
