"""TIDE and the full detect_eval.py against tidecv and hotcoco on a val2017-sized set.

    python bench/bench_detect.py [--images 5000] [--iou-type bbox]

Uses the same synthetic set as bench_cocoeval.py (5000 images, ~36k objects, ~130k detections):

- whole process: ``python -m cvcore.tide`` against tidecv 1.0.1 (its own COCO loaders, box
  mode, main + special errors), checking they agree; then the whole ``detect_eval.py`` (COCO AP +
  TIDE + ECE, overall and per scale, report and figures) against a hotcoco 1.3.0 script that
  loads both files and runs ``evaluate() + accumulate() + summarize() + tide_errors() +
  calibration()`` (no figures), and against tidecv alone;
- in-process, inputs loaded and kernels warm (best of 5): detect_eval's evaluation,
  :func:`cvcore.detection.report.evaluate_detections` (COCO AP, TIDE and ECE overall and for
  three scales), against hotcoco's ``evaluate() + accumulate() + tide_errors() +
  calibration()`` (overall only; its TIDE approximates tidecv's, ours is exact), with the parts
  of each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _timing import REPO, WORK, print_table, python_process, run_interleaved, run_process
from bench_cocoeval import dataset

TIDECV = """
import json, sys
from tidecv import TIDE, datasets
gt = datasets.COCO(sys.argv[1]); preds = datasets.COCOResult(sys.argv[2])
tide = TIDE(); run = tide.evaluate(gt, preds, mode=TIDE.BOX)
main = tide.get_main_errors()[preds.name]; special = tide.get_special_errors()[preds.name]
tide.summarize()
json.dump({"ap50": run.ap, "main": main, "special": special}, open(sys.argv[3], "w"))
"""

HOTCOCO_ALL = """
import json, sys
from hotcoco import COCO, COCOeval
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
ev = COCOeval(gt, dt, sys.argv[4]); ev.evaluate(); ev.accumulate(); ev.summarize()
tide = ev.tide_errors(); calibration = ev.calibration()
json.dump({"stats": [float(s) for s in ev.stats], "tide": tide["delta_ap"],
           "ece": calibration["ece"]}, open(sys.argv[3], "w"))
"""

# In-process, inputs loaded, kernels warm (argv: GT RES TYPE): cvcore's evaluate_detections and
# hotcoco's four calls alternate in one process (same conditions for both), best of REPEATS;
# prints one line per tool: "seconds name: parts".
REPEATS = 7
IN_PROCESS = f"""
import sys, time
from hotcoco import COCO, COCOeval
from cvcore.detection import coco, cocoeval, ece, report, tide
gt_path, res_path, iou_type = sys.argv[1:4]
gt = coco.load_gt(gt_path, iou_type); dets = coco.load_results(res_path, gt, iou_type)
hot_gt = COCO(gt_path); hot_dt = hot_gt.loadRes(res_path)
cocoeval.warm_up(iou_type); tide.warm_up(iou_type == "segm")
p = cocoeval.resolve_params(None, gt)

def ours():
    t0 = time.perf_counter(); m = cocoeval.match(gt, dets, p)
    t1 = time.perf_counter(); cocoeval.accumulate(m.det_cat, m.det_img, m.rank,
        dets.scores[m.det_index], m.matched, m.ignored, cocoeval.count_positives(m, p), p)
    t2 = time.perf_counter(); tide.tide_by_scale(gt, dets, **tide.mask_args(gt, dets))
    t3 = time.perf_counter(); ece.ece_by_scale(dets, *ece.correctness_from_matches(m, p))
    t4 = time.perf_counter(); report.evaluate_detections(gt, dets)
    t5 = time.perf_counter()
    return t5 - t4, {{"match": t1 - t0, "accumulate": t2 - t1, "TIDE x4 scales": t3 - t2,
                     "ECE x4 scales": t4 - t3}}

def theirs():
    t0 = time.perf_counter(); ev = COCOeval(hot_gt, hot_dt, iou_type); ev.evaluate()
    t1 = time.perf_counter(); ev.accumulate()
    t2 = time.perf_counter(); ev.tide_errors()
    t3 = time.perf_counter(); ev.calibration()
    t4 = time.perf_counter()
    return t4 - t0, {{"evaluate": t1 - t0, "accumulate": t2 - t1, "tide_errors": t3 - t2,
                     "calibration": t4 - t3}}

ours(); theirs()
best = {{}}
for _ in range({REPEATS}):
    for name, work in (("cvcore evaluate_detections", ours),
                       ("hotcoco eval+acc+tide+calib", theirs)):
        total, parts = work()
        old = best.setdefault(name, (total, parts))
        best[name] = (min(old[0], total), {{k: min(v, old[1][k]) for k, v in parts.items()}})
for name, (total, parts) in best.items():
    print(total, name + ": " + ", ".join(f"{{k}} {{v * 1000:.1f}} ms" for k, v in parts.items()))
"""


def in_process(gt, res, iou_type: str) -> None:
    out = subprocess.run(python_process(IN_PROCESS, str(gt), str(res), iou_type), cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-2:]
    rows = [(line.split(" ", 1)[1].split(":")[0], float(line.split()[0]), float("nan"))
            for line in out]
    print_table(f"detect_eval's evaluation, in-process, inputs loaded ({iou_type}, both in one "
                f"process, alternating, best of {REPEATS}; no RSS)", rows, rows[0][0])
    for line in out:
        print("  " + line.split(" ", 1)[1])


def main(args: argparse.Namespace) -> None:
    gt, res = dataset(args.images, args.iou_type)
    if args.iou_type == "bbox":
        ours_json, ref_json = WORK / "tide_cvcore.json", WORK / "tide_tidecv.json"
        tide_cmd = [sys.executable, "-m", "cvcore.tide", str(gt), str(res), "--json",
                    str(ours_json)]
        run_process(tide_cmd)  # warm the Numba cache once
        rows = [("cvcore.tide", *run_process(tide_cmd))]
        rows.append(("tidecv 1.0.1", *run_process(python_process(TIDECV, str(gt), str(res),
                                                                  str(ref_json)))))
        ours, ref = json.loads(ours_json.read_text()), json.loads(ref_json.read_text())
        worst = max([abs(ours["ap50"] - ref["ap50"])]
                    + [abs(ours["main"][k] - ref["main"][k]) for k in ref["main"]]
                    + [abs(ours["special"][k] - ref["special"][k]) for k in ref["special"]])
        print(f"AP50 {ours['ap50']:.4f} (tidecv {ref['ap50']:.4f}); max |dAP difference| "
              f"{worst:.2g}")
        print_table(f"TIDE, {args.images} images, whole process", rows, "cvcore.tide")
    detect_cmd = [sys.executable, "detect_eval.py", "--gt", str(gt), "--dets", str(res),
                  "--iou-type", args.iou_type, "--out", str(WORK / "detect_eval_run")]
    run_process(detect_cmd)  # warm the Numba cache once
    hotcoco_json = WORK / "detect_hotcoco.json"
    timed = run_interleaved({
        "detect_eval.py": detect_cmd,
        "hotcoco 1.3.0 (no figures)": python_process(HOTCOCO_ALL, str(gt), str(res),
                                                     str(hotcoco_json), args.iou_type)}, 3)
    rows = [(name, *value) for name, value in timed.items()]
    metrics = json.loads((WORK / "detect_eval_run" / "metrics.json").read_text())
    theirs = json.loads(hotcoco_json.read_text())
    same = max(abs(a - b) for a, b in zip(metrics["coco"].values(), theirs["stats"],
                                          strict=True))
    print(f"COCO stats: max |cvcore - hotcoco| {same:.2g}; ECE cvcore "
          f"{metrics['ece']['all']['ece']:.4f}, hotcoco {theirs['ece']:.4f}; TIDE dAP Cls "
          f"cvcore {metrics['tide']['all']['main']['Cls']:.2f}, hotcoco "
          f"{theirs['tide']['Cls']:.2f}")
    print_table(f"detect_eval.py (COCO AP + TIDE + ECE, overall and per scale, report and "
                f"figures), {args.images} images, {args.iou_type}, whole process, median of 3 "
                f"runs each, taking turns", rows,
                "detect_eval.py")
    in_process(gt, res, args.iou_type)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox")
    main(parser.parse_args())
