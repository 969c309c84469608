"""COCO AP (bbox, segm, keypoints), whole process: cvcore vs hotcoco, faster-coco-eval, pycocotools.

    python bench/bench_cocoeval.py [--iou-types bbox segm keypoints] [--images 5000] [--scale 10]
                                   [--skip-pycocotools] [--repeats 5]

Builds val2017-sized synthetic sets once under bench/_work/ (``python -m cvcore.synth coco``:
5000 images, ~36k objects with polygon masks, ~130k detections with boxes and RLE masks;
``coco-keypoints``: ~11k people, ~17k pose results), then times each tool as a fresh process
(JSON parsing, imports and compilation included: what a user waits for), checks that all give
the same stats, and prints one table per IoU type. cvcore and hotcoco run ``--repeats`` times
each, taking turns, and the tables give the median (and the largest peak RSS); the slower peers
run once. ``--scale`` also times cvcore and hotcoco (bbox) on a set that many times larger and
reports cvcore's growth (it must stay linear). Needs
``pip install -e .[bench]`` (hotcoco, faster-coco-eval).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _timing import REPO, WORK, print_table, python_process, run_interleaved, run_process

# Each peer: load the ground truth and results, evaluate, write the stats (argv: GT RES OUT TYPE).
PYCOCOTOOLS = """
import json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
ev = COCOeval(gt, dt, sys.argv[4]); ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump(list(ev.stats), open(sys.argv[3], "w"))
"""

FASTER_COCO_EVAL = """
import json, sys
from faster_coco_eval import COCO, COCOeval_faster
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
ev = COCOeval_faster(gt, dt, sys.argv[4]); ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump(list(ev.stats), open(sys.argv[3], "w"))
"""

HOTCOCO = """
import json, sys
from hotcoco import COCO, COCOeval
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
ev = COCOeval(gt, dt, sys.argv[4]); ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump([float(s) for s in ev.stats], open(sys.argv[3], "w"))
"""

PEERS = [("hotcoco 1.3.0", HOTCOCO), ("faster-coco-eval 1.8.0", FASTER_COCO_EVAL)]

# In-process, inputs already loaded: matching + accumulation only, best of REPEATS (argv: GT RES
# TYPE); prints seconds.
REPEATS = 5
CVCORE_IN_PROCESS = f"""
import sys, time
from cvcore.detection import coco, cocoeval
gt = coco.load_gt(sys.argv[1], sys.argv[3]); dets = coco.load_results(sys.argv[2], gt)
cocoeval.warm_up(sys.argv[3])
best = float("inf")
for _ in range({REPEATS}):
    t = time.perf_counter(); cocoeval.evaluate(gt, dets); best = min(best, time.perf_counter() - t)
print(best)
"""
HOTCOCO_IN_PROCESS = f"""
import sys, time
from hotcoco import COCO, COCOeval
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
best = float("inf")
for _ in range({REPEATS}):
    t = time.perf_counter(); ev = COCOeval(gt, dt, sys.argv[3]); ev.evaluate(); ev.accumulate()
    best = min(best, time.perf_counter() - t)
print(best)
"""


def dataset(num_images: int, iou_type: str = "bbox"):
    """The synthetic set's (ground truth, results) paths, made once, in a child process so this
    one stays small (a child's peak RSS counts the memory it inherits)."""
    kind = "coco-keypoints" if iou_type == "keypoints" else "coco"
    out = WORK / f"{kind}_{num_images}"
    if iou_type == "keypoints":
        gt = out / "annotations/person_keypoints_val2017.json"
        res = out / "keypoint_predictions.json"
    else:
        gt = out / "annotations/instances_val2017.json"
        res = out / ("predictions_segm.json" if iou_type == "segm" else "predictions.json")
    if not res.exists():
        run_process([sys.executable, "-m", "cvcore.synth", kind, str(out), "--num-images",
                     str(num_images), *(["--no-images"] if kind == "coco" else [])])
    return gt, res


def count_records(gt, res) -> tuple[int, int]:
    """(objects, detections), counted in a child: parsing the files here would raise this
    process's RSS, which every timed child inherits at fork and reports as its own peak."""
    code = ("import json, sys; print(len(json.load(open(sys.argv[1]))['annotations']), "
            "len(json.load(open(sys.argv[2]))))")
    out = subprocess.run(python_process(code, str(gt), str(res)), capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def cvcore_argv(gt, res, iou_type, stats_path) -> list[str]:
    return [sys.executable, "-m", "cvcore.cocoeval", str(gt), str(res), "--iou-type", iou_type,
            "--json", str(stats_path)]


def in_process(gt, res, iou_type) -> None:
    """Matching + accumulation alone on loaded inputs: cvcore.evaluate vs hotcoco's
    evaluate() + accumulate()."""
    times = {}
    for name, code in (("cvcore evaluate", CVCORE_IN_PROCESS),
                       ("hotcoco evaluate+accumulate", HOTCOCO_IN_PROCESS)):
        out = subprocess.run(python_process(code, str(gt), str(res), iou_type), cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                             text=True, check=True)
        times[name] = float(out.stdout.split()[-1])
    ours, theirs = times.values()
    print(f"\nin-process, inputs loaded (best of {REPEATS}): " +
          ", ".join(f"{n} {t * 1000:.1f} ms" for n, t in times.items()) +
          f"; cvcore / hotcoco = {ours / theirs:.2f}")


def bench_type(args: argparse.Namespace, iou_type: str) -> None:
    gt, res = dataset(args.images, iou_type)
    n_gt, n_det = count_records(gt, res)
    print(f"\n{iou_type}: {args.images} images, {n_gt} objects, {n_det} detections")
    stats = {}
    ours = "cvcore.cocoeval"
    run_process(cvcore_argv(gt, res, iou_type, WORK / "warm.json"))  # Numba cache: once per install
    # cvcore and hotcoco (the line to beat) take turns, median of --repeats; the slower peers
    # run once.
    tools = [(name, python_process(code, str(gt), str(res), str(WORK / f"stats_{name.split()[0]}"
                                                                  f".json"), iou_type))
             for name, code in list(PEERS)
             + ([] if args.skip_pycocotools else [("pycocotools 2.0.11", PYCOCOTOOLS)])]
    timed = run_interleaved({ours: cvcore_argv(gt, res, iou_type, WORK / "stats_cvcore.json"),
                             tools[0][0]: tools[0][1]}, args.repeats)
    timed.update((name, run_process(argv)) for name, argv in tools[1:])
    rows = [(name, *timed[name]) for name in [ours] + [name for name, _ in tools]]
    stats[ours] = json.loads((WORK / "stats_cvcore.json").read_text())["stats"]
    for name, _ in tools:
        stats[name] = json.loads((WORK / f"stats_{name.split()[0]}.json").read_text())
    for name, values in stats.items():
        worst = max(abs(a - b) for a, b in zip(values, stats[ours], strict=True))
        print(f"{name}: max |stat difference| vs cvcore = {worst:.3g}")
    print_table(f"COCO {iou_type} eval, {args.images} images, whole process", rows, ours)
    in_process(gt, res, iou_type)
    if args.scale > 1 and iou_type == "bbox":
        big = args.images * args.scale
        big_gt, big_res = dataset(big, iou_type)
        timed = run_interleaved({
            ours: cvcore_argv(big_gt, big_res, iou_type, WORK / "stats_big.json"),
            "hotcoco 1.3.0": python_process(HOTCOCO, str(big_gt), str(big_res),
                                            str(WORK / "stats_big_hotcoco.json"), iou_type)},
            args.repeats)
        big_rows = [(name, *value) for name, value in timed.items()]
        same = json.loads((WORK / "stats_big.json").read_text())["stats"]
        worst = max(abs(a - b) for a, b in zip(
            same, json.loads((WORK / "stats_big_hotcoco.json").read_text()), strict=True))
        print(f"\n{big} images: max |stat difference| hotcoco vs cvcore = {worst:.3g}")
        print_table(f"COCO {iou_type} eval, {big} images, whole process", big_rows, ours)
        t_big, t_small = big_rows[0][1], rows[0][1]
        print(f"\nscaling: {big} images took {t_big / t_small:.2f}x the time of {args.images} "
              f"(linear would be {args.scale}x)")


def main(args: argparse.Namespace) -> None:
    for iou_type in args.iou_types:
        bench_type(args, iou_type)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iou-types", nargs="+", default=["bbox", "segm", "keypoints"],
                        choices=["bbox", "segm", "keypoints"])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--skip-pycocotools", action="store_true")
    parser.add_argument("--repeats", type=int, default=5,
                        help="whole-process runs of cvcore and hotcoco, taking turns (median)")
    main(parser.parse_args())
