"""Synthetic folder-per-class image set with the ten Russian Wildlife classes.

``make_classify(out)`` writes ``out/<class>/<class>_0000.jpg ...`` for the report's ten classes.
Each class is a drawn animal (or person) with its own body plan, colours and coat pattern, on a
cluttered, noisy background, at a random position, scale and orientation. Some classes are
deliberately close, as in the real data: the two bears differ mainly in colour, the two deer only
by the sika deer's white spots, the leopard and the tiger by spots versus stripes, so a small CNN
learns the set well above chance but not perfectly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import save_image

CLASSES = ("amur_leopard", "amur_tiger", "birds", "black_bear", "brown_bear", "dog", "roe_deer",
           "sika_deer", "wild_boar", "people")

# Body plan per class: (body length, body height, leg length) relative to the image, base colour.
BODY = {
    "amur_leopard": ((0.55, 0.22, 0.14), (200, 160, 80)),
    "amur_tiger": ((0.60, 0.25, 0.14), (215, 120, 40)),
    "black_bear": ((0.50, 0.32, 0.10), (35, 30, 30)),
    "brown_bear": ((0.50, 0.32, 0.10), (110, 70, 40)),
    "dog": ((0.38, 0.18, 0.14), None),
    "roe_deer": ((0.42, 0.18, 0.26), (160, 95, 55)),
    "sika_deer": ((0.42, 0.18, 0.26), (150, 90, 55)),
    "wild_boar": ((0.45, 0.22, 0.08), (80, 65, 55)),
}


def _jitter_colour(rng, colour, spread=25):
    return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in colour)


def _background(rng, size):
    """Outdoor-ish clutter: a two-tone gradient, random strokes and blobs, pixel noise."""
    top, bottom = rng.integers(40, 200, 3), rng.integers(40, 200, 3)
    t = np.linspace(0, 1, size)[:, None, None]
    pixels = (top * (1 - t) + bottom * t) * np.ones((size, size, 3))
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 12))):
        x, y = rng.uniform(0, size, 2)
        dx, dy = rng.normal(0, size / 4, 2)
        colour = tuple(int(v) for v in rng.integers(30, 220, 3))
        if rng.random() < 0.5:
            draw.line([x, y, x + dx, y + dy], fill=colour, width=int(rng.integers(1, 4)))
        else:
            r = rng.uniform(2, size / 8)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return image


def _pattern(draw, rng, box, kind, colour):
    """Spots or stripes inside ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    if kind == "spots":
        for _ in range(int(rng.integers(8, 16))):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            r = rng.uniform(1.0, 2.5) * (x1 - x0) / 40
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    elif kind == "stripes":
        for x in np.arange(x0 + 2, x1, max(3.0, (x1 - x0) / 8)):
            draw.line([x, y0, x + rng.normal(0, 2), y1], fill=colour, width=2)


def _quadruped(rng, draw, name, size):
    (length, height, leg), colour = BODY[name]
    scale = rng.uniform(0.75, 1.25)
    w, h, legs = length * size * scale, height * size * scale, leg * size * scale
    x0 = rng.uniform(0.02, 0.98 - w / size) * size
    y0 = rng.uniform(0.1, 0.9 - (h + legs) / size) * size
    colour = _jitter_colour(rng, colour if colour else rng.integers(40, 230, 3))
    for lx in (0.1, 0.25, 0.7, 0.85):
        draw.rectangle([x0 + lx * w, y0 + 0.7 * h, x0 + lx * w + w / 12, y0 + h + legs],
                       fill=colour)
    draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
    facing = rng.random() < 0.5
    head = 0.45 * h if name not in ("roe_deer", "sika_deer") else 0.35 * h
    hx = x0 + w - head / 2 if facing else x0 - head / 2
    draw.ellipse([hx, y0 - head / 2, hx + head, y0 + head / 2], fill=colour)
    body = (x0 + 0.1 * w, y0 + 0.1 * h, x0 + 0.9 * w, y0 + 0.9 * h)
    if name == "amur_leopard":
        _pattern(draw, rng, body, "spots", (30, 20, 10))
    elif name == "amur_tiger":
        _pattern(draw, rng, body, "stripes", (20, 10, 5))
    elif name == "sika_deer":
        _pattern(draw, rng, body, "spots", (235, 230, 220))
    elif name == "wild_boar":
        for _ in range(20):  # bristles
            x = rng.uniform(body[0], body[2])
            draw.line([x, y0, x + rng.normal(0, 2), y0 - h / 6], fill=colour, width=1)
    elif name in ("roe_deer", "sika_deer") and rng.random() < 0.7:  # antlers
        ax = hx + head / 2
        draw.line([ax, y0 - head / 2, ax - 3, y0 - head * 1.5], fill=(90, 70, 50), width=2)
    elif name == "dog":  # tail
        tx = x0 if facing else x0 + w
        draw.line([tx, y0 + h / 3, tx + (-1 if facing else 1) * w / 5, y0 - h / 4],
                  fill=colour, width=3)


def _bird(rng, draw, size):
    for _ in range(int(rng.integers(1, 4))):
        r = rng.uniform(0.05, 0.12) * size
        x, y = rng.uniform(r, size - r), rng.uniform(r, size * 0.7)
        colour = _jitter_colour(rng, rng.integers(30, 230, 3), 10)
        draw.ellipse([x - r, y - r / 2, x + r, y + r / 2], fill=colour)
        span = r * rng.uniform(1.2, 2.0)
        draw.polygon([(x - r / 3, y), (x - span, y - span * rng.uniform(0.3, 1.0)), (x, y - r / 3)],
                     fill=colour)
        beak = [(x + r, y - r / 4), (x + r * 1.5, y), (x + r, y + r / 4)]
        draw.polygon(beak, fill=(230, 180, 40))


def _people(rng, draw, size):
    for _ in range(int(rng.integers(1, 3))):
        h = rng.uniform(0.45, 0.85) * size
        w = h * rng.uniform(0.25, 0.35)
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        skin = _jitter_colour(rng, (210, 170, 140), 30)
        draw.ellipse([x + w * 0.3, y, x + w * 0.7, y + h * 0.18], fill=skin)
        draw.rectangle([x, y + h * 0.18, x + w, y + h * 0.6],
                       fill=tuple(int(v) for v in rng.integers(20, 240, 3)))
        trousers = tuple(int(v) for v in rng.integers(20, 120, 3))
        draw.rectangle([x + w * 0.1, y + h * 0.6, x + w * 0.45, y + h], fill=trousers)
        draw.rectangle([x + w * 0.55, y + h * 0.6, x + w * 0.9, y + h], fill=trousers)


def draw_sample(rng: np.random.Generator, name: str, size: int) -> Image.Image:
    """One RGB image of class ``name``, ``size`` x ``size`` pixels."""
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    if name == "birds":
        _bird(rng, draw, size)
    elif name == "people":
        _people(rng, draw, size)
    else:
        _quadruped(rng, draw, name, size)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.rotate(rng.normal(0, 8), resample=Image.Resampling.BILINEAR,
                         fillcolor=tuple(int(v) for v in rng.integers(40, 200, 3)))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))
    noisy = np.asarray(image, float) + rng.normal(0, rng.uniform(4, 16), (size, size, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def make_classify(out: str | os.PathLike, seed: int = 0, per_class: int = 80,
                  size: int = 96) -> Path:
    """Write ``per_class`` JPEGs for each of the ten classes into ``out/<class>/``."""
    out = Path(out)
    for k, name in enumerate(CLASSES):
        rng = np.random.default_rng([seed, k])
        for i in range(per_class):
            save_image(draw_sample(rng, name, size), out / name / f"{name}_{i:04d}.jpg",
                       quality=90)
    return out
