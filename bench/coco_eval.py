"""pycocotools against `ghm_retinanet coco-eval` on a COCO-val-sized bounding-box evaluation.

Run:  /usr/bin/python3 bench/coco_eval.py [--binary build/bin/ghm_retinanet] [--images 5000]
          [--dets-per-image 73] [--seed 0] [--keep DIR] [--threads N] [--repeats 3]
          [--skip-pycocotools]

Generates a synthetic ground truth and a results file in a temporary folder (or DIR with
--keep, where existing files are reused), then runs, one after the other, each in its own
process:
  pycocotools   COCO(gt) + loadRes(dt) + COCOeval(iouType='bbox') evaluate, accumulate,
                summarize: everything a user waits for, JSON loading included
  ghm           `ghm_retinanet coco-eval --gt GT --dt DT --json OUT` (same work, same files),
                --repeats times (it is short, so the median of a few runs is reported)
and reports each one's wall time and peak resident memory (from os.wait4 on that child),
the speed-up, and the largest difference of the 12 summary numbers (must be <= 1e-6).

The data looks like COCO val2017 seen by a RetinaNet: 640x480-ish images, ~7.3 ground-truth
boxes per image (log-uniform sizes from 4 to 400 px, so all three area ranges are populated,
1% crowd), 80 categories with COCO's sparse ids (1..90 with gaps), and 73 detections per image:
noisy copies of ground-truth boxes (jittered by ~10% of their size, 10% with a wrong class)
plus uniformly placed false positives, scores rounded to 4 decimals (so ties occur), boxes to
2 decimals. Exit status 1 when the numbers disagree.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# COCO's 80 category ids: 1..90 without 12, 26, 29, 30, 45, 66, 68, 69, 71, 83.
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
TOLERANCE = 1e-6

PYCOCOTOOLS_SCRIPT = r"""
import contextlib, io, json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_path, dt_path, out_path = sys.argv[1:4]
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(gt_path)
    dt = gt.loadRes(dt_path)
    ev = COCOeval(gt, dt, iouType="bbox")
    ev.evaluate()
    ev.accumulate()
log = io.StringIO()
with contextlib.redirect_stdout(log):
    ev.summarize()
sys.stdout.write(log.getvalue())
with open(out_path, "w") as f:
    json.dump({"stats": [float(s) for s in ev.stats]}, f)
"""


def generate(images, dets_per_image, seed):
    rng = np.random.default_rng(seed)
    image_list, annotations, results = [], [], []
    ann_id = 1
    for image_id in range(1, images + 1):
        width, height = int(rng.integers(480, 641)), int(rng.integers(360, 481))
        image_list.append({"id": image_id, "width": width, "height": height, "file_name": f"{image_id:012d}.jpg"})
        n_gt = int(rng.poisson(7.3))
        sizes = np.exp(rng.uniform(np.log(4), np.log(400), size=(n_gt, 2)))
        w = np.minimum(sizes[:, 0], width - 1)
        h = np.minimum(sizes[:, 1], height - 1)
        x = rng.uniform(0, width - w)
        y = rng.uniform(0, height - h)
        cats = rng.choice(COCO_CATEGORY_IDS, size=n_gt)
        crowd = rng.random(n_gt) < 0.01
        gt_boxes = np.stack([x, y, w, h], axis=1).round(2)
        for b, c, k in zip(gt_boxes, cats, crowd):
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": int(c), "bbox": b.tolist(),
                                "area": round(float(b[2] * b[3]) * 0.8, 2), "iscrowd": int(k)})
            ann_id += 1
        # Noisy copies of the ground truth (up to 3 per object), then false positives.
        n_copies = min(dets_per_image, 3 * n_gt)
        src = rng.integers(0, max(n_gt, 1), size=n_copies) if n_gt else np.zeros(0, dtype=int)
        boxes = gt_boxes[src] if n_gt else np.zeros((0, 4))
        jitter = rng.normal(0, 0.1, size=(n_copies, 4)) * np.repeat(boxes[:, 2:4], 2, axis=1)
        boxes = boxes + jitter
        boxes[:, 2:4] = np.maximum(boxes[:, 2:4], 1.0)
        copy_cats = cats[src] if n_gt else np.zeros(0, dtype=int)
        wrong = rng.random(n_copies) < 0.1
        copy_cats = np.where(wrong, rng.choice(COCO_CATEGORY_IDS, size=n_copies), copy_cats)
        copy_scores = rng.beta(4, 2, size=n_copies)
        n_fp = dets_per_image - n_copies
        fp_sizes = np.exp(rng.uniform(np.log(4), np.log(300), size=(n_fp, 2)))
        fp_boxes = np.stack([rng.uniform(0, width, n_fp), rng.uniform(0, height, n_fp), fp_sizes[:, 0], fp_sizes[:, 1]],
                            axis=1)
        fp_cats = rng.choice(COCO_CATEGORY_IDS, size=n_fp)
        fp_scores = rng.beta(1, 6, size=n_fp)
        all_boxes = np.concatenate([boxes, fp_boxes]).round(2)
        all_cats = np.concatenate([copy_cats, fp_cats])
        all_scores = np.concatenate([copy_scores, fp_scores]).round(4)
        for b, c, s in zip(all_boxes.tolist(), all_cats.tolist(), all_scores.tolist()):
            results.append({"image_id": image_id, "category_id": c, "bbox": b, "score": s})
    categories = [{"id": c, "name": f"class_{c}", "supercategory": "thing"} for c in COCO_CATEGORY_IDS]
    gt = {"info": {"description": "synthetic COCO-like benchmark set"}, "images": image_list,
          "annotations": annotations, "categories": categories}
    return gt, results


def run_measured(argv, env=None):
    """Runs argv and returns (stdout, stderr, wall seconds, peak RSS in MiB, exit status)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return out.read().decode(), err.read().decode(), wall, usage.ru_maxrss / 1024.0, proc.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                         "bin", "ghm_retinanet"))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets-per-image", type=int, default=73)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="folder for the generated files (reused when present)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for ghm_retinanet (default: all cores)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ghm_retinanet (median wall time reported)")
    parser.add_argument("--skip-pycocotools", action="store_true", help="time ghm_retinanet only")
    parser.add_argument("--json", dest="json_out", metavar="OUT",
                        help="also write {name: {wall_s, peak_rss_mib}} to OUT")
    args = parser.parse_args()

    folder = args.keep or tempfile.mkdtemp(prefix="ghm_coco_bench_")
    os.makedirs(folder, exist_ok=True)
    gt_path = os.path.join(folder, f"gt_{args.images}_{args.dets_per_image}_{args.seed}.json")
    dt_path = os.path.join(folder, f"dt_{args.images}_{args.dets_per_image}_{args.seed}.json")
    try:
        if not (os.path.exists(gt_path) and os.path.exists(dt_path)):
            start = time.perf_counter()
            gt, dt = generate(args.images, args.dets_per_image, args.seed)
            with open(gt_path, "w") as f:
                json.dump(gt, f)
            with open(dt_path, "w") as f:
                json.dump(dt, f)
            print(f"generated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        with open(gt_path) as f:
            n_gt = len(json.load(f)["annotations"])
        print(f"data: {args.images} images, {n_gt} ground-truth boxes, {args.images * args.dets_per_image} "
              f"detections ({os.path.getsize(gt_path) / 2**20:.1f} + {os.path.getsize(dt_path) / 2**20:.1f} MiB JSON)")

        rows = []
        stats = {}
        if not args.skip_pycocotools:
            out_json = os.path.join(folder, "stats_pycocotools.json")
            out, err, wall, rss, rc = run_measured([sys.executable, "-c", PYCOCOTOOLS_SCRIPT, gt_path, dt_path, out_json])
            if rc != 0:
                sys.exit(f"pycocotools failed ({rc}):\n{err}")
            stats["pycocotools"] = json.load(open(out_json))["stats"]
            rows.append(("pycocotools", wall, rss))
        env = dict(os.environ)
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        out_json = os.path.join(folder, "stats_ghm.json")
        walls, rss = [], 0.0
        for _ in range(args.repeats):
            out, err, wall, run_rss, rc = run_measured([args.binary, "coco-eval", "--gt", gt_path, "--dt", dt_path,
                                                        "--json", out_json], env)
            if rc != 0:
                sys.exit(f"{args.binary} coco-eval failed ({rc}):\n{err}")
            walls.append(wall)
            rss = max(rss, run_rss)
        stats["ghm"] = json.load(open(out_json))["stats"]
        rows.append(("ghm_retinanet", statistics.median(walls), rss))
        print(out, end="")

        threads = args.threads or os.cpu_count()
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({name: {"wall_s": wall, "peak_rss_mib": rss} for name, wall, rss in rows}, f)
        print(f"\n{'evaluator':<16}{'wall s':>10}{'peak RSS MiB':>15}")
        for name, wall, rss in rows:
            print(f"{name:<16}{wall:>10.2f}{rss:>15.0f}")
        print(f"(ghm_retinanet with {threads} OpenMP thread(s); pycocotools is single-threaded)")
        if "pycocotools" in stats:
            print(f"speed-up: {rows[0][1] / rows[1][1]:.1f}x")
            diff = max(abs(a - b) for a, b in zip(stats["pycocotools"], stats["ghm"]))
            print(f"max |difference| of the 12 numbers: {diff:.3g} (tolerance {TOLERANCE:g})")
            if diff > TOLERANCE:
                print("pycocotools: " + " ".join(f"{v:.9f}" for v in stats["pycocotools"]))
                print("ghm:         " + " ".join(f"{v:.9f}" for v in stats["ghm"]))
                sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
