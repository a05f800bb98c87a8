"""Generate the pycocotools reference fixtures for the COCO evaluator tests.

Run:  /usr/bin/python3 tools/make_fixtures_cocoeval.py [--out tests/data]
      (needs numpy and pycocotools: /usr/bin/python3 -m pip install pycocotools)

Each case is three files:
  tests/data/cocoeval_<name>.gt.json     a COCO instances file (images, annotations, categories)
  tests/data/cocoeval_<name>.dt.json     a COCO results file
  tests/data/cocoeval_<name>.stats.json  what pycocotools' COCOeval(iouType='bbox') computes:
      "stats":          the 12 numbers of summarize()
      "summary":        the 12 lines summarize() prints
      "per_class":      {"<category id>": {"name": ..., "ap": AP@[.50:.95], area all, maxDets 100}}
                        (mean of precision[:, :, k, 0, 2] over the entries > -1, or -1)
      "recall":         eval['recall'], [T=10][K][A=4][M=3]
      "precision_sum":  eval['precision'] summed over the 101 recall thresholds, [T][K][A][M]
      "pycocotools":    the version that made them
      "description":    what the case covers

Every case has sparse category ids (1, 5, 17, 90, ...), a category with ground truth but no
detections and one with detections but no ground truth, images without ground truth and images
without detections, crowd regions, `ignore` flags on non-crowd boxes (which pycocotools
overwrites with iscrowd, so they change nothing), tiny (< 32²) and huge (> 96²) boxes, duplicate
detections and tied scores. Cases:
  random_int    integer boxes (IoUs land exactly on thresholds) and scores in steps of 0.05
  random_float  float boxes and scores rounded to 3 decimals; extra keys in the results ("id",
                "area") that loadRes overwrites
  crowd         many large crowd regions with detections inside them (IoU = intersection /
                detection area; a crowd can absorb several detections) and only-crowd images
  many_dets     an image with 250 detections of one category (cut to the top 100, with ties
                at the cut), one with 120 over three categories, and maxDets 1/10/100 differing
  edge          hand-made: annotation id 0 (a match to it counts as no match), annotation and
                detection areas exactly on the range bounds 32² and 96², an annotation whose
                `area` disagrees with its box, zero, negative and inverted detection boxes,
                detections of category ids the ground truth lacks (never evaluated), negative
                and zero scores, and a detection with an escaped string in an extra key (the
                C++ reader's general-parser path)
"""

import argparse
import contextlib
import io
import json
import math
import os
import random

from importlib.metadata import version

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

CATEGORIES = [(1, "person"), (5, "airplane"), (17, "cat"), (33, "kite"), (90, "toothbrush")]
# 33 never gets ground truth; 17 gets detections only where a case says so.


class Case:
    def __init__(self, name, description, categories=CATEGORIES):
        self.name, self.description = name, description
        self.categories = [{"id": c, "name": n, "supercategory": "thing"} for c, n in categories]
        self.images, self.annotations, self.detections = [], [], []
        self.next_ann_id = 1

    def image(self, image_id, width=640, height=480):
        self.images.append({"id": image_id, "width": width, "height": height, "file_name": f"{image_id}.jpg"})

    def gt(self, image_id, category_id, box, area=None, iscrowd=0, ignore=None, ann_id=None):
        ann = {"id": self.next_ann_id if ann_id is None else ann_id, "image_id": image_id,
               "category_id": category_id, "bbox": list(box),
               "area": box[2] * box[3] if area is None else area, "iscrowd": iscrowd}
        if ann_id is None:
            self.next_ann_id += 1
        if ignore is not None:
            ann["ignore"] = ignore
        self.annotations.append(ann)

    def det(self, image_id, category_id, box, score, **extra):
        d = {"image_id": image_id, "category_id": category_id, "bbox": list(box), "score": score}
        d.update(extra)
        self.detections.append(d)


def log_uniform(rng, low, high):
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def populate(case, rng, images, first_image_id, gt_categories, det_categories, integer, score_step, crowd_rate,
             extra_keys=False):
    """Random images: 0-6 boxes each of 2..600 px, noisy detections, duplicates, false positives."""
    def rnd(v):
        return int(round(v)) if integer else round(v, 2)

    for n in range(images):
        image_id = first_image_id + 7 * n  # sparse image ids
        case.image(image_id)
        n_gt = 0 if n % 5 == 1 else rng.randint(1, 6)  # every 5th image has no ground truth
        boxes = []
        for _ in range(n_gt):
            w, h = log_uniform(rng, 2, 600), log_uniform(rng, 2, 450)
            w, h = min(w, 630), min(h, 470)
            box = [rnd(rng.uniform(0, 640 - w)), rnd(rng.uniform(0, 480 - h)), max(rnd(w), 1), max(rnd(h), 1)]
            cat = rng.choice(gt_categories)
            crowd = 1 if rng.random() < crowd_rate else 0
            ignore = 1 if (not crowd and rng.random() < 0.08) else None
            area = round(box[2] * box[3] * rng.uniform(0.6, 1.0), 2)  # a segment's area is below its box's
            case.gt(image_id, cat, box, area=area, iscrowd=crowd, ignore=ignore)
            boxes.append((box, cat))
        if n % 7 == 3:
            continue  # no detections on this image
        dets = []
        for box, cat in boxes:
            for _ in range(rng.randint(0, 3)):
                j = [rng.gauss(0, 0.08) * box[2], rng.gauss(0, 0.08) * box[3]]
                d = [rnd(box[0] + j[0]), rnd(box[1] + j[1]), max(rnd(box[2] * rng.uniform(0.8, 1.2)), 1),
                     max(rnd(box[3] * rng.uniform(0.8, 1.2)), 1)]
                c = cat if rng.random() > 0.1 else rng.choice(det_categories)
                dets.append((d, c))
            if rng.random() < 0.3:
                dets.append((list(box), cat))  # an exact copy: IoU 1
        for _ in range(rng.randint(0, 8)):  # false positives
            w, h = log_uniform(rng, 3, 400), log_uniform(rng, 3, 300)
            dets.append(([rnd(rng.uniform(0, 600)), rnd(rng.uniform(0, 450)), max(rnd(w), 1), max(rnd(h), 1)],
                         rng.choice(det_categories)))
        if dets and rng.random() < 0.5:
            dets.append(dets[rng.randrange(len(dets))])  # a duplicate detection
        for d, c in dets:
            score = round(rng.random() / score_step) * score_step if score_step else rng.random()
            extra = {}
            if extra_keys:
                extra = {"id": 999, "area": 1.5}
            case.det(image_id, c, d, round(score, 3), **extra)


def make_random_int(rng):
    case = Case("random_int", "integer boxes, scores in steps of 0.05, sparse ids, crowd, ignore flags")
    populate(case, rng, 22, 3, [1, 5, 90], [1, 5, 17, 90], integer=True, score_step=0.05, crowd_rate=0.08)
    return case


def make_random_float(rng):
    case = Case("random_float", "float boxes, scores to 3 decimals, extra result keys")
    populate(case, rng, 22, 100, [1, 5, 90], [1, 5, 17, 90], integer=False, score_step=0, crowd_rate=0.05,
             extra_keys=True)
    return case


def make_crowd(rng):
    case = Case("crowd", "large crowd regions with detections inside, only-crowd images")
    for n in range(10):
        image_id = 1000 + n
        case.image(image_id)
        for _ in range(rng.randint(1, 2)):
            cx, cy = rng.uniform(0, 300), rng.uniform(0, 200)
            crowd = [round(cx, 1), round(cy, 1), round(rng.uniform(150, 330), 1), round(rng.uniform(120, 270), 1)]
            cat = rng.choice([1, 5])
            case.gt(image_id, cat, crowd, area=round(crowd[2] * crowd[3] * 0.7, 1), iscrowd=1)
            for _ in range(rng.randint(2, 6)):  # detections inside (and partly outside) the region
                w, h = rng.uniform(10, 120), rng.uniform(10, 120)
                x, y = crowd[0] + rng.uniform(-20, crowd[2]), crowd[1] + rng.uniform(-20, crowd[3])
                case.det(image_id, cat, [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
                         round(rng.random(), 2))
        if n % 3 != 0:  # some images hold people too; the others only crowds
            for _ in range(rng.randint(1, 3)):
                box = [round(rng.uniform(0, 500), 1), round(rng.uniform(0, 380), 1), round(rng.uniform(8, 130), 1),
                       round(rng.uniform(8, 100), 1)]
                case.gt(image_id, 1, box, ignore=1 if rng.random() < 0.3 else None)
                case.det(image_id, 1, [box[0] + 2, box[1] - 1, box[2], box[3] + 3], round(rng.random(), 2))
        if n % 4 == 1:
            case.det(image_id, 90, [10, 10, 50, 40], 0.5)  # a category without ground truth in this case
    case.image(1100)  # no boxes at all
    return case


def make_many_dets(rng):
    case = Case("many_dets", "250 detections of one category on an image (top 100 kept, ties at the cut), "
                             "120 over three categories on another")
    case.image(1)
    for _ in range(12):
        box = [rng.randint(0, 560), rng.randint(0, 400), rng.randint(6, 80), rng.randint(6, 80)]
        case.gt(1, 1, box)
    gts = [a for a in case.annotations if a["image_id"] == 1]
    for n in range(250):
        g = gts[n % len(gts)]["bbox"]
        d = [g[0] + rng.randint(-4, 4), g[1] + rng.randint(-4, 4), g[2] + rng.randint(-3, 3), g[3] + rng.randint(-3, 3)]
        case.det(1, 1, d, round(rng.choice([0.9, 0.8, 0.7]) if n % 9 == 0 else rng.random(), 2))
    case.image(2)
    for cat in (1, 5, 90):
        for _ in range(4):
            box = [rng.randint(0, 560), rng.randint(0, 400), rng.randint(20, 200), rng.randint(20, 150)]
            case.gt(2, cat, box, ignore=1 if cat == 5 else None)
    gts = [a for a in case.annotations if a["image_id"] == 2]
    for n in range(120):
        g = gts[n % len(gts)]
        b = g["bbox"]
        d = [b[0] + rng.randint(-10, 10), b[1] + rng.randint(-10, 10), b[2] + rng.randint(-8, 8),
             b[3] + rng.randint(-8, 8)]
        case.det(2, g["category_id"], d, round(rng.random(), 3))
    for image_id in (3, 4, 5):
        case.image(image_id)
        box = [100 * (image_id - 2), 50, 40 + image_id, 30]
        case.gt(image_id, 5, box)
        for n in range(15):  # maxDets 1 and 10 see only the best one or ten of these
            case.det(image_id, 5, [box[0] + n, box[1], box[2], box[3]], round(1.0 - n * 0.05, 2))
    case.image(6)  # an image without ground truth, with detections
    for n in range(5):
        case.det(6, 1, [10 * n, 10, 30, 30], 0.95)
    return case


def make_edge():
    case = Case("edge", "annotation id 0, area bounds, inconsistent areas, degenerate boxes, unknown categories, "
                        "negative scores, escaped text")
    case.image(10)
    case.image(20)
    case.image(30)
    case.image(40)
    # Annotation id 0: pycocotools stores the matched id and tests it for truth, so the detection
    # that takes this box counts as a false positive, and the box is taken all the same.
    case.gt(10, 1, [0, 0, 100, 100], ann_id=0)
    case.det(10, 1, [0, 0, 100, 100], 0.9)
    case.det(10, 1, [2, 0, 100, 100], 0.8)
    # Areas exactly on the bounds: 32*32 = 1024 and 96*96 = 9216 (both ranges include a bound).
    case.gt(10, 5, [200, 200, 32, 32])
    case.gt(10, 5, [300, 200, 96, 96])
    case.gt(10, 5, [100, 300, 64, 16])  # area 1024, not square
    case.det(10, 5, [200, 200, 32, 32], 0.7)
    case.det(10, 5, [300, 200, 96, 96], 0.7)
    case.det(10, 5, [100, 300, 64, 16], 0.7)
    case.det(10, 5, [500, 10, 32, 32], 0.65)  # unmatched, area exactly 1024
    # IoU exactly 0.5 and exactly 0.75 with integer boxes (intersection / union).
    case.gt(20, 1, [0, 0, 100, 100])
    case.det(20, 1, [0, 0, 100, 50], 0.6)          # IoU 0.5
    case.gt(20, 1, [200, 0, 100, 100])
    case.det(20, 1, [200, 0, 100, 75], 0.6)        # IoU 0.75 (a tie with the one above)
    case.gt(20, 1, [400, 0, 100, 100])
    case.det(20, 1, [400, 0, 100, 80], 0.55)       # IoU 0.8
    # An annotation whose `area` (a segment) puts it in another range than its box would.
    case.gt(20, 90, [0, 200, 100, 100], area=900.0)
    case.det(20, 90, [0, 200, 100, 100], 0.5)
    case.gt(20, 90, [300, 300, 20, 20], area=20000.0)
    case.det(20, 90, [300, 300, 20, 20], 0.45)
    # Degenerate detection boxes: zero width (area 0), inverted (negative w and h, area > 0),
    # negative width only (area < 0: outside every range).
    case.det(30, 1, [10, 10, 0, 50], 0.99)
    case.det(30, 1, [60, 60, -20, -20], 0.98)
    case.det(30, 1, [80, 80, -10, 30], 0.97)
    case.gt(30, 1, [10, 10, 40, 50])
    case.det(30, 1, [10, 10, 40, 50], 0.1)
    # Detections of categories the ground truth does not have: never evaluated.
    case.det(30, 2, [10, 10, 40, 50], 0.95)
    case.det(40, 91, [10, 10, 40, 50], 0.95)
    # Negative and zero scores, ties, and a crowd box with a non-crowd box inside it.
    case.gt(40, 5, [0, 0, 300, 300], iscrowd=1)
    case.gt(40, 5, [10, 10, 50, 50], ignore=1)
    case.det(40, 5, [10, 10, 50, 50], 0.0)
    case.det(40, 5, [12, 10, 50, 50], 0.0)
    case.det(40, 5, [100, 100, 50, 50], -0.5)
    case.det(40, 5, [0, 0, 300, 300], -0.5, note="r\u00e9sum\u00e9 \"quoted\"")
    # Category 17 has detections and no ground truth; 33 has neither.
    case.det(40, 17, [0, 0, 10, 10], 0.3)
    return case


def run_pycocotools(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        ev.summarize()
    precision, recall = ev.eval["precision"], ev.eval["recall"]
    per_class = {}
    names = {c["id"]: c["name"] for c in gt.dataset["categories"]}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, 2]
        p = p[p > -1]
        per_class[str(cat_id)] = {"name": names[cat_id], "ap": float(np.mean(p)) if p.size else -1.0}
    return {
        "stats": [float(s) for s in ev.stats],
        "summary": summary.getvalue(),
        "per_class": per_class,
        "recall": recall.tolist(),
        "precision_sum": precision.sum(axis=1).tolist(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
    args = parser.parse_args()
    rng = random.Random(20240611)
    cases = [make_random_int(rng), make_random_float(rng), make_crowd(rng), make_many_dets(rng), make_edge()]
    total = 0
    for case in cases:
        base = os.path.join(args.out, f"cocoeval_{case.name}")
        gt = {"info": {"description": case.description}, "images": case.images, "annotations": case.annotations,
              "categories": case.categories}
        with open(base + ".gt.json", "w") as f:
            json.dump(gt, f, separators=(",", ":"))
        with open(base + ".dt.json", "w") as f:
            json.dump(case.detections, f, separators=(",", ":"))
        ref = run_pycocotools(base + ".gt.json", base + ".dt.json")
        ref["pycocotools"] = version("pycocotools")
        ref["description"] = case.description
        with open(base + ".stats.json", "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        size = sum(os.path.getsize(base + s) for s in (".gt.json", ".dt.json", ".stats.json"))
        total += size
        print(f"{case.name:<13} {len(case.images):3d} images {len(case.annotations):4d} gt {len(case.detections):4d} dt "
              f"{size / 1024:6.1f} KiB  AP {ref['stats'][0]:.4f}")
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
