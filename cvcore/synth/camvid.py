"""Synthetic street scenes in the Kaggle CamVid-32 layout.

``make_camvid(out)`` writes ``train/ train_labels/ val/ val_labels/ test/ test_labels/`` and
``class_dict.csv`` (``name,r,g,b``, CamVid's 32 classes and colours). Images are ``<stem>.png``,
labels ``<stem>_L.png`` coloured with the class palette. Each scene has sky, buildings, trees,
road with lane markings, sidewalks, poles, signs, cars and pedestrians at random places; image
pixels are a per-class natural colour plus texture and noise, so a network must learn the classes
rather than read the label colours.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import write_text
from . import save_image

CAMVID_CLASSES = (
    ("Animal", (64, 128, 64)), ("Archway", (192, 0, 128)), ("Bicyclist", (0, 128, 192)),
    ("Bridge", (0, 128, 64)), ("Building", (128, 0, 0)), ("Car", (64, 0, 128)),
    ("CartLuggagePram", (64, 0, 192)), ("Child", (192, 128, 64)),
    ("Column_Pole", (192, 192, 128)), ("Fence", (64, 64, 128)),
    ("LaneMkgsDriv", (128, 0, 192)), ("LaneMkgsNonDriv", (192, 0, 64)),
    ("Misc_Text", (128, 128, 64)), ("MotorcycleScooter", (192, 0, 192)),
    ("OtherMoving", (128, 64, 64)), ("ParkingBlock", (64, 192, 128)),
    ("Pedestrian", (64, 64, 0)), ("Road", (128, 64, 128)), ("RoadShoulder", (128, 128, 192)),
    ("Sidewalk", (0, 0, 192)), ("SignSymbol", (192, 128, 128)), ("Sky", (128, 128, 128)),
    ("SUVPickupTruck", (64, 128, 192)), ("TrafficCone", (0, 0, 64)),
    ("TrafficLight", (0, 64, 64)), ("Train", (192, 64, 128)), ("Tree", (128, 128, 0)),
    ("Truck_Bus", (192, 128, 192)), ("Tunnel", (64, 0, 64)), ("VegetationMisc", (192, 192, 0)),
    ("Void", (0, 0, 0)), ("Wall", (64, 192, 0)),
)
CLASS_INDEX = {name: i for i, (name, _) in enumerate(CAMVID_CLASSES)}
PALETTE = np.array([rgb for _, rgb in CAMVID_CLASSES], np.uint8)

# What each class looks like in the image (mean colour, texture strength).
APPEARANCE = {
    "Sky": ((200, 215, 235), 6), "Building": ((150, 120, 100), 18), "Tree": ((60, 110, 50), 30),
    "Road": ((90, 90, 95), 10), "Sidewalk": ((165, 160, 150), 12),
    "LaneMkgsDriv": ((235, 235, 225), 8), "Column_Pole": ((70, 70, 70), 8),
    "SignSymbol": ((200, 40, 40), 10), "Car": ((60, 60, 160), 25),
    "Pedestrian": ((170, 100, 80), 25), "Fence": ((130, 100, 70), 15), "Void": ((20, 20, 20), 10),
    "Wall": ((180, 170, 130), 12), "VegetationMisc": ((110, 140, 60), 25),
}


def _scene(rng, width, height):
    """A class-index map [H, W] of one street scene."""
    c = CLASS_INDEX
    label = np.full((height, width), c["Sky"], np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    horizon = int(height * rng.uniform(0.35, 0.5))
    # Buildings and trees along the horizon.
    x = 0
    while x < width:
        w = int(rng.uniform(0.1, 0.3) * width)
        top = int(horizon - rng.uniform(0.15, 0.35) * height)
        kind = rng.choice(["Building", "Building", "Tree", "Wall"])
        label[max(top, 0):horizon, x:x + w] = c[kind]
        if kind == "Tree":
            r = w / 2
            label[((xx - x - r) ** 2 + (yy - top) ** 2 < r * r) & (yy < horizon)] = c["Tree"]
        x += w
    # Road as a trapezoid widening towards the camera, sidewalks on both sides.
    label[horizon:] = c["Sidewalk"]
    centre = width * rng.uniform(0.4, 0.6)
    half = (yy - horizon) / max(height - horizon, 1) * width * 0.6 + width * 0.05
    road = (yy >= horizon) & (np.abs(xx - centre) < half)
    label[road] = c["Road"]
    lane = road & (np.abs(xx - centre) < 1 + (yy - horizon) * 0.02) & ((yy // 6) % 2 == 0)
    label[lane] = c["LaneMkgsDriv"]
    label[(yy >= horizon) & (yy < horizon + 3) & ~road] = c["VegetationMisc"]
    # Poles with signs, cars on the road, pedestrians on the sidewalks.
    for _ in range(int(rng.integers(1, 3))):
        px = int(rng.uniform(0.05, 0.95) * width)
        top = int(horizon - rng.uniform(0.1, 0.3) * height)
        bottom = min(height, horizon + int(0.15 * height))
        label[top:bottom, px:px + max(2, width // 80)] = c["Column_Pole"]
        label[top:top + height // 20, px - width // 60:px + width // 40] = c["SignSymbol"]
    for _ in range(int(rng.integers(1, 4))):
        y = int(rng.uniform(horizon + 0.05 * height, height * 0.9))
        depth = (y - horizon) / max(height - horizon, 1)
        w, h = int((0.1 + 0.25 * depth) * width), int((0.06 + 0.15 * depth) * height)
        x0 = int(centre + rng.uniform(-0.5, 0.5) * half[min(y, height - 1), 0] - w / 2)
        label[max(y - h, 0):y, max(x0, 0):max(x0 + w, 0)] = c["Car"]
    for _ in range(int(rng.integers(1, 5))):
        y = int(rng.uniform(horizon + 0.1 * height, height))
        depth = (y - horizon) / max(height - horizon, 1)
        h, w = int((0.1 + 0.3 * depth) * height), max(2, int((0.02 + 0.05 * depth) * width))
        x0 = int(rng.uniform(0, width - w))
        label[max(y - h, 0):y, x0:x0 + w] = c["Pedestrian"]
    return label


def _render(rng, label):
    """RGB image for a class map: per-class colour (jittered per scene), texture and noise."""
    height, width = label.shape
    image = np.zeros((height, width, 3))
    for name, (colour, texture) in APPEARANCE.items():
        mask = label == CLASS_INDEX[name]
        if mask.any():
            base = np.array(colour) + rng.normal(0, 15, 3)
            image[mask] = base + rng.normal(0, texture, (mask.sum(), 1))
    image += rng.normal(0, 6, image.shape)
    return Image.fromarray(image.clip(0, 255).astype(np.uint8))


def make_camvid(out: str | os.PathLike, seed: int = 0, size: tuple[int, int] = (160, 120),
                counts: tuple[int, int, int] = (24, 8, 8)) -> Path:
    """Write ``counts`` (train, val, test) scenes of ``size`` (W, H) into ``out``."""
    out = Path(out)
    width, height = size
    write_text(out / "class_dict.csv",
               "name,r,g,b\n" + "".join(f"{n},{r},{g},{b}\n" for n, (r, g, b) in CAMVID_CLASSES))
    for s, (split, count) in enumerate(zip(("train", "val", "test"), counts, strict=True)):
        rng = np.random.default_rng([seed, s])
        for i in range(count):
            stem = f"synth_{split}_{i:04d}"
            label = _scene(rng, width, height)
            save_image(_render(rng, label), out / split / f"{stem}.png")
            save_image(Image.fromarray(PALETTE[label]), out / f"{split}_labels" / f"{stem}_L.png")
    return out
