"""Evaluate a detector (or an instance segmenter) on COCO and explain where its AP goes.

    # any COCO results file
    python detect_eval.py --gt instances_val2017.json --dets results.json
    # a YOLOv8 model (ultralytics), predicting on the images first
    python detect_eval.py --gt instances_val2017.json --weights yolov8n.pt --images val2017/
    python detect_eval.py --data coco.yaml --weights yolov8n.pt
    # masks: segm results (RLE "segmentation"), or a segmentation model
    python detect_eval.py --iou-type segm --gt instances_val2017.json --dets segm_results.json
    python detect_eval.py --iou-type segm --data coco.yaml --weights yolov8n-seg.pt

Computes COCO AP (pycocotools' numbers), the TIDE error breakdown (tidecv's numbers) and the
detection ECE, overall and per object scale (small / medium / large), and writes them to
``runs/detect/<name>/`` (or ``--out``): ``metrics.json``, ``report.md``, ``predictions.json`` (when
it predicted), ``tide.png``, ``reliability.png``, ``pr_curves.png``. See cvcore.detection.tide and
cvcore.calibration for the exact rules.

``--iou-type segm`` compares masks instead of boxes everywhere: COCO segm AP (``COCOeval(...,
"segm")``), TIDE in tidecv's mask mode (``TIDE.MASK``: ground-truth polygons and RLE as its COCO
loader reads them, mask IoU) and ECE with correctness from COCO's segm matching at mask IoU 0.5.
Every result needs a ``segmentation`` (COCO's compressed or uncompressed RLE, or polygons) at its
image's size: pycocotools would silently evaluate a result without one as its box, we refuse it.
With ``--weights`` the model must be a segmentation model (yolov8n-seg.pt); its masks are
predicted at the original image size and written as compressed RLE in ``predictions.json``
(cvcore.detection.yolo.coco_records). The scales stay those of the box area, TIDE's rule
(its qualifiers read the box in mask mode too), for TIDE, ECE and the counts; COCO's APs/APm/APl
use the ground truth's ``area`` field as pycocotools does.

Every input is read and checked before the run directory exists, so a failed start leaves none:
the files, the dataset yaml, the images (present, image headers), the device, the model, and the
results' scores, which must lie in [0, 1] since ECE reads them as probabilities (COCO AP and TIDE
alone, ``python -m cvcore.cocoeval`` / ``cvcore.tide``, take any finite score). ``--weights``
loads without running code from the file (cvcore.detection.yolo); ``--trust-weights`` allows
ultralytics'
full unpickling for files one trusts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cvcore.atomic import write_json, write_text
from cvcore.detection.coco import (
    CocoDets,
    CocoGT,
    defer_interrupt,
    load_gt,
    load_gt_and_results,
    load_results,
)
from cvcore.detection.cocoeval import STAT_NAMES, CocoEvalResult, summary_lines
from cvcore.detection.cocoeval import warm_up as warm_up_cocoeval
from cvcore.detection.ece import ECEResult, check_probabilities
from cvcore.detection.report import SCALES, evaluate_detections
from cvcore.detection.tide import MAIN_ERRORS, SPECIAL_ERRORS, TideResult
from cvcore.detection.tide import warm_up as warm_up_tide
from cvcore.detection.yolo import (
    SEGMENT_PREDICT_ARGS,
    check_device,
    coco_records,
    is_segmentation_model,
    load_model,
    quiet_ultralytics,
)
from cvcore.errors import InputError, one_line, run_cli
from cvcore.runs import check_output_path, make_run_dir, save_args, save_metrics

IOU_TYPES = ("bbox", "segm")


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1] (score thresholds, IoU)."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="COCO AP, TIDE and ECE, overall and per scale.")
    parser.add_argument("--gt", type=Path, help="COCO ground truth (instances_val2017.json)")
    parser.add_argument("--dets", type=Path, help="COCO results JSON to evaluate")
    parser.add_argument("--iou-type", choices=IOU_TYPES, default="bbox",
                        help="compare boxes (bbox) or masks (segm: results need 'segmentation')")
    parser.add_argument("--weights", help="ultralytics weights (.pt) or model .yaml to predict")
    parser.add_argument("--trust-weights", action="store_true",
                        help="load --weights with ultralytics' full unpickling, which can run "
                             "code from the file (default: weights-only loading; files that "
                             "reference other code are refused)")
    parser.add_argument("--images", type=Path, help="image folder for --weights")
    parser.add_argument("--data", type=Path,
                        help="ultralytics dataset yaml (coco.yaml): finds val images and gt")
    parser.add_argument("--conf", type=fraction, default=0.001, help="prediction score threshold")
    parser.add_argument("--iou", type=fraction, default=0.7, help="prediction NMS IoU")
    parser.add_argument("--max-det", type=positive_int, default=300, help="predictions per image")
    parser.add_argument("--imgsz", type=positive_int, default=640, help="prediction image size")
    parser.add_argument("--device", default="cpu", help="prediction device (cpu, 0, ...)")
    parser.add_argument("--ece-min-score", type=fraction, default=0.0,
                        help="score floor for ECE (detections below are left out)")
    parser.add_argument("--out", type=Path, help="output directory (default runs/detect/<name>)")
    parser.add_argument("--name", default="exp", help="run name under runs/detect/")
    args = parser.parse_args(argv)
    if args.data is None and args.gt is None:
        parser.error("give --gt (with --dets or --weights/--images) or --data")
    if (args.dets is None) == (args.weights is None):
        parser.error("give exactly one of --dets and --weights")
    if args.weights and args.images is None and args.data is None:
        parser.error("--weights needs --images or --data")
    return args


def resolve_data_yaml(path: Path) -> tuple[Path, Path]:
    """(ground-truth JSON, image folder) from an ultralytics coco.yaml-style file.

    ``path`` (optional, a folder; relative to the yaml's folder) and ``val`` (an image folder or
    ultralytics' ``val2017.txt`` list, relative to ``path``) must be strings; the ground truth is
    ``<path>/annotations/instances_<val folder name>.json``. Both must exist."""
    import yaml

    if path.is_dir():
        raise InputError("is a directory, not a dataset yaml", path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError("dataset yaml not found", path) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason})", path) from None
    except yaml.YAMLError as err:
        mark, problem = getattr(err, "problem_mark", None), getattr(err, "problem", None)
        where = f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark and problem \
            else one_line(err)
        raise InputError(f"invalid YAML ({where})", path) from None
    if not isinstance(data, dict):
        raise InputError("dataset yaml must be a mapping with 'val' (and 'path')", path)
    for key, required in (("val", True), ("path", False)):
        if (required or key in data) and not isinstance(data.get(key), str):
            problem = "no 'val' entry" if key not in data else f"{key!r} must be a path string"
            raise InputError(problem, path)
    root = Path(data.get("path", "."))
    root = root if root.is_absolute() else path.parent / root
    images = root / data["val"]
    if images.suffix == ".txt":  # ultralytics' list file: images/val2017/...
        images = root / "images" / "val2017"
    gt = root / "annotations" / f"instances_{images.name}.json"
    for needed in (gt, images):
        if not needed.exists():
            raise InputError(f"dataset file missing: {needed} (download COCO val2017 and its "
                             "annotations into the dataset's path)", path)
    if not images.is_dir():
        raise InputError(f"{images} is not an image folder", path)
    return gt, images


def check_images(images: Path, gt: CocoGT, sizes: bool = False) -> list[Path]:
    """The ground truth's image files in ``images``: all must exist and start like an image
    (headers only: a few ms per thousand files, so a bad file stops the run before it starts
    rather than halfway through the predictions); with ``sizes``, of the ground truth's width
    and height (predicted masks are compared with its masks pixel for pixel)."""
    from PIL import Image

    if not images.is_dir():
        raise InputError("image folder not found" if not images.exists()
                         else "not a directory (--images needs the image folder)", images)
    paths = [images / name for name in gt.file_names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"{len(missing)} ground-truth images missing, e.g. {missing[0].name}",
                         images)
    for path, width, height in zip(paths, gt.widths.tolist(), gt.heights.tolist(), strict=True):
        try:
            with Image.open(path) as image:
                size = image.size
        except (OSError, ValueError) as err:
            raise InputError(f"not a readable image ({one_line(err)})", path) from None
        if sizes and size != (width, height):
            raise InputError(f"image is {size[0]} x {size[1]} but the ground truth says "
                             f"{width} x {height}", path)
    return paths


def predict(model, paths: list[Path], gt: CocoGT, args: argparse.Namespace) -> list[dict]:
    """Run the ultralytics model on every ground-truth image; COCO results (80 -> 91 ids), with
    RLE masks for ``--iou-type segm``."""
    from ultralytics.data.converter import coco80_to_coco91_class

    coco91 = np.array(coco80_to_coco91_class())
    names = getattr(model, "names", {}) or {}
    class_map = coco91 if len(names) == 80 else np.arange(1, len(names) + 1)
    masks = args.iou_type == "segm"
    extra = SEGMENT_PREDICT_ARGS if masks else {}
    results = []
    # closed on the way out too, so an error is the last line printed
    with tqdm(list(zip(gt.image_ids.tolist(), paths, strict=True)), desc="predict",
              unit="img") as images:
        for image_id, path in images:
            try:
                with quiet_ultralytics():
                    r = model.predict(str(path), conf=args.conf, iou=args.iou, max_det=args.max_det,
                                      imgsz=args.imgsz, device=args.device, verbose=False,
                                      **extra)[0]
            except Exception as err:  # inputs are checked: an image its header did not betray
                raise InputError(f"cannot predict on this image ({type(err).__name__}: "
                                 f"{one_line(err)})", path) from None
            results += coco_records(r, image_id, class_map, masks=masks)
    return results


@dataclass
class Inputs:
    """Everything ``main`` needs, read and checked before anything is written: the ground truth
    and either the results file's detections or the model and the image files to run it on."""

    gt: CocoGT
    dets: CocoDets | None = None
    model: object = None
    image_paths: list[Path] = field(default_factory=list)
    warm: bool = False  # the kernels are loaded (see warm_up)


def read_inputs(args: argparse.Namespace) -> Inputs:
    """Read and check every input (see :class:`Inputs`); raises InputError, writes nothing.

    Results files' scores must be probabilities, in [0, 1], since the report includes ECE
    (:func:`cvcore.calibration.check_probabilities`); COCO AP and TIDE alone take any score."""
    check_output_path(args.out, folder=True)
    images, gt_path = args.images, args.gt
    if args.data is not None:
        gt_path, data_images = resolve_data_yaml(args.data)
        images = images or data_images
    segm = args.iou_type == "segm"
    if args.dets is not None:  # both files parsed in worker processes while the kernels load
        gt, dets = load_gt_and_results(gt_path, args.dets, meanwhile=lambda: warm_up(segm, True),
                                       iou_type=args.iou_type)
        check_probabilities(dets)
        return Inputs(gt=gt, dets=dets, warm=True)
    gt = load_gt(gt_path, args.iou_type)
    paths = check_images(images, gt, sizes=segm)
    check_device(args.device)
    model = load_model(args.weights, trust=args.trust_weights)
    if segm and not is_segmentation_model(model):
        raise InputError(f"a {getattr(model, 'task', 'non-segmentation')} model has no masks: "
                         "--iou-type segm needs a segmentation model (e.g. yolov8n-seg.pt)",
                         args.weights)
    return Inputs(gt=gt, model=model, image_paths=paths)


def get_predictions(args: argparse.Namespace, inputs: Inputs, run_dir: Path) -> CocoDets:
    """The results file's detections, or the model's predictions (saved as predictions.json)."""
    if inputs.dets is not None:
        return inputs.dets
    results = predict(inputs.model, inputs.image_paths, inputs.gt, args)
    write_json(run_dir / "predictions.json", results, indent=None)
    known = set(inputs.gt.cat_ids.tolist())
    return load_results([r for r in results if r["category_id"] in known], inputs.gt,
                        args.iou_type)


def warm_up(masks: bool = False, figures: bool = False) -> None:
    """Load the COCO AP and TIDE kernels (ECE uses COCO's matching); TIDE's mask ones too; with
    ``figures``, matplotlib as well (cvcore.detection.plots)."""
    warm_up_cocoeval("segm" if masks else "bbox")
    warm_up_tide(masks)
    if figures:
        import cvcore.detection.plots  # noqa: F401


def _draw_in_worker(conn) -> None:
    """FigureWorker's process: import matplotlib at once, then run one (function, args) job and
    send back None or the exception."""
    import cvcore.detection.plots  # noqa: F401

    try:
        function, args = conn.recv()
    except EOFError:  # closed without a job
        return
    try:
        function(*args)
        conn.send(None)
    except Exception as err:  # reported by the main process
        conn.send(err)


class FigureWorker:
    """A forked process that draws one figure while this process draws the others (matplotlib
    holds the GIL, so threads would not overlap; on two cores the figures take about as long as
    the slowest). Started before the inputs are loaded: it imports matplotlib meanwhile and
    shares little memory with this process. Without two cores or ``fork`` everything runs
    here. Ctrl-C reaches this process only (the worker starts with SIGINT blocked)."""

    def __init__(self) -> None:
        self.conn = self.process = None
        if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process = context.Process(target=_draw_in_worker, args=(child,), daemon=True)
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        child.close()

    def draw(self, jobs: list[tuple[Callable, tuple]]) -> None:
        """Run every ``(function, args)`` job, the first in the worker (once)."""
        if self.conn is None or self.conn.closed:
            for function, args in jobs:
                function(*args)
            return
        self.conn.send(jobs[0])
        for function, args in jobs[1:]:
            function(*args)
        error = self.conn.recv()
        self.close()
        if error is not None:
            raise error

    def close(self) -> None:
        if self.process is not None:
            self.conn.close()
            self.process.kill()
            self.process.join()
            self.process = None

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(path: Path, source: str, coco: CocoEvalResult, per_cat: list[dict],
                 tide: dict[str, TideResult], ece: dict[str, ECEResult],
                 counts: dict[str, dict[str, int]], iou_type: str = "bbox") -> None:
    ranked = sorted((r for r in per_cat if r["ap"] > -1), key=lambda r: -r["ap"])
    kind, shape = (("Instance segmentation", "mask") if iou_type == "segm"
                   else ("Detection", "box"))
    parts = [
        f"# {kind} evaluation: {source}", "",
        f"## COCO {iou_type} AP (pycocotools' rules, {shape} IoU)", "", "```",
        *summary_lines(coco), "```", "",
        "## Objects and predictions per scale (box area; crowd regions not counted)", "",
        markdown_table(["scale", "ground truth", "predictions"],
                       [[s, counts[s]["gt"], counts[s]["predictions"]] for s in SCALES]), "",
        f"## TIDE ({shape} AP@50 and dAP, tidecv's rules, {tide['all'].mode} mode; per scale: "
        "both sides filtered by box area)", "",
        markdown_table(["scale", "AP50", *MAIN_ERRORS, *SPECIAL_ERRORS],
                       [[s, f"{tide[s].ap50:.2f}", *(f"{tide[s].main[e]:.2f}" for e in MAIN_ERRORS),
                         *(f"{tide[s].special[e]:.2f}" for e in SPECIAL_ERRORS)]
                        for s in SCALES]), "",
        "Error counts:", "",
        markdown_table(["scale", *MAIN_ERRORS],
                       [[s, *(tide[s].counts[e] for e in MAIN_ERRORS)] for s in SCALES]), "",
        f"## Calibration (ECE at {shape} IoU 0.5, 10 bins)", "",
        markdown_table(["scale", "ECE", "detections"],
                       [[s, f"{ece[s].ece:.4f}", ece[s].n] for s in SCALES]), "",
        "## Per-category AP (best and worst 10)", "",
        markdown_table(["category", "AP", "AP50", "AP75"],
                       [[r["name"], f"{r['ap']:.3f}", f"{r['ap50']:.3f}", f"{r['ap75']:.3f}"]
                        for r in ranked[:10] + ranked[10:][-10:]]), "",
        "Figures: `tide.png`, `reliability.png`, `pr_curves.png`.", ""]
    write_text(path, "\n".join(parts))


def main(args: argparse.Namespace) -> Path:
    with FigureWorker() as figures:
        return run(args, figures)


def run(args: argparse.Namespace, figures: FigureWorker) -> Path:
    inputs = read_inputs(args)  # a failed start leaves no run directory
    from cvcore.detection.plots import (  # matplotlib: slow
        plot_pr_curves,
        plot_reliability,
        plot_tide,
    )

    run_dir = make_run_dir("detect", args.name, args.out)
    save_args(run_dir, args)
    gt = inputs.gt
    dets = get_predictions(args, inputs, run_dir)

    if not inputs.warm:  # Numba's kernels load with Ctrl-C held back
        defer_interrupt(lambda: warm_up(args.iou_type == "segm"))()
    # closed on the way out too, so "interrupted" or an error is the last line printed
    with tqdm(total=2, desc="evaluate", unit="step") as steps:
        report = evaluate_detections(gt, dets, args.ece_min_score)
        coco, tide, ece, counts = report.coco, report.tide, report.ece, report.counts
        names = dict(zip(gt.cat_ids.tolist(), gt.cat_names, strict=True))
        per_cat = coco.per_category_ap(names)
        steps.update()
        metrics = {
            "iou_type": args.iou_type,
            "coco": dict(zip(STAT_NAMES, coco.stats.tolist(), strict=True)),
            "tide": {s: tide[s].to_dict() for s in SCALES},
            "ece": {s: ece[s].to_dict() for s in SCALES},
            "counts": counts,
            "per_category": per_cat,
        }
        save_metrics(run_dir, metrics)
        source = str(args.dets or args.weights)
        write_report(run_dir / "report.md", source, coco, per_cat, tide, ece, counts,
                     args.iou_type)
        figures.draw([
            (plot_tide, (tide, run_dir / "tide.png")),
            (plot_reliability, (ece, run_dir / "reliability.png")),
            (plot_pr_curves, (coco.params.rec_thrs, {"IoU 0.50": coco.pr_curve(0.5),
                                                     "IoU 0.75": coco.pr_curve(0.75)},
                              run_dir / "pr_curves.png"))])
        steps.update()
    print("\n".join(summary_lines(coco)))
    print(f"TIDE {tide['all'].mode} AP50 {tide['all'].ap50:.2f}  " + "  ".join(
        f"{e} {tide['all'].main[e]:.2f}" for e in MAIN_ERRORS))
    print(f"ECE {ece['all'].ece:.4f} over {ece['all'].n} detections")
    print(f"results in {run_dir}")
    return run_dir


if __name__ == "__main__":
    run_cli(lambda: main(parse_args()), fast_exit=True)
