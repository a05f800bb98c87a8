"""PyTorch reference timings for the RetinaNet convolutions, on the CPU or on a GPU.

Run:  /usr/bin/python3 bench/torch_ops.py [--threads 2] [--warmup 1] [--repeats 3]
          [--shapes bench/retinanet_conv_shapes.txt] [--only NAME...] [--json OUT]
          [--size HxW] [--device cpu|cuda[:I]] [--tf32 on|off] [--deterministic]

For every shape in the shapes file (columns: name count N C H W O kh kw stride
pad dilation groups) it times torch.nn.functional.conv2d with a bias:
  forward   y = conv2d(x, w, b)
  backward  dx, dw, db = autograd.grad(y, (x, w, b), grad_output), with a fixed
            random grad_output; the graph is built once and kept, so only the
            backward kernels are timed.
Each time is the median of --repeats runs after --warmup runs.

--size HxW times the shapes of HxW images: the file describes 512x512 images, and
every stride-2 layer of the network rounds up, so an extent E becomes
ceil(E * size / 512) (e.g. --size 800x1216 for the usual COCO training size).

--device cuda runs on the GPU with torch.backends.cudnn.benchmark = True (each
shape's algorithm is chosen by timing on its first run, so at least one warm-up
run is made) and a torch.cuda.synchronize() ending every timed run.
--tf32 sets torch.backends.cudnn.allow_tf32 (on by default, as PyTorch and
ghm_retinanet's GHM_CUDA_TF32). --deterministic restricts cuDNN to deterministic
algorithms, the only ones ghm_retinanet uses.

FLOPs (multiply and add counted as two):
  forward  = 2 * N * O * Ho * Wo * (C / groups) * kh * kw
  backward = 2 * forward (one product for dx, one for dw; db is negligible)
The total line weights every shape by its count, i.e. it is the time spent in
all the convolutions of one forward (and one backward) pass of the network.
"""

import argparse
import json

import torch
import torch.nn.functional as F

from timing import median_ms, synchronized

COLUMNS = ["name", "count", "N", "C", "H", "W", "O", "kh", "kw", "stride", "pad", "dilation", "groups"]
SHAPES_IMAGE_SIZE = 512  # the image size the shapes file describes (2x3x512x512)


def read_shapes(path):
    shapes = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) != len(COLUMNS):
                raise ValueError(f"{path}: expected {len(COLUMNS)} columns, got: {line}")
            shape = {"name": fields[0]}
            shape.update({key: int(value) for key, value in zip(COLUMNS[1:], fields[1:])})
            shapes.append(shape)
    return shapes


def parse_size(text):
    try:
        h, w = (int(v) for v in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must be HxW (e.g. 800x1216), got '{text}'") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"--size must be positive, got '{text}'")
    return h, w


def scale_shape(s, size):
    """The shape for images of size (H, W): extent E of the 512x512 file becomes ceil(E * size / 512)."""
    scaled = dict(s)
    scaled["H"] = -(-s["H"] * size[0] // SHAPES_IMAGE_SIZE)
    scaled["W"] = -(-s["W"] * size[1] // SHAPES_IMAGE_SIZE)
    return scaled


def output_size(size, kernel, stride, pad, dilation):
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def forward_flops(s):
    Ho = output_size(s["H"], s["kh"], s["stride"], s["pad"], s["dilation"])
    Wo = output_size(s["W"], s["kw"], s["stride"], s["pad"], s["dilation"])
    return 2 * s["N"] * s["O"] * Ho * Wo * (s["C"] // s["groups"]) * s["kh"] * s["kw"]


def time_shape(s, warmup, repeats, device):
    torch.manual_seed(0)
    x = torch.randn(s["N"], s["C"], s["H"], s["W"], device=device, requires_grad=True)
    w = torch.randn(s["O"], s["C"] // s["groups"], s["kh"], s["kw"], device=device, requires_grad=True)
    b = torch.randn(s["O"], device=device, requires_grad=True)
    conv_args = dict(stride=s["stride"], padding=s["pad"], dilation=s["dilation"], groups=s["groups"])

    with torch.no_grad():
        fwd_ms = median_ms(synchronized(lambda: F.conv2d(x, w, b, **conv_args), device), warmup, repeats)

    y = F.conv2d(x, w, b, **conv_args)
    grad_output = torch.randn_like(y)
    bwd_ms = median_ms(synchronized(lambda: torch.autograd.grad(y, (x, w, b), grad_output, retain_graph=True), device),
                       warmup, repeats)
    return fwd_ms, bwd_ms


def gflops_per_s(flops, ms):
    return flops / (ms * 1e-3) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per shape (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per shape; the median is kept (default 3)")
    parser.add_argument("--shapes", default="bench/retinanet_conv_shapes.txt", help="shapes file")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="time only these shape names")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    parser.add_argument("--size", type=parse_size, default=(SHAPES_IMAGE_SIZE, SHAPES_IMAGE_SIZE), metavar="HxW",
                        help="image size the shapes are scaled to (default 512x512, the file's own)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:I")
    parser.add_argument("--tf32", choices=["on", "off"], default="on",
                        help="torch.backends.cudnn.allow_tf32 on a GPU (default on)")
    parser.add_argument("--deterministic", action="store_true",
                        help="only deterministic cuDNN algorithms (torch.backends.cudnn.deterministic)")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: this torch sees no CUDA GPU")
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.deterministic = args.deterministic
        args.warmup = max(args.warmup, 1)  # the first run of a shape is the benchmark search
    torch.set_num_threads(args.threads)
    shapes = [scale_shape(s, args.size) for s in read_shapes(args.shapes)]
    if args.only:
        unknown = set(args.only) - {s["name"] for s in shapes}
        if unknown:
            parser.error(f"unknown shape names: {' '.join(sorted(unknown))}")
        shapes = [s for s in shapes if s["name"] in args.only]

    if device.type == "cuda":
        print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()} on "
              f"{device} ({torch.cuda.get_device_name(device)}), TF32 {args.tf32}, benchmark on, "
              f"deterministic {'on' if args.deterministic else 'off'}")
    else:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
              f"mkldnn (oneDNN) available {torch.backends.mkldnn.is_available()}, "
              f"enabled {torch.backends.mkldnn.enabled}")
    scaled = ""
    if args.size != (SHAPES_IMAGE_SIZE, SHAPES_IMAGE_SIZE):
        scaled = f", shapes for {args.size[0]}x{args.size[1]} images"
    print(f"warm-up {args.warmup}, median of {args.repeats}{scaled}")
    header = (f"{'name':20s} {'count':>5s}  {'N,C,H,W -> O, k/s/p/d/g':34s} {'GFLOP':>7s}"
              f" {'fwd ms':>9s} {'fwd GF/s':>8s} {'bwd ms':>9s} {'bwd GF/s':>8s}")
    print(header)
    print("-" * len(header))

    results = []
    total = {"flops": 0, "fwd_ms": 0.0, "bwd_ms": 0.0}
    for s in shapes:
        flops = forward_flops(s)
        fwd_ms, bwd_ms = time_shape(s, args.warmup, args.repeats, device)
        geometry = (f"{s['N']},{s['C']},{s['H']},{s['W']} -> {s['O']}, "
                    f"{s['kh']}x{s['kw']}/{s['stride']}/{s['pad']}/{s['dilation']}/{s['groups']}")
        print(f"{s['name']:20s} {s['count']:5d}  {geometry:34s} {flops / 1e9:7.3f}"
              f" {fwd_ms:9.2f} {gflops_per_s(flops, fwd_ms):8.1f}"
              f" {bwd_ms:9.2f} {gflops_per_s(2 * flops, bwd_ms):8.1f}", flush=True)
        results.append(dict(s, gflop_fwd=flops / 1e9, fwd_ms=fwd_ms, bwd_ms=bwd_ms,
                            fwd_gflops=gflops_per_s(flops, fwd_ms),
                            bwd_gflops=gflops_per_s(2 * flops, bwd_ms)))
        total["flops"] += s["count"] * flops
        total["fwd_ms"] += s["count"] * fwd_ms
        total["bwd_ms"] += s["count"] * bwd_ms

    print("-" * len(header))
    num_convs = sum(s["count"] for s in shapes)
    total_line = f"{num_convs} convs, count-weighted"
    print(f"{'total':20s} {num_convs:5d}  {total_line:34s} {total['flops'] / 1e9:7.3f}"
          f" {total['fwd_ms']:9.2f} {gflops_per_s(total['flops'], total['fwd_ms']):8.1f}"
          f" {total['bwd_ms']:9.2f} {gflops_per_s(2 * total['flops'], total['bwd_ms']):8.1f}")

    if args.json:
        summary = {
            "torch_version": torch.__version__,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "image_size": list(args.size),
            "warmup": args.warmup,
            "repeats": args.repeats,
            **({"tf32": args.tf32 == "on", "deterministic": args.deterministic} if device.type == "cuda" else {}),
            "shapes": results,
            "total": {
                "num_convs": num_convs,
                "gflop_fwd": total["flops"] / 1e9,
                "fwd_ms": total["fwd_ms"],
                "bwd_ms": total["bwd_ms"],
                "fwd_gflops": gflops_per_s(total["flops"], total["fwd_ms"]),
                "bwd_gflops": gflops_per_s(2 * total["flops"], total["bwd_ms"]),
            },
        }
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
