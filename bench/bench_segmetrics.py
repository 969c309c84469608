"""Segmentation kernels against the alternatives, in one process.

    python bench/bench_segmetrics.py

1. Colour-mask lookup on a 480x360 CamVid-style mask with the 32 class colours: the reference
   report's per-pixel Python loop, a NumPy ``searchsorted`` lookup, and cvcore's Numba kernel.
2. Confusion matrix over 40 Mpx (233 test images at 480x360, 32 classes): scikit-learn,
   ``np.bincount`` and cvcore's parallel kernel.
Each is timed as the best of several repeats after one warm-up call.
"""

from __future__ import annotations

import time

import numpy as np

from cvcore.confusion import confusion_matrix
from cvcore.segmentation.masks import rgb_to_class
from cvcore.synth.camvid import PALETTE


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report_loop(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The reference report's rgb2class: a dict lookup per pixel."""
    colour2class = {tuple(int(v) for v in c): k for k, c in enumerate(palette)}
    h, w, _ = mask.shape
    out = np.zeros((h, w), np.uint8)
    for i in range(h):
        for j in range(w):
            out[i, j] = colour2class.get(tuple(mask[i, j]), 0)
    return out


def numpy_lookup(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    keys = (palette[:, 0].astype(np.int64) << 16) | (palette[:, 1].astype(np.int64) << 8) | \
        palette[:, 2]
    order = np.argsort(keys)
    m = mask.astype(np.int64)
    pixel = (m[..., 0] << 16) | (m[..., 1] << 8) | m[..., 2]
    pos = np.searchsorted(keys[order], pixel).clip(0, len(keys) - 1)
    return np.where(keys[order][pos] == pixel, order[pos], 255).astype(np.uint8)


def main() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 32, (360 // 8, 480 // 8)).repeat(8, 0).repeat(8, 1)
    mask = PALETTE[labels]
    ours = rgb_to_class(mask, PALETTE)[0]
    assert (ours == numpy_lookup(mask, PALETTE)).all()
    assert (ours == report_loop(mask, PALETTE)).all()
    t_loop = best_of(lambda: report_loop(mask, PALETTE), 2)
    t_numpy = best_of(lambda: numpy_lookup(mask, PALETTE), 20)
    t_ours = best_of(lambda: rgb_to_class(mask, PALETTE), 200)
    print("colour lookup, 480x360 mask, 32 colours")
    print("| method | time (ms) | vs cvcore |\n|---|---:|---:|")
    for name, t in (("report's per-pixel loop", t_loop), ("NumPy searchsorted", t_numpy),
                    ("cvcore rgb_to_class (Numba)", t_ours)):
        print(f"| {name} | {1000 * t:.3f} | {t / t_ours:.0f}x |")

    n = 233 * 480 * 360
    target = rng.integers(0, 32, n).astype(np.uint8)
    pred = np.where(rng.random(n) < 0.8, target, rng.integers(0, 32, n)).astype(np.uint8)
    ours = confusion_matrix(target, pred, 32)
    bincount = np.bincount(target.astype(np.int64) * 32 + pred, minlength=1024).reshape(32, 32)
    assert (ours == bincount).all()
    from sklearn.metrics import confusion_matrix as sk_confusion

    t_sk = best_of(lambda: sk_confusion(target, pred, labels=range(32)), 1)
    t_bin = best_of(lambda: np.bincount(target.astype(np.int64) * 32 + pred, minlength=1024), 3)
    t_cm = best_of(lambda: confusion_matrix(target, pred, 32), 10)
    print(f"\nconfusion matrix, {n / 1e6:.1f} Mpx, 32 classes")
    print("| method | time (ms) | vs cvcore |\n|---|---:|---:|")
    for name, t in (("scikit-learn confusion_matrix", t_sk), ("np.bincount", t_bin),
                    ("cvcore confusion_matrix (Numba, parallel)", t_cm)):
        print(f"| {name} | {1000 * t:.1f} | {t / t_cm:.1f}x |")


if __name__ == "__main__":
    main()
