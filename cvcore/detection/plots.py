"""Figures for detection evaluation: TIDE summary, reliability diagrams, PR curves.

Each function builds a matplotlib figure and writes it atomically as PNG (Agg backend, no
display needed).
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic import save_figure  # noqa: E402
from ..calibration import ECEResult  # noqa: E402
from .tide import MAIN_ERRORS, SPECIAL_ERRORS, TideResult  # noqa: E402

ERROR_COLOURS = {"Cls": "#e6194b", "Loc": "#3cb44b", "Both": "#ffe119", "Dupe": "#4363d8",
                 "Bkg": "#f58231", "Miss": "#911eb4", "FalsePos": "#46f0f0", "FalseNeg": "#f032e6"}


def plot_tide(results: dict[str, TideResult], path: str | os.PathLike) -> None:
    """One row per scale: pie of the main-error dAPs and bars of the special-error dAPs."""
    fig, axes = plt.subplots(len(results), 2, figsize=(9, 3.2 * len(results)), squeeze=False)
    for row, (scale, r) in enumerate(results.items()):
        values = [r.main[e] for e in MAIN_ERRORS]
        pie, bars = axes[row]
        total = sum(values)
        if total > 0:
            # Label only slices big enough to read; the legend names every error type.
            labels = [f"{v:.2f}" if v > 0.04 * total else "" for v in values]
            pie.pie(values, labels=labels, colors=[ERROR_COLOURS[e] for e in MAIN_ERRORS],
                    startangle=90, wedgeprops={"linewidth": 1, "edgecolor": "white"})
            pie.legend(MAIN_ERRORS, loc="center left", bbox_to_anchor=(-0.35, 0.5),
                       fontsize="small")
        else:
            pie.text(0.5, 0.5, "no errors to fix", ha="center", va="center")
            pie.axis("off")
        pie.set_title(f"{scale}: {r.mode} AP50 {r.ap50:.2f}, main errors (dAP)")
        special = [r.special[e] for e in SPECIAL_ERRORS]
        bars.bar(SPECIAL_ERRORS, special, color=[ERROR_COLOURS[e] for e in SPECIAL_ERRORS])
        for x, v in enumerate(special):
            bars.text(x, v, f"{v:.2f}", ha="center", va="bottom")
        bars.set_ylabel("dAP")
        bars.set_title(f"{scale}: special errors")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_reliability(results: dict[str, ECEResult], path: str | os.PathLike) -> None:
    """Reliability diagram per scale: accuracy per confidence bin against the diagonal."""
    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.6), squeeze=False)
    for ax, (scale, r) in zip(axes[0], results.items(), strict=True):
        centres = (r.bin_edges[:-1] + r.bin_edges[1:]) / 2
        width = np.diff(r.bin_edges)
        filled = r.counts > 0
        ax.bar(centres[filled], r.accuracy[filled], width=width[filled], edgecolor="black",
               color="#4363d8", label="accuracy")
        ax.bar(centres[filled], (r.confidence - r.accuracy)[filled], bottom=r.accuracy[filled],
               width=width[filled], color="#e6194b", alpha=0.35, label="gap")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_title(f"{scale}: ECE {r.ece:.3f} (n={r.n})")
    axes[0][0].set_ylabel("accuracy (IoU >= 0.5 match)")
    axes[0][0].legend(loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_pr_curves(rec_thrs: np.ndarray, curves: dict[str, np.ndarray],
                   path: str | os.PathLike) -> None:
    """Mean precision over categories (defined entries only) against recall, one line per
    label (e.g. IoU 0.5, 0.75); ``curves[label]`` is float64[K, R] with -1 where undefined."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, pr in curves.items():
        defined = pr > -1
        mean = np.where(defined.any(0), np.where(defined, pr, 0).sum(0)
                        / np.maximum(defined.sum(0), 1), np.nan)
        ax.plot(rec_thrs, mean, label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (mean over categories)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
