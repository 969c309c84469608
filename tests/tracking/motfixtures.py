"""TrackEval run in-process on given sequences (the oracle), and random MOT sequences."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from cvcore.tracking.mot import write_results
from cvcore.tracking.motmetrics import PERCENT

FIELDS = {"HOTA": ["HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA",
                   "HOTA(0)", "LocA(0)", "HOTALocA(0)"],
          "CLEAR": ["MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MTR", "PTR", "MLR", "sMOTA",
                    "CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag"],
          "Identity": ["IDF1", "IDR", "IDP", "IDTP", "IDFN", "IDFP"],
          "Count": ["Dets", "GT_Dets", "IDs", "GT_IDs"]}


def write_gt(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Frames and ids exactly (ids go up to 2^53 - 1), the rest as MOTChallenge files do.
    path.write_text("".join(",".join(f"{int(v)}" if j < 2 else f"{v:g}"
                                     for j, v in enumerate(r)) + "\n" for r in rows))


def write_sequences(root: Path, seqs: dict, benchmark: str) -> tuple[Path, Path]:
    """seqs: name -> (gt rows [N, 9], result rows [M, 10], length). Returns (gt root, results)."""
    gt_root, res_dir = root / "gt", root / "trackers" / "t" / "data"
    for name, (gt, res, length) in seqs.items():
        write_gt(gt_root / name / "gt" / "gt.txt", gt)
        (gt_root / name / "seqinfo.ini").write_text(
            f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={length}\n"
            "imWidth=1920\nimHeight=1080\nimExt=.jpg\n")
        write_results(res_dir / f"{name}.txt", res)
    return gt_root, res_dir


def trackeval_eval(root: Path, seqs: dict, benchmark: str) -> dict[str, dict[str, float]]:
    """TrackEval's numbers (summary units: percent for ratios) per sequence and COMBINED."""
    import trackeval

    gt_root, _ = write_sequences(root, seqs, benchmark)
    dataset_config = {
        "GT_FOLDER": str(gt_root), "TRACKERS_FOLDER": str(root / "trackers"),
        "TRACKERS_TO_EVAL": ["t"], "BENCHMARK": benchmark, "SPLIT_TO_EVAL": "train",
        "SEQ_INFO": {name: length for name, (_, _, length) in seqs.items()},
        "SKIP_SPLIT_FOL": True, "PRINT_CONFIG": False, "DO_PREPROC": True}
    eval_config = {"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
                   "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
                   "PLOT_CURVES": False, "OUTPUT_EMPTY_CLASSES": False,
                   "DISPLAY_LESS_PROGRESS": True}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = trackeval.Evaluator(eval_config)
        metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
                   trackeval.metrics.Identity({"PRINT_CONFIG": False})]  # Count is always run
        out, _ = evaluator.evaluate([trackeval.datasets.MotChallenge2DBox(dataset_config)],
                                    metrics)
    per_seq = out["MotChallenge2DBox"]["t"]
    result = {}
    for seq, by_class in per_seq.items():
        values = {}
        for metric, fields in FIELDS.items():
            res = by_class["pedestrian"][metric]
            for field in fields:
                v = res[field]
                v = float(np.mean(v)) if np.ndim(v) else float(v)
                values[field] = 100 * v if field in PERCENT else v
        result["COMBINED" if seq == "COMBINED_SEQ" else seq] = values
    return result


def random_sequence(rng: np.random.Generator, length: int = 30, distractors: bool = True):
    """(gt rows [N, 9], result rows [M, 10]): people moving with noise, distractor classes,
    zero flags, empty frames, id reuse across time, tracker id switches and false positives."""
    n_people = int(rng.integers(1, 8))
    gt, res = [], []
    next_tracker_id = 1
    for pid in range(1, n_people + 1):
        start = int(rng.integers(1, length))
        stop = int(rng.integers(start, length + 1))
        x, y = rng.uniform(0, 600, 2)
        w, h = rng.uniform(20, 80), rng.uniform(40, 160)
        vx, vy = rng.normal(0, 6, 2)
        cls = int(rng.choice([1, 1, 1, 2, 7, 8, 12])) if distractors else 1
        flag = int(rng.random() > 0.1) if cls == 1 else 0
        tid = next_tracker_id
        next_tracker_id += 1
        for f in range(start, stop + 1):
            if rng.random() < 0.1:
                continue  # a frame where this person is not annotated (occluded)
            bx, by = x + vx * f, y + vy * f
            gt.append([f, pid, bx, by, w, h, flag, cls, rng.random()])
            if rng.random() < 0.8:
                if rng.random() < 0.05:
                    tid = next_tracker_id  # identity switch
                    next_tracker_id += 1
                jitter = rng.normal(0, 0.15, 4) * [w, h, w, h]
                res.append([f, tid, bx + jitter[0], by + jitter[1], max(w + jitter[2], 1),
                            max(h + jitter[3], 1), rng.random(), -1, -1, -1])
    for _ in range(int(rng.integers(0, 10))):  # false positives, some with reused ids
        f = int(rng.integers(1, length + 1))
        res.append([f, 1000 + len(res), *rng.uniform(0, 600, 2),
                    40, 90, rng.random(), -1, -1, -1])
    gt = np.array(gt, float).reshape(-1, 9)
    res = np.array(res, float).reshape(-1, 10)
    # Keep (frame, id) unique in the results, as MOTChallenge requires.
    _, first = np.unique(res[:, :2], axis=0, return_index=True)
    return gt, res[np.sort(first)]


def trackeval_kitti(gt_root: Path, trackers_root: Path, tracker: str = "t",
                    split: str = "training") -> dict[str, dict[str, dict[str, float]]]:
    """TrackEval's ``Kitti2DBox`` numbers, ``{class: {seq | "COMBINED": metrics}}`` in summary
    units, for ``trackers_root/<tracker>/data/<SEQ>.txt`` against ``gt_root/label_02``."""
    import trackeval

    dataset_config = {"GT_FOLDER": str(gt_root), "TRACKERS_FOLDER": str(trackers_root),
                      "TRACKERS_TO_EVAL": [tracker], "SPLIT_TO_EVAL": split,
                      "PRINT_CONFIG": False}
    eval_config = {"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
                   "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
                   "PLOT_CURVES": False, "DISPLAY_LESS_PROGRESS": True}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = trackeval.Evaluator(eval_config)
        metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
                   trackeval.metrics.Identity({"PRINT_CONFIG": False})]
        out, _ = evaluator.evaluate([trackeval.datasets.Kitti2DBox(dataset_config)], metrics)
    result: dict = {}
    for seq, by_class in out["Kitti2DBox"][tracker].items():
        for cls, res in by_class.items():
            values = {}
            for metric, fields in FIELDS.items():
                for field in fields:
                    v = res[metric][field]
                    v = float(np.mean(v)) if np.ndim(v) else float(v)
                    values[field] = 100 * v if field in PERCENT else v
            result.setdefault(cls, {})["COMBINED" if seq == "COMBINED_SEQ" else seq] = values
    return result
