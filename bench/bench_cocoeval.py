"""COCO bbox AP, whole process: cvcore.cocoeval vs pycocotools vs faster-coco-eval.

    python bench/bench_cocoeval.py [--images 5000] [--scale 10] [--skip-pycocotools]

Builds a val2017-sized synthetic set once (5000 images, ~36k objects, ~130k detections with
realistic errors) under bench/_work/, then times each tool as a fresh process (JSON parsing,
imports and compilation included: what a user waits for), checks that all give the same 12 stats,
and prints the table. ``--scale`` also times cvcore on a set that many times larger and reports
the growth (it must stay linear). Needs ``pip install -e .[bench]`` (faster-coco-eval).
"""

from __future__ import annotations

import argparse
import json
import sys

from _timing import WORK, print_table, python_process, run_process

PYCOCOTOOLS = """
import json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
ev = COCOeval(gt, dt, "bbox"); ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump(list(ev.stats), open(sys.argv[3], "w"))
"""

FASTER_COCO_EVAL = """
import json, sys
from faster_coco_eval import COCO, COCOeval_faster
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
ev = COCOeval_faster(gt, dt, "bbox"); ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump(list(ev.stats), open(sys.argv[3], "w"))
"""


def dataset(num_images: int):
    """The synthetic set (made once, in a child process so this one stays small: a child's
    peak RSS counts the memory it inherits)."""
    out = WORK / f"coco_{num_images}"
    gt, res = out / "annotations" / "instances_val2017.json", out / "predictions.json"
    if not res.exists():
        run_process([sys.executable, "-m", "cvcore.synth", "coco", str(out), "--num-images",
                     str(num_images), "--no-images"])
    return gt, res


def time_cvcore(gt, res, stats_path):
    return run_process([sys.executable, "-m", "cvcore.cocoeval", str(gt), str(res),
                        "--json", str(stats_path)])


def main(args: argparse.Namespace) -> None:
    gt, res = dataset(args.images)
    n_gt = len(json.loads(gt.read_text())["annotations"])
    n_det = len(json.loads(res.read_text()))
    print(f"{args.images} images, {n_gt} objects, {n_det} detections")
    stats = {}
    rows = []
    time_cvcore(gt, res, WORK / "warm.json")  # the Numba cache is built once per install
    rows.append(("cvcore.cocoeval", *time_cvcore(gt, res, WORK / "stats_cvcore.json")))
    stats["cvcore.cocoeval"] = json.loads((WORK / "stats_cvcore.json").read_text())["stats"]
    tools = [("faster-coco-eval 1.8.0", FASTER_COCO_EVAL)]
    if not args.skip_pycocotools:
        tools.append(("pycocotools 2.0.11", PYCOCOTOOLS))
    for name, code in tools:
        path = WORK / f"stats_{name.split()[0]}.json"
        rows.append((name, *run_process(python_process(code, str(gt), str(res), str(path)))))
        stats[name] = json.loads(path.read_text())
    for name, values in stats.items():
        worst = max(abs(a - b) for a, b in zip(values, stats["cvcore.cocoeval"], strict=True))
        print(f"{name}: max |stat difference| vs cvcore = {worst:.3g}")
    print_table(f"COCO bbox eval, {args.images} images, whole process", rows, "cvcore.cocoeval")
    if args.scale > 1:
        big_gt, big_res = dataset(args.images * args.scale)
        t_big, m_big = time_cvcore(big_gt, big_res, WORK / "stats_big.json")
        t_small = rows[0][1]
        print(f"\nscaling: {args.images * args.scale} images took {t_big:.2f} s / {m_big:.0f} MiB"
              f" = {t_big / t_small:.2f}x the time of {args.images} (linear would be "
              f"{args.scale}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--skip-pycocotools", action="store_true")
    main(parser.parse_args())
