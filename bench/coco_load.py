"""pycocotools' COCO() against `ghm_retinanet bench coco-load` on one COCO instances file.

Run:  /usr/bin/python3 bench/make_big_coco.py /tmp/instances_big.json
      /usr/bin/python3 bench/coco_load.py /tmp/instances_big.json [--binary build/bin/ghm_retinanet]
          [--rounds 2]

Each round runs, one after the other and each in its own process:
  pycocotools   `COCO(path)`: json.load plus the index of images, annotations and categories
  ghm           `ghm_retinanet bench coco-load --json path`: coco::load_dataset
and records the load time each one measures around its own call, the wall time of the whole
process (interpreter start and imports included for pycocotools) and the process's peak resident
memory (from os.wait4 on that child). Rounds alternate the two (A B A B) so that both see the same
page cache and machine load; the table gives the median times and the largest peak memory. The
numbers of images, annotations and categories must agree (exit status 1 when they do not).
"""

import argparse
import importlib.metadata
import json
import os
import statistics
import sys

from timing import run_measured

PYCOCOTOOLS_SCRIPT = r"""
import contextlib, io, sys, time
from pycocotools.coco import COCO
with contextlib.redirect_stdout(io.StringIO()):
    start = time.perf_counter()
    coco = COCO(sys.argv[1])
    seconds = time.perf_counter() - start
print(f"seconds {seconds:.3f}")
print(f"counts {len(coco.imgs)} {len(coco.anns)} {len(coco.cats)}")
"""


def run_pycocotools(path):
    out, wall, rss = run_measured([sys.executable, "-c", PYCOCOTOOLS_SCRIPT, path])
    fields = dict(line.split(" ", 1) for line in out.splitlines())
    return float(fields["seconds"]), wall, rss, tuple(int(v) for v in fields["counts"].split())


def run_ghm(binary, path):
    out, wall, rss = run_measured([binary, "bench", "coco-load", "--json", path])
    fields = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}
    counts = (int(fields["images"]), int(fields["annotations"]), int(fields["categories"]))
    return float(fields["seconds"]), wall, rss, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="a COCO instances file (bench/make_big_coco.py writes one)")
    parser.add_argument("--binary", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                         "bin", "ghm_retinanet"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", dest="json_out", metavar="OUT",
                        help="also write {name: {load_s, wall_s, peak_rss_mib}} to OUT")
    args = parser.parse_args()

    runs = {"pycocotools": [], "ghm": []}
    for _ in range(args.rounds):
        runs["pycocotools"].append(run_pycocotools(args.json))
        runs["ghm"].append(run_ghm(args.binary, args.json))
    counts = {name: {r[3] for r in rs} for name, rs in runs.items()}
    print(f"{args.json}: {os.path.getsize(args.json) / 2**20:.0f} MiB; images, annotations, categories: "
          f"pycocotools {sorted(counts['pycocotools'])}, ghm {sorted(counts['ghm'])}")

    names = {"pycocotools": f"pycocotools {importlib.metadata.version('pycocotools')} `COCO()`",
             "ghm": "`ghm_retinanet bench coco-load`"}
    print(f"\n| loader | load time | process wall time | peak memory |\n| --- | ---: | ---: | ---: |")
    for name, rs in runs.items():
        load = statistics.median(r[0] for r in rs)
        wall = statistics.median(r[1] for r in rs)
        rss = max(r[2] for r in rs)
        print(f"| {names[name]} | {load:.2f} s | {wall:.2f} s | {rss:.0f} MiB |")
    print(f"\n(median of {args.rounds} alternating rounds; peak memory is the largest of them)")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({name: {"load_s": statistics.median(r[0] for r in rs),
                              "wall_s": statistics.median(r[1] for r in rs),
                              "peak_rss_mib": max(r[2] for r in rs)} for name, rs in runs.items()}, f)
    if counts["pycocotools"] != counts["ghm"] or len(counts["ghm"]) != 1:
        sys.exit("the loaders disagree on the counts")


if __name__ == "__main__":
    main()
