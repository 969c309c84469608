"""Training figures shared by the training scripts (PNG, written atomically, Agg backend)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .atomic import save_figure  # noqa: E402
from .training.images import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


def _finish(fig, path: str | os.PathLike) -> Path:
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return Path(path)


def plot_results_csv(csv_path: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Training curves from ``results.csv``: losses, then every other metric column per panel
    pair (train_x with val_x), and the learning rate."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(float(r["epoch"])) for r in rows]
    columns = [c for c in rows[0] if c != "epoch"] if rows else []

    def stem_of(column: str) -> str:
        return column.split("_", 1)[1] if column.startswith(("train_", "val_")) else column

    stems = list(dict.fromkeys(stem_of(c) for c in columns))
    fig, axes = plt.subplots(1, len(stems), figsize=(4 * len(stems), 3.4), squeeze=False)
    for ax, stem in zip(axes[0], stems, strict=True):
        for c in columns:
            if stem_of(c) == stem:
                ax.plot(epochs, [float(r[c]) for r in rows], marker="o", label=c)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(stem)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig, path)


def plot_bars(counts: dict[str, list[int]], names: list[str], path: str | os.PathLike,
              title: str = "class distribution") -> Path:
    """One bar chart per entry of ``counts`` (e.g. train and val), bars labelled by ``names``."""
    fig, axes = plt.subplots(1, len(counts), figsize=(max(6, 0.6 * len(names)) * len(counts),
                                                      4), squeeze=False)
    for ax, (label, values) in zip(axes[0], counts.items(), strict=True):
        ax.bar(range(len(names)), values, color="#4363d8")
        for i, v in enumerate(values):
            ax.text(i, v, str(v), ha="center", va="bottom", fontsize="small")
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
        ax.set_title(f"{title}: {label}")
    return _finish(fig, path)


def plot_confusion(cm: np.ndarray, names: list[str], path: str | os.PathLike) -> Path:
    """Colour-coded confusion matrix (rows truth, columns prediction) with the counts."""
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.6 * n + 3, 0.6 * n + 2.5))
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize="small",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(n), names, rotation=60, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _finish(fig, path)


def denormalise(x) -> np.ndarray:
    """An ImageNet-normalised CHW tensor back to an HWC float image in [0, 1]."""
    image = x.detach().cpu().numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(image, 0, 1)


def image_grid(images: list[np.ndarray], titles: list[str], path: str | os.PathLike,
               columns: int = 6, title: str | None = None, empty: str = "no images") -> Path:
    """A grid of HWC images (float [0, 1] or uint8) with titles; ``empty`` is written in the
    figure when there are no images (e.g. nothing was misclassified)."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if title:
        fig.suptitle(title)
    if not images:
        fig.text(0.5, 0.5, empty, ha="center", va="center", fontsize="x-large")
    for ax, image, title in zip(axes.ravel(), images, titles, strict=False):
        ax.imshow(image)
        ax.set_title(title, fontsize="x-small")
    return _finish(fig, path)


def plot_embedding(points: np.ndarray, labels: np.ndarray, names: list[str],
                   path: str | os.PathLike, title: str) -> Path:
    """Scatter of a 2-D or 3-D embedding (e.g. t-SNE), coloured by class."""
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d" if points.shape[1] == 3 else None)
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for k, name in enumerate(names):
        sel = labels == k
        ax.scatter(*points[sel].T, s=8, color=cmap(k % cmap.N), label=name)
    ax.set_title(title)
    ax.legend(fontsize="x-small", markerscale=2, loc="best")
    return _finish(fig, path)


def plot_grouped_bars(values: dict[str, list[float]], groups: list[str], path: str | os.PathLike,
                      title: str = "", ylim: tuple[float, float] | None = (0, 1)) -> Path:
    """Bars of several quantities (the keys of ``values``) side by side for each group (e.g. a
    run), with the value written above each bar."""
    n = len(values)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * n * len(groups) + 2), 4))
    x = np.arange(len(groups))
    for i, (name, heights) in enumerate(values.items()):
        bars = ax.bar(x + width * (i - (n - 1) / 2), heights, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize="x-small")
    ax.set_xticks(x, groups)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _finish(fig, path)
