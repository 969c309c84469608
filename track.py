"""Multi-object tracking on MOTChallenge sequences, scored with TrackEval's metrics.

    python track.py --mot-root MOT17 --split train --tracker bytetrack            # public dets
    python track.py --mot-root MOT17 --split train --tracker iou --seq MOT17-02-SDP
    python track.py --mot-root MOT17 --split train --tracker botsort --cmc ecc
    python track.py --mot-root MOT17 --split train --weights yolov8n.pt --video   # YOLO dets
    python track.py --eval-only --gt-root MOT17/train --results runs/track/exp/data

Writes ``runs/track/<name>/`` (or ``--out``): ``data/<SEQ>.txt`` (MOTChallenge format),
``metrics.json`` (per sequence and COMBINED: the table's columns, ``motmetrics.TABLE_COLUMNS``:
HOTA, DetA, AssA, LocA, MOTA, MOTP, IDF1, IDP, IDR, IDSW, FP, FN, MT, PT, ML, Frag in TrackEval's
units) where ground truth exists, ``timing.json``
(tracker-only and detector frames/s), ``videos/<SEQ>.mp4`` with ``--video``, and
``first_frames.png`` + ``frame_counts.csv`` with ``--first-frames``.

Inputs are checked before the run directory is created (a failed start leaves nothing behind):
every sequence folder's ``seqinfo.ini`` and ``det/det.txt`` (rules in :mod:`cvcore.tracking.mot`),
the
ground truth (all sequences have ``gt/gt.txt``, then they are scored; none has it, then no
metrics; some but not all is an error), and the frame images ``--weights`` / ``--video`` need
(all of them) or ``--first-frames`` needs (the first). ``--eval-only`` scores every sequence of
``--gt-root`` (or ``--seq``) and refuses a missing result file, as ``python -m cvcore.motmetrics``
and TrackEval do. A frame that does not decode, or differs in size from the sequence's first,
stops ``--video`` with an error naming it (no partial video is kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cvcore.atomic import write_json, write_text
from cvcore.errors import InputError, run_cli
from cvcore.runs import make_run_dir, save_args
from cvcore.tracking.botsort import CMC_METHODS, BoTSORTConfig, BoTSORTTracker
from cvcore.tracking.bytetrack import (
    ASPECT_RATIO_THRESH,
    MIN_BOX_AREA,
    ByteTrackConfig,
    ByteTracker,
    output_filter,
)
from cvcore.tracking.ioutracker import IoUTracker, IoUTrackerConfig
from cvcore.tracking.mot import SeqInfo, read_dets, read_seqinfo, select_sequences, write_results
from cvcore.tracking.motmetrics import (
    BENCHMARKS,
    TABLE_COLUMNS,
    evaluate,
    format_table,
    load_ground_truth,
)
from cvcore.tracking.ocsort import OCSORTConfig, OCSORTTracker
from cvcore.tracking.sort import SORTConfig, SORTTracker

# Each tracker's class and its settings (the config dataclass holds every default, once).
TRACKERS = {"bytetrack": (ByteTracker, ByteTrackConfig), "botsort": (BoTSORTTracker, BoTSORTConfig),
            "ocsort": (OCSORTTracker, OCSORTConfig), "sort": (SORTTracker, SORTConfig),
            "iou": (IoUTracker, IoUTrackerConfig)}
# Tracker options; left unset, each takes the chosen tracker's default (or, for a tracker
# without that setting, the first config class's that has it, so ``args`` always shows a value).
TRACKER_OPTIONS = ("track_thresh", "new_track_thresh", "match_thresh", "track_buffer",
                   "iou_thresh", "max_lost", "det_thresh", "max_age", "min_hits", "delta_t",
                   "inertia")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="MOTChallenge tracking and evaluation.")
    parser.add_argument("--mot-root", type=Path, help="benchmark folder holding train/ test/")
    parser.add_argument("--split", default="train")
    parser.add_argument("--seq", nargs="*", help="only these sequences (default: all)")
    parser.add_argument("--tracker", choices=list(TRACKERS), default="bytetrack")
    parser.add_argument("--dets", choices=["public"], default="public",
                        help="'public': each sequence's det/det.txt (or --weights)")
    parser.add_argument("--weights", help="ultralytics detector weights instead of public dets")
    parser.add_argument("--trust-weights", action="store_true",
                        help="load --weights with ultralytics' full unpickling, which can run "
                             "code from the file (default: weights-only loading; files that "
                             "reference other code are refused)")
    parser.add_argument("--conf", type=float, default=0.1, help="detector score floor")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--benchmark", choices=BENCHMARKS,
                        help="TrackEval preprocessing (default: from the sequence names)")
    parser.add_argument("--track-thresh", type=float,
                        help="bytetrack/botsort: high-score detection threshold")
    parser.add_argument("--new-track-thresh", type=float,
                        help="bytetrack/botsort: score a detection needs to start a track "
                             "(ByteTrack: track threshold + 0.1)")
    parser.add_argument("--match-thresh", type=float, help="bytetrack/botsort: first match cost")
    parser.add_argument("--track-buffer", type=int,
                        help="bytetrack/botsort: frames (at 30 fps) a lost track is kept")
    parser.add_argument("--mot20", action="store_true", help="no score fusion (MOT20 setting)")
    parser.add_argument("--min-box-area", type=float, default=MIN_BOX_AREA)
    parser.add_argument("--aspect-ratio-thresh", type=float, default=ASPECT_RATIO_THRESH,
                        help="drop output boxes wider than this w/h (pedestrians)")
    parser.add_argument("--no-aspect-filter", action="store_true")
    parser.add_argument("--iou-thresh", type=float, help="iou/sort/ocsort: match IoU")
    parser.add_argument("--max-lost", type=int, help="IoU tracker: frames kept lost")
    parser.add_argument("--det-thresh", type=float,
                        help="iou/sort/ocsort: detections below this score are ignored")
    parser.add_argument("--max-age", type=int,
                        help="sort/ocsort: frames (at 30 fps) an unmatched track is kept")
    parser.add_argument("--min-hits", type=int, help="sort/ocsort: matches before output")
    parser.add_argument("--delta-t", type=int, help="ocsort: frames back for the direction")
    parser.add_argument("--inertia", type=float, help="ocsort: direction-consistency weight")
    parser.add_argument("--cmc", choices=CMC_METHODS,
                        help="botsort camera-motion compensation (default: sparse where the "
                             "sequence has its frame images, none otherwise)")
    parser.add_argument("--video", action="store_true", help="write videos/<SEQ>.mp4")
    parser.add_argument("--first-frames", action="store_true",
                        help="first-frame grid and frame counts per sequence")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--gt-root", type=Path, help="--eval-only: <SEQ>/gt/gt.txt folders")
    parser.add_argument("--results", type=Path, help="--eval-only: folder of <SEQ>.txt")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--name", default="exp")
    args = parser.parse_args(argv)
    if args.eval_only and (args.gt_root is None or args.results is None):
        parser.error("--eval-only needs --gt-root and --results")
    if not args.eval_only and args.mot_root is None:
        parser.error("--mot-root is required (or use --eval-only)")
    fill_tracker_defaults(args)
    return args


def fill_tracker_defaults(args: argparse.Namespace) -> None:
    """Unset tracker options take the chosen tracker's defaults (module note at TRACKERS)."""
    chosen = TRACKERS[args.tracker][1]()
    others = [config() for _, config in TRACKERS.values()]
    for name in TRACKER_OPTIONS:
        if getattr(args, name) is None:
            source = next(c for c in [chosen, *others] if hasattr(c, name))
            setattr(args, name, getattr(source, name))


def make_tracker(args: argparse.Namespace, info: SeqInfo, has_frames: bool):
    """The chosen tracker with the options' settings for one sequence (its frame rate; BoT-SORT's
    CMC on when frames exist unless --cmc says otherwise)."""
    cls, config_cls = TRACKERS[args.tracker]
    names = {f.name for f in dataclasses.fields(config_cls)}
    settings = {k: getattr(args, k) for k in names if k in TRACKER_OPTIONS}
    if "frame_rate" in names:
        settings["frame_rate"] = info.frame_rate
    if "mot20" in names:
        settings["mot20"] = args.mot20
    if "cmc" in names:
        settings["cmc"] = args.cmc or ("sparse" if has_frames else "none")
    return cls(config_cls(**settings))


# Option ranges (inclusive); a value outside, or NaN, is an error before anything starts.
RANGES = {"conf": (0, 1), "track_thresh": (0, 1), "new_track_thresh": (0, 1),
          "match_thresh": (0, 1), "iou_thresh": (0, 1),
          "det_thresh": (0, 1), "imgsz": (32, 8192), "track_buffer": (0, 10**6),
          "max_lost": (0, 10**6), "min_box_area": (0, float("inf")),
          "aspect_ratio_thresh": (0, float("inf")), "max_age": (0, 10**6),
          "min_hits": (0, 10**6), "delta_t": (1, 10**6), "inertia": (0, float("inf"))}


def check_options(args: argparse.Namespace) -> None:
    for name, (low, high) in RANGES.items():
        value = getattr(args, name)
        if value is not None and not low <= value <= high:
            raise InputError(f"--{name.replace('_', '-')} {value} outside {low}..{high}")


def infer_benchmark(names: list[str]) -> str:
    """MOT16/17/20 from the sequence names; anything else is scored like MOT15 (no classes)."""
    for bench in ("MOT16", "MOT17", "MOT20"):
        if names and all(n.startswith(bench + "-") for n in names):
            return bench
    return "MOT15"


def public_detections(seq_dir: Path, info: SeqInfo) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per frame (tlbr [N, 4], scores [N]) from det/det.txt (1-based MOT pixels kept)."""
    dets = read_dets(seq_dir / "det" / "det.txt", info.seq_length)
    dets = dets[np.argsort(dets[:, 0], kind="stable")]
    starts = np.searchsorted(dets[:, 0], np.arange(1, info.seq_length + 2))
    frames = []
    for t in range(info.seq_length):
        d = dets[starts[t]:starts[t + 1]]
        frames.append((np.column_stack([d[:, 2:4], d[:, 2:4] + d[:, 4:6]]), d[:, 6]))
    return frames


def frame_paths(seq_dir: Path, info: SeqInfo) -> list[Path]:
    return [seq_dir / info.im_dir / f"{t:06d}{info.im_ext}" for t in range(1, info.seq_length + 1)]


def check_frames(args, seqs: list[Path], infos: list[SeqInfo]) -> None:
    """Every frame image must exist for --weights and --video (seqLength of them, imDir/imExt
    from seqinfo.ini), the first one for --first-frames: a missing frame is an error, not a
    shorter video or a silently skipped sequence."""
    need = ("--weights" if args.weights else "--video" if args.video
            else "--first-frames" if args.first_frames else None)
    if need is None:
        return
    for seq_dir, info in zip(seqs, infos, strict=True):
        paths = frame_paths(seq_dir, info)
        for path in paths if need != "--first-frames" else paths[:1]:
            if not path.is_file():
                raise InputError(f"frame image missing (needed with {need}; seqLength "
                                 f"{info.seq_length})", path)


def yolo_detections(model, seq_dir: Path, info: SeqInfo, args) -> list:
    frames = []
    for path in frame_paths(seq_dir, info):
        r = model.predict(str(path), classes=[0], conf=args.conf, iou=0.7, imgsz=args.imgsz,
                          device=args.device, verbose=False)[0]
        frames.append((r.boxes.xyxy.cpu().numpy().astype(np.float64),
                       r.boxes.conf.cpu().numpy().astype(np.float64)))
    return frames


def run_tracker(args, info: SeqInfo, frames: list,
                images: list[Path] | None = None) -> tuple[np.ndarray, float]:
    """MOT result rows [K, 7] (frame, id, x, y, w, h, score) and tracker-only seconds (image
    decoding for camera-motion compensation excluded). ``images``: the frame paths, given
    when the tracker uses frames (BoT-SORT with CMC)."""
    tracker = make_tracker(args, info, images is not None)
    uses_images = images is not None and getattr(tracker.cfg, "cmc", "none") != "none"
    rows = []
    elapsed = 0.0
    for frame, (tlbr, scores) in enumerate(frames, start=1):
        image = read_frame(images[frame - 1]) if uses_images else None
        start = time.perf_counter()
        if args.tracker == "iou":
            tlbr_seen, ids, conf = tracker.update(tlbr, scores)
            boxes = np.column_stack([tlbr_seen[:, :2], tlbr_seen[:, 2:] - tlbr_seen[:, :2]])
        else:
            tracks = (tracker.update(tlbr, scores, image) if uses_images
                      else tracker.update(tlbr, scores))
            boxes = np.array([t.tlwh for t in tracks]).reshape(-1, 4)
            ids = np.array([t.track_id for t in tracks], np.int64)
            conf = np.array([t.score for t in tracks])
        elapsed += time.perf_counter() - start
        keep = output_filter(boxes, args.min_box_area,
                             None if args.no_aspect_filter else args.aspect_ratio_thresh)
        rows.append(np.column_stack([np.full(keep.sum(), frame), ids[keep], boxes[keep],
                                     conf[keep]]))
    return (np.concatenate(rows) if rows else np.zeros((0, 7))), elapsed


def sequence_images(args, seq_dir: Path, info: SeqInfo) -> list[Path] | None:
    """BoT-SORT's frames for CMC: all of the sequence's images when its first exists (--cmc
    sparse/ecc then needs every one), None otherwise or for other trackers or --cmc none."""
    if args.tracker != "botsort" or args.cmc == "none":
        return None
    paths = frame_paths(seq_dir, info)
    if not paths[0].is_file():
        if args.cmc is not None:
            raise InputError(f"--cmc {args.cmc} needs the frame images", paths[0])
        return None
    for path in paths:
        if not path.is_file():
            raise InputError("frame image missing (needed for camera-motion compensation)", path)
    return paths


def read_frame(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A frame as BGR uint8 [H, W, 3]; undecodable, or not ``size`` (W, H), is an error."""
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        raise InputError("cannot decode the image", path)
    if size is not None and (image.shape[1], image.shape[0]) != size:
        raise InputError(f"frame is {image.shape[1]}x{image.shape[0]}, the sequence's first "
                         f"frame {size[0]}x{size[1]}", path)
    return image


def write_video(path: Path, seq_dir: Path, info: SeqInfo, rows: np.ndarray) -> None:
    """Boxes, ids and 20-frame trails drawn on the sequence's frames (mp4v); every frame must
    decode and have the first frame's size (the writer would drop it silently)."""
    import cv2

    paths = frame_paths(seq_dir, info)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.mp4")
    first = read_frame(paths[0])
    size = (first.shape[1], first.shape[0])
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), info.frame_rate, size)
    trails: dict[int, list[tuple[int, int]]] = {}
    try:
        for frame, image_path in enumerate(tqdm(paths, desc=f"video {info.name}", leave=False),
                                           start=1):
            image = read_frame(image_path, size)
            for _, tid, x, y, w, h, _ in rows[rows[:, 0] == frame]:
                colour = tuple(int(c) for c in np.random.default_rng(int(tid)).integers(60, 255,
                                                                                        3))
                p1, p2 = (int(x - 1), int(y - 1)), (int(x + w - 1), int(y + h - 1))
                cv2.rectangle(image, p1, p2, colour, 2)
                cv2.putText(image, str(int(tid)), (p1[0], max(p1[1] - 4, 10)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 2)
                trail = trails.setdefault(int(tid), [])
                trail.append((int(x + w / 2), int(y + h)))
                del trail[:-20]
                for a, b in zip(trail[:-1], trail[1:], strict=True):
                    cv2.line(image, a, b, colour, 2)
            writer.write(image)
        writer.release()
        os.replace(tmp, path)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)


def first_frames(run_dir: Path, seqs: list[Path], infos: list[SeqInfo]) -> None:
    """The report's overview: each sequence's first frame and its frame count."""
    from cvcore.plots import image_grid

    write_text(run_dir / "frame_counts.csv", "sequence,frames\n" + "".join(
        f"{i.name},{i.seq_length}\n" for i in infos))
    images = [read_frame(frame_paths(s, i)[0])[:, :, ::-1] for s, i in zip(seqs, infos,
                                                                             strict=True)]
    titles = [f"{i.name} ({i.seq_length} frames)" for i in infos]
    image_grid(images, titles, run_dir / "first_frames.png", columns=min(4, len(images)))


def gt_to_score(seqs: list[Path], benchmark: str) -> list:
    """The checked ground truth of every sequence if they all have gt/gt.txt, none if none has
    (a test split); some but not all is an error (COMBINED would cover a subset)."""
    missing = [s / "gt" / "gt.txt" for s in seqs if not (s / "gt" / "gt.txt").exists()]
    if len(missing) == len(seqs):
        return []
    if missing:
        raise InputError("ground truth missing while other sequences have it (choose "
                         "sequences with --seq)", missing[0])
    return load_ground_truth(seqs, benchmark)


def save_metrics_table(run_dir: Path, metrics: dict) -> None:
    print(format_table(metrics))
    write_json(run_dir / "metrics.json", {seq: {k: m[k] for k in TABLE_COLUMNS}
                                          for seq, m in metrics.items()})


def eval_only(args: argparse.Namespace) -> Path:
    """Score --results against --gt-root: every sequence of --gt-root (or --seq) needs its
    result file, as ``python -m cvcore.motmetrics`` and TrackEval require."""
    folders = select_sequences(args.gt_root, args.seq)
    benchmark = args.benchmark or infer_benchmark([f.name for f in folders])
    metrics = evaluate(args.gt_root, args.results, benchmark,
                       ground_truth=load_ground_truth(folders, benchmark))
    run_dir = make_run_dir("track", args.name, args.out)
    save_args(run_dir, args)
    save_metrics_table(run_dir, metrics)
    return run_dir


def main(args: argparse.Namespace) -> Path:
    """Everything the run reads (seqinfo.ini, det.txt, gt.txt, frame images, weights) is checked
    before the run directory is created."""
    check_options(args)
    if args.eval_only:
        return eval_only(args)
    seqs = select_sequences(args.mot_root / args.split, args.seq)
    names = [s.name for s in seqs]
    benchmark = args.benchmark or infer_benchmark(names)
    infos = [read_seqinfo(s / "seqinfo.ini") for s in seqs]
    model = None
    if args.weights:
        from cvcore.detection.yolo import load_model

        model = load_model(args.weights, trust=args.trust_weights)
    # Public detections are read (and checked) before any tracking starts.
    public = ({} if model is not None
              else {s.name: public_detections(s, i) for s, i in zip(seqs, infos, strict=True)})
    check_frames(args, seqs, infos)
    images = {s.name: sequence_images(args, s, i) for s, i in zip(seqs, infos, strict=True)}
    ground_truth = gt_to_score(seqs, benchmark)
    run_dir = make_run_dir("track", args.name, args.out)
    save_args(run_dir, args)
    timing = {"tracker_seconds": 0.0, "detector_seconds": 0.0, "frames": 0}
    for seq_dir, info in tqdm(list(zip(seqs, infos, strict=True)), desc="sequences",
                              unit="seq"):
        start = time.perf_counter()
        frames = (yolo_detections(model, seq_dir, info, args) if model is not None
                  else public[seq_dir.name])
        timing["detector_seconds"] += time.perf_counter() - start if model is not None else 0.0
        rows, seconds = run_tracker(args, info, frames, images[seq_dir.name])
        timing["tracker_seconds"] += seconds
        timing["frames"] += info.seq_length
        write_results(run_dir / "data" / f"{seq_dir.name}.txt", rows)
        if args.video:
            write_video(run_dir / "videos" / f"{seq_dir.name}.mp4", seq_dir, info, rows)
    timing["tracker_fps"] = timing["frames"] / max(timing["tracker_seconds"], 1e-9)
    if model is not None:
        timing["detector_fps"] = timing["frames"] / max(timing["detector_seconds"], 1e-9)
    write_json(run_dir / "timing.json", timing)
    print(f"{args.tracker}: {timing['frames']} frames, tracker only "
          f"{timing['tracker_fps']:.0f} frames/s"
          + (f", detector {timing['detector_fps']:.1f} frames/s" if model is not None else ""))
    if args.first_frames:
        first_frames(run_dir, seqs, infos)
    if ground_truth:
        save_metrics_table(run_dir, evaluate(args.mot_root / args.split, run_dir / "data",
                                             benchmark, ground_truth=ground_truth))
    else:
        print("no gt/gt.txt in these sequences (a test split?): no metrics")
    print(f"results in {run_dir}")
    return run_dir


if __name__ == "__main__":
    run_cli(lambda: main(parse_args()))
