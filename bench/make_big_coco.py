"""Writes a synthetic COCO instances file of instances_train2017.json's size and shape.

Run:  /usr/bin/python3 bench/make_big_coco.py OUT.json [--images 118287] [--annotations 860001]
          [--points 27] [--seed 0]

The file is for timing loaders (bench/coco_load.py), not for training: boxes and polygons are
random. What matches the real file is what a loader pays for:
  - sections and key order: info, licenses, images, annotations, categories; images carry
    license, file_name, coco_url, height, width, date_captured, flickr_url, id; annotations
    segmentation, area, iscrowd, image_id, bbox, category_id, id; formatting `"key": value` with
    no space after commas, as the released files have it
  - counts: 118,287 images with sparse ids (1..581,929), 860,001 annotations spread unevenly
    (about 1% of the images have none), 80 categories with COCO's ids 1..90 with gaps
  - segmentations: 1-3 polygons per object, on average --points (x, y) points in total, with
    2-decimal coordinates; 1% crowd objects with uncompressed RLE {"counts": [...], "size": [h, w]}
  - areas as full-precision floats (702.1057499999998), boxes with 2 decimals, and a few dozen
    boxes thinner than 1 px (the real file has some too)
  - annotations in shuffled order, not grouped by image
With the defaults the output is about 450 MiB, like the real file (448 MiB). Deterministic for
a given seed. Writes in chunks, so memory stays under ~1 GB.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

# COCO's 80 category ids: 1..90 without 12, 26, 29, 30, 45, 66, 68, 69, 71, 83.
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
SUPERCATEGORIES = ["person", "vehicle", "outdoor", "animal", "accessory", "sports", "kitchen", "food",
                   "furniture", "electronic", "appliance", "indoor"]
CHUNK = 20000  # annotations generated and written at a time


def dumps(value):
    return json.dumps(value, separators=(",", ": "))


def write_images(f, rng, n_images):
    ids = np.sort(rng.choice(np.arange(1, 581930), size=n_images, replace=False))
    widths = np.where(rng.random(n_images) < 0.7, 640, rng.integers(320, 641, n_images))
    heights = rng.integers(240, 641, n_images)
    licenses = rng.integers(1, 9, n_images)
    days = rng.integers(0, 365, n_images)
    farms = rng.integers(1, 10, n_images)
    order = rng.permutation(n_images)  # the released file is not sorted by id either
    f.write('"images": [')
    for k, i in enumerate(order):
        image_id = int(ids[i])
        name = f"{image_id:012d}.jpg"
        record = {"license": int(licenses[i]), "file_name": name,
                  "coco_url": f"http://images.cocodataset.org/train2017/{name}",
                  "height": int(heights[i]), "width": int(widths[i]),
                  "date_captured": f"2013-{1 + days[i] // 31:02d}-{1 + days[i] % 28:02d} 12:{k % 60:02d}:{i % 60:02d}",
                  "flickr_url": f"http://farm{farms[i]}.staticflickr.com/{1000 + i % 9000}/{image_id * 7919}_"
                                f"{image_id % 65536:04x}abcd_z.jpg",
                  "id": image_id}
        f.write(("," if k else "") + dumps(record))
    f.write("],")
    return ids, widths, heights


def write_annotations(f, rng, ids, widths, heights, n_annotations, mean_points):
    n_images = len(ids)
    # Objects per image: uneven (gamma-distributed rates), which leaves about 1% of the images empty.
    weights = rng.gamma(6.0, 1.0, n_images)
    image_of = rng.choice(n_images, size=n_annotations, p=weights / weights.sum())
    w_img, h_img = widths[image_of].astype(float), heights[image_of].astype(float)
    # Log-uniform box sizes from 2 px to the image size; 40 boxes thinner than a pixel.
    bw = np.minimum(np.exp(rng.uniform(np.log(2), np.log(w_img))), w_img - 1)
    bh = np.minimum(np.exp(rng.uniform(np.log(2), np.log(h_img))), h_img - 1)
    thin = rng.choice(n_annotations, size=40, replace=False)
    bw[thin[:20]] = rng.uniform(0.0, 0.99, 20)
    bh[thin[20:]] = rng.uniform(0.0, 0.99, 20)
    bx = rng.uniform(0, w_img - bw)
    by = rng.uniform(0, h_img - bh)
    boxes = np.round(np.stack([bx, by, bw, bh], axis=1), 2)
    areas = boxes[:, 2] * boxes[:, 3] * rng.uniform(0.4, 0.9, n_annotations)
    categories = rng.choice(COCO_CATEGORY_IDS, size=n_annotations)
    crowd = rng.random(n_annotations) < 0.01
    ann_ids = rng.choice(np.arange(1, 2300000), size=n_annotations, replace=False)
    ann_ids[crowd] = 900100000 + np.arange(int(crowd.sum()))
    points = np.clip(rng.poisson(mean_points, n_annotations), 3, None)
    polygons = rng.choice([1, 2, 3], p=[0.85, 0.11, 0.04], size=n_annotations)

    f.write('"annotations": [')
    for start in range(0, n_annotations, CHUNK):
        parts = []
        for a in range(start, min(start + CHUNK, n_annotations)):
            x, y, w, h = boxes[a]
            if crowd[a]:
                runs = rng.integers(1, 60, int(2 * max(w, 4)))
                segmentation = {"counts": runs.tolist(), "size": [int(h_img[a]), int(w_img[a])]}
            else:
                xy = rng.random((points[a], 2)) * (w, h) + (x, y)
                flat = np.round(xy, 2).ravel().tolist()
                cuts = sorted(rng.choice(np.arange(1, points[a]), size=min(polygons[a], points[a] - 1) - 1,
                                         replace=False).tolist()) if polygons[a] > 1 and points[a] > 2 else []
                bounds = [0] + cuts + [int(points[a])]
                segmentation = [flat[2 * b0:2 * b1] for b0, b1 in zip(bounds, bounds[1:])]
            parts.append(dumps({"segmentation": segmentation, "area": float(areas[a]), "iscrowd": int(crowd[a]),
                                "image_id": int(ids[image_of[a]]), "bbox": boxes[a].tolist(),
                                "category_id": int(categories[a]), "id": int(ann_ids[a])}))
        f.write(("," if start else "") + ",".join(parts))
    f.write("],")
    return int(crowd.sum()), n_images - len(np.unique(image_of))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--images", type=int, default=118287)
    parser.add_argument("--annotations", type=int, default=860001)
    parser.add_argument("--points", type=int, default=27, help="mean (x, y) points per object's polygons")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write('{"info": ' + dumps({"description": "synthetic COCO-like instances file (bench/make_big_coco.py)",
                                     "url": "http://cocodataset.org", "version": "1.0", "year": 2017,
                                     "contributor": "bench", "date_created": "2017/09/01"}) + ",")
        licenses = [{"url": f"http://creativecommons.org/licenses/by/{i}.0/", "id": i, "name": f"License {i}"}
                    for i in range(1, 9)]
        f.write('"licenses": ' + dumps(licenses) + ",")
        ids, widths, heights = write_images(f, rng, args.images)
        n_crowd, n_empty = write_annotations(f, rng, ids, widths, heights, args.annotations, args.points)
        categories = [{"supercategory": SUPERCATEGORIES[k % len(SUPERCATEGORIES)], "id": c, "name": f"class_{c}"}
                      for k, c in enumerate(COCO_CATEGORY_IDS)]
        f.write('"categories": ' + dumps(categories) + "}")
    print(f"{args.out}: {args.images} images ({n_empty} without annotations), {args.annotations} annotations "
          f"({n_crowd} crowd), {len(COCO_CATEGORY_IDS)} categories, {os.path.getsize(args.out) / 2**20:.0f} MiB "
          f"in {time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
