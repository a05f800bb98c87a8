"""PyTorch peer of `ghm_retinanet bench loader`: training data pipeline throughput in images/s.

Run:  /usr/bin/python3 bench/loader.py --json BCCD/annotations.json --images BCCD/images --workers 0,1,2
      /usr/bin/python3 bench/loader.py --json BCCD/annotations.json --images BCCD/images --workers 0,1,2 \
          --ours build/bin/ghm_retinanet [--rounds 2]

The same work as ours, written as a PyTorch user would: for each image, torchvision.io.read_file +
decode_jpeg (libjpeg) -> planar copy -> random horizontal flip (p = 0.5; on the uint8 image, as the
bilinear resize commutes with the mirror) -> float -> keep-ratio resize to (--short-side,
--max-side) with mmdetection's size rule, torch.nn.functional.interpolate bilinear (half-pixel
centres, no antialias, as ours) -> boxes scaled, clipped and flipped -> normalise in place with
the ImageNet mean and std -> zero-pad to --size-divisor and collate --batch images into
[N, 3, Hp, Wp], by torch.utils.data.DataLoader with --workers worker processes (0: the main
process loads), shuffled per epoch. In a worker the padded batch is allocated in shared memory, as
default_collate does, so handing it to the main process costs no extra copy. One intra-op thread
everywhere (torch.set_num_threads(1); DataLoader workers use one by default).

Loader figures: the first --warmup batches (worker start-up, cold caches) are not timed; the
clock runs from there to the last batch of the last epoch; images/s is the timed images over that
wall time, per core divides by max(1, workers). Stage figures (one thread, median per image):
decode_jpeg on file bytes already in memory, resize (uint8 -> float and interpolate) and
normalise of the first image.

With --ours BINARY the script runs `BINARY bench loader` with the same options and itself,
alternating (A B A B) --rounds times, and prints one table with the best figure of each (the
round least disturbed by other work on the machine). Environment variables such as
MALLOC_ARENA_MAX reach both.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
import torchvision
from torchvision.io import decode_jpeg, read_file

from timing import median_ms

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


def rescale_size(height, width, short_side, max_side):
    """mmcv's rescale_size for a (max_side, short_side) scale: the resized (height, width)."""
    scale = min(max_side / max(height, width), short_side / min(height, width))
    return int(height * scale + 0.5), int(width * scale + 0.5)


class CocoTrainSet(torch.utils.data.Dataset):
    """A COCO split as training samples (image [3, H, W] f32, boxes [G, 4], labels [G]); `count`
    samples, cycling through the images."""

    def __init__(self, json_path, image_root, count, short_side, max_side):
        with open(json_path) as f:
            coco = json.load(f)
        label_of = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
        boxes = {im["id"]: ([], []) for im in coco["images"]}
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            if a.get("iscrowd", 0) or w < 1 or h < 1:
                continue
            boxes[a["image_id"]][0].append([x, y, x + w, y + h])
            boxes[a["image_id"]][1].append(label_of[a["category_id"]])
        self.records = []
        for im in coco["images"]:
            b, l = boxes[im["id"]]
            self.records.append((os.path.join(image_root, im["file_name"]), im["height"], im["width"],
                                 torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                                 torch.tensor(l, dtype=torch.int64)))
        self.count = count or len(self.records)
        self.short_side, self.max_side = short_side, max_side
        self.mean = torch.tensor(IMAGENET_MEAN_RGB).view(3, 1, 1)
        self.inv_std = (1.0 / torch.tensor(IMAGENET_STD_RGB, dtype=torch.float64)).float().view(3, 1, 1)

    def __len__(self):
        return self.count

    def resize(self, image):
        """uint8 [3, H, W] (contiguous) -> float [3, h, w] and the (x, y) scale factors."""
        height, width = image.shape[1:]
        new_h, new_w = rescale_size(height, width, self.short_side, self.max_side)
        out = F.interpolate(image.float().unsqueeze(0), size=(new_h, new_w), mode="bilinear", align_corners=False)
        return out[0], new_w / width, new_h / height

    def normalize_(self, image):
        return image.sub_(self.mean).mul_(self.inv_std)

    def __getitem__(self, index):
        path, _, _, boxes, labels = self.records[index % len(self.records)]
        # decode_jpeg returns a channels-last view; interpolate is 2.5x slower on it than on planes.
        image = decode_jpeg(read_file(path)).contiguous()
        flip = torch.rand(1).item() < 0.5
        if flip:  # on the small uint8 image: the bilinear resize commutes with the mirror
            image = image.flip(-1)
        image, scale_x, scale_y = self.resize(image)
        height, width = image.shape[1:]
        boxes = boxes * torch.tensor([scale_x, scale_y, scale_x, scale_y])
        boxes[:, 0::2].clamp_(0, width)
        boxes[:, 1::2].clamp_(0, height)
        if flip:
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
        return self.normalize_(image), boxes, labels


def padded(size, divisor):
    return (size + divisor - 1) // divisor * divisor


def pad_collate(samples, size_divisor):
    """[N, 3, Hp, Wp] zero-padded at the bottom and right, plus the boxes and labels as lists."""
    hp = padded(max(s[0].shape[1] for s in samples), size_divisor)
    wp = padded(max(s[0].shape[2] for s in samples), size_divisor)
    shape = (len(samples), 3, hp, wp)
    if torch.utils.data.get_worker_info() is not None:  # straight into shared memory, as default_collate
        storage = samples[0][0].storage()._new_shared(len(samples) * 3 * hp * wp)
        images = samples[0][0].new(storage).resize_(shape).zero_()
    else:
        images = torch.zeros(shape)
    for i, (image, _, _) in enumerate(samples):
        images[i, :, : image.shape[1], : image.shape[2]].copy_(image)
    return images, [s[1] for s in samples], [s[2] for s in samples]


class Collate:  # a picklable collate_fn bound to the divisor
    def __init__(self, size_divisor):
        self.size_divisor = size_divisor

    def __call__(self, samples):
        return pad_collate(samples, self.size_divisor)


def time_stages(dataset, decode_only):
    """[(stage, ms per image)] on one thread (see the top of this file)."""
    distinct = min(dataset.count, len(dataset.records))
    files = [read_file(dataset.records[i][0]) for i in range(distinct)]
    warmup, repeats = 3, 300  # about a second per stage
    cursor = iter(range(10**12))
    stages = [("decode (libjpeg, bytes in memory)",
               median_ms(lambda: decode_jpeg(files[next(cursor) % len(files)]), warmup, repeats))]
    if decode_only:
        return stages
    image = decode_jpeg(files[0]).contiguous()
    resized = dataset.resize(image)[0]
    stages.append((f"resize {image.shape[2]}x{image.shape[1]} -> {resized.shape[2]}x{resized.shape[1]}",
                   median_ms(lambda: dataset.resize(image), warmup, repeats)))
    stages.append(("normalise [3, H, W] f32", median_ms(lambda: dataset.normalize_(resized), warmup, repeats)))
    return stages


def time_loader(dataset, workers, args):
    """(timed images, seconds) for one worker count."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=workers,
                                         collate_fn=Collate(args.size_divisor), persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(0))
    seen = images = 0
    start = time.perf_counter()
    for _ in range(args.epochs):
        for batch in loader:
            seen += 1
            if seen == args.warmup:
                start = time.perf_counter()
            elif seen > args.warmup:
                images += batch[0].shape[0]
    return images, time.perf_counter() - start


def run_peer(args):
    """The peer's figures, in the layout of `ghm_retinanet bench loader --json-out`."""
    torch.set_num_threads(1)
    dataset = CocoTrainSet(args.json, args.images, args.images_count, args.short_side, args.max_side)
    batches = (len(dataset) + args.batch - 1) // args.batch
    if not args.decode_only and batches * args.epochs <= args.warmup:
        sys.exit(f"{args.epochs} epoch(s) of {batches} batches leave nothing to time after --warmup {args.warmup} "
                 "(use a larger --images-count or --epochs)")
    result = {"stages": [{"stage": name, "ms_per_image": ms} for name, ms in time_stages(dataset, args.decode_only)],
              "loader": []}
    if not args.decode_only:
        for workers in args.workers:
            images, seconds = time_loader(dataset, workers, args)
            cores = max(1, workers)
            rate = images / seconds
            result["loader"].append({"workers": workers, "cores": cores, "images": images, "seconds": seconds,
                                     "images_per_s": rate, "images_per_s_per_core": rate / cores})
    return result


def run_ours(args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "loader.json")
        argv = [args.ours, "bench", "loader", "--json", args.json, "--images", args.images,
                "--workers", ",".join(map(str, args.workers)), "--epochs", str(args.epochs),
                "--warmup", str(args.warmup), "--short-side", str(args.short_side), "--max-side", str(args.max_side),
                "--size-divisor", str(args.size_divisor), "--batch", str(args.batch), "--json-out", out]
        if args.images_count:
            argv += ["--images-count", str(args.images_count)]
        if args.decode_only:
            argv.append("--decode-only")
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed:\n{proc.stderr}")
        with open(out) as f:
            return json.load(f)


def best(results):
    """Per stage the smallest ms, per worker count the largest images/s, over rounds."""
    stages = {}
    for r in results:
        for s in r["stages"]:
            stages[s["stage"]] = min(stages.get(s["stage"], float("inf")), s["ms_per_image"])
    loader = {}
    for r in results:
        for run in r["loader"]:
            if run["workers"] not in loader or run["images_per_s"] > loader[run["workers"]]["images_per_s"]:
                loader[run["workers"]] = run
    return stages, loader


def print_table(named_results, rounds):
    print("| stage (1 thread) | " + " | ".join(f"{name} ms/image | {name} images/s" for name in named_results) + " |")
    print("| --- |" + " ---: | ---: |" * len(named_results))
    tables = {name: best(results) for name, results in named_results.items()}
    stage_rows = [list(t[0].items()) for t in tables.values()]
    for row in zip(*stage_rows):
        cells = " | ".join(f"{ms:.2f} | {1000 / ms:.0f}" for _, ms in row)
        print(f"| {row[0][0]} | {cells} |")  # the first one's name (ours names its decoder stb)
    workers = sorted({w for t in tables.values() for w in t[1]})
    if workers:
        print("\n| workers | cores | " + " | ".join(f"{name} images/s | {name} per core" for name in named_results) +
              " |")
        print("| ---: | ---: |" + " ---: | ---: |" * len(named_results))
        for w in workers:
            cells = " | ".join(f"{t[1][w]['images_per_s']:.0f} | {t[1][w]['images_per_s_per_core']:.0f}"
                               for t in tables.values())
            print(f"| {w} | {max(1, w)} | {cells} |")
    print(f"\n(best of {rounds} round(s); MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')})")


def worker_list(text):
    try:
        workers = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers needs integers separated by commas, got '{text}'")
    if any(w < 0 for w in workers):
        raise argparse.ArgumentTypeError(f"--workers must be >= 0, got '{text}'")
    return workers


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", required=True, help="COCO instances file")
    parser.add_argument("--images", required=True, help="folder of its images")
    parser.add_argument("--workers", type=worker_list, default=[1], help="worker counts, e.g. 0,1,2 (default 1)")
    parser.add_argument("--images-count", type=positive, default=0,
                        help="samples per epoch (default the whole set; cycles through it when larger)")
    parser.add_argument("--epochs", type=positive, default=1)
    parser.add_argument("--warmup", type=int, default=4, help="batches not timed (default 4)")
    parser.add_argument("--short-side", type=positive, default=800)
    parser.add_argument("--max-side", type=positive, default=1333)
    parser.add_argument("--size-divisor", type=positive, default=32)
    parser.add_argument("--batch", type=positive, default=2)
    parser.add_argument("--decode-only", action="store_true", help="time the decode stage alone")
    parser.add_argument("--ours", help="ghm_retinanet binary: run it and the peer alternately, one table")
    parser.add_argument("--rounds", type=positive, default=2, help="alternating rounds with --ours (default 2)")
    parser.add_argument("--json-out", help="write the peer's figures (or, with --ours, every round's) as JSON")
    args = parser.parse_args()
    if args.short_side > args.max_side:
        parser.error(f"--short-side {args.short_side} is larger than --max-side {args.max_side}")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")

    peer = f"PyTorch {torch.__version__.split('+')[0]}"
    print(f"{peer}, torchvision {torchvision.__version__.split('+')[0]}; {args.json}, batch {args.batch}, "
          f"short side {args.short_side}, max side {args.max_side}, divisor {args.size_divisor}\n")
    if args.ours:
        runs = {"ours": [], peer: []}
        for _ in range(args.rounds):
            runs["ours"].append(run_ours(args))
            runs[peer].append(run_peer(args))
        print_table(runs, args.rounds)
    else:
        runs = {peer: [run_peer(args)]}
        print_table(runs, 1)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
