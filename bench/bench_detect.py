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

from _timing import REPO, WORK, print_table, python_process, run_process
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

# In-process, inputs loaded (argv: GT RES TYPE): prints "seconds peak_MiB" and then each part.
REPEATS = 5
CVCORE_IN_PROCESS = f"""
import resource, sys, time
from cvcore.detection import coco, cocoeval, ece, report, tide
gt = coco.load_gt(sys.argv[1], sys.argv[3]); dets = coco.load_results(sys.argv[2], gt, sys.argv[3])
cocoeval.warm_up(sys.argv[3]); tide.warm_up(sys.argv[3] == "segm")
report.evaluate_detections(gt, dets)

def best(work):
    times = []
    for _ in range({REPEATS}):
        t = time.perf_counter(); work(); times.append(time.perf_counter() - t)
    return min(times)

whole = best(lambda: report.evaluate_detections(gt, dets))
p = cocoeval.resolve_params(None, gt); m = cocoeval.match(gt, dets, p)
parts = {{
    "match": best(lambda: cocoeval.match(gt, dets, p)),
    "accumulate": best(lambda: cocoeval.accumulate(m.det_cat, m.det_img, m.rank,
        dets.scores[m.det_index], m.matched, m.ignored, cocoeval.count_positives(m, p), p)),
    "TIDE x4 scales": best(lambda: tide.tide_by_scale(gt, dets, **tide.mask_args(gt, dets))),
    "ECE x4 scales": best(lambda: ece.ece_by_scale(dets, *ece.correctness_from_matches(m, p))),
}}
print(whole, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(", ".join(f"{{k}} {{v * 1000:.1f}} ms" for k, v in parts.items()))
"""
HOTCOCO_IN_PROCESS = f"""
import resource, sys, time
from hotcoco import COCO, COCOeval
gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
times = {{k: [] for k in ("evaluate", "accumulate", "tide_errors", "calibration", "all")}}
for _ in range({REPEATS} + 1):
    t0 = time.perf_counter(); ev = COCOeval(gt, dt, sys.argv[3]); ev.evaluate()
    t1 = time.perf_counter(); ev.accumulate()
    t2 = time.perf_counter(); ev.tide_errors()
    t3 = time.perf_counter(); ev.calibration()
    t4 = time.perf_counter()
    for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
        times[k].append(v)
best = {{k: min(v[1:]) for k, v in times.items()}}
print(best.pop("all"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(", ".join(f"{{k}} {{v * 1000:.1f}} ms" for k, v in best.items()))
"""


def in_process(gt, res, iou_type: str) -> None:
    rows, parts = [], {}
    for name, code in (("cvcore evaluate_detections", CVCORE_IN_PROCESS),
                       ("hotcoco eval+acc+tide+calib", HOTCOCO_IN_PROCESS)):
        out = subprocess.run(python_process(code, str(gt), str(res), iou_type), cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()
        seconds, mib = map(float, out[-2].split())
        rows.append((name, seconds, mib))
        parts[name] = out[-1]
    print_table(f"detect_eval's evaluation, in-process, inputs loaded ({iou_type}, best of "
                f"{REPEATS}; RSS: the whole process)", rows, rows[0][0])
    for name, line in parts.items():
        print(f"  {name}: {line}")


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
    rows = [("detect_eval.py", *run_process(detect_cmd)),
            ("hotcoco 1.3.0 (no figures)", *run_process(python_process(
                HOTCOCO_ALL, str(gt), str(res), str(hotcoco_json), args.iou_type)))]
    metrics = json.loads((WORK / "detect_eval_run" / "metrics.json").read_text())
    theirs = json.loads(hotcoco_json.read_text())
    same = max(abs(a - b) for a, b in zip(metrics["coco"].values(), theirs["stats"],
                                          strict=True))
    print(f"COCO stats: max |cvcore - hotcoco| {same:.2g}; ECE cvcore "
          f"{metrics['ece']['all']['ece']:.4f}, hotcoco {theirs['ece']:.4f}; TIDE dAP Cls "
          f"cvcore {metrics['tide']['all']['main']['Cls']:.2f}, hotcoco "
          f"{theirs['tide']['Cls']:.2f}")
    print_table(f"detect_eval.py (COCO AP + TIDE + ECE, overall and per scale, report and "
                f"figures), {args.images} images, {args.iou_type}, whole process", rows,
                "detect_eval.py")
    in_process(gt, res, args.iou_type)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox")
    main(parser.parse_args())
