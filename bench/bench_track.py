"""Tracking benchmarks, each against the reference in one run.

    python bench/bench_track.py [--mot15 ../shared/data/mot/MOT15] [--mot17 ../shared/data/mot]
                                [--only trackers]

0. Trackers against roboflow's ``trackers`` 2.6.1 (SORT, OC-SORT, BoT-SORT, ByteTrack), both at
   their defaults on MOT15 train's public detections (roboflow: every detection, its detection
   boxes for tracks with an id, each sequence's frame rate, which reproduces issue 15's numbers;
   cvcore: ``track.py``'s defaults,
   no frames so no CMC), results scored by ``cvcore.tracking.motmetrics`` (TrackEval-exact):
   HOTA / IDF1 / MOTA COMBINED, tracker-only frames/s (best of 5 passes, the two
   implementations alternating), and cvcore's HOTA per sequence.
1. Tracker-only speed: cvcore's ByteTracker against ultralytics' BYTETracker on the same public
   detections (MOT15 train, 11 sequences, 5500 frames), frames/s of the update calls only.
2. Metrics, whole process: ``python -m cvcore.motmetrics`` against TrackEval (HOTA + CLEAR +
   Identity, its default outputs) on MPNTrack's MOT17 results: the 7 DPM sequences, and the
   21-sequence train set (the FRCNN and SDP copies share the DPM ground truth), checking equal
   numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from _timing import REPO, WORK, print_table, python_process, run_process

from cvcore.tracking.bytetrack import ByteTrackConfig, ByteTracker
from cvcore.tracking.mot import list_sequences, read_seqinfo
from track import public_detections

TRACKEVAL = """
import sys
import trackeval
gt, trackers, out = sys.argv[1:4]
seqs = {p: None for p in sys.argv[4:]}
config = {"GT_FOLDER": gt, "TRACKERS_FOLDER": trackers, "TRACKERS_TO_EVAL": ["MPNTrack"],
          "BENCHMARK": "MOT17", "SPLIT_TO_EVAL": "train", "SEQ_INFO": seqs,
          "SKIP_SPLIT_FOL": True, "OUTPUT_FOLDER": out}
evaluator = trackeval.Evaluator({"USE_PARALLEL": False, "PLOT_CURVES": False})
metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()]
evaluator.evaluate([trackeval.datasets.MotChallenge2DBox(config)], metrics)
"""


class Boxes:
    """The Results-like object ultralytics' trackers take (conf, cls, xywh; boolean indexing)."""

    def __init__(self, tlbr: np.ndarray, conf: np.ndarray):
        self.xyxy = tlbr.astype(np.float32)
        self.conf = conf.astype(np.float32)
        self.cls = np.zeros(len(conf), np.float32)
        self.xywh = np.column_stack([(tlbr[:, :2] + tlbr[:, 2:]) / 2,
                                     tlbr[:, 2:] - tlbr[:, :2]]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> Boxes:
        return Boxes(self.xyxy[index], self.conf[index])


def tracker_speed(mot15: Path, repeats: int = 3) -> None:
    """Best of ``repeats`` full passes over all sequences, alternating the two trackers."""
    from ultralytics.trackers.byte_tracker import BYTETracker

    sequences = [(s, read_seqinfo(s / "seqinfo.ini")) for s in list_sequences(mot15 / "train")]
    frames = {s.name: public_detections(s, info) for s, info in sequences}
    boxes = {name: [Boxes(tlbr, scores) for tlbr, scores in f] for name, f in frames.items()}
    n_frames = sum(len(f) for f in frames.values())

    def ours() -> float:
        elapsed = 0.0
        for seq, info in sequences:
            tracker = ByteTracker(ByteTrackConfig(frame_rate=info.frame_rate))
            for tlbr, scores in frames[seq.name]:
                start = time.perf_counter()
                tracker.update(tlbr, scores)
                elapsed += time.perf_counter() - start
        return elapsed

    def theirs() -> float:
        elapsed = 0.0
        for seq, info in sequences:
            # The same buffer in frames as ours (ByteTrack scales it by frame rate / 30).
            args = SimpleNamespace(track_high_thresh=0.5, track_low_thresh=0.1,
                                   new_track_thresh=0.6, match_thresh=0.8, fuse_score=True,
                                   track_buffer=int(info.frame_rate / 30 * 30))
            tracker = BYTETracker(args)
            for results in boxes[seq.name]:
                start = time.perf_counter()
                tracker.update(results)
                elapsed += time.perf_counter() - start
        return elapsed

    t_ours = min(ours() for _ in range(repeats))
    t_theirs = min(theirs() for _ in range(repeats))
    print(f"\nByteTrack tracker-only speed, MOT15 train public detections ({n_frames} frames, "
          f"best of {repeats} passes)")
    print("| tracker | frames/s | vs cvcore |\n|---|---:|---:|")
    print(f"| cvcore ByteTracker | {n_frames / t_ours:.0f} | 1.00 |")
    print(f"| ultralytics BYTETracker | {n_frames / t_theirs:.0f} | {t_ours / t_theirs:.2f} |")


ROBOFLOW = {"sort": "SORTTracker", "ocsort": "OCSORTTracker", "botsort": "BoTSORTTracker",
            "bytetrack": "ByteTrackTracker"}


def _timed_passes(runs: dict, repeats: int) -> dict:
    """{name: (result rows per sequence, best tracker-only seconds)}: the runs alternate, pass
    by pass, so that load from other processes falls on both alike."""
    best = {name: ({}, float("inf")) for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            rows, seconds = run()
            best[name] = (rows, min(best[name][1], seconds))
    return best


def _score(mot15: Path, rows: dict, name: str) -> dict:
    from cvcore.tracking.mot import write_results
    from cvcore.tracking.motmetrics import evaluate

    out = WORK / "trackers_mot15" / name
    for seq, r in rows.items():
        write_results(out / f"{seq}.txt", r)
    return evaluate(mot15 / "train", out, "MOT15")


def trackers_vs_roboflow(mot15: Path, repeats: int = 5) -> None:
    import supervision as sv
    import trackers as rf

    import track

    sequences = [(s, read_seqinfo(s / "seqinfo.ini")) for s in list_sequences(mot15 / "train")]
    frames = {s.name: public_detections(s, info) for s, info in sequences}
    n_frames = sum(len(f) for f in frames.values())
    table, per_seq = [], {}
    for name, rf_name in ROBOFLOW.items():
        args = track.parse_args(["--mot-root", str(mot15), "--tracker", name])

        def ours(args=args):
            rows, total = {}, 0.0
            for seq, info in sequences:
                rows[seq.name], seconds = track.run_tracker(args, info, frames[seq.name])
                total += seconds
            return rows, total

        def theirs(rf_name=rf_name):
            rows, total = {}, 0.0
            for seq, info in sequences:
                tracker = getattr(rf, rf_name)(frame_rate=info.frame_rate)
                out = []
                for frame, (tlbr, scores) in enumerate(frames[seq.name], start=1):
                    dets = sv.Detections(xyxy=tlbr.astype(np.float32),
                                         confidence=scores.astype(np.float32),
                                         class_id=np.zeros(len(scores), int))
                    start = time.perf_counter()
                    res = tracker.update(dets)
                    total += time.perf_counter() - start
                    keep = res.tracker_id >= 0
                    xyxy = res.xyxy[keep].astype(np.float64)
                    out.append(np.column_stack([np.full(keep.sum(), frame),
                                                res.tracker_id[keep], xyxy[:, :2],
                                                xyxy[:, 2:] - xyxy[:, :2],
                                                res.confidence[keep]]))
                rows[seq.name] = np.concatenate(out)
            return rows, total

        passes = _timed_passes({"cvcore": ours, "roboflow 2.6.1": theirs}, repeats)
        for who, (rows, seconds) in passes.items():
            metrics = _score(mot15, rows, f"{who.split()[0]}-{name}")
            c = metrics["COMBINED"]
            table.append((name, who, c["HOTA"], c["IDF1"], c["MOTA"], n_frames / seconds))
            if who == "cvcore":
                per_seq[name] = {k: v["HOTA"] for k, v in metrics.items()}
    print(f"\nTrackers at their defaults, MOT15 train public detections ({n_frames} frames), "
          "cvcore.tracking.motmetrics")
    print("| tracker | implementation | HOTA | IDF1 | MOTA | tracker-only frames/s |")
    print("|---|---|---:|---:|---:|---:|")
    for name, who, hota, idf1, mota, fps in table:
        print(f"| {name} | {who} | {hota:.2f} | {idf1:.2f} | {mota:.2f} | {fps:.0f} |")
    names = list(per_seq)
    print("\ncvcore HOTA per sequence\n| sequence | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for seq in per_seq[names[0]]:
        print(f"| {seq} | " + " | ".join(f"{per_seq[n][seq]:.2f}" for n in names) + " |")


def metrics_set(mot: Path, copies: tuple[str, ...]) -> tuple[Path, Path, list[str]]:
    """GT and results folders for MPNTrack's DPM results, duplicated under other detector
    names (identical ground truth) to build the 21-sequence MOT17 train set."""
    root = WORK / f"mot17_{len(copies)}x"
    gt, res = root / "gt", root / "trackers" / "MPNTrack" / "data"
    names = []
    for seq in list_sequences(mot / "MOT17" / "train"):
        for det in copies:
            name = seq.name.replace("-DPM", f"-{det}")
            names.append(name)
            if not (gt / name).exists():
                shutil.copytree(seq, gt / name)
                ini = gt / name / "seqinfo.ini"
                ini.write_text(ini.read_text().replace(seq.name, name))
                res.mkdir(parents=True, exist_ok=True)
                shutil.copy(mot / "trackers" / "MPNTrack-MOT17-DPM" / "data" / f"{seq.name}.txt",
                            res / f"{name}.txt")
    return gt, res, names


def metrics_speed(mot: Path) -> None:
    for copies in (("DPM",), ("DPM", "FRCNN", "SDP")):
        gt, res, names = metrics_set(mot, copies)
        ours_json = WORK / "motmetrics_ours.json"
        ours_cmd = [sys.executable, "-m", "cvcore.motmetrics", "--gt-root", str(gt), "--results",
                    str(res), "--json", str(ours_json)]
        run_process(ours_cmd)  # warm the Numba cache once
        rows = [("cvcore.motmetrics", *run_process(ours_cmd))]
        out = WORK / "trackeval_out"
        rows.append(("TrackEval 1.3.0", *run_process(python_process(
            TRACKEVAL, str(gt), str(res.parent.parent), str(out), *names))))
        ours = json.loads(ours_json.read_text())["COMBINED"]
        summary = (out / "MPNTrack" / "pedestrian_summary.txt").read_text().split("\n")
        ref = dict(zip(summary[0].split(), map(float, summary[1].split()), strict=True))
        worst = max(abs(round(ours[k], 3) - v) for k, v in ref.items() if k in ours)
        print(f"\n{len(names)} sequences: HOTA {ours['HOTA']:.3f}, MOTA {ours['MOTA']:.3f}, "
              f"IDF1 {ours['IDF1']:.3f}; max |difference| to TrackEval's summary {worst:.3g}")
        print_table(f"MOT metrics, {len(names)} MOT17 sequences, whole process", rows,
                    "cvcore.motmetrics")


def main(args: argparse.Namespace) -> None:
    if args.only in (None, "metrics"):
        metrics_speed(args.mot17)  # first, while this process is small (children inherit RSS)
    if args.only in (None, "trackers"):
        trackers_vs_roboflow(args.mot15)
    if args.only in (None, "bytetrack"):
        tracker_speed(args.mot15)


if __name__ == "__main__":
    shared = REPO.parent / "shared" / "data" / "mot"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mot15", type=Path, default=shared / "MOT15")
    parser.add_argument("--mot17", type=Path, default=shared)
    parser.add_argument("--only", choices=["metrics", "trackers", "bytetrack"])
    main(parser.parse_args())
