"""TIDE and the full detect_eval.py, whole process, against tidecv on a val2017-sized set.

    python bench/bench_detect.py [--images 5000]

Uses the same synthetic set as bench_cocoeval.py (5000 images, ~36k objects, ~130k detections),
times ``python -m cvcore.tide`` and tidecv 1.0.1 (its own COCO loaders, box mode, main + special
errors) as fresh processes, checks they agree, then times the whole ``detect_eval.py`` (COCO AP +
TIDE + ECE, overall and per scale, report and figures) against tidecv alone.
"""

from __future__ import annotations

import argparse
import json
import sys

from _timing import WORK, print_table, python_process, run_process
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


def main(args: argparse.Namespace) -> None:
    gt, res = dataset(args.images)
    ours_json, ref_json = WORK / "tide_cvcore.json", WORK / "tide_tidecv.json"
    tide_cmd = [sys.executable, "-m", "cvcore.tide", str(gt), str(res), "--json", str(ours_json)]
    run_process(tide_cmd)  # warm the Numba cache once
    rows = [("cvcore.tide", *run_process(tide_cmd))]
    rows.append(("tidecv 1.0.1", *run_process(python_process(TIDECV, str(gt), str(res),
                                                              str(ref_json)))))
    ours, ref = json.loads(ours_json.read_text()), json.loads(ref_json.read_text())
    worst = max([abs(ours["ap50"] - ref["ap50"])]
                + [abs(ours["main"][k] - ref["main"][k]) for k in ref["main"]]
                + [abs(ours["special"][k] - ref["special"][k]) for k in ref["special"]])
    print(f"AP50 {ours['ap50']:.4f} (tidecv {ref['ap50']:.4f}); max |dAP difference| {worst:.2g}")
    detect_cmd = [sys.executable, "detect_eval.py", "--gt", str(gt), "--dets", str(res),
                  "--out", str(WORK / "detect_eval_run")]
    rows.append(("detect_eval.py (AP+TIDE+ECE, per scale, report, figures)",
                 *run_process(detect_cmd)))
    print_table(f"TIDE, {args.images} images, whole process", rows, "cvcore.tide")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    main(parser.parse_args())
