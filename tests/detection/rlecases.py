"""Seeded random masks and polygons for the RLE tests (detection.rle and cvcore.pycocotools)."""

import numpy as np


def random_masks(rng, h, w, n):
    """Blobby random 0/1 masks, some empty and some full."""
    kind = rng.integers(0, 4)
    if kind == 0:
        m = rng.random((h, w, n)) < rng.random()
    elif kind == 1:  # rectangles: few long runs
        m = np.zeros((h, w, n), bool)
        for i in range(n):
            y0, y1 = sorted(rng.integers(0, h + 1, 2))
            x0, x1 = sorted(rng.integers(0, w + 1, 2))
            m[y0:y1, x0:x1, i] = True
    elif kind == 2:
        m = np.zeros((h, w, n), bool)
    else:
        m = np.ones((h, w, n), bool)
        if n:
            m[..., rng.integers(0, n)] = rng.random((h, w)) < 0.5
    return np.asfortranarray(m.astype(np.uint8))


def random_polygon(rng, h, w):
    k = int(rng.integers(3, 12))
    scale = rng.choice([1.0, 1.5, 3.0])
    xy = np.empty(2 * k)
    xy[0::2] = rng.uniform(-0.25 * scale * w, scale * w, k)
    xy[1::2] = rng.uniform(-0.25 * scale * h, scale * h, k)
    if rng.random() < 0.3:
        xy = np.round(xy * 2) / 2  # on pixel centres/edges: the rounding rules matter
    if rng.random() < 0.2:
        xy[2:4] = xy[0:2]  # a repeated vertex
    if rng.random() < 0.1:
        xy[4:] = xy[0:2].repeat(k - 2).reshape(2, -1).T.ravel()  # collapsed polygon
    return xy
