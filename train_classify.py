"""Train and evaluate an image classifier on a folder-per-class dataset (Russian Wildlife).

    python train_classify.py --data DIR --model convnet --epochs 10
    python train_classify.py --data DIR --model resnet18 --pretrained --augment --sched onecycle
    torchrun --nproc_per_node 2 train_classify.py --data DIR ...        # DDP
    python train_classify.py --data DIR --out runs/classify/exp --resume  # continue last.pt
    python train_classify.py --data DIR --resume               # the newest runs/classify/*/last.pt
    python train_classify.py compare runs/classify/exp runs/classify/exp2

Writes ``runs/classify/<name>/`` (or ``--out``): args.yaml, split.json, results.csv, last.pt,
best.pt, metrics.json (accuracy, macro-F1, per-class precision/recall/F1, confusion matrix,
ECE), confusion_matrix.csv/.png, curves.png, class_distribution.png, misclassified.png,
tsne_2d.png, tsne_3d.png, augmentations.png. The final metrics and figures come from best.pt
(highest validation accuracy) on the validation split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from cvcore.atomic import write_text
from cvcore.calibration import classification_ece
from cvcore.classification.data import FolderDataset, Split, build_transforms, stratified_split
from cvcore.classification.losses import label_smoothed_cross_entropy
from cvcore.classification.models import MODELS, build_classifier, penultimate_features
from cvcore.confusion import accuracy, confusion_matrix, per_class_scores
from cvcore.errors import InputError, run_cli
from cvcore.runs import ArgumentParser, ResultsCSV, load_args, make_run_dir, save_metrics
from cvcore.training.loop import Fitted, Task, fit, start
from cvcore.training.options import add_arguments


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description="Image classification training.")
    parser.add_argument("--data", type=Path, required=True, help="folder-per-class image root")
    parser.add_argument("--model", choices=MODELS, default="convnet")
    parser.add_argument("--pretrained", action="store_true",
                        help="resnet18: ImageNet weights from the torch hub cache "
                        "(hub/checkpoints/resnet18-f37072fd.pth) or --weights")
    parser.add_argument("--weights", help="resnet18 weights file (torchvision's ImageNet file or a "
                        "cvcore checkpoint; implies --pretrained)")
    parser.add_argument("--img-size", type=int, default=224)
    add_arguments(parser, "classify", batch_size=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--sched", choices=["onecycle", "none"], default="none")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--augment", action="store_true", help="the report's augmentations")
    parser.add_argument("--val-frac", type=float, default=0.2)
    parser.add_argument("--no-tsne", action="store_true", help="skip the t-SNE figures")
    return parser.parse_args(argv)


def load_split(args, resume_from: Path | None) -> tuple[Split, bool]:
    """(split, whether it is the resumed run's saved split.json): that file, checked to
    describe ``--data``, else a new stratified split of ``--data``. Reads only."""
    saved = resume_from.parent / "split.json" if resume_from else None
    resumed = saved is not None and saved.is_file()
    if resumed:
        split = Split.load(saved)
        split.check_against(args.data, saved)
    else:
        split = stratified_split(args.data, args.val_frac, args.seed)
    if not split.train or not split.val:
        raise InputError(f"too few images for a train/val split ({len(split.train)} train, "
                         f"{len(split.val)} val)", args.data)
    return split, resumed


def save_split(split: Split, run_dir: Path) -> None:
    """Write split.json and list the unreadable images once."""
    split.save(run_dir / "split.json")
    if split.unreadable:
        shown = ", ".join(split.unreadable[:3]) + (" ..." if len(split.unreadable) > 3 else "")
        print(f"skipping {len(split.unreadable)} unreadable images (all listed in "
              f"{run_dir / 'split.json'}): {shown}")


def build_data(args, split: Split) -> tuple[FolderDataset, FolderDataset]:
    """The training and validation sets of ``split``."""
    return (FolderDataset(split.train, build_transforms(args.img_size, True, args.augment)),
            FolderDataset(split.val, build_transforms(args.img_size, False, False)))


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over classes present in truth or prediction, 0 where undefined (scikit-learn's
    ``f1_score(average="macro")``)."""
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(np.nan_to_num(per_class_scores(cm).f1)[present].mean())


def classification_task(args, model, split: Split, split_saved: bool) -> Task:
    """Adam, label-smoothed cross-entropy, best.pt by validation accuracy, macro-F1 columns;
    OneCycleLR (``--sched onecycle``) spans ``--epochs`` (a resume with more epochs stretches
    it: see ``checkpoint.load_scheduler``). A new split is saved once the run folder exists."""
    def onecycle(optimizer, steps_per_epoch: int):
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                   steps_per_epoch=steps_per_epoch)

    return Task(
        model, torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay),
        loss_fn=lambda logits, y: label_smoothed_cross_entropy(logits, y, args.label_smoothing),
        num_classes=len(split.classes), scheduler=onecycle if args.sched == "onecycle" else None,
        train_metrics=lambda cm: {"train_macro_f1": macro_f1(cm)},
        val_metrics=lambda cm: {"val_macro_f1": macro_f1(cm)},
        on_start=None if split_saved else lambda run_dir: save_split(split, run_dir))


@torch.no_grad()
def collect_predictions(model, loader, device) -> dict[str, np.ndarray]:
    """Softmax probabilities float[N, K], labels int[N] and penultimate features float[N, F]
    over the whole loader, in dataset order."""
    model.eval()
    probs, labels, feats = [], [], []
    for x, y in tqdm(loader, desc="Predict [Val]", leave=False):
        logits, f = penultimate_features(model, x.to(device))
        probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
        feats.append(f.flatten(1).float().cpu().numpy())
        labels.append(y.numpy())
    return {"probs": np.concatenate(probs), "labels": np.concatenate(labels),
            "features": np.concatenate(feats)}


def class_metrics(probs: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """metrics.json from softmax ``probs`` float[N, K] and ``labels`` int[N]: accuracy,
    macro-F1, per-class precision/recall/F1/support (nan where undefined), the confusion matrix
    (rows truth) and the classification ECE with its reliability-diagram bins."""
    pred = probs.argmax(1)
    cm = confusion_matrix(labels, pred, len(names))
    scores = per_class_scores(cm)
    ece = classification_ece(probs, labels)
    return {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm),
            "per_class": [{"name": n, "precision": float(scores.precision[k]),
                           "recall": float(scores.recall[k]), "f1": float(scores.f1[k]),
                           "support": int(scores.support[k])} for k, n in enumerate(names)],
            "confusion_matrix": cm.tolist(), "ece": ece.ece, "reliability": ece.to_dict()}


def save_figures(run_dir: Path, args, split: Split, val_set, preds: dict, metrics: dict) -> None:
    from PIL import Image

    from cvcore import plots

    names = split.classes
    count = [np.bincount([label for _, label in s], minlength=len(names)).tolist()
             for s in (split.train, split.val)]
    plots.plot_bars({"train": count[0], "val": count[1]}, names,
                    run_dir / "class_distribution.png")
    cm = np.array(metrics["confusion_matrix"])
    write_text(run_dir / "confusion_matrix.csv",
               ",".join(["true\\pred", *names]) + "\n" + "".join(
                   ",".join([n, *map(str, row)]) + "\n" for n, row in zip(names, cm,
                                                                         strict=True)))
    plots.plot_confusion(cm, names, run_dir / "confusion_matrix.png")
    pred = preds["probs"].argmax(1)
    wrong = [np.flatnonzero((preds["labels"] == k) & (pred != k))[:3] for k in range(len(names))]
    picks = np.concatenate(wrong).astype(int)
    plots.image_grid([plots.denormalise(val_set[i][0]) for i in picks],
                     [f"true {names[preds['labels'][i]]}\npred {names[pred[i]]}" for i in picks],
                     run_dir / "misclassified.png",
                     title="misclassified validation images (up to 3 per class)",
                     empty="no validation image was misclassified")
    augment = build_transforms(args.img_size, True, True)
    originals = [Image.open(split.train[i][0]).convert("RGB")
                 for i in range(0, len(split.train), max(1, len(split.train) // 3))][:3]
    grid, titles = [], []
    for image in originals:
        grid.append(np.asarray(image.resize((args.img_size, args.img_size))))
        titles.append("original")
        for _ in range(3):
            grid.append(plots.denormalise(augment(image)))
            titles.append("augmented")
    plots.image_grid(grid, titles, run_dir / "augmentations.png", columns=4)
    if not args.no_tsne:
        save_tsne(run_dir, preds["features"], preds["labels"], names, args.seed)


def save_tsne(run_dir: Path, features: np.ndarray, labels: np.ndarray, names: list[str],
              seed: int) -> None:
    """2-D and 3-D t-SNE (scikit-learn) of penultimate features, reduced to 50 dimensions by PCA
    first when wider (the ConvNet's are 128 * 14 * 14 at 224), as scikit-learn recommends."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    from cvcore import plots

    if len(features) < 5:
        print(f"t-SNE skipped: {len(features)} validation images are too few")
        return
    width = features.shape[1]
    if width > 50 and len(features) > 50:
        features = PCA(50, random_state=seed).fit_transform(features)
    how = f"{width}-d penultimate features" + (" (PCA to 50)" if width > features.shape[1]
                                                else "")
    for dims in (2, 3):
        points = TSNE(n_components=dims, perplexity=min(30, max(2, len(features) // 4)),
                      random_state=seed, init="pca").fit_transform(features)
        plots.plot_embedding(points, labels, names, run_dir / f"tsne_{dims}d.png",
                             f"t-SNE ({dims}D) of {how}, validation set")


def evaluate_best(model, args, device, fitted: Fitted, split: Split, val_set) -> dict:
    """Predict the validation split once more with best.pt (``fit`` put its weights in
    ``model``), write metrics and figures."""
    loader = DataLoader(val_set, batch_size=args.batch_size, num_workers=args.workers)
    preds = collect_predictions(model, loader, device)
    metrics = {"model": args.model, "best_epoch": fitted.best_epoch, "num_val": len(split.val),
               "classes": split.classes,
               **class_metrics(preds["probs"], preds["labels"], split.classes)}
    save_metrics(fitted.run_dir, metrics)
    save_figures(fitted.run_dir, args, split, val_set, preds, metrics)
    return metrics


def main(args: argparse.Namespace) -> Path | None:
    with start(args, "classify") as s:
        # Every input (data, split, model, weights, the resume checkpoint) is read and checked
        # before fit() writes anything: a failed start leaves no run directory behind and a
        # failed resume leaves the run as it was.
        split, split_saved = load_split(args, s.resume_from)
        train_set, val_set = build_data(args, split)
        model = build_classifier(args.model, len(split.classes), args.img_size, args.pretrained,
                                 args.weights).to(s.d.device)
        fitted = fit(s, classification_task(args, model, split, split_saved), train_set, val_set)
        if fitted is None:  # ranks other than 0
            return None
        metrics = evaluate_best(model, args, s.d.device, fitted, split, val_set)
        print(f"best checkpoint: val accuracy {metrics['accuracy']:.4f}, macro-F1 "
              f"{metrics['macro_f1']:.4f}, ECE {metrics['ece']:.4f}; results in {fitted.run_dir}")
        return fitted.run_dir


def run_summary(run: Path) -> dict:
    """One finished run: its label, epochs, and the best epoch's train and val numbers."""
    if not run.is_dir():
        raise InputError("run folder not found", run)
    for name in ("metrics.json", "results.csv", "args.yaml"):
        if not (run / name).is_file():
            raise InputError(f"no {name} (not a finished train_classify.py run?)", run)
    try:
        m = json.loads((run / "metrics.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON ({err})", run / "metrics.json") from None
    keys = ("accuracy", "macro_f1", "ece", "best_epoch")
    if not isinstance(m, dict) or not all(isinstance(m.get(k), int | float) for k in keys):
        raise InputError(f"not a classification metrics.json (needs numbers {', '.join(keys)})",
                         run / "metrics.json")
    cfg = load_args(run)
    table = ResultsCSV(run / "results.csv")
    by_epoch = dict(zip(table.keys(), table.rows, strict=True))
    best = by_epoch.get(m["best_epoch"], {})
    label = (f"{cfg.get('model')}{' pretrained' if cfg.get('pretrained') else ''}"
             f"{' +aug' if cfg.get('augment') else ''}")
    return {"run": run.name, "model": label, "epochs": cfg.get("epochs"),
            "best_epoch": m.get("best_epoch"), "train_acc": float(best.get("train_acc", "nan")),
            "val_acc": m["accuracy"], "macro_f1": m["macro_f1"], "ece": m["ece"]}


def compare(argv: list[str]) -> Path:
    """``train_classify.py compare RUN_DIR... [--out DIR]``: the report's Part 5 as a table
    (comparison.md) and a bar chart (comparison.png): train and val accuracy at the best epoch
    (their gap shows overfitting), macro-F1 and ECE per run."""
    from cvcore import plots

    parser = ArgumentParser(prog="train_classify.py compare")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    a = parser.parse_args(argv)
    rows = [run_summary(run) for run in a.runs]
    out = make_run_dir("classify", "compare", a.out)
    table = ["| run | model | epochs | best epoch | train acc | val acc | macro-F1 | ECE |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    table += [f"| {r['run']} | {r['model']} | {r['epochs']} | {r['best_epoch']} | "
              f"{r['train_acc']:.4f} | {r['val_acc']:.4f} | {r['macro_f1']:.4f} | "
              f"{r['ece']:.4f} |" for r in rows]
    write_text(out / "comparison.md", "\n".join(table) + "\n")
    plots.plot_grouped_bars({key: [r[key] for r in rows]
                             for key in ("train_acc", "val_acc", "macro_f1", "ece")},
                            [f"{r['run']}\n{r['model']}" for r in rows], out / "comparison.png",
                            title="model comparison (best epoch)")
    print("\n".join(table))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "compare":
        run_cli(lambda: compare(sys.argv[2:]))
    else:
        run_cli(lambda: main(parse_args()))
